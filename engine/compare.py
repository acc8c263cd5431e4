"""``tf2eng compare``: the difference of two runs' means, with its interval (README, Comparing two runs).

Both outputs are read from their ``stages/``: each track's stage scores and pos_key, its id and
--by columns.  Each track's row (stage scores, then the aligned curve on the grid) is recomputed
with the run's own interpolation (kernels/compare.py), and the means of the recomputed rows must
reproduce the output's stage_means.parquet and curve.parquet.  Tracks are matched by their id and
--by values (a polars join); matched tracks give paired differences, row minus row.

Memory: the stage scores and pos_key of both outputs (8 (K + 1) bytes a track each) and their id
and --by columns, the join's two row numbers per track, and batches of rows of at most ROWS_BYTES;
never every track's curve.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import numbers
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .. import __version__
from ..kernels import compare as kc
from ..kernels.grid import grid_points, grid_size
from ..kernels.moments import CELL, finalize, sum_slabs
from .errors import InputError, OutputError
from .groups import GroupIndex
from .intervals import check_level, normal_interval, percentile_interval, t_critical
from .output import CURVE, INTERNAL_DIR, STAGE_MEANS, STAGES_DIR, SUMMARY, WRITE_ERRNOS, OutputDir, write_file
from .replicates import track_keys
from .source import is_string_type
from .stream import numba_threads

COMPARE = "compare.parquet"
COMPARE_STAGES = "compare_stages.parquet"
PLOT = "compare.png"
PAIRINGS = ("auto", "paired", "unpaired")
MAX_REPLICATES = 100_000
# Rows (stage scores and curve) recomputed at a time, per output.
ROWS_BYTES = 32 * 2**20
# The per-thread partial moments of one batch of rows.
SLABS_BYTES = 256 * 2**20
# The stage scores of both outputs, and the moments and replicate sums per group, must fit in this.
MEMORY_BUDGET = 8 * 2**30


@dataclass
class CompareResult:
    """What a comparison produced: the output directory, its summary and the two tables."""

    out: Path
    summary: dict
    compare: pl.DataFrame
    compare_stages: pl.DataFrame


@dataclass
class RunOutput:
    """One input: a complete tf2eng output, its parameters, and its tracks' ids, stage scores, pos_key."""

    path: Path
    name: str  # OUT_A or OUT_B
    summary: dict
    stages: int
    grid_step: float
    ids: tuple[str, ...]
    by: tuple[str, ...]
    parts: list[str]
    configuration: dict | None = None  # of a sweep: the {"lam", "stages"} compared (its rows only)
    rows: int = 0
    keys: pa.Table | None = None  # the id and --by columns, one row per track
    Y: np.ndarray | None = None  # (tracks, K), NaN for a null stage score
    pos_key: np.ndarray | None = None

    @classmethod
    def open(cls, path: str | os.PathLike, name: str, lam: float | None = None,
             stages: int | None = None) -> RunOutput:
        """Check that ``path`` is a complete tf2eng run output; read its summary (not its tracks yet).
        ``lam`` and ``stages``, where given, pick a sweep's configuration, or must be the run's own."""
        p = Path(path)
        if not p.is_dir():
            raise InputError(f"{name} {p}: no such directory")
        try:
            summary = json.loads((p / SUMMARY).read_text())
        except FileNotFoundError:
            raise InputError(f"{name} {p}: not a complete tf2eng output (no {SUMMARY})") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"{name} {p / SUMMARY}: cannot be read as JSON ({exc})") from None
        if not isinstance(summary, dict) or summary.get("status") != "complete":
            raise InputError(f"{name} {p}: not a complete tf2eng output ({SUMMARY} has no \"status\": \"complete\")")
        params, columns = summary.get("parameters"), summary.get("columns")
        if not isinstance(params, dict) or not isinstance(columns, dict):
            raise InputError(f"{name} {p}: not a tf2eng run output ({SUMMARY} has no parameters or columns)")
        K, step = params.get("stages"), params.get("grid_step")
        configuration = None
        if isinstance(K, list) or isinstance(params.get("lam"), list):
            configuration, index = _configuration(p, name, summary, lam, stages)
            K = configuration["stages"]
        else:
            for option, wanted, own in (("lam", lam, params.get("lam")), ("stages", stages, K)):
                if wanted is not None and wanted != own:
                    raise InputError(f"{name} {p}: a run of one configuration, --{option} {own!r}, not {wanted!r}")
        if not (isinstance(K, int) and not isinstance(K, bool) and K >= 1) or \
                not (isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0):
            raise InputError(f"{name} {p}: {SUMMARY} names no single K (stages) and grid step; "
                             "compare runs of one configuration")
        ids, by = columns.get("ids"), columns.get("by")
        if not isinstance(ids, list) or not ids or not isinstance(by, list):
            raise InputError(f"{name} {p}: {SUMMARY} names no id columns")
        for needed in (STAGES_DIR, CURVE, STAGE_MEANS):
            if not (p / needed).exists():
                raise InputError(f"{name} {p}: not a complete tf2eng output (no {needed})")
        parts = sorted(str(f) for f in (p / STAGES_DIR).glob("*.parquet")
                       if configuration is None or f.name.endswith(f".c{index:02d}.parquet"))
        return cls(p, name, summary, K, float(step), tuple(ids), tuple(by), parts, configuration)

    def table(self, name: str) -> pl.DataFrame:
        """stage_means.parquet or curve.parquet: its rows of the compared configuration."""
        table = pl.read_parquet(self.path / name)
        if self.configuration is None:
            return table
        return table.filter((pl.col("lam") == self.configuration["lam"]) &
                            (pl.col("stages") == self.configuration["stages"])).drop("lam", "stages")

    def count_rows(self) -> int:
        """Tracks in stages/, from the parts' footers."""
        try:
            return sum(pq.ParquetFile(part).metadata.num_rows for part in self.parts)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"{self.name} {self.path / STAGES_DIR}: cannot be read ({exc})") from None

    def read(self, by: tuple[str, ...]) -> None:
        """Read every track's id and --by values, stage scores and pos_key from stages/, batch by batch."""
        K = self.stages
        where = f"{self.name} {self.path / STAGES_DIR}"
        try:
            dataset = ds.dataset(self.parts, format="parquet")
            names = set(dataset.schema.names)
            columns = list(dict.fromkeys(self.ids + by))  # an id column may be a --by column too
            for column in columns + ["pos_key", "stage_scores"]:
                if column not in names:
                    raise InputError(f"{where}: no column {column!r}; not a tf2eng output")
            n = dataset.count_rows()
            self.rows = n
            self.Y = np.empty((n, K))
            self.pos_key = np.empty(n)
            keys, at = [], 0
            for batch in _batches(self.parts, columns + ["pos_key", "stage_scores"]):
                m = batch.num_rows
                if not m:
                    continue
                scores = batch.column("stage_scores")
                if pc.any(pc.not_equal(pc.list_value_length(scores), K)).as_py():
                    raise InputError(f"{where}: a stage_scores list is not {K} long (K = {K} in its {SUMMARY})")
                values = pc.fill_null(scores.flatten().cast(pa.float64()), np.nan)
                self.Y[at: at + m] = values.to_numpy(zero_copy_only=False).reshape(m, K)
                self.pos_key[at: at + m] = batch.column("pos_key").cast(pa.float64()).to_numpy(zero_copy_only=False)
                keys.append(pa.Table.from_batches([batch.select(columns)]))
                at += m
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"{where}: cannot be read ({exc})") from None
        self.keys = (pa.concat_tables(keys, promote_options="permissive") if keys
                     else dataset.schema.empty_table().select(columns))

    def params(self) -> dict:
        """The run's parameters; of a sweep, with the compared configuration's λ and K."""
        return {**self.summary["parameters"], **(self.configuration or {})}


