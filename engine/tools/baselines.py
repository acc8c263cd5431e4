"""What a user would write instead of tf2eng, for ``tf2eng bench --shape many-files|long``.

Each baseline computes the stage sums of eq. (2) with the defaults (λ = 0.7, K = 10, frames
numbered 1 … T within a track, stage ⌈K·i/T⌉) over the files a glob names, the way a user of
that tool would write it, and returns them as an Arrow table of (track key, ``stage`` 0 … K-1,
``y``).  The benchmark runs each one in a fresh process (:func:`run`), so its import, its reading
and its use of memory are measured like a run of tf2eng; the tests check their numbers against
tf2eng's on small data.

* polars: a lazy scan of the files, the lists exploded (wide) or the frames ranked within their
  track by window functions (long), then ``group_by`` stage; the streaming engine collects it.
* numpy: a script that reads the files with pyarrow and sums with ``np.bincount``; wide, one file
  at a time; long, every row at once, sorted by track and frame with ``np.lexsort``.

Only numpy, pyarrow and polars are imported here (and only by the baseline that needs them), so a
baseline's process pays for its own tool alone.
"""

from __future__ import annotations

import glob
import sys

LAM = 0.7
STAGES = 10


def polars_wide(pattern: str):
    """Wide files: one row per track, its scores in a list.  Track key: the row's number over the
    files in name order."""
    import polars as pl

    K = STAGES
    frames = (
        pl.scan_parquet(pattern)
        .select("scores")
        .with_row_index("track")
        .with_columns(T=pl.col("scores").list.len().cast(pl.Int64),
                      i=pl.col("scores").list.eval(pl.int_range(1, pl.len() + 1)))
        .explode("scores", "i")
        .drop_nulls("scores")
    )
    sums = (
        frames.with_columns(stage=(K * pl.col("i") + pl.col("T") - 1) // pl.col("T") - 1,
                            y=pl.col("scores").cast(pl.Float64).pow(LAM))
        .group_by("track", "stage")
        .agg(pl.col("y").sum())
    )
    return sums.collect(engine="streaming").to_arrow()


def polars_long(pattern: str):
    """Long files: one row per frame, in any order and any file.  Track key: (video_id, exp_id)."""
    import polars as pl

    K = STAGES
    track = ["video_id", "exp_id"]
    sums = (
        pl.scan_parquet(pattern)
        .select(*track, "frame", "score")
        .with_columns(T=pl.len().over(track).cast(pl.Int64),
                      i=pl.col("frame").rank("ordinal").over(track).cast(pl.Int64))
        .with_columns(stage=(K * pl.col("i") + pl.col("T") - 1) // pl.col("T") - 1,
                      y=pl.col("score").cast(pl.Float64).pow(LAM))
        .group_by(*track, "stage")
        .agg(pl.col("y").sum())
    )
    return sums.collect(engine="streaming").to_arrow()


def numpy_wide(pattern: str):
    """Wide files, read one at a time with pyarrow; ``np.bincount`` over (track, stage)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    K = STAGES
    tracks, stages, sums = [], [], []
    first = 0
    for path in sorted(glob.glob(pattern)):
        scores = pq.read_table(path, columns=["scores"]).column("scores").combine_chunks()
        offsets = scores.offsets.to_numpy().astype(np.int64)
        values = scores.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
        T = np.diff(offsets)
        n = T.size
        track = np.repeat(np.arange(n), T)
        i = np.arange(values.size) - (offsets[:-1] - offsets[0])[track] + 1
        stage = (K * i + T[track] - 1) // T[track] - 1
        y = np.bincount(track * K + stage, weights=values ** LAM, minlength=n * K)
        tracks.append(np.repeat(np.arange(first, first + n), K))
        stages.append(np.tile(np.arange(K), n))
        sums.append(y)
        first += n
    if not tracks:
        return pa.table({"track": pa.array([], pa.int64()), "stage": pa.array([], pa.int64()),
                         "y": pa.array([], pa.float64())})
    return pa.table({"track": np.concatenate(tracks), "stage": np.concatenate(stages), "y": np.concatenate(sums)})


def numpy_long(pattern: str):
    """Long files, every row read at once with pyarrow; sorted by track and frame (``np.lexsort``),
    then ``np.bincount`` over (track, stage)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    K = STAGES
    table = pq.read_table(sorted(glob.glob(pattern)), columns=["video_id", "exp_id", "frame", "score"])
    videos = table.column("video_id").combine_chunks().dictionary_encode()
    video = videos.indices.to_numpy().astype(np.int64)
    exp = table.column("exp_id").to_numpy().astype(np.int64)
    frame = table.column("frame").to_numpy()
    score = table.column("score").to_numpy().astype(np.float64)
    exp_first, exp_span = exp.min(initial=0), int(exp.max(initial=0) - exp.min(initial=0)) + 1
    key = video * exp_span + (exp - exp_first)
    order = np.lexsort((frame, key))
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    T = np.diff(np.r_[starts, key.size])
    track = np.repeat(np.arange(T.size), T)
    i = np.arange(key.size) - starts[track] + 1
    stage = (K * i + T[track] - 1) // T[track] - 1
    y = np.bincount(track * K + stage, weights=score[order] ** LAM, minlength=T.size * K)
    first = key[starts]
    return pa.table({
        "video_id": videos.dictionary.take(pa.array(np.repeat(first // exp_span, K))),
        "exp_id": np.repeat(first % exp_span + exp_first, K),
        "stage": np.tile(np.arange(K), T.size),
        "y": y,
    })


BASELINES = {"polars-wide": polars_wide, "polars-long": polars_long,
             "numpy-wide": numpy_wide, "numpy-long": numpy_long}


def run(name: str, pattern: str) -> None:
    """A benchmark's child process: compute baseline ``name`` over ``pattern`` and keep nothing."""
    BASELINES[name](pattern)


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
