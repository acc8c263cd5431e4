"""One unit (an input file, or the whole long-layout dataset) from input to committed results.

The same function runs in a local run and in a Dask task: read the unit's
record batches, validate and score them, write its part of ``stages/`` and
its rejected rows, and commit its partial aggregates last.  It returns the
partial aggregates, so the caller can merge them.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..kernels import reasons
from .aggregate import Totals
from .batch import process_batch
from .errors import RejectedRowError
from .groups import GroupIndex
from .long import FRAMES, KEY_LABEL, ROWS, LongTracks, key_read_type, label_type, long_outputs
from .options import Options
from .output import HashingFile, Staging
from .pipeline import BackgroundWriter, prefetched
from .source import Columns, Source
from .units import Partial, Unit


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
    return rejected_schema(source.output_schema, columns)


@dataclass
class UnitContext:
    """Everything a unit needs, in one picklable object (sent once to each Dask worker)."""

    source: Source
    options: Options
    staging: Staging

    @property
    def columns(self) -> Columns:
        return self.source.columns

    @property
    def stage_schema(self) -> pa.Schema:
        if self.columns.layout == "long":
            return stage_schema(self.source.output_schema, label_type(self.source))
        return stage_schema(self.source.output_schema)

    @property
    def rejected_schema(self) -> pa.Schema:
        return source_rejected_schema(self.source)

    @property
    def by_schema(self) -> pa.Schema:
        carried = self.source.output_schema
        return pa.schema([carried.field(c) for c in self.columns.by])


@dataclass
class _UnitState:
    """What one unit accumulates while it streams."""

    groups: GroupIndex
    totals: Totals
    group_tracks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    reasons: Counter = field(default_factory=Counter)
    read: int = 0
    written: int = 0
    frame_rows: int = 0

    def partial(self, by_schema: pa.Schema) -> Partial:
        self.totals.grow(self.groups.size)
        keys = self.groups.labels().to_arrow().cast(by_schema) if self.groups.by else pa.table({})
        tracks = np.zeros(self.groups.size, np.int64)
        tracks[: self.group_tracks.size] = self.group_tracks
        counts = {"read": self.read, "written": self.written, "rejected_by_reason": dict(self.reasons),
                  "frame_rows": self.frame_rows}
        return Partial(self.totals.stage, self.totals.curve, keys, tracks, counts)


def run_unit(ctx: UnitContext, unit: Unit, tick: Callable[[int], None] | None = None) -> tuple[Partial, dict]:
    """Stream one unit and commit its results; returns (partial aggregates, timings in s)."""
    options, columns = ctx.options, ctx.columns
    state = _UnitState(GroupIndex(columns.by), Totals(options.stages, options.grid_size))
    timings = {"read": 0.0, "compute": 0.0, "write": 0.0}
    paths = ctx.staging
    stages_tmp = paths.stages_part(unit.key).with_suffix(".parquet.tmp")
    rejected_tmp = paths.rejected_part(unit.key).with_suffix(".parquet.tmp")
    stage_schema_, rejected_schema_ = ctx.stage_schema, ctx.rejected_schema
    stages_file = HashingFile(stages_tmp)
    part = pq.ParquetWriter(stages_file, stage_schema_, use_dictionary=list(columns.carried), compression="snappy")
    rejected_writer = pq.ParquetWriter(rejected_tmp, rejected_schema_)
    writer = BackgroundWriter()

    def one_batch(batch: pa.RecordBatch, source_path: str, first_row: int | None, pre_reason) -> None:
        t = time.perf_counter()
        result = process_batch(batch, columns, options, state.groups, pre_reason)
        if columns.layout == "long":
            result.stages, result.rejected = long_outputs(batch, result.stages, result.rejected,
                                                          result.reason_codes, columns)
        state.totals.add(result.stage_partial, result.curve_partial)
        accepted = result.reason_codes == reasons.OK
        counts = np.bincount(result.group[accepted], minlength=state.groups.size)
        state.group_tracks = np.pad(state.group_tracks, (0, counts.size - state.group_tracks.size)) + counts
        state.read += batch.num_rows
        state.written += result.stages.num_rows
        writer.submit(part.write_table, result.stages.cast(stage_schema_))
        rejected = result.rejected
        if rejected.num_rows:
            state.reasons.update(rejected.column("reason").to_pylist())
            rows = np.flatnonzero(~accepted) + first_row if first_row is not None else None
            rejected = rejected.append_column("source", pa.array([source_path] * rejected.num_rows, pa.string()))
            rejected = rejected.append_column(
                "row", pa.array(rows, pa.int64()) if rows is not None else pa.nulls(rejected.num_rows, pa.int64()))
            if options.on_invalid == "error":
                where = f"row {int(rows[0])}" if rows is not None else "track " + _describe(rejected, columns)
                raise RejectedRowError(f"{source_path}: {where}: {rejected.column('reason')[0].as_py()}")
            writer.submit(rejected_writer.write_table,
                          rejected.select(rejected_schema_.names).cast(rejected_schema_))
        timings["compute"] += time.perf_counter() - t

    try:
        if columns.layout == "long":
            # Grouped a partition at a time; spill files live in the staging directory.
            with LongTracks(ctx.source, paths.root, tick) as tracks:
                t = time.perf_counter()
                for batch, pre_reason in tracks:
                    timings["read"] += time.perf_counter() - t
                    one_batch(batch, ctx.source.path, None, pre_reason)
                    t = time.perf_counter()
            state.frame_rows = tracks.rows
        else:
            (index,) = unit.fragments
            path = ctx.source.fragments[index].path
            with closing(prefetched(ctx.source.batches(index, unit.row_groups))) as batches:
                rows = unit.first_row
                t = time.perf_counter()
                for batch in batches:
                    timings["read"] += time.perf_counter() - t
                    one_batch(batch, path, rows, None)
                    rows += batch.num_rows
                    if tick is not None:
                        tick(batch.num_rows)
                    t = time.perf_counter()

        partial = state.partial(ctx.by_schema)

        def commit() -> None:
            part.close()
            stages_file.close()
            partial.stages_sha256 = stages_file.hexdigest()
            rejected_writer.close()
            os.replace(stages_tmp, paths.stages_part(unit.key))
            os.replace(rejected_tmp, paths.rejected_part(unit.key))

        writer.submit(commit)
        writer.submit(partial.save, paths.partial(unit.key))  # last: marks the unit committed
    finally:
        writer.close()
        timings["write"] += writer.busy_s
    return partial, timings


def _describe(table: pa.Table, columns: Columns) -> str:
    return ", ".join(f"{c}={table.column(c)[0].as_py()!r}" for c in columns.ids)
