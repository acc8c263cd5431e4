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
order of the input (the hash is tf2eng's own, kernels/group.py, fixed seeds;
the same in every process and version).
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..kernels import group as group_kernels
from ..kernels import reasons
from .pipeline import prefetched
from .errors import InputError
from .formats import BAD_ROW, TEXT_FORMATS, split_bad_rows
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
_CODE = "__track"  # a track's dense code, in id order
# Columns added to the frame rows while they are grouped: no id or --by column may take these names.
WORK_COLUMNS = (KEY_READ, _ORDER, _KEY_ORDER, _PART, _KEY_BEYOND_INT64, _CODE, BAD_ROW)

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
# Open files a run needs beside its spill files (inputs read ahead, outputs, the libraries' own).
SPARE_FILES = 128
_HASH_SEED = 0x7F2E
_UINT64_DIGITS = 19  # every 19-digit number fits in a uint64
_NO_NULLS = np.zeros(0, np.bool_)


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


def _frame_order_expr(cols: Columns, stats: LabelStats) -> pl.Expr:
    """The sort key of the frame labels."""
    frame = pl.col(cols.frame)
    kind = stats.kind
    if kind == "int":
        order = frame.cast(pl.Int64)
    elif kind == "numeric" and not _wide_numbers(stats):
        order = frame.cast(pl.UInt64)
    elif _wide_numbers(stats):  # longer than a uint64: zero-padded to one width, compared as strings
        order = frame.str.strip_chars_start("0").str.zfill(stats.width)
    else:
        order = frame
    return order.alias(_ORDER)


def _wide_numbers(stats: LabelStats) -> bool:
    return stats.kind == "numeric" and stats.width > _UINT64_DIGITS


def _key_order_expr(cols: Columns, stats: LabelStats, key_type: pa.DataType | None) -> pl.Expr:
    """The key's sort key, comparable with the frames' (null where it can match no frame)."""
    kind = stats.kind
    key = pl.col(cols.key)
    key_is_int = pa.types.is_integer(key_type)
    if kind == "int":
        key_order = key.cast(pl.Int64) if key_is_int else (
            pl.when(key.str.contains(r"^-?[0-9]+$")).then(key.cast(pl.Int64, strict=False)))
    elif kind == "numeric":
        digits = key.cast(pl.String) if key_is_int else key
        digits = pl.when(digits.str.contains(r"^[0-9]+$")).then(digits)
        if _wide_numbers(stats):
            stripped = digits.str.strip_chars_start("0")
            key_order = pl.when(stripped.str.len_bytes() <= stats.width).then(stripped.str.zfill(stats.width))
        else:
            key_order = digits.cast(pl.UInt64, strict=False)  # more than 19 digits: null, no match
    else:
        key_order = key.cast(pl.String)
    return key_order.alias(_KEY_ORDER)


def _order_exprs(cols: Columns, stats: LabelStats, key_type: pa.DataType | None) -> list[pl.Expr]:
    """The sort keys of the frame labels and of the key (comparable with each other)."""
    exprs = [_frame_order_expr(cols, stats)]
    return exprs if cols.key is None else exprs + [_key_order_expr(cols, stats, key_type)]


# --- grouping -----------------------------------------------------------------------------


def _valid_of(arr: pa.Array) -> np.ndarray:
    """The validity of each value as a numpy bool array; empty when there is no null."""
    if arr.null_count == 0:
        return _NO_NULLS
    return arr.is_valid().to_numpy(zero_copy_only=False)


