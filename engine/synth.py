"""Synthetic score datasets that look like the real thing.

Videos of 20 to 180 frames, one to four referring expressions each; every
track's scores sit on a low baseline and rise to a peak around its
annotated key frame, with smooth noise, clipped to [0, 1].  Written as
Parquet in the wide layout with a ``key_frame`` column and a ``category``
column to group by.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CATEGORIES = np.array(["person", "animal", "vehicle", "object"])
CHUNK_TRACKS = 100_000


def _chunk(rng: np.random.Generator, first_video: int, n_tracks: int) -> pa.Table:
    # Videos first (length, category), then their expressions.
    expressions = rng.choice([1, 2, 3, 4], size=n_tracks, p=[0.35, 0.35, 0.2, 0.1])
    expressions = expressions[: np.searchsorted(np.cumsum(expressions), n_tracks) + 1] if n_tracks else expressions
    if n_tracks:
        expressions[-1] -= expressions.sum() - n_tracks
    n_videos = expressions.size
    video_T = rng.integers(20, 181, n_videos)
    video_cat = rng.integers(0, CATEGORIES.size, n_videos)
    video = np.repeat(np.arange(n_videos), expressions)
    exp_id = np.arange(n_tracks) - np.repeat(np.cumsum(expressions) - expressions, expressions)
    T = video_T[video]
    key = (rng.random(n_tracks) * T).astype(np.int64)
    base = rng.uniform(0.05, 0.35, n_tracks)
    height = rng.uniform(0.45, 0.6, n_tracks)
    width = T * rng.uniform(0.05, 0.3, n_tracks)
    offsets = np.zeros(n_tracks + 1, np.int64)
    np.cumsum(T, out=offsets[1:])
    track = np.repeat(np.arange(n_tracks), T)
    frame = np.arange(offsets[-1]) - offsets[:-1][track]
    bump = np.exp(-0.5 * ((frame - key[track]) / width[track]) ** 2)
    # Smooth noise: white noise averaged with its neighbour within a track.
    white = rng.normal(0.0, 0.05, offsets[-1])
    noise = white.copy()
    noise[1:] = 0.6 * white[1:] + 0.4 * white[:-1]
    scores = np.clip(base[track] + height[track] * bump + noise, 0.0, 1.0).astype(np.float32)
    return pa.table(
        {
            "video_id": pa.array([f"v{first_video + v:07d}" for v in video], pa.string()),
            "exp_id": pa.array(exp_id.astype(np.int32)),
            "category": pa.array(CATEGORIES[video_cat[video]].tolist(), pa.string()),
            "scores": pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(scores)),
            "key_frame": pa.array(key.astype(np.int32)),
        }
    )


def write_synthetic(path: str | os.PathLike, tracks: int, seed: int = 0) -> dict:
    """Write ``tracks`` synthetic tracks to the Parquet file ``path``; returns counts."""
    if tracks < 0:
        raise ValueError("tracks must be >= 0")
    from .errors import InputError

    if str(path).endswith(("/", os.sep)) or os.path.isdir(path):
        raise InputError(f"{path}: is a directory; give the Parquet file to write")
    if os.path.lexists(path) and not os.path.isfile(path):  # a device, a FIFO, a socket: never replaced
        raise InputError(f"{path}: not a regular file; give the Parquet file to write")
    rng = np.random.default_rng(seed)
    tmp = f"{path}.tmp-{os.getpid()}"
    frames = 0
    videos = 0
    writer = None
    try:
        remaining = tracks
        while remaining > 0 or writer is None:
            table = _chunk(rng, videos, min(remaining, CHUNK_TRACKS))
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=CHUNK_TRACKS)
            frames += int(pc.sum(pc.list_value_length(table["scores"])).as_py() or 0)
            videos += len(set(table["video_id"].to_pylist())) if table.num_rows else 0
            remaining -= table.num_rows
            if not table.num_rows:
                break
        writer.close()
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return {"tracks": tracks, "videos": videos, "frames": frames}
