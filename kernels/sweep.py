"""The CPU batch kernel of a sweep: every configuration (λ, K) in one pass (README, Parameter sweeps).

A sweep scores each batch once for all its configurations.  The power
transform of eq. (1), P = exp(λ ln S), is most of the kernel's arithmetic;
this kernel computes ln S of a block of tracks once, the powers once per λ
from it, and eq. (2) and the curve for every K of that λ on them, and it
checks each track once.  Each configuration's numbers come from the same
operations, in the same order, as :func:`kernels.cpu.align_batch` computes
them (:func:`kernels.track.log_frames` and :func:`~kernels.track.powers_of_logs`
split :func:`~kernels.track.power_frames`'s loop in two), so each
configuration gets the bits of a run of its own.

Each configuration's outputs (stage scores, counts and moment slabs) are
contiguous blocks of shared buffers, so that its loops compile as the one-K
kernel's, and the moments are added through flat offsets into them.
"""

import numpy as np
from numba import prange, njit

from . import reasons
from .compiling import announce, scores_type
from .config import EXACT, PARALLEL
from .cpu import SLAB_BUDGET_BYTES, block_end, chunk_powers_buffer, frame_balanced_chunks
from .lanes import LANES
from .layout import KeyFrames, Params, Scores, Tracks
from .moments import CELL, add_present_at, sum_slabs
from .track import accumulate_curve_at, log_frames, powers_of_logs, score_track, stage_scores, validate_track


@njit(**EXACT)
def _validated(scores, keys, params, t, tracks, clean):
    """Check track t and note its key frame and pos_key (eq. 3) in ``tracks``, or its reason;
    returns (accepted, shift, scale).  (The writes to ``tracks`` are made here, outside the parallel
    loop's body, as in kernels/cpu.py.)"""
    reason, key, shift, scale = validate_track(
        scores.offsets, scores.values, scores.list_bits, scores.list_bit_offset, scores.value_bits,
        scores.value_bit_offset, keys.frame, keys.valid, t, params.minmax, clean,
    )
    if reason != reasons.OK:
        tracks.reason[t] = reason
        return False, shift, scale
    T = scores.offsets[t + 1] - scores.offsets[t]
    tracks.key_frame[t] = key
    tracks.pos_key[t] = (key + 1) / T  # eq. (3): pos_key = sigma / T, sigma = key_frame + 1
    return True, shift, scale


@njit(**EXACT)
def block_logs(values, offsets, t, stop, fast, L):
    """:func:`kernels.cpu.block_powers` for the logarithms: ln S of every frame of the block of tracks
    t … stop-1 into L where the block fits and needs no per-track check; returns (the block's first
    frame, whether L holds the block's logarithms, i.e. every value was a valid score)."""
    base = offsets[t]
    if fast and offsets[stop] - base <= L.size - LANES:
        return base, log_frames(values, base, offsets[stop] - base, L) == 0
    return base, False


@njit(**PARALLEL)
def align_batch_sweep(scores, keys, params, lams, lofs, kofs, mofs, group, chunks, tracks, stage_slabs,
                      curve_slabs):
    """:func:`kernels.cpu.align_batch` for J configurations (λ, K) in one pass: configuration j has
    K_j = kofs[j + 1] - kofs[j] stages and M_j = mofs[j + 1] - mofs[j] grid points (int64, J + 1);
    those of λ = lams[i] are lofs[i] … lofs[i + 1] - 1 (int64, len(lams) + 1).  ``params.lam`` is
    not used.

    Each track is checked once; on the fast path the logarithms of a block's scores are computed
    once, the powers once per λ from them, and eq. (2) and the curve once per configuration.  Each
    configuration's outputs are contiguous blocks: in the flat ``tracks.stage_scores`` and
    ``stage_counts``, configuration j's (n, K_j) block starts at n * kofs[j]; in row c of
    ``stage_slabs`` (chunks, G * 5 * sum K) its (G, 5, K_j) block starts at G * 5 * kofs[j], and
    likewise in ``curve_slabs`` with ``mofs``.  The moments are added through flat offsets, not
    per-track 2-D views of the slabs.
    """
    offsets = scores.offsets
    values = scores.values
    fast = not params.minmax and scores.value_bits.size == 0
    J = kofs.size - 1
    n_tracks = offsets.size - 1
    G = stage_slabs.shape[1] // (CELL * kofs[J]) if kofs[J] > 0 else 0
    for c in prange(chunks.size - 1):
        L = chunk_powers_buffer(offsets, chunks[c], chunks[c + 1])
        P = np.empty(L.size)
        curve = np.empty(mofs[J])
        stage_slab = stage_slabs[c]
        curve_slab = curve_slabs[c]
        shifts = np.zeros(chunks[c + 1] - chunks[c])  # each track's min-max mapping, as its check found it
        scales = np.ones(chunks[c + 1] - chunks[c])
        t = chunks[c]
        while t < chunks[c + 1]:
            stop = block_end(offsets, t, chunks[c + 1])
            base, clean = block_logs(values, offsets, t, stop, fast, L)
            for r in range(t, stop):  # each track checked once, for every configuration
                if tracks.reason[r] == reasons.OK:
                    _, shifts[r - chunks[c]], scales[r - chunks[c]] = _validated(scores, keys, params, r, tracks,
                                                                                 clean)
            for i in range(lams.size):
                lam = lams[i]
                if clean:
                    powers_of_logs(L, offsets[stop] - base, lam, P)
                for r in range(t, stop):
                    if tracks.reason[r] != reasons.OK:
                        continue
                    start = offsets[r]
                    T = offsets[r + 1] - start
                    pos_key = tracks.pos_key[r]
                    g = group[r]
                    first = start - base if clean else 0  # where the track's powers are in P
                    shift, scale = shifts[r - chunks[c]], scales[r - chunks[c]]
                    for j in range(lofs[i], lofs[i + 1]):
                        K = kofs[j + 1] - kofs[j]
                        M = mofs[j + 1] - mofs[j]
                        at = n_tracks * kofs[j] + r * K
                        Y = tracks.stage_scores[at : at + K]
                        n = tracks.stage_counts[at : at + K]
                        if clean or j > lofs[i]:
                            stage_scores(P[first:], T, params.reduce_mean, Y, n)
                        else:  # the powers of this track alone, into P[0:T], kept for the λ's other K
                            score_track(values, start, T, lam, params.reduce_mean, params.minmax, shift, scale,
                                        P, Y, n)
                        add_present_at(stage_slab, G * CELL * kofs[j] + g * CELL * K, Y)
                        accumulate_curve_at(Y, pos_key, params.step, curve_slab, G * CELL * mofs[j] + g * CELL * M,
                                            curve[:M])
            t = stop


