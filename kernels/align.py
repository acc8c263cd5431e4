"""The CPU batch kernel: every track of a record batch, in parallel chunks.

Inputs arrive in Arrow's ragged layout (offsets + flat values, validity
bitmaps as bytes); outputs are per-track arrays plus per-chunk moment
accumulators that the caller merges (see moments.py).
"""

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from . import reasons
from .config import INLINE, PARALLEL
from .moments import CELL, add_value, sum_slabs
from .track import bit_is_set, interpolate_track, score_track


class Scores(NamedTuple):
    """A list<float> column as Arrow stores it; bit offsets are Arrow's slice offsets."""

    offsets: np.ndarray  # int32 (list) or int64 (large_list), n + 1
    values: np.ndarray  # float32 or float64, the child array
    list_bits: np.ndarray  # uint8 validity bitmap of the lists, or empty
    list_bit_offset: int
    value_bits: np.ndarray  # uint8 validity bitmap of the values, or empty
    value_bit_offset: int


class KeyFrames(NamedTuple):
    """Given key frames (0-based); an empty ``frame`` means: use the arg-max."""

    frame: np.ndarray  # int64, n, or empty
    valid: np.ndarray  # bool, n, or empty


class Params(NamedTuple):
    lam: float  # lambda of eq. (1)
    reduce_mean: bool  # eq. (2) as a mean instead of a sum
    minmax: bool  # min-max normalise each track before eq. (1)
    step: float  # grid step h


class Tracks(NamedTuple):
    """Per-track outputs.  ``reason`` is also an input: non-zero rows are skipped."""

    reason: np.ndarray  # uint8, n
    key_frame: np.ndarray  # int64, n
    pos_key: np.ndarray  # float64, n
    stage_scores: np.ndarray  # float64, (n, K)
    stage_counts: np.ndarray  # int32, (n, K)


class Partials(NamedTuple):
    """Moment accumulators, one slab per chunk of tracks."""

    stage: np.ndarray  # float64, (chunks, groups, K, 5)
    curve: np.ndarray  # float64, (chunks, groups, M, 5)


@njit(**INLINE)
def _track(scores, keys, params, t, tracks):
    """Score one track into ``tracks``; False (with a reason) if it is rejected."""
    if not bit_is_set(scores.list_bits, scores.list_bit_offset, t):
        tracks.reason[t] = reasons.NULL_SCORES
        return False
    start = scores.offsets[t]
    T = scores.offsets[t + 1] - start
    if T == 0:
        tracks.reason[t] = reasons.EMPTY_SCORES
        return False
    reason, arg = score_track(
        scores.values,
        scores.value_bits,
        scores.value_bit_offset,
        start,
        T,
        params.lam,
        params.reduce_mean,
        params.minmax,
        tracks.stage_scores[t],
        tracks.stage_counts[t],
    )
    if reason == reasons.OK and keys.frame.size > 0:
        if not keys.valid[t]:
            reason = reasons.NULL_KEY_FRAME
        elif keys.frame[t] < 0 or keys.frame[t] >= T:
            reason = reasons.KEY_FRAME_OUT_OF_RANGE
        else:
            arg = keys.frame[t]
    if reason != reasons.OK:
        tracks.reason[t] = reason
        return False
    tracks.key_frame[t] = arg
    tracks.pos_key[t] = (arg + 1) / T  # eq. (3): pos_key = sigma / T, sigma = key_frame + 1
    return True


@njit(**PARALLEL)
def align_batch(scores, keys, params, group, chunks, tracks, partials):
    """Steps 1-6 of SPEC section 1 for every track, accumulating step 7's partials.

    ``group`` (int32, n) is each track's --by group; ``chunks`` (int64,
    c + 1) splits the tracks into contiguous runs, chunk c accumulating
    into slab c of ``partials``.
    """
    K = tracks.stage_scores.shape[1]
    M = partials.curve.shape[2]
    for c in prange(chunks.size - 1):
        curve = np.empty(M)
        for t in range(chunks[c], chunks[c + 1]):
            if tracks.reason[t] != reasons.OK:
                continue
            if not _track(scores, keys, params, t, tracks):
                continue
            Y = tracks.stage_scores[t]
            stage_acc = partials.stage[c, group[t]]
            for k in range(K):
                if not np.isnan(Y[k]):
                    add_value(stage_acc[k], Y[k])
            m_first, m_stop = interpolate_track(Y, tracks.pos_key[t], params.step, curve)
            curve_acc = partials.curve[c, group[t]]
            for m in range(m_first, m_stop):
                add_value(curve_acc[m], curve[m])


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
    updated in place.  Returns (Tracks, stage partials (G, K, 5), curve
    partials (G, M, 5)).
    """
    n = scores.offsets.size - 1
    if scores.offsets.dtype not in (np.int32, np.int64):
        raise TypeError("offsets must be int32 or int64")
    if scores.values.dtype not in (np.float32, np.float64):
        raise TypeError("scores must be float32 or float64")
    if group.shape != (n,) or reason.shape != (n,):
        raise ValueError("group and reason need one entry per track")
    if keys.frame.size and keys.frame.shape != (n,):
        raise ValueError("key frames need one entry per track")
    tracks = Tracks(
        reason=reason,
        key_frame=np.zeros(n, np.int64),
        pos_key=np.zeros(n, np.float64),
        stage_scores=np.zeros((n, stages), np.float64),
        stage_counts=np.zeros((n, stages), np.int32),
    )
    chunks = frame_balanced_chunks(scores.offsets, n_chunks)
    slabs = Partials(
        stage=np.zeros((chunks.size - 1, n_groups, stages, CELL)),
        curve=np.zeros((chunks.size - 1, n_groups, grid_size, CELL)),
    )
    if n:
        align_batch(scores, keys, params, group, chunks, tracks, slabs)
    stage = np.zeros((n_groups, stages, CELL))
    curve = np.zeros((n_groups, grid_size, CELL))
    sum_slabs(slabs.stage, stage)
    sum_slabs(slabs.curve, curve)
    return tracks, stage, curve
