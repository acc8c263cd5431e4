"""The Python API: ``run`` reads, validates, scores, aggregates and writes (README, The method,
Input and Output).

A run is a list of units: consecutive small input files packed to about a
million rows, or a run of whole row groups of a large file, or (long
layout) the whole dataset (engine/units.py).  Each unit streams through
validation and the kernels and commits its own results; the dataset
aggregates are then merged from the units' aggregates in a fixed order.
Units already done, by a killed run (``resume``) or by the previous run on
the same files (incremental), are reused instead of recomputed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import time
from collections import Counter
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa

from .. import __version__
from ..kernels.compiling import load_registries_ahead, wait_for_registries
from .aggregate import GroupMoments
from .errors import InputError, OutputError
from .groups import GroupIndex
from .lazy import polars as pl
from .options import ENGINES, PLOT_DPI, Options, check_plot_options
from .output import (CURVE, PLOT, REJECTED, STAGE_MEANS, STAGES_DIR, WRITE_ERRNOS, OutputDir, default_output,
                     unreadable_unit_file)
from .source import Source, glob_base
from .stream import (Committing, UnitContext, UnitResult, first_rejected_error, numba_threads, replicate_sums,
                     source_rejected_schema, start_unit)
from .sweep import Sweep, sweep_values
from .units import Part, Unit, UnitAggregates, pack_files, relative_paths, row_group_runs, unit_key, unit_rows

Progress = Callable[[int, int], None]  # (rows done, rows to do)
Log = Callable[[dict], None]  # one event: {"event": name, ...}


def _load_stored(path: Path) -> UnitAggregates:
    """A reused or resumed unit's stored aggregates; damaged ones (changed after they were written) stop
    the run with one line (exit 2) rather than an internal error."""
    import zipfile

    try:
        return UnitAggregates.load(path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, pa.ArrowException) as exc:
        raise unreadable_unit_file(path, exc) from None


@dataclass
class RunResult:
    """What a run produced: the output directory, its summary and the aggregate tables
    (``stage_means`` and ``curve``, polars DataFrames made from the Arrow tables on first use)."""

    out: Path
    summary: dict
    stage_means_arrow: pa.Table = field(repr=False)
    curve_arrow: pa.Table = field(repr=False)

    @functools.cached_property
    def stage_means(self) -> pl.DataFrame:
        """stage_means.parquet as a polars DataFrame."""
        return pl.from_arrow(self.stage_means_arrow)

    @functools.cached_property
    def curve(self) -> pl.DataFrame:
        """curve.parquet as a polars DataFrame."""
        return pl.from_arrow(self.curve_arrow)

    def stages(self) -> pl.LazyFrame:
        """The per-track table, ``stages/``, as a lazy polars scan."""
        return pl.scan_parquet(self.out / STAGES_DIR / "*.parquet")

    def plot(self, ax=None):
        """The alignment figure of the run, drawn from ``out`` (stages/, rejected.parquet) and the
        curve table; returns the matplotlib Figure (README, In memory: ``plot()``)."""
        from .memory import plot_run

        return plot_run(self, ax)


def run(
    path: str | Path,
    out: str | Path | None = None,
    *,
    lam: float | Sequence[float] = 0.7,
    stages: int | Sequence[int] = 10,
    reduce: str = "sum",
    grid_step: float = 0.01,
    key: str = "column",
    key_col: str = "key_frame",
    scores_col: str | None = None,
    frame_col: str = "frame",
    id_cols: str | Iterable[str] | None = None,
    by: str | Iterable[str] = (),
    layout: str | None = None,
    format: str = "auto",
    normalize: str = "none",
    on_invalid: str = "quarantine",
    ci: float | None = None,
    bootstrap: int | None = None,
    seed: int = 0,
    plot: bool = True,
    plot_format: str = "png",
    plot_dpi: int = PLOT_DPI,
    threads: int | None = None,
    device: str = "cpu",
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    resume: bool = False,
    full: bool = False,
    meta: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
    progress: Progress | None = None,
    log: Log | None = None,
) -> RunResult:
    """Run the alignment analysis of the dataset at ``path`` into the directory ``out``.

    Parameters mirror the CLI options of ``tf2eng run``; ``format`` is ``--format`` (README, Input
    formats); ``lam`` and ``stages`` may be lists (or tuples), for a sweep over every combination in
    one read (README, Parameter sweeps).  ``resume`` picks
    up the units a killed run committed; ``full`` recomputes units the
    previous output already has.  ``meta`` is a Ref-YouTube-VOS / MeViS
    metadata file or a list of them (README, Dataset metadata).  Raises
    :class:`InputError` for bad options or unreadable input, and its
    subclass :class:`OutputError` when the output cannot be written;
    results appear in ``out`` only when the run completes.  The process is left as it was found: numba's thread
    count is restored when the run returns or raises.
    """
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.timezone.utc)
    sweep = configurations(lam, stages, reduce=reduce, grid_step=grid_step, key=key, key_col=key_col,
                           scores_col=scores_col, frame_col=frame_col, id_cols=id_cols, by=by, layout=layout,
                           normalize=normalize, on_invalid=on_invalid, device=device, meta=meta, ci=ci,
                           bootstrap=bootstrap, seed=seed)
    options = sweep.options
    if engine not in ENGINES:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    check_threads(threads)
    check_plot_options(plot_format, plot_dpi)
    # The CPU kernels' first call would load numba's registries (about 0.15 s, holding Python's lock):
    # loaded meanwhile, while the input is looked at and its first batch read (README, Start-up).
    registries = load_registries_ahead() if engine == "local" and options.device == "cpu" else None
    try:
        with numba_threads(threads):
            path = str(path)
            source = Source(path, options, input_format=format)
            output = OutputDir(out if out is not None else default_output(path), resume=resume,
                               parts=len(sweep.configurations))
            emit = log or (lambda event: None)
            job = _Job(source, sweep, output, progress, emit, engine, threads, plot_format, plot_dpi)
            try:
                result = job.run(plot, reuse_previous=not full, scheduler=scheduler, workers=workers,
                                 started=started, started_at=started_at)
            except BaseException as exc:
                # Any cluster is closed by now: no task of this run writes into the staging directory.
                error = _output_error(exc, output)
                output.abort(keep_committed=not isinstance(error, OutputError))
                emit({"event": "failed", "error": str(error) or type(error).__name__})
                if error is exc:
                    raise
                raise error from exc
    finally:
        if registries is not None:  # (a thread left in numba's code as the process exits may crash it)
            wait_for_registries(registries)
        if options.device == "cuda":  # the device and pinned memory kept between batches
            from ..kernels.cuda import release_buffers

            release_buffers()
    emit({"event": "complete", "output": str(result.out), "rows": result.summary["rows"],
          "units": result.summary["units"]})
    return result


def configurations(lam, stages, *, id_cols, by, device: str, meta, **rest) -> Sweep:
    """The checked options of a call of tf2eng.run or tf2eng.align: one configuration, or with lists
    for ``lam`` and ``stages`` every combination (README, Parameter sweeps)."""
    lams, ks = sweep_values("--lam", lam, float), sweep_values("--stages", stages, int)
    options = Options(lam=lams[0], stages=ks[0], id_cols=_names(id_cols) if id_cols is not None else None,
                      by=_names(by), device=resolve_device(device), meta=_meta_paths(meta), **rest)
    return Sweep.of(options, lams, ks)


def _names(columns: str | Iterable[str]) -> tuple[str, ...]:
    """Column names as a tuple; one name given as a string is one column, not its letters."""
    return (columns,) if isinstance(columns, str) else tuple(columns)


def _meta_paths(meta) -> tuple[str, ...]:
    """--meta files as a tuple of paths: one path, or an iterable of them."""
    if meta is None:
        return ()
    if isinstance(meta, (str, os.PathLike)):
        return (os.fspath(meta),)
    return tuple(os.fspath(p) for p in meta)


def _output_error(exc: BaseException, output: OutputDir) -> BaseException:
    """An OSError that only writing can cause (a full disk, a read-only file system), wherever it
    was raised (the plot, a copied file), as an OutputError naming the output; others unchanged."""
    if isinstance(exc, OSError) and not isinstance(exc, OutputError) and exc.errno in WRITE_ERRNOS:
        return OutputError(f"{output.final}: cannot write: {os.strerror(exc.errno)}")
    return exc


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


def check_threads(threads: int | None) -> None:
    """``threads`` (None: as numba has them) must be between 1 and NUMBA_NUM_THREADS."""
    if threads is None:
        return
    limit = numba.config.NUMBA_NUM_THREADS
    if not 1 <= threads <= limit:
        raise InputError(f"--threads must be between 1 and {limit} (NUMBA_NUM_THREADS), got {threads}")


class _Job:
    """The units of a run, their streaming, the merge of their aggregates, and the commit."""

    def __init__(self, source: Source, sweep: Sweep, output: OutputDir, progress: Progress | None, emit: Log,
                 engine: str, threads: int | None, plot_format: str = "png", plot_dpi: int = PLOT_DPI):
        self.source = source
        self.sweep = sweep  # the configurations: one, or every (λ, K) of a sweep
        self.options = sweep.options
        self.output = output
        self.progress = progress
        self.emit = emit
        self.columns = source.columns
        self.rejected_schema = source_rejected_schema(source)
        sweep.check_columns(self.columns.carried)
        self.groups = GroupIndex(self.columns.by, sweep.stage_width + sweep.curve_width)
        self.moments = GroupMoments(sweep.stage_width, sweep.curve_width)  # the configurations side by side
        options = self.options
        # its kernels load only when asked for (README, Start-up and compilation)
        self.replicates = None if options.bootstrap is None else replicate_sums(sweep, self.columns.by)
        self.group_tracks = np.zeros(0, np.int64)
        self.counts = {"read": 0, "written": 0, "frame_rows": 0, "meta_matched": 0}
        self.reasons: Counter[str] = Counter()
        self.unit_counts = {"total": 0, "processed": 0, "resumed": 0, "reused": 0}
        self.unit_aggregates: dict[str, UnitAggregates] = {}  # of the units processed by this run
        self.part_sha256: dict[str, str] = {}  # stages/ part name -> its SHA-256, from the unit aggregates
        self.engine = engine
        self.threads = threads  # as asked: the tasks of a Dask run set it on their worker
        self.threads_used: set[int] = set()  # as the units report it
        self.rows_done = 0
        self.rows_todo = 0
        self.plot_format, self.plot_dpi = plot_format, plot_dpi  # of the figure, when one is drawn
        # read: waiting for input; compute: validation, kernels, tables;
        # write: busy time of the writer thread, which overlaps both.  Summed
        # over units (and over workers, on Dask).
        self.timings = {"read": 0.0, "compute": 0.0, "write": 0.0, "aggregate": 0.0}

    def run(self, plot: bool, reuse_previous: bool, scheduler: str | None, workers: int | None, started: float,
            started_at: dt.datetime) -> RunResult:
        """Process the units (on a Dask cluster for engine "dask", closed once they are done or the run
        failed), then merge, write and commit."""
        cluster = None
        if self.engine == "dask":
            from .distributed import Cluster

            cluster = Cluster(scheduler, workers)
        try:
            self.emit({"event": "start", "input": self.source.path, "output": str(self.output.final),
                       "files": len(self.source.fragments), "engine": self.engine})
            units = self.units()
            self.output.drop_stale({u.key for u in units})
            self.run_units(units, reuse_previous, cluster)
        except BaseException as exc:
            if cluster is not None:
                try:
                    cluster.close()
                except Exception as secondary:  # noqa: BLE001 - the first error is the one to report
                    exc.add_note(f"also, while closing the Dask client: {secondary!r}")
            raise
        if cluster is not None:
            cluster.close()
        stage_means, curve = self.aggregate(units)
        self.write(stage_means, curve, units, plot)
        self.timings["total"] = time.perf_counter() - started
        summary = self.summary(started_at, plot)
        return RunResult(self.output.commit(summary), summary, stage_means, curve)

    # --- planning -----------------------------------------------------------------------

    def units(self) -> list[Unit]:
        """The run's units in path order: small files packed together (units.pack_files), a large file
        cut into runs of row groups, or (long layout) the whole dataset."""
        digest = self.sweep.digest(self.source.meta.sha256 if self.source.meta is not None else None)
        # The types of the columns read, as the whole input gives them (a new hive partition or file
        # may turn a column from int32 into text): results made with other types are not reused.
        types = [f"{name}={self.source.schema.field(name).type}" for name in self.columns.read
                 if name in self.source.schema.names]
        digest = hashlib.sha256(f"{digest}|{'|'.join(types)}".encode()).hexdigest()
        files = self.source.fingerprint["files"]
        if self.columns.layout == "long":  # tracks may span files: one unit
            return [Unit(unit_key(files, digest), tuple(Part(i) for i in range(len(files))), self.source.path,
                         rows=self.source.rows_total)]
        target = unit_rows()
        rows = [self.source.rows_in(i) for i in range(len(files))]
        units = []
        # Boundaries are decided on paths relative to the input's root, so a dataset packs the same
        # wherever it is mounted.
        root = self.source.path if os.path.isdir(self.source.path) else (
            glob_base(self.source.path) or os.path.dirname(self.source.path))
        relative = relative_paths([entry["path"] for entry in files], root)
        for group in pack_files(relative, rows, target):
            if len(group) == 1 and rows[group[0]] >= target:
                (i,) = group
                entry = files[i]
                sizes = self.source.row_groups(i)
                runs = row_group_runs(sizes, target)
                if len(runs) > 1:
                    for first, stop in runs:
                        key = unit_key([entry], f"{digest}:{first}:{stop}")
                        label = f"{entry['path']} row groups {first}-{stop - 1}"
                        part = Part(i, tuple(range(first, stop)), sum(sizes[:first]))
                        units.append(Unit(key, (part,), label, sum(sizes[first:stop])))
                    continue
            entries = [files[i] for i in group]
            label = entries[0]["path"] if len(group) == 1 else \
                f"{entries[0]['path']} … {entries[-1]['path']} ({len(group)} files)"
            units.append(Unit(unit_key(entries, digest), tuple(Part(i) for i in group), label,
                              sum(rows[i] for i in group)))
        return units

    def run_units(self, units: list[Unit], reuse_previous: bool, cluster=None) -> None:
        todo = []
        staging = self.output.units
        for unit in units:
            if staging.is_committed(unit.key):
                self.unit_counts["resumed"] += 1
                self.emit({"event": "unit", "file": unit.label, "status": "resumed"})
            elif reuse_previous and self.output.reuse_from_final(unit.key):
                self.unit_counts["reused"] += 1
                self.emit({"event": "unit", "file": unit.label, "status": "reused"})
            else:
                todo.append(unit)
                continue
            if self.options.on_invalid == "error":  # its rows pass the checks again: it stops where a row did not
                self._stop_at_stored_rejected(staging.rejected_part(unit.key))
        self.unit_counts["total"] = len(units)
        self.unit_counts["processed"] = len(todo)
        self.rows_todo = sum(u.rows for u in todo)
        if cluster is not None:
            ctx = UnitContext(self.source, self.options, staging, threads=self.threads, sweep=self.sweep)

            def done_remote(unit: Unit, result: UnitResult) -> None:
                self._done(unit, result)
                self._tick(unit.rows)

            cluster.run_units(ctx, todo, done_remote)
        else:
            ctx = UnitContext(self.source, self.options, staging, sweep=self.sweep)  # this thread's count, set by run()
            committing: list[tuple[Unit, Committing]] = []  # the unit before, its writers still at work

            def finish_previous() -> None:
                while committing:
                    unit, commit = committing.pop(0)
                    self._done(unit, commit.finish())

            try:
                for unit in todo:  # each unit's commit finishes after the next unit's first batch
                    commit = start_unit(ctx, unit, self._tick, finish_previous)
                    committing.append((unit, commit))
                finish_previous()
            except BaseException as exc:
                for unit, commit in committing:  # its rows are all written: it commits, for --resume
                    try:
                        self._done(unit, commit.finish())  # and its event comes before "failed"
                    except BaseException as secondary:  # noqa: BLE001 - the first error is the one to report
                        if secondary is not exc:
                            exc.add_note(f"also, while committing the unit before: {secondary!r}")
                raise

    def _done(self, unit: Unit, result: UnitResult) -> None:
        aggregates = result.aggregates
        self.unit_aggregates[unit.key] = aggregates
        self.threads_used.add(result.threads)
        for name, seconds in result.timings.items():
            self.timings[name] += seconds
        self.emit({"event": "unit", "file": unit.label, "status": "processed", "rows": aggregates.counts["read"],
                   "rejected": sum(aggregates.counts["rejected_by_reason"].values())})

    def _tick(self, rows: int) -> None:
        self.rows_done += rows
        if self.progress is not None:
            self.progress(self.rows_done, self.rows_todo)

    # --- merging and writing ------------------------------------------------------------

    @property
    def plot_name(self) -> str:
        """alignment.png, .svg or .pdf."""
        return str(Path(PLOT).with_suffix("." + self.plot_format))

    def _stop_at_stored_rejected(self, path: Path) -> None:
        """A stored unit's results, made under --on-invalid quarantine (unit keys leave the option out: the
        results are the same), stop a run under --on-invalid error at their first rejected row, as the run
        would have stopped computing them."""
        import pyarrow.parquet as pq

        try:
            first = next(pq.ParquetFile(path).iter_batches(batch_size=1), None)
        except (pa.ArrowException, OSError) as exc:
            raise unreadable_unit_file(path, exc) from None
        if first is not None and first.num_rows:
            raise first_rejected_error(pa.Table.from_batches([first]), self.columns)

    def aggregate(self, units: list[Unit]) -> tuple[pa.Table, pa.Table]:
        """Merge every unit's aggregates, in unit order, into the dataset aggregates."""
        t = time.perf_counter()
        staging = self.output.units
        for unit in units:
            aggregates = self.unit_aggregates.get(unit.key) or _load_stored(staging.aggregates(unit.key))
            for part, sha in zip(staging.stages_parts(unit.key), aggregates.stages_sha256.split(",")):
                self.part_sha256[part.name] = sha
            n_local = aggregates.stage.shape[0]
            codes = self.groups.codes(aggregates.group_keys) if self.columns.by else np.zeros(n_local, np.int32)
            self.moments.add(aggregates.stage, aggregates.curve, codes)
            if self.replicates is not None:
                self.replicates.add(aggregates.replicate_hi, aggregates.replicate_lo, codes)
            tracks = np.zeros(self.groups.size, np.int64)
            np.add.at(tracks, codes, aggregates.group_tracks)
            self.group_tracks = np.pad(self.group_tracks, (0, tracks.size - self.group_tracks.size)) + tracks
            c = aggregates.counts
            self.counts["read"] += c["read"]
            self.counts["written"] += c["written"]
            self.counts["frame_rows"] += c["frame_rows"]
            self.counts["meta_matched"] += c.get("meta_matched", 0)
            self.reasons.update(c["rejected_by_reason"])
        if not self.sweep.is_sweep and self.options.ci is None:  # Arrow tables: polars only with --by
            self.stage_means = self.curves = None
            result = self.moments.finalize_arrow(self.groups, self.options.stages, self.options.grid_step)
            self.timings["aggregate"] += time.perf_counter() - t
            return result
        self.stage_means, self.curves = self.sweep.finalize(self.moments, self.groups)  # one per configuration
        if self.options.ci is not None:  # README, Confidence bands
            from .bands import with_bands_each

            self.stage_means, self.curves = with_bands_each(self.stage_means, self.curves, self.options.ci,
                                                            self.replicates, self.moments, self.groups)
        self.timings["aggregate"] += time.perf_counter() - t
        return self.sweep.tables(self.stage_means).to_arrow(), self.sweep.tables(self.curves).to_arrow()

    def write(self, stage_means: pa.Table, curve: pa.Table, units: list[Unit], plot: bool) -> None:
        """The whole-run files: the aggregate tables, rejected.parquet and the plot."""
        t = time.perf_counter()
        self.output.write_table(STAGE_MEANS, stage_means)
        self.output.write_table(CURVE, curve)
        self.output.concatenate_rejected([u.key for u in units], self.rejected_schema)
        self.timings["write"] += time.perf_counter() - t
        if plot:
            t = time.perf_counter()
            if self.sweep.is_sweep:
                from .sweep_plot import render_sweep

                render_sweep(self.output.path(STAGES_DIR), self.output.path(self.plot_name), self.curves,
                             self.groups, self.group_tracks, self.sweep, self.plot_format, self.plot_dpi)
            else:  # in the command's plotting process where it has one (engine/plot_worker.py)
                from .plot_worker import render

                render(self.output.path(STAGES_DIR), self.output.path(self.plot_name), curve,
                       self.groups, self.group_tracks, self.options, self.plot_format, self.plot_dpi)
            self.timings["plot"] = time.perf_counter() - t

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
        outputs = [STAGES_DIR + "/", STAGE_MEANS, CURVE, REJECTED] + ([self.plot_name] if plot else [])
        parameters = self.options.as_dict()
        if self.sweep.is_sweep:
            parameters["lam"], parameters["stages"] = self.sweep.lams, self.sweep.stages
        summary = {
            "status": "complete",
            "tf2eng": __version__,
            "started": started_at.isoformat(),
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
            "input": {
                "path": self.source.path,
                "format": self.source.format,
                "layout": self.columns.layout,
                "files": len(self.source.fragments),
                "files_without_rows": self.source.files_without_rows,
                "fingerprint": self.source.fingerprint,
            },
            "parameters": parameters,
            "configurations": self.sweep.summary(),
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
            # What the units' kernels ran with (on Dask, the largest count a task used).
            "threads": max(self.threads_used) if self.threads_used else numba.get_num_threads(),
            "device": self.options.device,
            "engine": self.engine,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "versions": _versions(),
        }
        if self.source.meta is not None:  # README, Dataset metadata
            summary["meta"] = self.source.meta.summary(self.counts["read"], self.counts["meta_matched"])
        return summary

    def _digests(self) -> dict:
        """SHA-256 of each aggregate file, and of stages/: of the list of its parts'
        names and SHA-256s in name order (each part's taken as it was written)."""
        digests = {}
        for name in (STAGE_MEANS, CURVE, REJECTED):
            digests[name] = hashlib.sha256(self.output.path(name).read_bytes()).hexdigest()
        h = hashlib.sha256()
        for part in sorted(self.output.path(STAGES_DIR).glob("*.parquet")):
            sha = self.part_sha256.get(part.name) or hashlib.sha256(part.read_bytes()).hexdigest()
            h.update(f"{part.name}\0{sha}\n".encode())
        digests[STAGES_DIR + "/"] = h.hexdigest()
        return digests


def _versions() -> dict:
    """Versions of tf2eng and what it computes with (read from package metadata, no imports)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"tf2eng": __version__, "python": platform.python_version()}
    for package in ("numba", "numpy", "pyarrow", "polars", "matplotlib"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found