def _configuration(path: Path, name: str, summary: dict, lam, stages) -> tuple[dict, int]:
    """The configuration of a sweep output that ``lam`` and ``stages`` pick (README, Comparing two runs),
    and its place in the sweep (its stages/ parts end in .cNN.parquet)."""
    listed = summary.get("configurations")
    if not isinstance(listed, list) or not all(isinstance(c, dict) and {"lam", "stages"} <= set(c) for c in listed):
        raise InputError(f"{name} {path}: {SUMMARY} of a sweep lists no configurations")
    flag = "" if name == "OUT_A" else "-b"
    fits = [(c, j) for j, c in enumerate(listed)
            if (lam is None or c["lam"] == lam) and (stages is None or c["stages"] == stages)]
    spelled = "; ".join(f"λ={c['lam']:g}, K={c['stages']}" for c in listed)
    if len(fits) == 1:
        return fits[0]
    if not fits:
        wanted = ", ".join(f"{k} {v:g}" for k, v in (("λ", lam), ("K", stages)) if v is not None)
        raise InputError(f"{name} {path}: no configuration with {wanted} in its sweep ({spelled})")
    raise InputError(f"{name} {path}: a sweep of {len(listed)} configurations ({spelled}); pick one with "
                     f"--lam{flag} and --stages{flag}")


