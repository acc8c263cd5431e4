"""The Python API: ``run`` reads, validates, scores, aggregates and writes (SPEC 1-4)."""

from __future__ import annotations

import datetime as dt
import platform
import time
from collections import Counter
from contextlib import closing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import polars as pl
import pyarrow as pa

from .. import __version__
from ..kernels import reasons
from .aggregate import Totals
from .batch import process_batch
from .errors import InputError, RejectedRowError
from .groups import GroupIndex
from .long import FRAMES, ROWS, tracks_from_long
from .options import Options
from .pipeline import BackgroundWriter, prefetched
from .output import CURVE, PLOT, REJECTED, STAGE_MEANS, STAGES_DIR, OutputDir, default_output
from .source import BATCH_ROWS, Columns, Source

Progress = Callable[[int, int], None]  # (rows done, rows in all)


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
    progress: Progress | None = None,
) -> RunResult:
    """Run the alignment analysis of the dataset at ``path`` into the directory ``out``.

    Parameters mirror the CLI options of ``tf2eng run``.  Raises
    :class:`InputError` for bad options or unreadable input; results appear
    in ``out`` only when the run completes.
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
    )
    _set_threads(threads)
    path = str(path)
    source = Source(path, options)
    output = OutputDir(out if out is not None else default_output(path))
    try:
        job = _Job(source, options, output, progress)
        job.stream()
        stage_means, curve = job.totals.finalize(job.groups, options.stages, options.grid_step)
        output.write_table(STAGE_MEANS, stage_means.to_arrow())
        output.write_table(CURVE, curve.to_arrow())
        job.timings["aggregate"] = time.perf_counter() - job.mark
        if plot:
            from .plot import render

            t = time.perf_counter()
            render(output.path(STAGES_DIR), output.path(PLOT), curve, job.groups, job.group_tracks, options)
            job.timings["plot"] = time.perf_counter() - t
        job.timings["total"] = time.perf_counter() - started
        summary = job.summary(started_at, plot)
        final = output.commit(summary)
    except BaseException:
        output.abort()
        raise
    return RunResult(final, summary, stage_means, curve)


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


class _Job:
    """The streaming part of a run: batches in, stages/ and rejected rows out, partials merged."""

    def __init__(self, source: Source, options: Options, output: OutputDir, progress: Progress | None):
        self.source = source
        self.options = options
        self.output = output
        self.progress = progress
        self.columns = source.columns
        carried = source.output_schema
        self.stage_schema = stage_schema(carried)
        self.rejected_schema = rejected_schema(carried, self.columns)
        self.groups = GroupIndex(self.columns.by)
        self.totals = Totals(options.stages, options.grid_size)
        self.group_tracks = np.zeros(0, np.int64)  # accepted tracks per group code
        self.reasons: Counter[str] = Counter()
        self.tracks_read = 0
        self.tracks_written = 0
        self.frame_rows = 0
        self.rows_done = 0
        # read: waiting for input; compute: validation, kernels, tables (main
        # thread); write: busy time of the writer thread, which overlaps both.
        self.timings = {"read": 0.0, "compute": 0.0, "write": 0.0}
        self.mark = time.perf_counter()

    def _tick(self, rows: int) -> None:
        self.rows_done += rows
        if self.progress is not None:
            self.progress(self.rows_done, self.source.rows_total)

    def stream(self) -> None:
        writer = BackgroundWriter()
        try:
            if self.columns.layout == "long":
                t = time.perf_counter()
                tracks, pre_reason, self.frame_rows = tracks_from_long(self.source, self._tick)
                self.timings["read"] += time.perf_counter() - t
                part = self.output.stages_writer(0, self.stage_schema, self.columns.carried)
                for start in range(0, tracks.num_rows, BATCH_ROWS):
                    batch = tracks.slice(start, BATCH_ROWS).combine_chunks().to_batches()[0]
                    self._batch(batch, part, writer, self.source.path, None, pre_reason[start : start + BATCH_ROWS])
                writer.submit(part.close)
            else:
                self._stream_wide(writer)
            writer.submit(self.output.close_rejected, self.rejected_schema)
        finally:
            writer.close()
            self.timings["write"] = writer.busy_s
        self.mark = time.perf_counter()

    def _stream_wide(self, writer: BackgroundWriter) -> None:
        def batches():
            for index in range(len(self.source.fragments)):
                for batch in self.source.batches(index):
                    yield index, batch

        with closing(prefetched(batches())) as items:
            index, part, rows = -1, None, 0
            t = time.perf_counter()
            for batch_index, batch in items:
                self.timings["read"] += time.perf_counter() - t
                if batch_index != index:  # the next input file: its own part of stages/
                    if part is not None:
                        writer.submit(part.close)
                    index, rows = batch_index, 0
                    part = self.output.stages_writer(index, self.stage_schema, self.columns.carried)
                self._batch(batch, part, writer, self.source.fragments[index].path, rows, None)
                rows += batch.num_rows
                self._tick(batch.num_rows)
                t = time.perf_counter()
            if part is not None:
                writer.submit(part.close)
        # Every input file has its part in stages/, even one without rows.
        for index in range(len(self.source.fragments)):
            if not self.output.has_stages_part(index):
                writer.submit(self.output.stages_writer(index, self.stage_schema, self.columns.carried).close)

    def _batch(self, batch: pa.RecordBatch, part, writer: BackgroundWriter, source_path: str,
               first_row: int | None, pre_reason) -> None:
        t = time.perf_counter()
        result = process_batch(batch, self.columns, self.options, self.groups, pre_reason)
        self.totals.add(result.stage_partial, result.curve_partial)
        accepted = result.reason_codes == reasons.OK
        counts = np.bincount(result.group[accepted], minlength=self.groups.size)
        self.group_tracks = np.pad(self.group_tracks, (0, counts.size - self.group_tracks.size)) + counts
        self.tracks_read += batch.num_rows
        self.tracks_written += result.stages.num_rows
        writer.submit(part.write_table, result.stages.cast(self.stage_schema))
        rejected = result.rejected
        if rejected.num_rows:
            self.reasons.update(rejected.column("reason").to_pylist())
            bad_rows = np.flatnonzero(~accepted)
            rejected = rejected.append_column("source", pa.array([source_path] * rejected.num_rows, pa.string()))
            rows = (bad_rows + first_row) if first_row is not None else None
            rejected = rejected.append_column("row", pa.array(rows, pa.int64()) if rows is not None
                                              else pa.nulls(rejected.num_rows, pa.int64()))
            if self.options.on_invalid == "error":
                where = f"row {int(rows[0])}" if rows is not None else "track " + _describe(rejected, self.columns)
                raise RejectedRowError(f"{source_path}: {where}: {rejected.column('reason')[0].as_py()}")
            rejected = rejected.select(self.rejected_schema.names).cast(self.rejected_schema)
            writer.submit(self.output.write_rejected, rejected)
        self.timings["compute"] += time.perf_counter() - t

    def summary(self, started_at: dt.datetime, plot: bool) -> dict:
        rejected = sum(self.reasons.values())
        rows = {
            "read": self.tracks_read,
            "written": self.tracks_written,
            "rejected": rejected,
            "rejected_by_reason": dict(sorted(self.reasons.items())),
        }
        if self.columns.layout == "long":
            rows["input_frame_rows"] = self.frame_rows
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
            "groups": self.groups.size,
            "outputs": outputs,
            "threads": numba.get_num_threads(),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "versions": _versions(),
        }


def _describe(table: pa.Table, columns: Columns) -> str:
    return ", ".join(f"{c}={table.column(c)[0].as_py()!r}" for c in columns.ids)


def _versions() -> dict:
    import matplotlib
    import pyarrow

    return {
        "tf2eng": __version__,
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "pyarrow": pyarrow.__version__,
        "polars": pl.__version__,
        "matplotlib": matplotlib.__version__,
    }
