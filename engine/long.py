"""Long layout (one row per frame) to tracks (one row per score list), with polars.

Frame labels.  The frame column holds integers (any start, gaps allowed) or
strings (file stems such as ``"00110"``).  A track's frames are ordered by
label: integers numerically; strings numerically when every non-null label
of the dataset is all ASCII digits, else lexicographically (by UTF-8
bytes).  ``T`` is the number of frame rows of the track.  The key column
holds the key frame's label; it is turned here into the 0-based position
the kernels take (-1 when the label is not among the track's frames, which
the kernel rejects as ``key_frame_out_of_range`` after the score checks,
as in the wide layout).  A key of another type than the frames is compared
as a label: with numerically ordered frames (integers, all-digit strings)
an all-digit key string or an integer key matches the frame of the same
number (``110`` and ``"110"`` match ``"00110"``); with lexicographically
ordered frames an integer key matches its decimal string.  A null label
rejects the track as ``bad_frame_index``, two rows with the same label (the
same number, in numeric order) as ``duplicate_frame``, a key differing
between rows as ``inconsistent_key_frame``.  Integer labels and keys are
taken as int64: a frame label beyond it (a uint64 above 2**63 - 1) counts as
null (``bad_frame_index``), a key beyond it names no frame
(``key_frame_out_of_range``); both are echoed as null in rejected.parquet.

Larger than memory (Grace hash partitioning).  Up to ``PARTITION_ROWS``
frame rows, the whole dataset is grouped in memory.  Beyond, the rows are
streamed once, each sent by a hash of its id columns to one of
``P = ceil(rows / PARTITION_ROWS)`` spill files (Arrow IPC streams in a
temporary directory of the output's staging directory), so that all the
frames of a track land in one partition; then each partition is read back
and grouped in memory on its own.  Peak memory is about one partition, not
the dataset.  Tracks come out sorted by their ids within a partition, the
partitions in index order: the same order whatever the file split and row
order of the input (the hash is polars' ``hash_rows`` with fixed seeds,
stable for a given polars version).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..kernels import reasons
from .lazy import polars as pl
from .ragged import int64_or_null
from .source import BATCH_ROWS, Columns, Source

FRAMES = "frames"  # the frame labels of a track in label order (kept for rejected rows)
ROWS = "rows"  # input rows that made the track
KEY_LABEL = "key_label"  # stages/: the key frame's label (long layout)
KEY_READ = "__key_read"  # the key column as read, for rejected.parquet
_ORDER = "__order"  # a frame's sort key
_KEY_ORDER = "__key_order"  # the key's sort key, null where it can match no frame
_PART = "__part"
_KEY_BEYOND_INT64 = "__key_beyond_int64"  # an integer key that does not fit in int64

# Frame rows per spill partition: the memory budget of the grouping step
# (peak RSS of a whole run measured at 0.56-0.66 GiB on 20 M and 40 M frame
# rows in 10 shuffled files, where grouping all in memory took 3.0 GiB at 20 M).
PARTITION_ROWS = 1_000_000
# At most this many spill files are open at once; beyond PARTITION_ROWS *
# MAX_PARTITIONS frame rows the partitions grow past their budget.
MAX_PARTITIONS = 512
# Frame rows buffered, over all partitions, before they are written out.
SPILL_BUFFER_ROWS = 1 << 20
SPILL_PREFIX = ".spill-"
_HASH_SEED = 0x7F2E
_UINT64_DIGITS = 19  # every 19-digit number fits in a uint64


# --- labels -------------------------------------------------------------------------------


def label_type(source: Source) -> pa.DataType:
    """Type of the frame labels in the outputs: int64 or string."""
    t = source.scan_schema(0).field(source.columns.frame).type
    return pa.int64() if pa.types.is_integer(t) else pa.string()


def key_read_type(source: Source) -> pa.DataType:
    """Type of the key column as read, in rejected.parquet: int64 or string."""
    t = source.scan_schema(0).field(source.columns.key).type
    return pa.int64() if pa.types.is_integer(t) else pa.string()


@dataclass
class LabelStats:
    """What decides the order of string labels: are all of them digits, and how long."""

    integer: bool
    all_digits: bool = True
    width: int = 0

    def update(self, labels: pa.Array | pa.ChunkedArray) -> None:
        if self.integer:
            return
        labels = labels.drop_null()
        if len(labels) == 0:
            return
        if self.all_digits and not pc.all(pc.ascii_is_decimal(labels)).as_py():
            self.all_digits = False
        if self.all_digits:
            self.width = max(self.width, pc.max(pc.binary_length(labels)).as_py())

    @property
    def kind(self) -> str:
        return "int" if self.integer else ("numeric" if self.all_digits else "text")


def _order_exprs(cols: Columns, stats: LabelStats, key_type: pa.DataType | None) -> list[pl.Expr]:
    """The sort keys of the frame labels and of the key (comparable with each other)."""
    frame = pl.col(cols.frame)
    kind = stats.kind
    wide_numbers = kind == "numeric" and stats.width > _UINT64_DIGITS
    if kind == "int":
        order = frame.cast(pl.Int64)
    elif kind == "numeric" and not wide_numbers:
        order = frame.cast(pl.UInt64)
    elif wide_numbers:  # longer than a uint64: zero-padded to one width, compared as strings
        order = frame.str.strip_chars_start("0").str.zfill(stats.width)
    else:
        order = frame
    exprs = [order.alias(_ORDER)]
    if cols.key is None:
        return exprs
    key = pl.col(cols.key)
    key_is_int = pa.types.is_integer(key_type)
    if kind == "int":
        key_order = key.cast(pl.Int64) if key_is_int else (
            pl.when(key.str.contains(r"^-?[0-9]+$")).then(key.cast(pl.Int64, strict=False)))
    elif kind == "numeric":
        digits = key.cast(pl.String) if key_is_int else key
        digits = pl.when(digits.str.contains(r"^[0-9]+$")).then(digits)
        if wide_numbers:
            stripped = digits.str.strip_chars_start("0")
            key_order = pl.when(stripped.str.len_bytes() <= stats.width).then(stripped.str.zfill(stats.width))
        else:
            key_order = digits.cast(pl.UInt64, strict=False)  # more than 19 digits: null, no match
    else:
        key_order = key.cast(pl.String)
    return exprs + [key_order.alias(_KEY_ORDER)]


# --- grouping -----------------------------------------------------------------------------


def group_tracks(frame: pl.DataFrame, cols: Columns, stats: LabelStats,
                 key_type: pa.DataType | None) -> tuple[pa.Table, np.ndarray]:
    """Frame rows (in any order) to one row per track, sorted by ids; with the
    pre-kernel reason of each track."""
    ids = list(cols.ids)
    frame = frame.with_columns(_order_exprs(cols, stats, key_type))
    sort_by = ids + [_ORDER, cols.scores] + ([cols.key] if cols.key else [])
    # Within a track, frames in label order; ties (duplicate labels, rejected
    # anyway) broken by score and key, so that no output depends on row order.
    frame = frame.sort(sort_by, nulls_last=[False] * len(ids) + [True] * (len(sort_by) - len(ids)))
    label = pl.col(cols.frame)
    aggs = [
        pl.col(cols.scores),
        label.alias(FRAMES),
        pl.len().cast(pl.Int64).alias(ROWS),
        (label.null_count() > 0).alias("__null_label"),
        (pl.col(_ORDER).n_unique() < pl.len()).alias("__duplicate"),
    ]
    aggs += [pl.col(c).first() for c in cols.by if c not in ids]
    if cols.key is not None:
        key, key_order, order = pl.col(cols.key).first(), pl.col(_KEY_ORDER).first(), pl.col(_ORDER)
        position = (
            pl.when(pl.col(_KEY_BEYOND_INT64).first()).then(-1)
            .when(key.is_null()).then(None)
            .when((order == key_order).any()).then((order < key_order).sum())
            .otherwise(-1)  # not among the frames: key_frame_out_of_range
        )
        aggs += [position.cast(pl.Int64).alias(cols.key), key.alias(KEY_READ),
                 (pl.col(cols.key).n_unique() == 1).alias("__key_ok")]
    tracks = frame.group_by(ids, maintain_order=True).agg(aggs)
    reason = np.zeros(tracks.height, np.uint8)
    if cols.key is not None:
        reason[~tracks["__key_ok"].to_numpy()] = reasons.INCONSISTENT_KEY_FRAME
    reason[tracks["__duplicate"].to_numpy()] = reasons.DUPLICATE_FRAME
    reason[tracks["__null_label"].to_numpy()] = reasons.BAD_FRAME_INDEX
    order = list(cols.carried) + [cols.scores] + ([cols.key, KEY_READ] if cols.key else []) + [FRAMES, ROWS]
    return tracks.select(order).to_arrow(), reason


def _batches(tracks: pa.Table, reason: np.ndarray) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
    for start in range(0, tracks.num_rows, BATCH_ROWS):
        batch = tracks.slice(start, BATCH_ROWS).combine_chunks().to_batches()
        if batch:
            yield batch[0], reason[start : start + BATCH_ROWS]


# --- reading, partitioning ----------------------------------------------------------------


def partitions_for(rows: int) -> int:
    """How many spill partitions a dataset of ``rows`` frame rows is grouped in (1: in memory)."""
    return max(1, min(MAX_PARTITIONS, math.ceil(rows / PARTITION_ROWS)))


def _spill_schema(source: Source) -> pa.Schema:
    """Frame rows as they are grouped: scores as float64, integer labels and keys as int64, and
    (with a key column) whether the key was an integer beyond int64."""
    cols = source.columns
    schema = source.scan_schema(0)
    schema = schema.set(schema.get_field_index(cols.scores), pa.field(cols.scores, pa.float64()))
    for name in (cols.frame, cols.key):
        if name is not None and pa.types.is_integer(schema.field(name).type):
            schema = schema.set(schema.get_field_index(name), pa.field(name, pa.int64()))
    if cols.key is not None:
        schema = schema.append(pa.field(_KEY_BEYOND_INT64, pa.bool_()))
    return schema


def _as_int64_labels(batch: pa.RecordBatch, cols: Columns) -> pa.RecordBatch:
    """Integer frame labels and keys as int64, null where a value does not fit; a key that did not
    fit is flagged (it names no frame)."""
    arrays, names = list(batch.columns), list(batch.schema.names)
    beyond = pa.array([False] * batch.num_rows, pa.bool_())
    for name in (cols.frame, cols.key):
        if name is None or not pa.types.is_integer(batch.schema.field(name).type):
            continue
        i = names.index(name)
        given = arrays[i]
        arrays[i] = int64_or_null(given)
        if name == cols.key:
            beyond = pc.and_(given.is_valid(), arrays[i].is_null())
    if cols.key is not None:
        arrays.append(beyond)
        names.append(_KEY_BEYOND_INT64)
    return pa.RecordBatch.from_arrays(arrays, names=names)


class LongTracks:
    """The tracks of a long-layout dataset, a partition at a time.

    A context manager (it owns the spill files, removed on exit, error or
    not) and an iterable of (track batch, pre-kernel reasons) pairs::

        with LongTracks(source, spill_root, on_rows) as tracks:
            for batch, reason in tracks:
                ...
        tracks.rows  # frame rows read
    """

    def __init__(self, source: Source, spill_root: str | os.PathLike, on_rows=None):
        self.source = source
        self.spill_root = Path(spill_root)
        self.on_rows = on_rows
        self.rows = 0
        self.partitions = partitions_for(source.rows_total)
        self.spill_dir: Path | None = None
        cols = source.columns
        self.key_type = key_read_type(source) if cols.key is not None else None
        self.stats = LabelStats(pa.types.is_integer(label_type(source)))
        self.schema = _spill_schema(source)

    def __enter__(self) -> LongTracks:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.spill_dir is not None:
            shutil.rmtree(self.spill_dir, ignore_errors=True)
            self.spill_dir = None

    def _read(self) -> Iterator[pa.RecordBatch]:
        """Every input batch, scores as float64, counting rows and label statistics."""
        frame = self.source.columns.frame
        for i in range(len(self.source.fragments)):
            for batch in self.source.batches(i):
                batch = _as_int64_labels(batch, self.source.columns).cast(self.schema)
                self.stats.update(batch.column(frame))
                self.rows += batch.num_rows
                if self.on_rows is not None:
                    self.on_rows(batch.num_rows)
                yield batch

    def __iter__(self) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
        cols = self.source.columns
        if self.partitions == 1:
            parts = [pl.from_arrow(pa.Table.from_batches([b], self.schema)) for b in self._read()]
            frame = pl.concat(parts, how="vertical_relaxed") if parts else pl.from_arrow(self.schema.empty_table())
            del parts
            yield from _batches(*group_tracks(frame, cols, self.stats, self.key_type))
            return
        paths = self._spill()
        for path in paths:
            with pa.OSFile(str(path)) as f:
                table = pa.ipc.open_stream(f).read_all()
            path.unlink()
            if table.num_rows == 0:
                continue
            frame = pl.from_arrow(table)
            del table
            tracks, reason = group_tracks(frame, cols, self.stats, self.key_type)
            del frame
            yield from _batches(tracks, reason)

    def _spill(self) -> list[Path]:
        """Write every input row to the spill file of its track's partition."""
        for stale in self.spill_root.glob(SPILL_PREFIX + "*"):  # of a killed run
            shutil.rmtree(stale, ignore_errors=True)
        self.spill_dir = Path(tempfile.mkdtemp(prefix=SPILL_PREFIX, dir=self.spill_root))
        P = self.partitions
        ids = list(self.source.columns.ids)
        paths = [self.spill_dir / f"part-{p:04d}.arrows" for p in range(P)]
        flush_rows = max(4096, SPILL_BUFFER_ROWS // P)
        buffers: list[list[pa.RecordBatch]] = [[] for _ in range(P)]
        buffered = np.zeros(P, np.int64)
        writers = []
        try:
            for path in paths:
                writers.append(pa.ipc.new_stream(str(path), self.schema))

            def flush(p: int) -> None:
                writers[p].write_batch(pa.Table.from_batches(buffers[p], self.schema).combine_chunks().to_batches()[0])
                buffers[p].clear()
                buffered[p] = 0

            for batch in self._read():
                part = partition_of(batch, ids, P)
                order = np.argsort(part, kind="stable")
                counts = np.bincount(part, minlength=P)
                batch = batch.take(pa.array(order))
                start = 0
                for p in np.flatnonzero(counts):
                    buffers[p].append(batch.slice(start, counts[p]))
                    start += counts[p]
                    buffered[p] += counts[p]
                    if buffered[p] >= flush_rows:
                        flush(p)
            for p in range(P):
                if buffers[p]:
                    flush(p)
        finally:
            for writer in writers:
                writer.close()
        return paths


def partition_of(batch: pa.RecordBatch, ids: list[str], partitions: int) -> np.ndarray:
    """The spill partition of each row: a hash of its id columns, the same in every process."""
    hashes = pl.from_arrow(pa.Table.from_batches([batch.select(ids)])).hash_rows(seed=_HASH_SEED).to_numpy()
    return (hashes % np.uint64(partitions)).astype(np.intp)


# --- outputs ------------------------------------------------------------------------------


def long_outputs(batch: pa.RecordBatch, stages: pa.Table, rejected: pa.Table, reason_codes: np.ndarray,
                 cols: Columns) -> tuple[pa.Table, pa.Table]:
    """A long-layout batch's stage rows with ``key_label`` added, and its rejected rows with the key as read."""
    frames = batch.column(FRAMES).filter(pa.array(reason_codes == reasons.OK))
    offsets = frames.offsets.to_numpy()
    key_frame = stages.column("key_frame").to_numpy()
    positions = offsets[:-1] - offsets[0] + key_frame if len(frames) else np.zeros(0, np.int64)
    stages = stages.append_column(KEY_LABEL, frames.flatten().take(pa.array(positions, pa.int64())))
    if cols.key is not None:
        rejected = rejected.set_column(rejected.schema.get_field_index(cols.key), cols.key, rejected.column(KEY_READ))
    return stages, rejected
