"""Where the kernels' time goes: each part of the batch kernel timed on its own.

Runs the parts of `align_batch` over the same frames, all in memory, with
the same functions and the same parallel layout (contiguous chunks of
tracks, blocks of BLOCK_FRAMES frames):

* power: eq. (1) into the block buffer, nothing else;
* power + stage sums: eq. (1) and eq. (2) for every track;
* curve: interpolation and curve moments (steps 5-7) from stage scores
  already computed;
* whole kernel: `align_tracks`, as `tf2eng bench` times it.

    .venv/bin/python bench/kernel_parts.py [--tracks 1000000]
"""

import argparse
from pathlib import Path

import numba
import numpy as np
import pyarrow.parquet as pq
from numba import njit, prange

from tf2eng.engine.tools.benchmark import K, LAM, STEP, best_of, dataset_for
from tf2eng.engine.ragged import key_frames_of, scores_of
from tf2eng.kernels.config import PARALLEL
from tf2eng.kernels.cpu import BLOCK_FRAMES, align_tracks, block_end
from tf2eng.kernels.grid import grid_size
from tf2eng.kernels.lanes import LANES
from tf2eng.kernels.layout import Params
from tf2eng.kernels.moments import CELL
from tf2eng.kernels.track import accumulate_curve, power_frames, stage_scores


@njit(**PARALLEL)
def _blocks(offsets, values, lam, chunks, with_sums, Y, n):
    """Power (and stage sums) of every track, block by block as align_batch does."""
    for c in prange(chunks):
        P = np.empty(BLOCK_FRAMES + LANES)
        first = c * (offsets.size - 1) // chunks
        last = (c + 1) * (offsets.size - 1) // chunks
        t = first
        while t < last:
            stop = block_end(offsets, t, last)
            base = offsets[t]
            if offsets[stop] - base <= BLOCK_FRAMES:
                power_frames(values, base, offsets[stop] - base, lam, P)
                if with_sums:
                    for r in range(t, stop):
                        stage_scores(P[offsets[r] - base :], offsets[r + 1] - offsets[r], False, Y[r], n[r])
            t = stop


@njit(**PARALLEL)
def _curves(Y, pos_key, step, chunks, acc):
    for c in prange(chunks):
        curve = np.empty(acc.shape[-1])
        for r in range(c * Y.shape[0] // chunks, (c + 1) * Y.shape[0] // chunks):
            accumulate_curve(Y[r], pos_key[r], step, acc[c], curve)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    table = pq.read_table(dataset_for(args.tracks, 0, Path("bench/data")), columns=["scores", "key_frame"])
    scores = scores_of(table.column("scores"))
    keys = key_frames_of(table.column("key_frame"))
    offsets, values = scores.offsets.astype(np.int64), scores.values
    n, frames = offsets.size - 1, values.size
    chunks = 4 * numba.get_num_threads()
    Y = np.zeros((n, K))
    counts = np.zeros((n, K), np.int32)
    M = grid_size(K, STEP)
    pos_key = (keys.frame + 1) / np.diff(offsets)
    acc = np.zeros((chunks, CELL, M))
    params = Params(lam=LAM, reduce_mean=False, minmax=False, step=STEP)

    def whole():
        align_tracks(scores, keys, params, np.zeros(n, np.int32), 1, K, M, np.zeros(n, np.uint8), chunks)

    parts = [
        ("power (eq. 1)", lambda: _blocks(offsets, values, LAM, chunks, False, Y, counts)),
        ("power + stage sums (eq. 1-2)", lambda: _blocks(offsets, values, LAM, chunks, True, Y, counts)),
        ("curve moments (steps 5-7)", lambda: _curves(Y, pos_key, STEP, chunks, acc)),
        ("whole kernel (align_tracks)", whole),
    ]
    print(f"{n:,} tracks, {frames:,} frames, {numba.get_num_threads()} threads, best of {args.repeat}")
    for name, fn in parts:
        fn()  # warm-up: compiled code loaded, scratch touched
        t, _ = best_of(fn, args.repeat)
        print(f"{name:30} {t:7.3f} s  {frames / t / 1e9:6.2f} G frames/s  {t / n * 1e9:6.0f} ns/track")


if __name__ == "__main__":
    main()