def _batches(parts: list[str], columns: list[str]):
    """The record batches of the parts in order, one at a time (no read-ahead)."""
    for part in parts:
        with pq.ParquetFile(part) as file:
            yield from file.iter_batches(batch_size=65_536, columns=columns)


def compare(
    a: str | os.PathLike,
    b: str | os.PathLike,
    output: str | os.PathLike,
    *,
    ci: float = 0.95,
    bootstrap: int | None = None,
    seed: int = 0,
    pairing: str = "auto",
    plot: bool = True,
    threads: int | None = None,
    lam: float | None = None,
    stages: int | None = None,
    lam_b: float | None = None,
    stages_b: int | None = None,
) -> CompareResult:
    """Compare the tf2eng outputs ``a`` and ``b`` (same K, grid step and --by columns) into ``output``.

    ``lam`` and ``stages`` pick the configuration of a sweep output (README, Comparing two runs);
    ``lam_b`` and ``stages_b`` another one of ``b``'s (by default the same).  Writes compare.parquet,
    compare_stages.parquet, compare.png and summary.json, atomically, and returns them.  Raises
    :class:`InputError` for inputs that cannot be compared or bad options.
    """
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.timezone.utc)
    level, bootstrap, seed = _check_options(ci, bootstrap, seed, pairing)
    from .api import check_threads

    check_threads(threads)
    lam, lam_b = _check_lam(lam, "--lam"), _check_lam(lam_b, "--lam-b")
    stages, stages_b = _check_stages(stages, "--stages"), _check_stages(stages_b, "--stages-b")
    run_a = RunOutput.open(a, "OUT_A", lam, stages)
    run_b = RunOutput.open(b, "OUT_B", lam if lam_b is None else lam_b, stages if stages_b is None else stages_b)
    _check_comparable(run_a, run_b)
    final = Path(output).absolute()
    for run_x in (run_a, run_b):  # as the file system resolves them: "A/../A" and a link to A are A
        if final.resolve() == run_x.path.resolve() or final.resolve() in run_x.path.resolve().parents:
            raise InputError(f"-o {output}: would replace {run_x.name} {run_x.path}; choose another directory")
        if run_x.path.resolve() in final.resolve().parents:  # the next run into it replaces it whole
            raise InputError(f"-o {output}: lies inside {run_x.name} {run_x.path}, which the next run into it "
                             "replaces whole; choose a directory outside it")
    if plot:
        from .plot import matplotlib_figure

        matplotlib_figure()  # an unknown MPLBACKEND stops here, before the work
    out = OutputDir(final)
    try:
        with numba_threads(threads):
            work = _Comparison(run_a, run_b, level, bootstrap, seed, pairing)
            work.run()
        for empty in (STAGES_DIR, INTERNAL_DIR):  # made for a run's units; a comparison has none
            os.rmdir(out.path(empty))
        curve, stages = work.tables()
        out.write_table(COMPARE, curve.to_arrow())
        out.write_table(COMPARE_STAGES, stages.to_arrow())
        if plot:
            from .compareplot import render

            write_file(out.path(PLOT), lambda file: render(file, work.plot_data()))
        summary = work.summary(started_at, time.perf_counter() - started, plot)
        path = out.commit(summary)
    except BaseException as exc:
        out.abort(keep_committed=False)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError) and exc.errno in WRITE_ERRNOS:
            raise OutputError(f"{final}: cannot write: {os.strerror(exc.errno)}") from exc
        raise
    return CompareResult(path, summary, curve, stages)


