"""The CPU batch kernel for several K at one λ (README, Parameter sweeps).

A sweep scores each batch once per configuration; the power transform of
eq. (1) depends on λ only, and it is most of the kernel's arithmetic.  This
kernel computes the powers of a block of tracks once and then runs eq. (2)
and the curve for every K of the list on them.  Each K's numbers come from
the same functions, on the same powers, as :func:`kernels.cpu.align_batch`
computes them, so each configuration gets the bits of a run of its own.

Each K's outputs (stage scores, counts and moment slabs) are contiguous
blocks of shared buffers, so that its loops compile as the one-K kernel's.
"""

import numpy as np
from numba import prange, njit

from . import reasons
from .compiling import announce, scores_type
from .config import EXACT, PARALLEL
from .cpu import SLAB_BUDGET_BYTES, block_end, block_powers, chunk_powers_buffer, frame_balanced_chunks
from .layout import KeyFrames, Params, Scores, Tracks
from .moments import CELL, add_present, sum_slabs
from .track import accumulate_curve, score_track, stage_scores, validate_track


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


@njit(**PARALLEL)
def align_batch_ks(scores, keys, params, kofs, mofs, group, chunks, tracks, stage_slabs, curve_slabs):
    """:func:`kernels.cpu.align_batch` for the K of ``kofs`` (int64, J + 1: K_j = kofs[j + 1] - kofs[j])
    and their grid sizes ``mofs`` (int64, J + 1), the powers computed once per block or track.

    Each K's outputs are contiguous blocks, so that its loops compile as the one-K kernel's: in the
    flat ``tracks.stage_scores`` and ``stage_counts``, K_j's (n, K_j) block starts at n * kofs[j];
    in row c of ``stage_slabs`` (chunks, G * 5 * sum K) its (G, 5, K_j) block starts at
    G * 5 * kofs[j], and likewise in ``curve_slabs`` with ``mofs``.
    """
    offsets = scores.offsets
    fast = not params.minmax and scores.value_bits.size == 0
    J = kofs.size - 1
    n_tracks = offsets.size - 1
    G = stage_slabs.shape[1] // (CELL * kofs[J]) if kofs[J] > 0 else 0
    for c in prange(chunks.size - 1):
        P = chunk_powers_buffer(offsets, chunks[c], chunks[c + 1])
        curve = np.empty(mofs[J])
        t = chunks[c]
        while t < chunks[c + 1]:
            stop = block_end(offsets, t, chunks[c + 1])
            base, clean = block_powers(scores.values, offsets, t, stop, fast, params.lam, P)
            for r in range(t, stop):
                if tracks.reason[r] != reasons.OK:
                    continue
                ok, shift, scale = _validated(scores, keys, params, r, tracks, clean)
                if not ok:
                    continue
                start = offsets[r]
                T = offsets[r + 1] - start
                pos_key = tracks.pos_key[r]
                first = start - base if clean else 0  # where the track's powers are in P
                for j in range(J):
                    K = kofs[j + 1] - kofs[j]
                    M = mofs[j + 1] - mofs[j]
                    at = n_tracks * kofs[j] + r * K
                    Y = tracks.stage_scores[at : at + K]
                    n = tracks.stage_counts[at : at + K]
                    if clean or j > 0:
                        stage_scores(P[first:], T, params.reduce_mean, Y, n)
                    else:  # the powers of this track alone, into P[0:T], kept for the other K
                        score_track(scores.values, start, T, params.lam, params.reduce_mean, params.minmax,
                                    shift, scale, P, Y, n)
                    s0 = G * CELL * kofs[j]
                    acc = stage_slabs[c, s0 : s0 + G * CELL * K].reshape((G, CELL, K))
                    add_present(acc[group[r]], Y)
                    c0 = G * CELL * mofs[j]
                    acc = curve_slabs[c, c0 : c0 + G * CELL * M].reshape((G, CELL, M))
                    accumulate_curve(Y, pos_key, params.step, acc[group[r]], curve[:M])
            t = stop


def align_tracks_ks(scores: Scores, keys: KeyFrames, params: Params, group: np.ndarray, n_groups: int,
                    stages: list[int], grid_sizes: list[int], reason: np.ndarray, n_chunks: int) -> list[tuple]:
    """:func:`kernels.cpu.align_tracks` for several K at one λ: for each K in order, (Tracks, stage
    moments (G, 5, K), curve moments (G, 5, M)), as align_tracks returns them for that K alone; the
    Tracks share ``reason`` (updated in place), key frames and pos_key."""
    n = scores.offsets.size - 1
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
        args = (scores, keys, params, kofs, mofs, group, chunks, tracks, stage_slabs, curve_slabs)
        announce(align_batch_ks, args, f"the CPU sweep kernel for {scores_type(scores)} (10-20 s)",
                 (scores.offsets.dtype, scores.values.dtype))
        align_batch_ks(*args)
    results = []
    for j, (K, M) in enumerate(zip(stages, grid_sizes)):
        s0, c0 = G * CELL * int(kofs[j]), G * CELL * int(mofs[j])
        stage = np.zeros((G, CELL, K))
        curve = np.zeros((G, CELL, M))
        sum_slabs(np.ascontiguousarray(stage_slabs[:, s0: s0 + G * CELL * K]).reshape(C, G, CELL, K), stage)
        sum_slabs(np.ascontiguousarray(curve_slabs[:, c0: c0 + G * CELL * M]).reshape(C, G, CELL, M), curve)
        own = tracks._replace(stage_scores=tracks.stage_scores[n * int(kofs[j]): n * int(kofs[j + 1])].reshape(n, K),
                              stage_counts=tracks.stage_counts[n * int(kofs[j]): n * int(kofs[j + 1])].reshape(n, K))
        results.append((own, stage, curve))
    return results
