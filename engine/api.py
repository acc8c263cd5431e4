"""The Python API: ``run`` reads, validates, scores, aggregates and writes (SPEC 1-4).

A run is a list of units, one per input file (one for the whole dataset in
the long layout).  Each unit streams through validation and the kernels
and commits its own results; the dataset aggregates are then merged from
the units' partials in a fixed order.  Units already done, by a killed run
(``resume``) or by the previous run on the same files (incremental), are
reused instead of recomputed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from ..kernels import reasons
from .aggregate import Totals
from .batch import process_batch
from .errors import InputError, RejectedRowError
from .groups import GroupIndex
from .long import FRAMES, ROWS, tracks_from_long
from .options import Options
from .output import CURVE, PLOT, REJECTED, STAGE_MEANS, STAGES_DIR, OutputDir, default_output
from .pipeline import BackgroundWriter, prefetched
from .source import BATCH_ROWS, Columns, Source
from .units import Partial, Unit, options_digest, unit_key

Progress = Callable[[int, int], None]  # (rows done, rows to do)
Log = Callable[[dict], None]  # one event: {"event": name, ...}


@dataclass
class RunResult:
    """What a run produced: the output directory, its summary and the aggregate tables."""

    out: Path
    summary: dict
    stage_means: pl.DataFrame
    curve: pl.DataFrame

    def stages(self) -> pl.LazyFrame:
        """The per-track table, ``stages/``, as a lazy polars scan."""
        return pl.scan_parquet(self.out / STAGES_DIR / "*.parquet")


def run(
    path: str | Path,
    out: str | Path | None = None,
    *,
    lam: float = 0.7,
    stages: int = 10,
    reduce: str = "sum",
    grid_step: float = 0.01,
    key: str = "column",
    key_col: str = "key_frame",
    scores_col: str | None = None,
    frame_col: str = "frame",
    id_cols: Iterable[str] | None = None,
    by: Iterable[str] = (),
    layout: str | None = None,
    normalize: str = "none",
    on_invalid: str = "quarantine",
    plot: bool = True,
    threads: int | None = None,
    device: str = "cpu",
    resume: bool = False,
    full: bool = False,
    progress: Progress | None = None,
    log: Log | None = None,
) -> RunResult:
    """Run the alignment analysis of the dataset at ``path`` into the directory ``out``.

    Parameters mirror the CLI options of ``tf2eng run``.  ``resume`` picks
    up the units a killed run committed; ``full`` recomputes units the
    previous output already has.  Raises :class:`InputError` for bad
    options or unreadable input; results appear in ``out`` only when the
    run completes.
    """
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.timezone.utc)
    options = Options(
        lam=lam,
        stages=stages,
        reduce=reduce,
        grid_step=grid_step,
        key=key,
        key_col=key_col,
        scores_col=scores_col,
        frame_col=frame_col,
        id_cols=tuple(id_cols) if id_cols is not None else None,
        by=tuple(by),
        layout=layout,
        normalize=normalize,
        on_invalid=on_invalid,
        device=resolve_device(device),
    )
    _set_threads(threads)
    path = str(path)
    source = Source(path, options)
    output = OutputDir(out if out is not None else default_output(path), resume=resume)
    emit = log or (lambda event: None)
    try:
        job = _Job(source, options, output, progress, emit)
        emit({"event": "start", "input": path, "output": str(output.final), "files": len(source.fragments)})
        units = job.units()
        output.drop_stale({u.key for u in units})
        job.run_units(units, reuse_previous=not full)
        stage_means, curve = job.aggregate(units)
        t = time.perf_counter()
        output.write_table(STAGE_MEANS, stage_means.to_arrow())
        output.write_table(CURVE, curve.to_arrow())
        output.concatenate_rejected([u.key for u in units], job.rejected_schema)
        job.timings["write"] += time.perf_counter() - t
        if plot:
            from .plot import render

            t = time.perf_counter()
            render(output.path(STAGES_DIR), output.path(PLOT), curve, job.groups, job.group_tracks, options)
            job.timings["plot"] = time.perf_counter() - t
        job.timings["total"] = time.perf_counter() - started
        summary = job.summary(started_at, plot)
        final = output.commit(summary)
    except BaseException as exc:
        output.abort()
        emit({"event": "failed", "error": str(exc) or type(exc).__name__})
        raise
    emit({"event": "complete", "output": str(final), "rows": summary["rows"], "units": summary["units"]})
    return RunResult(final, summary, stage_means, curve)


def resolve_device(device: str) -> str:
    """"cpu" or "cuda"; "auto" picks a real GPU (never the simulator) where numba can use one."""
    if device == "cpu":
        return "cpu"
    if device not in ("cuda", "auto"):
        raise InputError(f"--device must be one of cpu, cuda, auto, got {device!r}")
    try:
        from ..kernels import cuda as cuda_kernels
    except ImportError as exc:
        if device == "auto":
            return "cpu"
        raise InputError(f"--device cuda: numba's CUDA target cannot load ({exc}); "
                         "install tf2eng[cuda] and an NVIDIA driver") from None
    if device == "auto":
        return "cuda" if cuda_kernels.usable() and not cuda_kernels.SIMULATOR else "cpu"
    if not cuda_kernels.usable():
        raise InputError("--device cuda: no usable CUDA GPU (numba.cuda.is_available() is false); "
                         "install tf2eng[cuda] and check the NVIDIA driver")
    return "cuda"


def _set_threads(threads: int | None) -> None:
    if threads is None:
        return
    limit = numba.config.NUMBA_NUM_THREADS
    if not 1 <= threads <= limit:
        raise InputError(f"--threads must be between 1 and {limit} (NUMBA_NUM_THREADS), got {threads}")
    numba.set_num_threads(threads)


def stage_schema(carried: pa.Schema) -> pa.Schema:
    """Columns of ``stages/``: id and --by columns, then the per-track results."""
    return pa.schema(
        list(carried)
        + [
            pa.field("T", pa.int32()),
            pa.field("key_frame", pa.int64()),
            pa.field("pos_key", pa.float64()),
            pa.field("stage_scores", pa.list_(pa.float64())),
            pa.field("stage_counts", pa.list_(pa.int32())),
        ]
    )


def rejected_schema(carried: pa.Schema, columns: Columns) -> pa.Schema:
    """Columns of ``rejected.parquet``: enough of each row to find and repair it."""
    fields = list(carried) + [pa.field(columns.scores, pa.large_list(pa.float64()))]
    if columns.key is not None:
        fields.append(pa.field(columns.key, pa.int64()))
    if columns.layout == "long":
        fields += [pa.field(FRAMES, pa.large_list(pa.int64())), pa.field(ROWS, pa.int64())]
    fields += [pa.field("reason", pa.string()), pa.field("source", pa.string()), pa.field("row", pa.int64())]
    return pa.schema(fields)


class _UnitState:
    """What one unit accumulates while it streams."""

    def __init__(self, options: Options, by: tuple[str, ...]):
        self.groups = GroupIndex(by)
        self.totals = Totals(options.stages, options.grid_size)
        self.group_tracks = np.zeros(0, np.int64)
        self.reasons: Counter[str] = Counter()
        self.read = 0
        self.written = 0
        self.frame_rows = 0

    def partial(self, by_schema: pa.Schema) -> Partial:
        self.totals.grow(self.groups.size)
        keys = self.groups.labels().to_arrow().cast(by_schema) if self.groups.by else pa.table({})
        tracks = np.zeros(self.groups.size, np.int64)
        tracks[: self.group_tracks.size] = self.group_tracks
        counts = {"read": self.read, "written": self.written, "rejected_by_reason": dict(self.reasons),
                  "frame_rows": self.frame_rows}
        return Partial(self.totals.stage, self.totals.curve, keys, tracks, counts)


class _Job:
    """The units of a run, their streaming, and the merge of their partials."""

    def __init__(self, source: Source, options: Options, output: OutputDir, progress: Progress | None, emit: Log):
        self.source = source
        self.options = options
        self.output = output
        self.progress = progress
        self.emit = emit
        self.columns = source.columns
        carried = source.output_schema
        self.by_schema = pa.schema([carried.field(c) for c in self.columns.by])
        self.stage_schema = stage_schema(carried)
        self.rejected_schema = rejected_schema(carried, self.columns)
        self.groups = GroupIndex(self.columns.by)
        self.totals = Totals(options.stages, options.grid_size)
        self.group_tracks = np.zeros(0, np.int64)
        self.counts = {"read": 0, "written": 0, "frame_rows": 0}
        self.reasons: Counter[str] = Counter()
        self.unit_counts = {"total": 0, "processed": 0, "resumed": 0, "reused": 0}
        self.rows_done = 0
        self.rows_todo = 0
        # read: waiting for input; compute: validation, kernels, tables (main
        # thread); write: busy time of the writer thread, which overlaps both.
        self.timings = {"read": 0.0, "compute": 0.0, "write": 0.0, "aggregate": 0.0}

    # --- planning -----------------------------------------------------------------------

    def units(self) -> list[Unit]:
        digest = options_digest(self.options)
        files = self.source.fingerprint()["files"]
        if self.columns.layout == "long":  # tracks may span files: one unit
            return [Unit(unit_key(files, digest), tuple(range(len(files))), self.source.path)]
        return [Unit(unit_key([f], digest), (i,), f["path"]) for i, f in enumerate(files)]

    def run_units(self, units: list[Unit], reuse_previous: bool) -> None:
        todo = []
        for unit in units:
            if self.output.is_committed(unit.key):
                self.unit_counts["resumed"] += 1
                self.emit({"event": "unit", "file": unit.label, "status": "resumed"})
            elif reuse_previous and self.output.reuse_from_final(unit.key):
                self.unit_counts["reused"] += 1
                self.emit({"event": "unit", "file": unit.label, "status": "reused"})
            else:
                todo.append(unit)
        self.unit_counts["total"] = len(units)
        self.unit_counts["processed"] = len(todo)
        self.rows_todo = sum(self.source.rows_in(i) for u in todo for i in u.fragments)
        writer = BackgroundWriter()
        try:
            for unit in todo:
                state = self._stream(unit, writer)
                writer.submit(state.partial(self.by_schema).save, self.output.partial(unit.key))
                self.emit({"event": "unit", "file": unit.label, "status": "processed", "rows": state.read,
                           "rejected": sum(state.reasons.values())})
        finally:
            writer.close()
            self.timings["write"] += writer.busy_s

    # --- streaming one unit -------------------------------------------------------------

    def _tick(self, rows: int) -> None:
        self.rows_done += rows
        if self.progress is not None:
            self.progress(self.rows_done, self.rows_todo)

    def _stream(self, unit: Unit, writer: BackgroundWriter) -> _UnitState:
        state = _UnitState(self.options, self.columns.by)
        stages_tmp = self.output.stages_part(unit.key).with_suffix(".parquet.tmp")
        rejected_tmp = self.output.rejected_part(unit.key).with_suffix(".parquet.tmp")
        part = pq.ParquetWriter(stages_tmp, self.stage_schema, use_dictionary=list(self.columns.carried),
                                compression="snappy")
        rejected = pq.ParquetWriter(rejected_tmp, self.rejected_schema)
        if self.columns.layout == "long":
            t = time.perf_counter()
            tracks, pre_reason, state.frame_rows = tracks_from_long(self.source, self._tick)
            self.timings["read"] += time.perf_counter() - t
            for start in range(0, tracks.num_rows, BATCH_ROWS):
                batch = tracks.slice(start, BATCH_ROWS).combine_chunks().to_batches()[0]
                self._batch(state, batch, part, rejected, writer, self.source.path, None,
                            pre_reason[start : start + BATCH_ROWS])
        else:
            (index,) = unit.fragments
            path = self.source.fragments[index].path
            with closing(prefetched(self.source.batches(index))) as batches:
                rows = 0
                t = time.perf_counter()
                for batch in batches:
                    self.timings["read"] += time.perf_counter() - t
                    self._batch(state, batch, part, rejected, writer, path, rows, None)
                    rows += batch.num_rows
                    self._tick(batch.num_rows)
                    t = time.perf_counter()

        def finish() -> None:
            part.close()
            rejected.close()
            os.replace(stages_tmp, self.output.stages_part(unit.key))
            os.replace(rejected_tmp, self.output.rejected_part(unit.key))

        writer.submit(finish)
        return state

    def _batch(self, state: _UnitState, batch: pa.RecordBatch, part, rejected_writer, writer: BackgroundWriter,
               source_path: str, first_row: int | None, pre_reason) -> None:
        t = time.perf_counter()
        result = process_batch(batch, self.columns, self.options, state.groups, pre_reason)
        state.totals.add(result.stage_partial, result.curve_partial)
        accepted = result.reason_codes == reasons.OK
        counts = np.bincount(result.group[accepted], minlength=state.groups.size)
        state.group_tracks = np.pad(state.group_tracks, (0, counts.size - state.group_tracks.size)) + counts
        state.read += batch.num_rows
        state.written += result.stages.num_rows
        writer.submit(part.write_table, result.stages.cast(self.stage_schema))
        rejected = result.rejected
        if rejected.num_rows:
            state.reasons.update(rejected.column("reason").to_pylist())
            bad_rows = np.flatnonzero(~accepted)
            rejected = rejected.append_column("source", pa.array([source_path] * rejected.num_rows, pa.string()))
            rows = (bad_rows + first_row) if first_row is not None else None
            rejected = rejected.append_column("row", pa.array(rows, pa.int64()) if rows is not None
                                              else pa.nulls(rejected.num_rows, pa.int64()))
            if self.options.on_invalid == "error":
                where = f"row {int(rows[0])}" if rows is not None else "track " + _describe(rejected, self.columns)
                raise RejectedRowError(f"{source_path}: {where}: {rejected.column('reason')[0].as_py()}")
            rejected = rejected.select(self.rejected_schema.names).cast(self.rejected_schema)
            writer.submit(rejected_writer.write_table, rejected)
        self.timings["compute"] += time.perf_counter() - t

    # --- merging ------------------------------------------------------------------------

    def aggregate(self, units: list[Unit]) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Merge every unit's partials, in unit order, into the dataset aggregates."""
        t = time.perf_counter()
        for unit in units:
            partial = Partial.load(self.output.partial(unit.key))
            n_local = partial.stage.shape[0]
            codes = self.groups.codes(partial.group_keys) if self.columns.by else np.zeros(n_local, np.int32)
            self.totals.add(partial.stage, partial.curve, codes)
            tracks = np.zeros(self.groups.size, np.int64)
            np.add.at(tracks, codes, partial.group_tracks)
            self.group_tracks = np.pad(self.group_tracks, (0, tracks.size - self.group_tracks.size)) + tracks
            c = partial.counts
            self.counts["read"] += c["read"]
            self.counts["written"] += c["written"]
            self.counts["frame_rows"] += c["frame_rows"]
            self.reasons.update(c["rejected_by_reason"])
        result = self.totals.finalize(self.groups, self.options.stages, self.options.grid_step)
        self.timings["aggregate"] += time.perf_counter() - t
        return result

    def summary(self, started_at: dt.datetime, plot: bool) -> dict:
        rejected = sum(self.reasons.values())
        rows = {
            "read": self.counts["read"],
            "written": self.counts["written"],
            "rejected": rejected,
            "rejected_by_reason": dict(sorted(self.reasons.items())),
        }
        if self.columns.layout == "long":
            rows["input_frame_rows"] = self.counts["frame_rows"]
        outputs = [STAGES_DIR + "/", STAGE_MEANS, CURVE, REJECTED] + ([PLOT] if plot else [])
        return {
            "status": "complete",
            "tf2eng": __version__,
            "started": started_at.isoformat(),
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
            "input": {
                "path": self.source.path,
                "format": self.source.format,
                "layout": self.columns.layout,
                "files": len(self.source.fragments),
                "fingerprint": self.source.fingerprint(),
            },
            "parameters": self.options.as_dict(),
            "columns": {
                "ids": list(self.columns.ids),
                "by": list(self.columns.by),
                "scores": self.columns.scores,
                "key_frame": self.columns.key or "first arg-max of the scores",
            },
            "rows": rows,
            "units": dict(self.unit_counts),
            "groups": self.groups.size,
            "outputs": outputs,
            "digests": self._digests(),
            "threads": numba.get_num_threads(),
            "device": self.options.device,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "versions": _versions(),
        }

    def _digests(self) -> dict:
        """SHA-256 of each aggregate file and of stages/ (its parts in name order)."""
        digests = {}
        for name in (STAGE_MEANS, CURVE, REJECTED):
            digests[name] = hashlib.sha256(self.output.path(name).read_bytes()).hexdigest()
        h = hashlib.sha256()
        for part in sorted(self.output.path(STAGES_DIR).glob("*.parquet")):
            h.update(part.name.encode() + b"\0" + part.read_bytes())
        digests[STAGES_DIR + "/"] = h.hexdigest()
        return digests


def _describe(table: pa.Table, columns: Columns) -> str:
    return ", ".join(f"{c}={table.column(c)[0].as_py()!r}" for c in columns.ids)


def _versions() -> dict:
    import matplotlib

    return {
        "tf2eng": __version__,
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "polars": pl.__version__,
        "matplotlib": matplotlib.__version__,
    }