def _whole(value) -> bool:
    """An integer, Python's or numpy's, and no bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _number(value) -> bool:
    """A real number, Python's or numpy's, and no bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _check_options(ci, bootstrap, seed, pairing) -> tuple[float, int | None, int]:
    """(the level, B, the seed) as Python numbers, or InputError naming the option."""
    try:
        level = check_level(float(ci) if _number(ci) else ci)
    except ValueError:
        raise InputError(f"--ci must be a number strictly between 0 and 1, got {ci!r}") from None
    if bootstrap is not None and (not _whole(bootstrap) or not 2 <= bootstrap <= MAX_REPLICATES):
        raise InputError(f"--bootstrap must be a whole number from 2 to {MAX_REPLICATES:,}, got {bootstrap!r}")
    if not _whole(seed) or not 0 <= seed < 2**64:
        raise InputError(f"--seed must be a whole number from 0 to 2**64 - 1, got {seed!r}")
    if pairing not in PAIRINGS:
        raise InputError(f"--pairing must be one of {', '.join(PAIRINGS)}, got {pairing!r}")
    return level, None if bootstrap is None else int(bootstrap), int(seed)


def _check_lam(value, flag: str) -> float | None:
    if value is None:
        return None
    if not _number(value) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{flag} must be a number greater than 0, got {value!r}")
    return float(value)


def _check_stages(value, flag: str) -> int | None:
    if value is not None and (not _whole(value) or value < 1):
        raise InputError(f"{flag} must be a whole number of at least 1, got {value!r}")
    return None if value is None else int(value)


def _check_comparable(a: RunOutput, b: RunOutput) -> None:
    """Same K, grid step and --by columns, or one line saying what differs."""
    if a.stages != b.stages:
        raise InputError(f"OUT_A has K = {a.stages}, OUT_B has K = {b.stages}: compare runs with the same --stages")
    if a.grid_step != b.grid_step:
        raise InputError(f"OUT_A has grid step {a.grid_step!r}, OUT_B has {b.grid_step!r}: "
                         "compare runs with the same --grid-step")
    if a.by != b.by:
        def spell(by):
            return f"--by {','.join(by)}" if by else "no --by"

        raise InputError(f"OUT_A has {spell(a.by)}, OUT_B has {spell(b.by)}: compare runs grouped alike")


def _is_text(dtype: pa.DataType) -> bool:
    """string, large_string or string_view, plain or dictionary-encoded."""
    return is_string_type(dtype.value_type if pa.types.is_dictionary(dtype) else dtype)


def _id_frame(keys: pa.Table, ids: tuple[str, ...], by: tuple[str, ...], row: str) -> pl.DataFrame:
    """The id and --by columns as polars, ids made comparable across files (integers of any width as
    Int128, text as String, dictionaries decoded), with the row number."""
    frame = pl.from_arrow(keys)
    casts = []
    for name in ids:
        dtype = frame.schema[name]
        if dtype.is_integer():
            casts.append(pl.col(name).cast(pl.Int128))
        elif dtype in (pl.Categorical, pl.Utf8) or isinstance(dtype, pl.Enum):
            casts.append(pl.col(name).cast(pl.String))
    return frame.with_columns(casts).with_row_index(row)


