"""One unit (small input files packed together, a run of row groups of a large one, or the whole
long-layout dataset) from input to committed results.

The same function runs in a local run and in a Dask task: read the unit's
record batches, validate and score them, write its part of ``stages/`` and
its rejected rows, and commit its aggregates last (README, Scheduled runs).
It returns the aggregates, so the caller can merge them.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field

import numba
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..kernels import reasons
from .aggregate import GroupMoments
from .batch import BatchResult, process_batch, process_batch_ks, without_string_views
from .errors import RejectedRowError
from .formats import split_bad_rows
from .groups import GroupIndex
from .long import FRAMES, KEY_LABEL, ROWS, LongTracks, key_read_type, label_type, long_outputs
from .meta import named_keys
from .options import Options
from .output import OutputFile, Staging, rename_into_place, temporary
from .pipeline import BackgroundWriter, prefetched
from .source import BATCH_ROWS, READ_POOL, Columns, Source
from .sweep import Sweep
from .units import Part, Unit, UnitAggregates

if TYPE_CHECKING:
    from .replicates import ReplicateSums

Tick = Callable[[int], None]  # rows done since the last call


def stage_schema(carried: pa.Schema, key_label: pa.DataType | None = None) -> pa.Schema:
    """Columns of ``stages/``: id and --by columns, then the per-track results
    (long layout: and the key frame's label, of type ``key_label``)."""
    return pa.schema(
        list(carried)
        + [
            pa.field("T", pa.int32()),
            pa.field("key_frame", pa.int64()),
            pa.field("pos_key", pa.float64()),
            pa.field("stage_scores", pa.list_(pa.float64())),
            pa.field("stage_counts", pa.list_(pa.int32())),
        ]
        + ([pa.field(KEY_LABEL, key_label)] if key_label is not None else [])
    )


def rejected_schema(carried: pa.Schema, columns: Columns, labels: pa.DataType = pa.int64(),
                    key: pa.DataType = pa.int64()) -> pa.Schema:
    """Columns of ``rejected.parquet``: enough of each row to find and repair it
    (long layout: frame labels and key of type ``labels`` and ``key``, as read)."""
    fields = list(carried) + [pa.field(columns.scores, pa.large_list(pa.float64()))]
    if columns.key is not None:
        fields.append(pa.field(columns.key, key))
    if columns.layout == "long":
        fields += [pa.field(FRAMES, pa.large_list(labels)), pa.field(ROWS, pa.int64())]
    fields += [pa.field("reason", pa.string()), pa.field("source", pa.string()), pa.field("row", pa.int64())]
    return pa.schema(fields)


def source_rejected_schema(source: Source) -> pa.Schema:
    """rejected_schema for a source's columns (long layout: its label and key types)."""
    columns = source.columns
    if columns.layout == "long":
        key = key_read_type(source) if columns.key is not None else pa.int64()
        return rejected_schema(source.output_schema, columns, label_type(source), key)
    if named_keys(source):  # key frames given as frame names (README, Dataset metadata): kept as read
        return rejected_schema(source.output_schema, columns, key=pa.string())
    return rejected_schema(source.output_schema, columns)


def replicate_sums(sweep: Sweep, by: tuple[str, ...]):
    """The --bootstrap replicate sums of a run: a ReplicateSums (engine/replicates.py), or for a sweep
    one per configuration (engine/sweep_replicates.py)."""
    if sweep.is_sweep:
        from .sweep_replicates import SweepReplicateSums

        return SweepReplicateSums(sweep.configurations, by)
    from .replicates import ReplicateSums

    options = sweep.options
    return ReplicateSums(options.bootstrap, options.seed, options.stages, options.grid_size, by)


@dataclass
class UnitContext:
    """Everything a unit needs, in one picklable object (sent once to each Dask worker)."""

    source: Source
    options: Options
    staging: Staging
    threads: int | None = None  # numba threads for the unit's kernels; None: as the process has them
    sweep: Sweep | None = None  # the configurations of a sweep (engine/sweep.py); None: ``options`` alone

    def __post_init__(self):
        if self.sweep is None:
            self.sweep = Sweep((self.options,))

    @property
    def columns(self) -> Columns:
        return self.source.columns

    @property
    def stage_schema(self) -> pa.Schema:
        if self.columns.layout == "long":
            return self.sweep.stage_schema(stage_schema(self.source.output_schema, label_type(self.source)))
        if named_keys(self.source):
            return self.sweep.stage_schema(stage_schema(self.source.output_schema, pa.string()))
        return self.sweep.stage_schema(stage_schema(self.source.output_schema))

    @property
    def rejected_schema(self) -> pa.Schema:
        return source_rejected_schema(self.source)

    @property
    def by_schema(self) -> pa.Schema:
        carried = self.source.output_schema
        return pa.schema([carried.field(c) for c in self.columns.by])


@dataclass
class UnitResult:
    """What a unit hands back: its aggregates, where its time went (s) and the kernel threads it used."""

    aggregates: UnitAggregates
    timings: dict
    threads: int


def run_unit(ctx: UnitContext, unit: Unit, tick: Tick | None = None) -> UnitResult:
    """Stream one unit and commit its results."""
    return start_unit(ctx, unit, tick).finish()


def start_unit(ctx: UnitContext, unit: Unit, tick: Tick | None = None,
               after_first_batch: Callable[[], None] | None = None) -> Committing:
    """Stream one unit and hand its commit to its writer: the returned :class:`Committing` waits for it.
    ``after_first_batch`` is called once the unit's first batch is scored (or, where it has none, once it
    is read): a run finishes the unit before this one there, so that the last unit's writes and commit
    overlap this one's first reads instead of holding up the run."""
    timings = {"read": 0.0, "compute": 0.0, "write": 0.0}
    stack = ExitStack()  # on an error: the writer stops first, then the files go
    try:
        with numba_threads(ctx.threads) as threads:
            files = stack.enter_context(_UnitFiles(ctx, unit.key))
            writer = stack.enter_context(BackgroundWriter())
            part_writers = [stack.enter_context(BackgroundWriter(depth))  # a sweep's stages/ parts
                            for depth in _part_writer_depths(len(files.stages))]
            scorer = _UnitScorer(ctx, files, writer, part_writers, timings)
            with closing(_batches(ctx, unit, scorer.state, tick, timings)) as batches:
                for batch, origin, pre_reason in batches:
                    scorer.add(batch, origin, pre_reason)
                    if after_first_batch is not None:
                        after_first_batch()
                        after_first_batch = None
            if after_first_batch is not None:
                after_first_batch()
            aggregates = scorer.state.aggregates(ctx.by_schema)
            for part_writer in part_writers:  # every stages/ row written before the commit
                part_writer.close()
            writer.submit(files.commit, aggregates)
            writer.submit(aggregates.save, ctx.staging.aggregates(unit.key))  # last: marks the unit committed
    except BaseException as exc:
        stack.__exit__(type(exc), exc, exc.__traceback__)
        raise
    return Committing(stack, aggregates, timings, threads, [writer, *part_writers])


class Committing:
    """A unit whose rows are all scored and handed to its writers, which write them and commit it."""

    def __init__(self, stack: ExitStack, aggregates: UnitAggregates, timings: dict, threads: int,
                 writers: list[BackgroundWriter]):
        self._stack = stack
        self._result = UnitResult(aggregates, timings, threads)
        self._writers = writers

    def finish(self) -> UnitResult:
        """Wait for the writers (every row written, the commit); raise their error, if any."""
        self._stack.close()
        self._result.timings["write"] += sum(w.busy_s for w in self._writers)
        _pause_after_commit()
        return self._result


@contextmanager
def numba_threads(threads: int | None) -> Iterator[int]:
    """Run the block with ``threads`` numba threads (at most the process's NUMBA_NUM_THREADS; None: as
    they are) and restore the previous count after it; yields the count in use."""
    previous = numba.get_num_threads()
    if threads is None:
        yield previous
        return
    used = max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(used)
    try:
        yield used
    finally:
        numba.set_num_threads(previous)


# --- where a unit's batches come from ----------------------------------------------------


# Where a batch's rows come from: (source path, row of the segment's first row in that file or None,
# offset of the segment in the batch), one per file the batch holds rows of, in batch order.
Origin = list[tuple[str, "int | None", int]]


def _batches(ctx: UnitContext, unit: Unit, state: _UnitState, tick: Tick | None, timings: dict) -> Iterator[tuple]:
    """(record batch, its Origin, pre-kernel reasons or None)."""
    if ctx.columns.layout == "long":
        return _long_batches(ctx, state, tick, timings)
    return _wide_batches(ctx, unit, tick, timings)


def _long_batches(ctx: UnitContext, state: _UnitState, tick: Tick | None, timings: dict) -> Iterator[tuple]:
    """The dataset's tracks, gathered a hash partition at a time (a track's rows may be in any file;
    spill files live in the staging directory, engine/long.py); the input rows read go to
    ``state.frame_rows``."""
    with LongTracks(ctx.source, ctx.staging.root, tick) as tracks:
        t = time.perf_counter()
        for batch, pre_reason in tracks:
            timings["read"] += time.perf_counter() - t
            yield batch, [(ctx.source.path, None, 0)], pre_reason
            t = time.perf_counter()
    state.frame_rows = tracks.rows


def _wide_batches(ctx: UnitContext, unit: Unit, tick: Tick | None, timings: dict) -> Iterator[tuple]:
    """The batches of the unit's files in order (small files' batches joined), read a batch ahead on the
    reader thread."""
    with closing(prefetched(_coalesced(_file_batches(ctx.source, unit), first_alone=True))) as batches:
        t = time.perf_counter()
        for batch, origin in batches:
            timings["read"] += time.perf_counter() - t
            batch, bad = split_bad_rows(batch)  # rows a text file's reader could not read whole
            yield batch, origin, bad
            if tick is not None:
                tick(batch.num_rows)
            t = time.perf_counter()


# Runs of small files of a unit read ahead at once, each run on a thread of its own: their opens and reads
# overlap instead of adding up (a file of at most BATCH_ROWS rows is one batch).
READ_AHEAD_FILES = max(2, min(8, os.cpu_count() or 2))
# The first run of small files of a unit holds at most this many rows, and is scored on its own: scoring
# starts once a few files are read, not a full batch of them (a run of 131 files took 0.11 s to read, and
# the scorer and writer waited for it at the start of every unit).
FIRST_BATCH_ROWS = BATCH_ROWS // 8


def _file_batches(source: Source, unit: Unit) -> Iterator[tuple[pa.RecordBatch, Origin]]:
    """(batch, its Origin) for the batches of the unit's files, in order: consecutive small files, in runs
    of at most BATCH_ROWS rows, are read and joined ahead on a few threads (a task per run, not per file:
    with thousands of files a task each cost more than their reads); larger files are streamed."""
    pool = ThreadPoolExecutor(READ_AHEAD_FILES) if len(unit.fragments) > 1 else None
    ahead: deque = deque()

    def small(part: Part) -> bool:
        return (pool is not None and part.row_groups is None and source.rows_in(part.index) <= BATCH_ROWS
                and source.streams(part.index))  # a file read whole is never read beside another

    def runs() -> Iterator[list[Part]]:
        """The parts in order, consecutive small files of one schema together up to BATCH_ROWS rows (the
        unit's first run up to FIRST_BATCH_ROWS)."""
        run: list[Part] = []
        rows = 0
        limit = FIRST_BATCH_ROWS
        for part in unit.fragments:
            if not small(part):
                if run:
                    yield run
                yield [part]
                run, rows, limit = [], 0, BATCH_ROWS
                continue
            n = source.rows_in(part.index)
            if run and (rows + n > limit or source.scan_schema(part.index) != source.scan_schema(run[0].index)):
                yield run
                run, rows, limit = [], 0, BATCH_ROWS
            run.append(part)
            rows += n
        if run:
            yield run

    def read_run(run: list[Part]) -> list[tuple[pa.RecordBatch, Origin]]:
        return list(_coalesced(_part_batches(source, run)))

    todo = runs()

    def fill() -> None:
        while len(ahead) < READ_AHEAD_FILES:
            run = next(todo, None)
            if run is None:
                return
            ahead.append((run, pool.submit(read_run, run) if small(run[0]) else None))

    try:
        fill()
        while ahead:
            run, future = ahead.popleft()
            items = future.result() if future is not None else _part_batches(source, run)
            fill()
            yield from items
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _part_batches(source: Source, parts: list[Part]) -> Iterator[tuple[pa.RecordBatch, Origin]]:
    """(batch, Origin) for each batch of each of ``parts``, as its reader cuts them."""
    for part in parts:
        path = source.fragments[part.index].path
        row = part.first_row
        for batch in source.batches(part.index, part.row_groups):
            yield batch, [(path, row, 0)]
            row += batch.num_rows


def _coalesced(items: Iterator[tuple[pa.RecordBatch, Origin]], rows: int = BATCH_ROWS,
               first_alone: bool = False) -> Iterator[tuple]:
    """(batch, Origin): batches of consecutive files, of one schema, joined up to ``rows`` rows, so that a
    unit of many small files is scored and written in batches of the usual size, not a batch per file
    (a file's own batches are left as its reader cut them).  ``first_alone``: the first batch is handed
    on as it comes, so that scoring starts as soon as it is read."""
    pending: list[pa.RecordBatch] = []
    origin: Origin = []
    n = 0
    full = 0 if first_alone else rows
    with closing(items) if hasattr(items, "close") else nullcontext():
        for batch, segments in items:
            if pending and (origin[-1][0] == segments[0][0] or n + batch.num_rows > rows
                            or batch.schema != pending[0].schema):
                yield joined(pending), origin
                pending, origin, n = [], [], 0
            pending.append(batch)
            origin.extend((path, row, n + offset) for path, row, offset in segments)
            n += batch.num_rows
            if n >= full:  # full: no later batch joins it, so it need not wait for one
                yield joined(pending), origin
                pending, origin, n, full = [], [], 0, rows
    if pending:
        yield joined(pending), origin


def joined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """Consecutive batches of one schema as one batch (the batch itself where there is one)."""
    return batches[0] if len(batches) == 1 else pa.concat_batches(batches, memory_pool=JOIN_POOL)


# Joins go to mimalloc's memory where Arrow has it. A join of BATCH_ROWS rows takes tens of MiB: Arrow's
# jemalloc gave those pages back to the system once the join was scored and freed, and the next join
# faulted them in again (6,000 page faults a join); mimalloc keeps them for the next one. The joins of
# 2,000 small files: 0.22 s of CPU with jemalloc, 0.08 s with mimalloc (bench/README.md).
try:
    JOIN_POOL = pa.mimalloc_memory_pool()
except NotImplementedError:  # an Arrow build without mimalloc
    JOIN_POOL = READ_POOL


# --- one unit's files ----------------------------------------------------------------------


# A sweep's stages/ parts are encoded on at most this many writer threads (Parquet encoding releases
# the GIL), each a part or several in turn, beside the thread of the rejected rows and the commit.
PART_WRITERS = max(2, os.cpu_count() or 2)


def _part_writer_depths(parts: int) -> list[int]:
    """The queue depth of each stages/ writer thread for ``parts`` parts: two batches of each of its
    parts, so that the scoring thread runs up to two batches ahead of every writer."""
    threads = min(parts, PART_WRITERS) if parts > 1 else 0
    return [2 * len(range(w, parts, threads)) for w in range(threads)]


class _UnitFiles:
    """A unit's parts of ``stages/`` (one, or a sweep's one per configuration, README, Parameter
    sweeps) and its rejected rows while it streams, under temporary names of this attempt's own.
    :meth:`commit` closes them and renames them into place; leaving the context any other way
    closes and removes them."""

    def __init__(self, ctx: UnitContext, key: str):
        parts = ctx.staging.stages_parts(key)
        self._targets = (*parts, ctx.staging.rejected_part(key))
        self._tmps = tuple(temporary(path) for path in self._targets)
        self._closers: list[Callable[[], None]] = []
        self._committed = False
        try:
            self._stages_files = [self._open(tmp) for tmp in self._tmps[:-1]]
            self.stages = [self._writer(file, ctx.stage_schema, use_dictionary=list(ctx.columns.carried),
                                        compression="snappy") for file in self._stages_files]
            self.rejected = self._writer(self._open(self._tmps[-1]), ctx.rejected_schema)
        except BaseException:
            self._discard()
            raise

    def _open(self, path) -> OutputFile:
        file = OutputFile(path)
        self._closers.append(file.close)
        return file

    def _writer(self, file: OutputFile, schema: pa.Schema, **kwargs) -> pq.ParquetWriter:
        writer = pq.ParquetWriter(file, schema, **kwargs)
        self._closers.insert(self._closers.index(file.close), writer.close)  # before its file
        return writer

    def commit(self, aggregates: UnitAggregates) -> None:
        """Close the files (noting the SHA-256 of each stages part in ``aggregates``, joined by ",")
        and rename them."""
        for close in self._closers:
            close()
        aggregates.stages_sha256 = ",".join(file.hexdigest() for file in self._stages_files)
        for tmp, target in zip(self._tmps, self._targets):
            rename_into_place(tmp, target)
        self._committed = True

    def _discard(self) -> None:
        for close in self._closers:
            with suppress(Exception):  # the first error is already on its way
                close()
        for tmp in self._tmps:
            tmp.unlink(missing_ok=True)

    def __enter__(self) -> _UnitFiles:
        return self

    def __exit__(self, *exc_info) -> None:
        if not self._committed:
            self._discard()


# --- scoring one unit's batches ------------------------------------------------------------


@dataclass
class _UnitState:
    """What one unit accumulates while it streams."""

    groups: GroupIndex
    moments: GroupMoments
    group_tracks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    reasons: Counter = field(default_factory=Counter)
    read: int = 0
    written: int = 0
    frame_rows: int = 0
    meta_matched: int = 0  # tracks the --meta files name
    replicates: ReplicateSums | None = None  # --bootstrap
    id_cols: tuple[str, ...] = ()
    grid_step: float = 0.0

    def add(self, batch: pa.RecordBatch, result: BatchResult) -> None:
        self.moments.add(result.stage_partial, result.curve_partial)
        accepted = result.reason_codes == reasons.OK
        if self.replicates is not None:
            self.replicates.add_tracks(result.stages, result.group[accepted], self.groups.size, self.id_cols,
                                       self.grid_step)
        counts = np.bincount(result.group[accepted], minlength=self.groups.size)
        self.group_tracks = np.pad(self.group_tracks, (0, counts.size - self.group_tracks.size)) + counts
        self.read += batch.num_rows
        self.written += int(accepted.sum())  # tracks (a sweep writes each once per configuration)

    def aggregates(self, by_schema: pa.Schema) -> UnitAggregates:
        self.moments.grow(self.groups.size)
        keys = self.groups.labels().to_arrow().cast(by_schema) if self.groups.by else pa.table({})
        tracks = np.zeros(self.groups.size, np.int64)
        tracks[: self.group_tracks.size] = self.group_tracks
        counts = {"read": self.read, "written": self.written, "rejected_by_reason": dict(self.reasons),
                  "frame_rows": self.frame_rows, "meta_matched": self.meta_matched}
        aggregates = UnitAggregates(self.moments.stage, self.moments.curve, keys, tracks, counts)
        if self.replicates is not None:
            self.replicates.finish()
            self.replicates.grow(self.groups.size)
            aggregates.replicate_hi, aggregates.replicate_lo = self.replicates.hi, self.replicates.lo
        return aggregates


class BatchScorer:
    """Validates and scores batches, accumulating their aggregates in ``state``; hands back each
    batch's stage rows and rejected rows (a unit writes them out, tf2eng.align keeps them)."""

    def __init__(self, ctx: UnitContext):
        self.ctx = ctx
        options = ctx.options
        width = ctx.sweep.stage_width + ctx.sweep.curve_width
        self.state = _UnitState(GroupIndex(ctx.columns.by, width), GroupMoments(ctx.sweep.stage_width, ctx.sweep.curve_width))
        if options.bootstrap is not None:
            self.state.replicates = replicate_sums(ctx.sweep, ctx.columns.by)
            self.state.id_cols, self.state.grid_step = ctx.columns.ids, options.grid_step
        self.stage_schema = ctx.stage_schema
        self.rejected_schema = ctx.rejected_schema

    def score(self, batch: pa.RecordBatch, origin: Origin, pre_reason) -> tuple[pa.Table, pa.Table | None]:
        """(stage rows, rejected rows or None where the batch has none)."""
        ctx = self.ctx
        batch = without_string_views(batch)
        joined = None
        if ctx.source.meta is not None:  # README, Dataset metadata: on the CPU, before the kernels
            joined = ctx.source.meta.join(batch, ctx.columns)
            batch = joined.batch
            self.state.meta_matched += joined.matched
        results = []
        for same_lam in ctx.sweep.kernel_passes():  # the batch is read once, scored in one pass (CPU) or one per configuration
            pre = None if pre_reason is None else pre_reason.copy()
            group = results[0].group if results else None
            if len(same_lam) > 1:  # several configurations: ln S once, the powers once per λ (kernels/sweep.py)
                scored = process_batch_ks(batch, ctx.columns, same_lam, self.state.groups, pre, group)
            else:
                scored = [process_batch(batch, ctx.columns, same_lam[0], self.state.groups, pre, group)]
            for result in scored:
                results.append(self._outputs(batch, result, joined))
        result = ctx.sweep.combine(results)
        self.state.add(batch, result)
        rejected = self._rejected_rows(result, origin) if result.rejected.num_rows else None
        return result.stages.cast(self.stage_schema), rejected

    def _outputs(self, batch: pa.RecordBatch, result: BatchResult, joined) -> BatchResult:
        """A configuration's result with the stage and rejected rows of the layout or --meta."""
        ctx = self.ctx
        if ctx.columns.layout == "long":
            result.stages, result.rejected = long_outputs(batch, result.stages, result.rejected,
                                                          result.reason_codes, ctx.columns)
        elif joined is not None and joined.key_names is not None:
            result.stages, result.rejected = joined.outputs(result.stages, result.rejected,
                                                            result.reason_codes, ctx.columns.key, KEY_LABEL)
        return result

    def _rejected_rows(self, result: BatchResult, origin: Origin) -> pa.Table:
        """The batch's rejected rows with where they came from (file and row in it); the first stops the
        run under ``on_invalid="error"``."""
        rejected = result.rejected
        self.state.reasons.update(rejected.column("reason").to_pylist())
        if origin[0][1] is None:  # long layout: tracks, not rows of a file
            paths, rows = [origin[0][0]] * rejected.num_rows, None
        else:
            positions = np.flatnonzero(result.reason_codes != reasons.OK)
            offsets = np.array([offset for _, _, offset in origin], np.int64)
            segment = np.searchsorted(offsets, positions, side="right") - 1
            paths = [origin[i][0] for i in segment]
            firsts = np.array([first for _, first, _ in origin], np.int64)
            rows = firsts[segment] + positions - offsets[segment]
        rejected = rejected.append_column("source", pa.array(paths, pa.string()))
        rejected = rejected.append_column(
            "row", pa.array(rows, pa.int64()) if rows is not None else pa.nulls(rejected.num_rows, pa.int64()))
        if self.ctx.options.on_invalid == "error":
            raise first_rejected_error(rejected, self.ctx.columns)
        return rejected.select(self.rejected_schema.names).cast(self.rejected_schema)


class _UnitScorer(BatchScorer):
    """Validates and scores a unit's batches, accumulating its aggregates and handing its rows to the writer."""

    def __init__(self, ctx: UnitContext, files: _UnitFiles, writer: BackgroundWriter,
                 part_writers: list[BackgroundWriter], timings: dict):
        super().__init__(ctx)
        self.files = files
        self.writer = writer
        self.part_writers = part_writers  # a sweep's: the parts, in turn, on threads of their own
        self.timings = timings

    def add(self, batch: pa.RecordBatch, origin: Origin, pre_reason) -> None:
        t = time.perf_counter()
        stages, rejected = self.score(batch, origin, pre_reason)
        if self.ctx.sweep.is_sweep:  # a part per configuration, encoded in parallel
            n = stages.num_rows // len(self.files.stages)  # rows come configuration by configuration, as many each
            for j, file in enumerate(self.files.stages):
                self.part_writers[j % len(self.part_writers)].submit(file.write_table, stages.slice(j * n, n))
        else:
            self.writer.submit(self.files.stages[0].write_table, stages)
        if rejected is not None:
            self.writer.submit(self.files.rejected.write_table, rejected)
        self.timings["compute"] += time.perf_counter() - t


def first_rejected_error(rejected: pa.Table, columns: Columns) -> RejectedRowError:
    """What a run under ``on_invalid="error"`` stops with at the first of the ``rejected`` rows (with their
    source and row): the file and row, or in the long layout the track, and the reason."""
    row = rejected.column("row")[0].as_py()
    where = f"row {row}" if row is not None else "track " + ", ".join(
        f"{c}={rejected.column(c)[0].as_py()!r}" for c in columns.ids)
    return RejectedRowError(f"{rejected.column('source')[0].as_py()}: {where}: {rejected.column('reason')[0].as_py()}")


# --- a test hook ---------------------------------------------------------------------------

PAUSE_HOOK = "TF2ENG_PAUSE_AFTER_UNITS"
_hook = {"value": None, "commits": 0}
_hook_lock = threading.Lock()


def _pause_after_commit() -> None:
    """Test hook, read here only: with TF2ENG_PAUSE_AFTER_UNITS=N[:SECONDS] in its environment, a
    process pauses once it has committed N units since the variable took that value, while the
    variable keeps it (at most SECONDS), so that a test can kill or fail a run at a known point."""
    value = os.environ.get(PAUSE_HOOK)
    if not value:
        return
    with _hook_lock:
        if value != _hook["value"]:
            _hook.update(value=value, commits=0)
        _hook["commits"] += 1
        commits = _hook["commits"]
    n, _, seconds = value.partition(":")
    if commits != int(n):
        return
    deadline = time.monotonic() + (float(seconds) if seconds else math.inf)
    while os.environ.get(PAUSE_HOOK) == value and time.monotonic() < deadline:
        time.sleep(0.02)