def align_tracks_sweep(scores: Scores, keys: KeyFrames, params: Params, group: np.ndarray, n_groups: int,
                       lams: list[float], stages: list[int], grid_sizes: list[int], reason: np.ndarray,
                       n_chunks: int) -> list[tuple]:
    """:func:`kernels.cpu.align_tracks` for the configurations (lams[j], stages[j]) (those of one λ
    next to each other) in one pass: for each in order, (Tracks, stage moments (G, 5, K), curve
    moments (G, 5, M)), as align_tracks returns them for that configuration alone; the Tracks share
    ``reason`` (updated in place), key frames and pos_key."""
    n = scores.offsets.size - 1
    lam_values, lofs = [], [0]
    for j, lam in enumerate(lams):
        if lam_values and lam == lam_values[-1]:
            lofs[-1] = j + 1
            continue
        if lam in lam_values:
            raise ValueError("the configurations of one λ must be next to each other")
        lam_values.append(float(lam))
        lofs.append(j + 1)
    kofs = np.concatenate([[0], np.cumsum(stages)]).astype(np.int64)
    mofs = np.concatenate([[0], np.cumsum(grid_sizes)]).astype(np.int64)
    width, curve_width = int(kofs[-1]), int(mofs[-1])
    tracks = Tracks(reason=reason, key_frame=np.zeros(n, np.int64), pos_key=np.zeros(n, np.float64),
                    stage_scores=np.zeros(n * width, np.float64), stage_counts=np.zeros(n * width, np.int32))
    slab_bytes = n_groups * CELL * (width + curve_width) * 8
    n_chunks = max(1, min(n_chunks, SLAB_BUDGET_BYTES // max(slab_bytes, 1)))
    chunks = frame_balanced_chunks(scores.offsets, n_chunks)
    C, G = chunks.size - 1, n_groups
    stage_slabs = np.zeros((C, G * CELL * width))
    curve_slabs = np.zeros((C, G * CELL * curve_width))
    if n:
        args = (scores, keys, params, np.array(lam_values, np.float64), np.array(lofs, np.int64), kofs, mofs,
                group, chunks, tracks, stage_slabs, curve_slabs)
        announce(align_batch_sweep, args, f"the CPU sweep kernel for {scores_type(scores)} (10-20 s)",
                 (scores.offsets.dtype, scores.values.dtype))
        align_batch_sweep(*args)
    results = []
    for j, (K, M) in enumerate(zip(stages, grid_sizes)):
        s0, c0 = G * CELL * int(kofs[j]), G * CELL * int(mofs[j])
        stage = np.zeros((G, CELL, K))
        curve = np.zeros((G, CELL, M))
        sum_slabs(np.ascontiguousarray(stage_slabs[:, s0: s0 + G * CELL * K]).reshape(C, G, CELL, K), stage)
        sum_slabs(np.ascontiguousarray(curve_slabs[:, c0: c0 + G * CELL * M]).reshape(C, G, CELL, M), curve)
        # Each configuration's outputs are copied out of the shared buffers, so that those are freed (and
        # their memory reused by the next batch) now, not when the last configuration's part is written.
        own = tracks._replace(stage_scores=tracks.stage_scores[n * int(kofs[j]): n * int(kofs[j + 1])].reshape(n, K).copy(),
                              stage_counts=tracks.stage_counts[n * int(kofs[j]): n * int(kofs[j + 1])].reshape(n, K).copy())
        results.append((own, stage, curve))
    return results