class _Comparison:
    """The matching, the passes over both outputs' tracks, and the results."""

    def __init__(self, a: RunOutput, b: RunOutput, level: float, replicates: int | None, seed: int, pairing: str):
        self.a, self.b = a, b
        self.level, self.replicates, self.seed, self.pairing = level, replicates, seed, pairing
        self.K, self.step, self.by = a.stages, a.grid_step, a.by
        self.M = grid_size(self.K, self.step)
        self.W = self.K + self.M
        self.timings: dict[str, float] = {}

    # --- reading and matching ------------------------------------------------------------

    def run(self) -> None:
        t = time.perf_counter()
        need = 8 * (self.K + 1) * (self.a.count_rows() + self.b.count_rows())
        if need > MEMORY_BUDGET:
            raise InputError(f"comparing needs {need / 2**30:.1f} GiB for the stage scores of both outputs, "
                             f"more than the {MEMORY_BUDGET // 2**30} GiB budget")
        for run_x in (self.a, self.b):
            run_x.read(self.by)
        for name in self.by:
            type_a, type_b = self.a.keys.schema.field(name).type, self.b.keys.schema.field(name).type
            if type_a != type_b and _is_text(type_a) and _is_text(type_b):
                for run_x in (self.a, self.b):  # text is text, whichever Arrow string type holds it
                    keys = run_x.keys
                    run_x.keys = keys.set_column(keys.schema.get_field_index(name), name,
                                                 keys[name].cast(pa.large_string()))
            elif type_a != type_b:
                raise InputError(f"OUT_A's --by column {name} is {type_a}, OUT_B's is {type_b}: "
                                 "compare runs grouped alike")
        self.timings["read"] = time.perf_counter() - t
        t = time.perf_counter()
        self._match()
        self.timings["match"] = time.perf_counter() - t
        t = time.perf_counter()
        self.groups = GroupIndex(self.by)
        self.codes_a = self.groups.codes(self.a.keys)
        self.codes_b = self.groups.codes(self.b.keys)
        self.G = self.groups.size
        self._check_budget()
        self._accumulate()
        self.timings["compute"] = time.perf_counter() - t
        t = time.perf_counter()
        self._check_reproduces(self.a, self.moments_a)
        self._check_reproduces(self.b, self.moments_b)
        self.timings["check"] = time.perf_counter() - t

    def _match(self) -> None:
        """Pairs of rows (ra, rb) with equal ids and --by values, in OUT_A's row order; and the mode."""
        a, b = self.a, self.b
        self.pairs = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        why_not = None
        if a.ids != b.ids:
            why_not = f"OUT_A identifies tracks by {','.join(a.ids)}, OUT_B by {','.join(b.ids)}"
        else:
            fa = _id_frame(a.keys, a.ids, self.by, "__row_a")
            fb = _id_frame(b.keys, b.ids, self.by, "__row_b")
            for name in a.ids:
                if fa.schema[name] != fb.schema[name]:
                    why_not = (f"id column {name} is {a.keys.schema.field(name).type} in OUT_A and "
                               f"{b.keys.schema.field(name).type} in OUT_B")
            if why_not is None:
                for run_x, frame in ((a, fa), (b, fb)):
                    duplicated = int(frame.select(list(a.ids)).is_duplicated().sum())
                    if duplicated:
                        why_not = f"{run_x.name} has {duplicated:,} tracks whose ids are not unique"
                        break
            if why_not is None:
                on = list(dict.fromkeys(a.ids + self.by))
                joined = fa.join(fb, on=on, how="inner", nulls_equal=True, maintain_order="left")
                self.pairs = (joined["__row_a"].to_numpy().astype(np.int64),
                              joined["__row_b"].to_numpy().astype(np.int64))
        common = self.pairs[0].size
        self.common = common
        if self.pairing == "unpaired":
            self.paired, self.reason = False, "--pairing unpaired"
        elif self.pairing == "paired":
            if why_not is not None:
                raise InputError(f"--pairing paired: {why_not}")
            if common == 0:
                raise InputError("--pairing paired: no track (by its id and --by values) is in both outputs")
            self.paired = True
            self.reason = ("--pairing paired: the outputs hold the same tracks" if common == a.rows == b.rows else
                           f"--pairing paired: over the {common:,} tracks in both outputs")
        elif why_not is not None:
            self.paired, self.reason = False, why_not
        elif common == a.rows == b.rows and common > 0:
            self.paired, self.reason = True, "the outputs hold the same tracks"
        elif common == 0:
            self.paired, self.reason = False, "no track (by its id and --by values) is in both outputs"
        else:
            self.paired, self.reason = False, (
                f"{common:,} tracks are in both outputs, {a.rows - common:,} only in OUT_A and "
                f"{b.rows - common:,} only in OUT_B; --pairing paired compares the common ones")

    def _check_budget(self) -> None:
        sets = 3
        need = sets * self.G * self.W * CELL * 8
        if self.replicates:
            need += sets * 2 * self.G * self.W * self.replicates * 8
        if need > MEMORY_BUDGET:
            raise InputError(f"comparing {self.G:,} groups" + (f" with --bootstrap {self.replicates}" if self.replicates
                             else "") + f" needs {need / 2**30:.1f} GiB of sums, more than the "
                             f"{MEMORY_BUDGET // 2**30} GiB budget; use fewer replicates or a coarser --by")

    # --- the passes ----------------------------------------------------------------------

    def _batch_rows(self) -> int:
        return max(1, ROWS_BYTES // (8 * self.W))

    def _rows(self, run_x: RunOutput, rows: np.ndarray) -> np.ndarray:
        V = np.empty((rows.size, self.W))
        kc.track_rows(np.ascontiguousarray(run_x.Y[rows]), np.ascontiguousarray(run_x.pos_key[rows]), self.step, V)
        return V

    def _add_moments(self, moments: np.ndarray, V: np.ndarray, group: np.ndarray) -> None:
        """moments (G, 5, W) += the rows V, in a slab per thread (at most SLABS_BYTES of slabs)."""
        per_slab = self.G * CELL * self.W * 8
        n_chunks = max(1, min(numba.get_num_threads(), V.shape[0], SLABS_BYTES // max(per_slab, 1)))
        chunks = np.linspace(0, V.shape[0], n_chunks + 1).astype(np.int64)
        slabs = np.zeros((n_chunks,) + moments.shape)
        kc.row_moments(V, group, chunks, slabs)
        sum_slabs(slabs, moments)

    def _new_sums(self):
        if not self.replicates:
            return None
        shape = (self.G, self.W, self.replicates)
        return np.zeros(shape), np.zeros(shape)

    def _add_replicates(self, sums, V, group, keys) -> None:
        w = np.empty((keys.size, self.replicates + self.replicates % 2))  # an even width: weights come in pairs
        kc.weight_matrix(keys, w)
        # A few tasks per thread, each a run of replicates long enough to vectorize.
        block = max(8, -(-self.replicates // (2 * numba.get_num_threads())))
        kc.replicate_rows(V, group, w, block, sums[0], sums[1])

    def _accumulate(self) -> None:
        """Moments (and replicate sums) of each output's rows, and of the paired differences."""
        step = self._batch_rows()
        self.moments_a = np.zeros((self.G, CELL, self.W))
        self.moments_b = np.zeros((self.G, CELL, self.W))
        self.moments_d = np.zeros((self.G, CELL, self.W))
        self.reps_a, self.reps_b, self.reps_d = self._new_sums(), self._new_sums(), None
        seed_b = self.seed if self.paired else (self.seed + 1) % 2**64
        keys_a = track_keys(self.a.keys, self.a.ids, self.seed) if self.replicates else None
        keys_b = track_keys(self.b.keys, self.b.ids, seed_b) if self.replicates else None
        for run_x, codes, moments, reps, keys in ((self.a, self.codes_a, self.moments_a, self.reps_a, keys_a),
                                                  (self.b, self.codes_b, self.moments_b, self.reps_b, keys_b)):
            for first in range(0, run_x.rows, step):
                rows = np.arange(first, min(run_x.rows, first + step))
                V = self._rows(run_x, rows)
                self._add_moments(moments, V, codes[rows])
                if reps is not None:
                    self._add_replicates(reps, V, codes[rows], keys[rows])
        ra, rb = self.pairs
        if self.paired and self.replicates:
            self.reps_d = self._new_sums()
        for first in range(0, ra.size, step):
            a_rows, b_rows = ra[first: first + step], rb[first: first + step]
            D = self._rows(self.a, a_rows)
            D -= self._rows(self.b, b_rows)
            group = self.codes_a[a_rows]
            self._add_moments(self.moments_d, D, group)
            if self.reps_d is not None:
                self._add_replicates(self.reps_d, D, group, keys_a[a_rows])

    def _check_reproduces(self, run_x: RunOutput, moments: np.ndarray) -> None:
        """The recomputed rows' counts and means must be the output's stage_means.parquet and curve.parquet."""
        count, mean, _ = _finalize(moments)
        for name, first, width in ((STAGE_MEANS, 0, self.K), (CURVE, self.K, self.M)):
            path = run_x.path / name
            try:
                table = run_x.table(name)
                expected_mean = table["mean"].cast(pl.Float64).fill_null(np.nan).to_numpy()
                expected_count = table["count"].to_numpy()
            except (OSError, pl.exceptions.PolarsError) as exc:
                raise InputError(f"{run_x.name} {path}: cannot be read ({exc})") from None
            if table.height % width:
                raise InputError(f"{run_x.name} {path}: {table.height} rows, not a multiple of {width}")
            known = self.groups.size
            if self.by:
                try:  # the --by values as stages/ has them
                    labels = table.select(list(self.by)).to_arrow().cast(run_x.keys.select(list(self.by)).schema)
                except (pa.ArrowException, ValueError) as exc:
                    raise InputError(f"{run_x.name} {path}: its --by columns do not match stages/ ({exc})") from None
                codes = self.groups.codes(labels)[::width]
            else:
                codes = np.zeros(table.height // width, np.int64)
            got_count = count[:, first: first + width]
            got_mean = mean[:, first: first + width]
            if self.groups.size != known:
                raise InputError(f"{run_x.name} {path}: a group that stages/ does not have; "
                                 "the output was modified, or is incomplete")
            listed = np.zeros(self.G, bool)
            listed[codes] = True
            bad = None
            if got_count[~listed].any():
                bad = "a group of stages/ is missing"
            else:
                c = expected_count.reshape(-1, width)
                m = expected_mean.reshape(-1, width)
                wrong_count = c != got_count[codes]
                close = np.isclose(m, got_mean[codes], rtol=1e-9, atol=1e-12, equal_nan=True)
                if wrong_count.any() or not close.all():
                    g, j = np.argwhere(wrong_count | ~close)[0]
                    bad = (f"row {g * width + j}: count {int(c[g, j])}, mean {float(m[g, j])!r}; recomputed from "
                           f"stages/: count {int(got_count[codes][g, j])}, mean {float(got_mean[codes][g, j])!r}")
            if bad is not None:
                raise InputError(f"{run_x.name} {path}: does not match its stages/ ({bad}); "
                                 "the output was modified, or made by an incompatible version")

    # --- results -------------------------------------------------------------------------

    def _intervals(self):
        """Per group and cell: the means, counts, the difference and its interval, and each mean's band."""
        n_a, mean_a, std_a = _finalize(self.moments_a)
        n_b, mean_b, std_b = _finalize(self.moments_b)
        n_d, mean_d, std_d = _finalize(self.moments_d)
        level = self.level
        if self.replicates:
            rep_a, rep_b = _replicate_means(self.reps_a), _replicate_means(self.reps_b)
            band_a, band_b = percentile_interval(rep_a, level), percentile_interval(rep_b, level)
        else:
            band_a, band_b = normal_interval(mean_a, std_a, n_a, level), normal_interval(mean_b, std_b, n_b, level)
        if self.paired:
            diff = mean_d
            if self.replicates:
                low, high = percentile_interval(_replicate_means(self.reps_d), level)
            else:
                low, high = normal_interval(mean_d, std_d, n_d, level)
        else:
            with np.errstate(invalid="ignore"):
                diff = mean_a - mean_b
            if self.replicates:
                with np.errstate(invalid="ignore"):
                    low, high = percentile_interval(rep_a - rep_b, level)
            else:
                low, high = welch_interval(diff, std_a, n_a, std_b, n_b, level)
        return dict(mean_a=mean_a, mean_b=mean_b, diff=diff, ci_low=low, ci_high=high, n_a=n_a, n_b=n_b,
                    n_pairs=n_d, band_a=band_a, band_b=band_b)

    def tables(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(compare, compare_stages): one row per group (sorted) and grid point or stage."""
        self.values = self._intervals()
        order = self.groups.sorted_codes()
        self.order = order
        stages = self._table(order, 0, self.K, {"stage": np.arange(self.K, dtype=np.int32),
                                                "x": np.arange(self.K, dtype=np.float64) / self.K})
        curve = self._table(order, self.K, self.M, {"x": grid_points(self.K, self.step)})
        return curve, stages

    def _table(self, order: np.ndarray, first: int, width: int, position: dict) -> pl.DataFrame:
        G = order.size
        columns = {}
        if self.by:
            labels = self.groups.labels()[order.tolist()] if G else self.groups.labels()
            repeat = pl.Series(np.repeat(np.arange(G), width))
            columns = {c: labels[c].gather(repeat) for c in self.by}
        for name, values in position.items():
            columns[name] = np.tile(values, G)
        frame = pl.DataFrame(columns)
        v = self.values

        def cells(array):
            return array[order, first: first + width].ravel()

        return frame.with_columns(
            *(pl.Series(name, cells(v[name]), pl.Float64).fill_nan(None)
              for name in ("mean_a", "mean_b", "diff", "ci_low", "ci_high")),
            *(pl.Series(name, cells(v[name]), pl.Int64) for name in ("n_a", "n_b", "n_pairs")),
        )

    def plot_data(self) -> dict:
        v, K, order = self.values, self.K, self.order
        labels = {}
        if self.by:
            rows = self.groups.labels()[order.tolist()].iter_rows(named=True) if order.size else []
            labels = [", ".join(f"{c}={row[c]}" for c in self.by) for row in rows]
        else:
            labels = [""] * order.size

        def curve(array):
            return array[order, K:]

        return {
            "x": grid_points(K, self.step), "labels": labels, "K": K,
            "names": (str(self.a.path), str(self.b.path)),
            "mean_a": curve(v["mean_a"]), "mean_b": curve(v["mean_b"]),
            "band_a": tuple(curve(x) for x in v["band_a"]), "band_b": tuple(curve(x) for x in v["band_b"]),
            "diff": curve(v["diff"]), "ci": (curve(v["ci_low"]), curve(v["ci_high"])),
            "n_a": np.bincount(self.codes_a, minlength=self.G)[order],
            "n_b": np.bincount(self.codes_b, minlength=self.G)[order],
            "paired": self.paired, "level": self.level, "bootstrap": self.replicates,
        }

    def summary(self, started_at: dt.datetime, seconds: float, plot: bool) -> dict:
        a, b = self.a, self.b
        differs = {k: [a.params().get(k), b.params().get(k)] for k in sorted(set(a.params()) | set(b.params()))
                   if a.params().get(k) != b.params().get(k)}
        if self.replicates:
            method = ("Poisson-bootstrap percentile interval of the paired differences, the same weight per "
                      "track in both outputs" if self.paired else
                      f"Poisson-bootstrap percentile interval of the difference of means, OUT_A's weights "
                      f"with seed {self.seed}, OUT_B's with seed {(self.seed + 1) % 2**64}")
        else:
            method = "Student t interval of the paired differences" if self.paired else "Welch t interval"
        self.timings["total"] = seconds
        return {
            "status": "complete",
            "command": "compare",
            "tf2eng": __version__,
            "started": started_at.isoformat(),
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
            "comparison": "paired" if self.paired else "unpaired",
            "reason": self.reason,
            "tracks": {"a": a.rows, "b": b.rows, "common": self.common},
            "interval": {"level": self.level, "method": method, "bootstrap": self.replicates, "seed": self.seed},
            "options": {"ci": self.level, "bootstrap": self.replicates, "seed": self.seed, "pairing": self.pairing},
            "parameters": {"stages": self.K, "grid_step": self.step, "by": list(self.by)},
            "differs": differs,
            "inputs": {
                key: {"path": str(r.path.absolute()), "parameters": r.params(), "configuration": r.configuration,
                      "columns": r.summary.get("columns"),
                      "rows": r.summary.get("rows"), "digests": r.summary.get("digests")}
                for key, r in (("a", a), ("b", b))
            },
            "groups": self.G,
            "outputs": [COMPARE, COMPARE_STAGES] + ([PLOT] if plot else []),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }


def _finalize(moments: np.ndarray):
    """Count, mean, std (ddof = 1) per group and cell, (G, W) each; NaN where undefined."""
    G, _, W = moments.shape
    count = np.zeros(G * W, np.int64)
    mean = np.zeros(G * W)
    std = np.zeros(G * W)
    finalize(moments, count, mean, std)
    return count.reshape(G, W), mean.reshape(G, W), std.reshape(G, W)


def _replicate_means(sums) -> np.ndarray:
    """(G, W, B) replicate means, NaN where a replicate has no weight."""
    total, weight = sums
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, np.nan)


def welch_interval(diff, std_a, n_a, std_b, n_b, level: float) -> tuple[np.ndarray, np.ndarray]:
    """diff ± t_{(1+level)/2, ν} · se with se² = s_a²/n_a + s_b²/n_b and Welch–Satterthwaite's
    ν = se⁴ / ((s_a²/n_a)²/(n_a − 1) + (s_b²/n_b)²/(n_b − 1)); NaN where either count is below 2,
    [diff, diff] where both stds are 0."""
    shape = np.shape(diff)
    diff = np.asarray(diff, np.float64).ravel()
    n_a = np.asarray(n_a, np.float64).ravel()
    n_b = np.asarray(n_b, np.float64).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        va = np.asarray(std_a, np.float64).ravel() ** 2 / n_a
        vb = np.asarray(std_b, np.float64).ravel() ** 2 / n_b
        se2 = va + vb
        df = se2**2 / (va**2 / (n_a - 1.0) + vb**2 / (n_b - 1.0))
    half = np.full(diff.shape, np.nan)
    ok = (n_a >= 2) & (n_b >= 2) & np.isfinite(diff) & np.isfinite(se2)
    half[ok & (se2 == 0.0)] = 0.0
    for i in np.flatnonzero(ok & (se2 > 0.0)):
        half[i] = t_critical(level, float(df[i])) * math.sqrt(se2[i])
    return (diff - half).reshape(shape), (diff + half).reshape(shape)
