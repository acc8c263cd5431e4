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

from ..kernels import reasons
from .source import Source

FRAMES = "frames"  # the sorted frame numbers of a track (kept for rejected rows)
ROWS = "rows"  # input rows that made the track


def tracks_from_long(source: Source, on_rows=None) -> tuple[pa.Table, np.ndarray, int]:
    """(one row per track, pre-kernel reason per track, input rows read)."""
    cols = source.columns
    parts = []
    rows = 0
    for i in range(len(source.fragments)):
        for batch in source.batches(i):
            batch = batch.set_column(
                batch.schema.get_field_index(cols.scores), cols.scores, batch.column(cols.scores).cast(pa.float64())
            )
            parts.append(pl.from_arrow(pa.Table.from_batches([batch])))
            rows += batch.num_rows
            if on_rows is not None:
                on_rows(batch.num_rows)
    if not parts:
        empty = source.scan_schema(0).empty_table()
        parts = [pl.from_arrow(empty.set_column(empty.schema.get_field_index(cols.scores), cols.scores,
                                                empty.column(cols.scores).cast(pa.float64())))]
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
        aggs += [pl.col(cols.key).first().alias(cols.key), (pl.col(cols.key).n_unique() == 1).alias("__key_ok")]
    tracks = frame.group_by(ids).agg(aggs).sort(ids, nulls_last=False)
    reason = np.zeros(tracks.height, np.uint8)
    if cols.key is not None:
        reason[~tracks["__key_ok"].to_numpy()] = reasons.INCONSISTENT_KEY_FRAME
        tracks = tracks.drop("__key_ok")
    reason[~tracks["__frames_ok"].fill_null(False).to_numpy()] = reasons.BAD_FRAME_INDEX
    tracks = tracks.drop("__frames_ok")
    order = list(cols.carried) + [cols.scores] + ([cols.key] if cols.key else []) + [FRAMES, ROWS]
    return tracks.select(order).to_arrow(), reason, rows
