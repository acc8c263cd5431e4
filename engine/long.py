"""Long layout (one row per frame) to tracks (one row per score list), with polars.

Frames of one track may sit anywhere in the input, so the frame rows are
grouped in memory with polars' group_by; a track whose frame numbers are
not exactly 0 ... T-1, or whose key_frame differs between its rows, is
marked for rejection with a reason.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from ..kernels import reasons
from .ragged import int64_or_null
from .source import Source

FRAMES = "frames"  # the sorted frame numbers of a track (kept for rejected rows)
ROWS = "rows"  # input rows that made the track
_KEY_BEYOND_INT64 = "__key_beyond_int64"


def _frame_rows(batch: pa.RecordBatch | pa.Table, cols) -> pl.DataFrame:
    """One batch of frame rows for grouping: scores as float64, frame numbers and key frames as
    int64 (null where a uint64 does not fit; such a key frame is flagged: out of range)."""
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    table = table.set_column(table.schema.get_field_index(cols.scores), cols.scores,
                             table.column(cols.scores).cast(pa.float64()))
    table = table.set_column(table.schema.get_field_index(cols.frame), cols.frame,
                             int64_or_null(table.column(cols.frame)))
    if cols.key is not None:
        given = table.column(cols.key)
        key = int64_or_null(given)
        table = table.set_column(table.schema.get_field_index(cols.key), cols.key, key)
        table = table.append_column(_KEY_BEYOND_INT64, pc.and_(given.is_valid(), key.is_null()))
    return pl.from_arrow(table)


def tracks_from_long(source: Source, on_rows=None) -> tuple[pa.Table, np.ndarray, int]:
    """(one row per track, pre-kernel reason per track, input rows read)."""
    cols = source.columns
    parts = []
    rows = 0
    for i in range(len(source.fragments)):
        for batch in source.batches(i):
            parts.append(_frame_rows(batch, cols))
            rows += batch.num_rows
            if on_rows is not None:
                on_rows(batch.num_rows)
    if not parts:
        parts = [_frame_rows(source.scan_schema(0).empty_table(), cols)]
    frame = pl.concat(parts, how="vertical_relaxed")
    ids = list(cols.ids)
    frame_col = pl.col(cols.frame)
    aggs = [
        pl.col(cols.scores).sort_by(cols.frame, nulls_last=True).alias(cols.scores),
        frame_col.sort(nulls_last=True).alias(FRAMES),
        pl.len().cast(pl.Int64).alias(ROWS),
        (
            (frame_col.null_count() == 0)
            & (frame_col.min() == 0)
            & (frame_col.max() == pl.len() - 1)
            & (frame_col.n_unique() == pl.len())
        ).alias("__frames_ok"),
    ]
    aggs += [pl.col(c).first() for c in cols.by if c not in ids]
    if cols.key is not None:
        aggs += [pl.col(cols.key).first().alias(cols.key), (pl.col(cols.key).n_unique() == 1).alias("__key_ok"),
                 pl.col(_KEY_BEYOND_INT64).any()]
    tracks = frame.group_by(ids).agg(aggs).sort(ids, nulls_last=False)
    reason = np.zeros(tracks.height, np.uint8)
    if cols.key is not None:
        reason[tracks[_KEY_BEYOND_INT64].to_numpy()] = reasons.KEY_FRAME_OUT_OF_RANGE
        reason[~tracks["__key_ok"].to_numpy()] = reasons.INCONSISTENT_KEY_FRAME
        tracks = tracks.drop("__key_ok", _KEY_BEYOND_INT64)
    reason[~tracks["__frames_ok"].fill_null(False).to_numpy()] = reasons.BAD_FRAME_INDEX
    tracks = tracks.drop("__frames_ok")
    order = list(cols.carried) + [cols.scores] + ([cols.key] if cols.key else []) + [FRAMES, ROWS]
    return tracks.select(order).to_arrow(), reason, rows
