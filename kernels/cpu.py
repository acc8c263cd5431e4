"""The CPU batch kernel: every track of a record batch, in parallel chunks.

Inputs and outputs are laid out as layout.py describes; each chunk of
tracks accumulates into its own moment slab, merged at the end.
"""

import numpy as np
from numba import njit, prange

from . import reasons
from .compiling import announce, scores_type
from .config import EXACT, PARALLEL
from .lanes import LANES
from .layout import KeyFrames, MomentSlabs, Params, Scores, batch_outputs
from .moments import CELL, add_present, sum_slabs
from .track import accumulate_curve, power_frames, score_track, stage_scores, validate_track


# Frames per block on the fast path: the powers of a block of whole tracks
# are computed in one long vectorized loop and stay in cache for the
# per-track stage sums.
BLOCK_FRAMES = 4096

# Memory for the per-chunk accumulator slabs of one batch.
SLAB_BUDGET_BYTES = 256 * 2**20


@njit(**EXACT)
def block_end(offsets, t, end):
    """The track after a block that starts at track t: whole tracks before
    ``end``, up to BLOCK_FRAMES frames, and at least one track."""
    stop = t + 1
    while stop < end and offsets[stop + 1] - offsets[t] <= BLOCK_FRAMES:
        stop += 1
    return stop


@njit(**EXACT)
def chunk_powers_buffer(offsets, first, last):
    """Room for the powers of one block (BLOCK_FRAMES frames) or of the longest track among
    ``first … last-1``, whichever is larger, and LANES of slack for the vector loops."""
    longest = 0
    for t in range(first, last):
        longest = max(longest, offsets[t + 1] - offsets[t])
    return np.empty(max(BLOCK_FRAMES, longest) + LANES)


@njit(**EXACT)
def block_powers(values, offsets, t, stop, fast, lam, P):
    """Eq. (1) for every frame of the block of tracks t … stop-1 at once, into P, where the block
    fits and its values need no per-track check (``fast``); returns (the block's first frame,
    whether P holds the block's powers, i.e. every value was a valid score)."""
    base = offsets[t]
    if fast and offsets[stop] - base <= P.size - LANES:
        return base, power_frames(values, base, offsets[stop] - base, lam, P) == 0
    return base, False


@njit(**EXACT)
def _track(scores, keys, params, t, tracks, P, clean, base):
    """Score track t into ``tracks``; False (with a reason) if it is rejected.

    ``clean``: P[offsets[t] - base:] already holds the track's powers and
    every score of its block is finite and in [0, 1].
    """
    reason, key, shift, scale = validate_track(
        scores.offsets, scores.values, scores.list_bits, scores.list_bit_offset, scores.value_bits,
        scores.value_bit_offset, keys.frame, keys.valid, t, params.minmax, clean,
    )
    if reason != reasons.OK:
        tracks.reason[t] = reason
        return False
    start = scores.offsets[t]
    T = scores.offsets[t + 1] - start
    if clean:
        stage_scores(P[start - base :], T, params.reduce_mean, tracks.stage_scores[t], tracks.stage_counts[t])
    else:
        score_track(scores.values, start, T, params.lam, params.reduce_mean, params.minmax, shift, scale,
                    P, tracks.stage_scores[t], tracks.stage_counts[t])
    tracks.key_frame[t] = key
    tracks.pos_key[t] = (key + 1) / T  # eq. (3): pos_key = sigma / T, sigma = key_frame + 1
    return True


@njit(**PARALLEL)
def align_batch(scores, keys, params, group, chunks, tracks, slabs):
    """Eq. (1)-(4) and the curve of every track (README, The method), adding
    its stage scores and curve to the aggregates' moments.

    ``group`` (int32, n) is each track's --by group; ``chunks`` (int64,
    c + 1) splits the tracks into contiguous runs, chunk c accumulating
    into slab c of ``slabs``.
    """
    offsets = scores.offsets
    fast = not params.minmax and scores.value_bits.size == 0
    for c in prange(chunks.size - 1):
        P = chunk_powers_buffer(offsets, chunks[c], chunks[c + 1])
        curve = np.empty(slabs.curve.shape[-1])
        t = chunks[c]
        while t < chunks[c + 1]:
            stop = block_end(offsets, t, chunks[c + 1])
            base, clean = block_powers(scores.values, offsets, t, stop, fast, params.lam, P)
            for r in range(t, stop):
                if tracks.reason[r] != reasons.OK:
                    continue
                if not _track(scores, keys, params, r, tracks, P, clean, base):
                    continue
                Y = tracks.stage_scores[r]
                add_present(slabs.stage[c, group[r]], Y)
                accumulate_curve(Y, tracks.pos_key[r], params.step, slabs.curve[c, group[r]], curve)
            t = stop


def frame_balanced_chunks(offsets: np.ndarray, n_chunks: int) -> np.ndarray:
    """Split tracks into contiguous runs of about equal frame counts."""
    n = offsets.size - 1
    n_chunks = max(1, min(n_chunks, n))
    frames = offsets.astype(np.int64) - np.int64(offsets[0])
    targets = np.linspace(0, frames[-1], n_chunks + 1)
    bounds = np.searchsorted(frames, targets, side="left").astype(np.int64)
    bounds[0], bounds[-1] = 0, n
    return np.maximum.accumulate(bounds)


def align_tracks(scores: Scores, keys: KeyFrames, params: Params, group: np.ndarray,
                 n_groups: int, stages: int, grid_size: int, reason: np.ndarray,
                 n_chunks: int):
    """Check inputs, allocate outputs, run :func:`align_batch`, merge its slabs.

    ``reason`` (uint8, n) holds rejections already known (0 elsewhere) and is
    updated in place.  Returns (Tracks, stage moments (G, 5, K), curve
    moments (G, 5, M)).
    """
    n = scores.offsets.size - 1
    tracks = batch_outputs(scores, keys, group, reason, stages)
    # Each chunk has its own accumulator slab: fewer chunks when there are many groups.
    slab_bytes = n_groups * CELL * (stages + grid_size) * 8
    n_chunks = max(1, min(n_chunks, SLAB_BUDGET_BYTES // max(slab_bytes, 1)))
    chunks = frame_balanced_chunks(scores.offsets, n_chunks)
    slabs = MomentSlabs(
        stage=np.zeros((chunks.size - 1, n_groups, CELL, stages)),
        curve=np.zeros((chunks.size - 1, n_groups, CELL, grid_size)),
    )
    if n:
        args = (scores, keys, params, group, chunks, tracks, slabs)
        announce(align_batch, args, f"the CPU kernel for {scores_type(scores)} (10-20 s)",
                 (scores.offsets.dtype, scores.values.dtype))
        align_batch(*args)
    stage = np.zeros((n_groups, CELL, stages))
    curve = np.zeros((n_groups, CELL, grid_size))
    sum_slabs(slabs.stage, stage)
    sum_slabs(slabs.curve, curve)
    return tracks, stage, curve