def _int_view(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """An integer array as (int64 values, validity)."""
    valid = _valid_of(arr)
    # uint64 ids above the int64 maximum keep their bits (a one-to-one map, so codes and hashes stay exact)
    values = arr.cast(pa.int64(), safe=arr.type != pa.uint64()) if arr.type != pa.int64() else arr
    values = values.fill_null(0) if arr.null_count else values
    return values.to_numpy(zero_copy_only=False), valid


def _bytes_view(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A string or binary array as (int64 offsets, bytes, validity)."""
    if not (pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)):
        arr = arr.cast(pa.large_binary() if pa.types.is_binary(arr.type) or pa.types.is_binary_view(arr.type)
                       else pa.large_string())
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], np.int64, count=arr.offset + len(arr) + 1)[arr.offset:]
    data = np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return offsets, data, _valid_of(arr)


def _is_bytes(t: pa.DataType) -> bool:
    return any(kind(t) for kind in (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view,
                                     pa.types.is_binary, pa.types.is_large_binary, pa.types.is_binary_view))


def _dense_codes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(code of each value, first row of each code): equal values (nulls together) share a code."""
    if _is_bytes(arr.type):
        return group_kernels.dense_codes_bytes(*_bytes_view(arr))
    return group_kernels.dense_codes_int(*_int_view(arr))


def _ranked(codes: np.ndarray, uniques: pa.Array) -> np.ndarray:
    """codes renumbered so that their order is that of ``uniques`` (the value of each code; nulls first)."""
    order = pc.array_sort_indices(uniques, null_placement="at_start").to_numpy()
    rank = np.empty(order.size, np.int64)
    rank[order] = np.arange(order.size)
    return rank[codes]


def _equal_to_codes(column: pa.Array, codes: np.ndarray, uniques: pa.Array) -> bool:
    """True if every value of ``column`` equals the value of its code (``uniques[code]``, a compact
    array that stays in cache)."""
    if _is_bytes(column.type):
        offsets, data, valid = _bytes_view(column)
        code_offsets, code_data, code_valid = _bytes_view(uniques)
        if code_valid.size == 0 and valid.size:
            code_valid = np.ones(len(uniques), np.bool_)
        return group_kernels.equal_to_code_bytes(codes, offsets, data, valid, code_offsets, code_data, code_valid)
    values, valid = _int_view(column)
    code_values, code_valid = _int_view(uniques)
    if code_valid.size == 0 and valid.size:
        code_valid = np.ones(len(uniques), np.bool_)
    return group_kernels.equal_to_code_int(codes, values, valid, code_values, code_valid)


def _exact_codes(columns: list[pa.Array]) -> tuple[np.ndarray, np.ndarray]:
    """(code, first row of each code) of the rows' value tuples, column by column (exact)."""
    codes, first = _dense_codes(columns[0])
    for column in columns[1:]:
        more, more_first = _dense_codes(column)
        codes, first = group_kernels.dense_codes_int(codes * more_first.size + more, _NO_NULLS)
    return codes, first


def track_codes(table: pa.Table, ids: list[str]) -> tuple[np.ndarray, int]:
    """Each row's track (its id values) as a dense code, in the order of the ids (column by column,
    nulls first); and the number of tracks.

    Rows are coded by a 64-bit hash of their ids, then every row is compared with the first row of its
    code; should two different ids share a hash, the ids are coded column by column instead."""
    columns = [table.column(c).combine_chunks() for c in ids]
    codes, first = group_kernels.dense_codes_int(row_hashes(table, ids).view(np.int64), _NO_NULLS)
    taken = pa.array(first)
    if not all(_equal_to_codes(column, codes, column.take(taken)) for column in columns):
        codes, first = _exact_codes(columns)
    uniques = pl.from_arrow(table.select(ids).take(pa.array(first))).with_row_index(_CODE)
    order = uniques.sort(ids, nulls_last=False, maintain_order=True)[_CODE].to_numpy()
    rank = np.empty(first.size, np.int64)
    rank[order] = np.arange(first.size)
    return rank[codes], first.size


def _order_keys(column: pa.Array, cols: Columns, stats: LabelStats) -> tuple[np.ndarray, np.ndarray, pa.Array | None]:
    """(int64 sort key of each frame label, its validity, the sorted distinct labels when the keys are
    their ranks (string order), else None)."""
    if stats.kind == "int":
        values, valid = _int_view(column)
        return values, valid, None
    order = pl.from_arrow(pa.table({cols.frame: column})).select(_frame_order_expr(cols, stats)).to_series()
    if order.dtype == pl.UInt64:  # order-preserving map onto int64
        valid = _valid_of(column)
        values = order.fill_null(0).to_numpy().view(np.int64) ^ np.int64(-(2**63))
        return values, valid, None
    order = order.to_arrow()
    codes, first = _dense_codes(order)
    uniques = order.take(pa.array(first))
    ranks = _ranked(codes, uniques)
    distinct = uniques.take(pc.array_sort_indices(uniques, null_placement="at_start"))
    return ranks, _valid_of(order), distinct


def _key_order_keys(first_keys: pa.Table, cols: Columns, stats: LabelStats, key_type: pa.DataType,
                    distinct: pa.Array | None) -> tuple[np.ndarray, np.ndarray]:
    """(each track's key as an int64 sort key comparable with _order_keys', whether it can match)."""
    order = pl.from_arrow(first_keys.select([cols.key])).select(_key_order_expr(cols, stats, key_type)).to_series()
    if distinct is not None:  # string order: the key's rank among the labels, if it is one
        at = pc.index_in(order.to_arrow().cast(distinct.type), value_set=distinct)
        return at.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64), at.is_valid().to_numpy(
            zero_copy_only=False)
    can_match = order.is_not_null().to_numpy()
    values = order.fill_null(0).to_numpy()
    if order.dtype == pl.UInt64:
        values = values.view(np.int64) ^ np.int64(-(2**63))
    return values.astype(np.int64), can_match


def group_tracks(table: pa.Table, cols: Columns, stats: LabelStats,
                 key_type: pa.DataType | None) -> tuple[pa.Table, np.ndarray]:
    """Frame rows (in any order) to one row per track, sorted by ids; with the pre-kernel reason of
    each track.

    Tracks get dense codes in id order (kernels/group.py, exact hash tables), rows are counting-sorted
    by code and sorted by label within a track.  A track with a null label or two rows with the same
    label (rejected either way) is grouped by ``_group_flagged`` instead, whose order of tied rows
    (score, then key) does not depend on the order of the input rows.
    """
    table = table.combine_chunks()
    n = table.num_rows
    codes, groups = track_codes(table, list(cols.ids)) if n else (np.zeros(0, np.int64), 0)
    order, order_valid, distinct = _order_keys(table.column(cols.frame).combine_chunks(), cols, stats)
    perm, starts, flagged = group_kernels.group_rows(codes, groups, order, order_valid,
                                                     4 * numba.get_num_threads())
    clean = np.flatnonzero(~flagged)
    if clean.size < groups:  # keep only the clean tracks' rows
        lengths = np.diff(starts)
        perm = perm[np.repeat(~flagged, lengths)]
        starts = np.zeros(clean.size + 1, np.int64)
        np.cumsum(lengths[clean], out=starts[1:])
    tracks, reason = _clean_tracks(table, cols, stats, key_type, perm, starts, order, distinct)
    if clean.size < groups:
        rows = np.flatnonzero(flagged[codes])
        flagged_codes = np.flatnonzero(flagged)
        more, more_reason = _group_flagged(table.take(pa.array(rows)), codes[rows], cols, stats, key_type)
        tracks = pa.concat_tables([tracks, more.cast(tracks.schema)])
        reason = np.concatenate([reason, more_reason])
        back = np.argsort(np.concatenate([clean, flagged_codes]), kind="stable")
        tracks, reason = tracks.take(pa.array(back)), reason[back]
    if BAD_ROW in table.column_names:  # a row that could not be read whole rejects its track, first
        bad = table.column(BAD_ROW).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(bad)
        if rows.size:
            worst = np.zeros(groups, np.uint8)
            np.maximum.at(worst, codes[rows], bad[rows])
            reason = np.where(worst != 0, worst, reason).astype(np.uint8)
    return tracks, reason


def _list_of(values: pa.Array, starts: np.ndarray) -> pa.Array:
    return pa.LargeListArray.from_arrays(pa.array(starts, pa.int64()), values)


def _clean_tracks(table: pa.Table, cols: Columns, stats: LabelStats, key_type: pa.DataType | None,
                  perm: np.ndarray, starts: np.ndarray, order: np.ndarray,
                  distinct: pa.Array | None) -> tuple[pa.Table, np.ndarray]:
    """The tracks of rows ``perm`` (track g: perm[starts[g]:starts[g+1]], in label order, no label
    null or repeated)."""
    groups = starts.size - 1
    rows = pa.array(perm)
    firsts = pa.array(perm[starts[:-1]])
    columns = {c: table.column(c).take(firsts) for c in cols.carried_in_input}
    columns[cols.scores] = _list_of(table.column(cols.scores).take(rows).combine_chunks(), starts)
    reason = np.zeros(groups, np.uint8)
    if cols.key is not None:
        key = table.column(cols.key).combine_chunks()
        first_keys = pa.table({cols.key: key.take(firsts)})
        if _is_bytes(key.type):
            same = group_kernels.same_as_first_bytes(perm, starts, *_bytes_view(key))
        else:
            same = group_kernels.same_as_first_int(perm, starts, *_int_view(key))
        key_order, can_match = _key_order_keys(first_keys, cols, stats, key_type, distinct)
        beyond = table.column(_KEY_BEYOND_INT64).combine_chunks().take(firsts).to_numpy(zero_copy_only=False)
        position = group_kernels.key_positions(perm, starts, order, key_order, can_match & ~beyond)
        key_null = first_keys.column(cols.key).is_null().to_numpy(zero_copy_only=False)
        columns[cols.key] = pa.array(position, pa.int64(), mask=key_null & ~beyond)
        columns[KEY_READ] = first_keys.column(cols.key)
        reason[~same] = reasons.INCONSISTENT_KEY_FRAME
    columns[FRAMES] = _list_of(table.column(cols.frame).take(rows).combine_chunks(), starts)
    columns[ROWS] = pa.array(np.diff(starts), pa.int64())
    return pa.table(columns), reason


def _group_flagged(table: pa.Table, codes: np.ndarray, cols: Columns, stats: LabelStats,
                   key_type: pa.DataType | None) -> tuple[pa.Table, np.ndarray]:
    """group_tracks for tracks with a null or repeated label, with polars: rows of a track sorted by
    label (nulls last), ties broken by score, key and --by values, so that no output depends on row
    order."""
    frame = pl.from_arrow(table).with_columns(pl.Series(_CODE, codes)).with_columns(
        _order_exprs(cols, stats, key_type))
    by = [c for c in cols.carried_in_input if c not in cols.ids]
    sort_by = [_CODE, _ORDER, cols.scores] + ([cols.key] if cols.key else []) + by
    frame = frame.sort(sort_by, nulls_last=[False] + [True] * (len(sort_by) - 1))
    label = pl.col(cols.frame)
    aggs = [pl.col(c).first() for c in cols.carried_in_input]
    aggs += [
        pl.col(cols.scores),
        label.alias(FRAMES),
        pl.len().cast(pl.Int64).alias(ROWS),
        (label.null_count() > 0).alias("__null_label"),
        (pl.col(_ORDER).n_unique() < pl.len()).alias("__duplicate"),
    ]
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
    tracks = frame.group_by(_CODE, maintain_order=True).agg(aggs)
    reason = np.zeros(tracks.height, np.uint8)
    if cols.key is not None:
        reason[~tracks["__key_ok"].to_numpy()] = reasons.INCONSISTENT_KEY_FRAME
    reason[tracks["__duplicate"].to_numpy()] = reasons.DUPLICATE_FRAME
    reason[tracks["__null_label"].to_numpy()] = reasons.BAD_FRAME_INDEX
    order = cols.carried_in_input + [cols.scores] + ([cols.key, KEY_READ] if cols.key else []) + [FRAMES, ROWS]
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
    """Frame rows as they are grouped: the columns read, integer labels and keys as int64 where files
    hold them in other integer types or as uint64 (null beyond int64), else as the files hold them, the
    scores as float64 where any file has float64 ones, string_view columns as large_string, and (with a
    key column) whether the key was an integer beyond int64."""
    cols = source.columns
    schema = source.scan_schema(0)
    for name in (cols.frame, cols.key):
        if name is None or not pa.types.is_integer(schema.field(name).type):
            continue
        # Kept as the files hold them where they all agree (int32 labels spill half the bytes of int64 ones).
        types = {source.scan_schema(i).field(name).type for i in range(len(source.fragments))}
        if types != {schema.field(name).type} or schema.field(name).type == pa.uint64():
            schema = schema.set(schema.get_field_index(name), pa.field(name, pa.int64()))
    if any(source.scan_schema(i).field(cols.scores).type == pa.float64() for i in range(len(source.fragments))):
        schema = schema.set(schema.get_field_index(cols.scores), pa.field(cols.scores, pa.float64()))
    for i, field in enumerate(schema):  # (Arrow's take, sort and string kernels have none for string_view)
        if pa.types.is_string_view(field.type):
            schema = schema.set(i, pa.field(field.name, pa.large_string()))
    if cols.key is not None:
        schema = schema.append(pa.field(_KEY_BEYOND_INT64, pa.bool_()))
    if source.format in TEXT_FORMATS:  # a bad row's reason (README, Bad input)
        schema = schema.append(pa.field(BAD_ROW, pa.uint8()))
    return schema


def _as_int64_labels(batch: pa.RecordBatch, cols: Columns) -> pa.RecordBatch:
    """uint64 frame labels and keys as int64, null where a value does not fit; a key that did not
    fit is flagged (it names no frame).  Other integer types fit in int64 and are kept."""
    arrays, names = list(batch.columns), list(batch.schema.names)
    beyond = None
    for name in (cols.frame, cols.key):
        if name is None or batch.schema.field(name).type != pa.uint64():
            continue
        i = names.index(name)
        given = arrays[i]
        arrays[i] = int64_or_null(given)
        if name == cols.key:
            beyond = pc.and_(given.is_valid(), arrays[i].is_null())
    if cols.key is not None:
        arrays.append(beyond if beyond is not None else pa.array(np.zeros(batch.num_rows, np.bool_)))
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

    def __init__(self, source: Source, spill_root: str | os.PathLike | None, on_rows=None):
        self.source = source
        # None: the partitions are kept in memory instead of spill files (tf2eng.align writes no file).
        self.spill_root = Path(spill_root) if spill_root is not None else None
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
        """Every input batch in the spill schema (decoded ahead on the reader thread), counting rows and
        label statistics."""
        frame = self.source.columns.frame
        with closing(prefetched(self._decoded())) as batches:
            for batch in batches:
                self.stats.update(batch.column(frame))
                self.rows += batch.num_rows
                if self.on_rows is not None:
                    self.on_rows(batch.num_rows)
                yield batch

    def _decoded(self) -> Iterator[pa.RecordBatch]:
        for i in range(len(self.source.fragments)):
            for batch in self.source.batches(i):
                batch, bad = split_bad_rows(batch)
                batch = _as_int64_labels(batch, self.source.columns)
                if BAD_ROW in self.schema.names:
                    batch = batch.append_column(BAD_ROW, pa.array(np.zeros(batch.num_rows, np.uint8) if bad is None
                                                                  else bad, pa.uint8()))
                yield batch.cast(self.schema)

    def __iter__(self) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
        if self.partitions == 1:
            table = pa.Table.from_batches(list(self._read()), self.schema)
            yield from _batches(*group_tracks(table, self.source.columns, self.stats, self.key_type))
            return
        # A partition is grouped on the reader thread while the tracks of the one before are scored.
        with closing(prefetched(self._grouped())) as batches:
            yield from batches

    def _grouped(self) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
        for table in self._partitions():
            if table.num_rows == 0:
                continue
            tracks, reason = group_tracks(table, self.source.columns, self.stats, self.key_type)
            del table
            yield from _batches(tracks, reason)

    def _partitions(self) -> Iterator[pa.Table]:
        """Each partition's frame rows, read back from its spill file (removed once read) or kept in memory."""
        if self.spill_root is None:
            buffers: list[list[pa.RecordBatch]] = [[] for _ in range(self.partitions)]
            for batch in self._read():
                for p, rows in _split(batch, list(self.source.columns.ids), self.partitions):
                    buffers[p].append(rows)
            for p in range(self.partitions):
                table = pa.Table.from_batches(buffers[p], self.schema)
                buffers[p] = []
                yield table
            return
        for path in self._spill():
            with pa.OSFile(str(path)) as f:
                table = pa.ipc.open_stream(f).read_all()
            path.unlink()
            yield table

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
        writers, sinks = [], []  # a writer leaves a file it opened itself open until collected: open them here
        _allow_open_files(P + SPARE_FILES)
        try:
            for path in paths:
                try:
                    sinks.append(pa.OSFile(str(path), "wb"))
                    writers.append(pa.ipc.new_stream(sinks[-1], self.schema))
                except OSError as exc:
                    if exc.errno != errno.EMFILE:
                        raise
                    raise InputError(f"{path.parent}: the {P} spill files of the long layout need more open "
                                     f"files than this process may have (ulimit -n): {os.strerror(errno.EMFILE)}") from None

            def flush(p: int) -> None:
                writers[p].write_batch(pa.Table.from_batches(buffers[p], self.schema).combine_chunks().to_batches()[0])
                buffers[p].clear()
                buffered[p] = 0

            for batch in self._read():
                for p, rows in _split(batch, ids, P):
                    buffers[p].append(rows)
                    buffered[p] += rows.num_rows
                    if buffered[p] >= flush_rows:
                        flush(p)
            for p in range(P):
                if buffers[p]:
                    flush(p)
        finally:
            for writer in writers:
                writer.close()
            for sink in sinks:
                sink.close()
        return paths


def _allow_open_files(wanted: int) -> None:
    """Raise this process's soft limit of open files to ``wanted`` where it is lower (up to the hard
    limit, as any process may): the spill keeps a file open per partition, up to MAX_PARTITIONS, more
    than some systems allow by default (256 on macOS)."""
    try:
        import resource
    except ImportError:  # not a Unix: no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    with suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _split(batch: pa.RecordBatch, ids: list[str], partitions: int) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(partition, its rows of the batch, in batch order) for each partition the batch has rows of."""
    perm, counts = group_kernels.partition_rows(row_hashes(batch, ids), partitions)
    batch = batch.take(pa.array(perm))
    start = 0
    for p in np.flatnonzero(counts):
        yield int(p), batch.slice(start, counts[p])
        start += counts[p]


def row_hashes(rows: pa.RecordBatch | pa.Table, ids: list[str]) -> np.ndarray:
    """A 64-bit hash of each row's id values (kernels/group.py): the same for the same values in any
    batch, process or version of the libraries; integers hash by value whatever their type."""
    h = np.full(rows.num_rows, _HASH_SEED, np.uint64)
    for name in ids:
        column = rows.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if _is_bytes(column.type):
            group_kernels.hash_bytes_into(h, *_bytes_view(column))
        else:
            group_kernels.hash_int_into(h, *_int_view(column))
    return h


def partition_of(batch: pa.RecordBatch, ids: list[str], partitions: int) -> np.ndarray:
    """The spill partition of each row: a hash of its id columns, the same in every process."""
    return (row_hashes(batch, ids) % np.uint64(partitions)).astype(np.intp)


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
