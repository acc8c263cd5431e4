"""The per-track computation, written once (README, The method: eq. 1-4 and the curve).

Every function here works on one track and allocates nothing, so the CPU
batch kernel (a parallel loop over tracks) and any other backend call the
same body.  Equation numbers are the paper's.
"""

import math

import numpy as np
from numba import njit

from . import reasons
from .config import ARITHMETIC, EXACT
from .grid import COVER_TOLERANCE
from .lanes import LANES, lane_sum
from .moments import add_run, add_run_at
from .power import bits_float, float_bits, log_score, power, power_of_log


@njit(**EXACT)
def bit_is_set(bitmap, bit_offset, i):
    """Arrow validity: bit (bit_offset + i), LSB first; an empty bitmap means all valid."""
    if bitmap.size == 0:
        return True
    j = bit_offset + i
    return (bitmap[j >> 3] >> (j & 7)) & 1 == 1


@njit(**EXACT)
def next_stage(first, carry, q, rem, K):
    """The 0-based frames [first, last) of a stage, and the carry for the next.

    Frame i (1-based) is in stage ceil(K*i/T) - 1, so stage k holds the
    frames with k*T/K < i <= (k+1)*T/K, and T < K leaves some stages empty.
    With T = q*K + rem and k*T = first*K + carry (0 <= carry < K), the stage
    ends at floor((k+1)*T/K) = first + q (+1 when carry + rem reaches K):
    exact integer arithmetic with one division per track, not two per stage.
    Start with first = carry = 0 for stage 0.
    """
    carry += rem
    last = first + q
    if carry >= K:
        carry -= K
        last += 1
    return last, carry


@njit(**EXACT)
def first_bad_frame(values, value_bits, value_bit_offset, start, T, check_range):
    """Reason code of the first bad score (null, non-finite, outside [0, 1]), or OK,
    with the min, max and first arg-max of the scores."""
    lo = np.inf
    hi = -np.inf
    arg = 0
    for i in range(T):
        j = start + i
        if not bit_is_set(value_bits, value_bit_offset, j):
            return reasons.NULL_SCORE, lo, hi, arg
        s = np.float64(values[j])
        if not math.isfinite(s):
            return reasons.NONFINITE_SCORE, lo, hi, arg
        if check_range and (s < 0.0 or s > 1.0):
            return reasons.SCORE_OUT_OF_RANGE, lo, hi, arg
        if s > hi:
            hi = s
            arg = i
        lo = min(lo, s)
    return reasons.OK, lo, hi, arg


@njit(**ARITHMETIC)
def power_frames(values, start, F, lam, P):
    """Eq. (1) for the F scores from values[start] into P[:F], in one loop that vectorizes.

    Returns how many scores are not finite or outside [0, 1]; their powers
    are unspecified (the caller rejects or rescales those tracks).
    """
    x = values[start : start + F]
    bad = 0
    for i in range(F):
        s = np.float64(x[i])
        bad += 0 if (s >= 0.0) & (s <= 1.0) else 1
        P[i] = power(s, lam)  # eq. (1): P_i = S_i ** lambda
    return bad


@njit(**ARITHMETIC)
def log_frames(values, start, F, L):
    """The half of :func:`power_frames` that does not depend on lambda: ln S of the F scores from
    values[start] into L[:F] (:func:`kernels.power.log_score`), for a sweep's several lambda
    (README, Parameter sweeps); :func:`powers_of_logs` then gives the bits :func:`power_frames` gives.

    Returns how many scores are not finite or outside [0, 1], as :func:`power_frames` does.
    """
    x = values[start : start + F]
    bad = 0
    for i in range(F):
        s = np.float64(x[i])
        bad += 0 if (s >= 0.0) & (s <= 1.0) else 1
        L[i] = log_score(s)
    return bad


@njit(**ARITHMETIC)
def powers_of_logs(L, F, lam, P):
    """Eq. (1) from :func:`log_frames`'s logarithms: P[i] = S_i ** lam for i < F."""
    for i in range(F):
        P[i] = power_of_log(L[i], lam)  # eq. (1): P_i = S_i ** lambda


@njit(**ARITHMETIC)
def power_frames_scaled(values, start, F, lam, shift, scale, P):
    """Eq. (1) for scores mapped by (s - shift) * scale and clamped to [0, 1] (--normalize minmax)."""
    x = values[start : start + F]
    for i in range(F):
        u = min(max((np.float64(x[i]) - shift) * scale, 0.0), 1.0)
        P[i] = power(u, lam)  # eq. (1)


@njit(**EXACT)
def stage_sum(P, F):
    """P[0] + ... + P[F-1], LANES values at a time (P is padded, see lanes.py)."""
    total = 0.0
    for base in range(0, F, LANES):
        total += lane_sum(P, base, F - base)
    return total


@njit(**EXACT)
def stage_score(total, count, reduce_mean):
    """Y_k of eq. (2) from the sum of the stage's powers: the sum itself, or with
    reduce_mean the mean, NaN for an empty stage (it has no mean)."""
    if not reduce_mean:
        return total  # eq. (2): Y_k = sum of P_i over the frames of stage k
    return total / count if count > 0 else np.nan


@njit(**ARITHMETIC)
def stage_scores(P, T, reduce_mean, Y, n, direct=None):
    """Eq. (2) for one track of T frames: Y[k] and n[k] for k = 0 ... K-1.

    With reduce_mean, Y[k] is the mean, NaN for an empty stage.  The sum of
    a stage's powers comes from one of two places:

    * P, the track's powers already computed (at least T + LANES - 1 long,
      see :func:`stage_sum`), added LANES at a time;
    * with P None, ``direct`` = (values, start, lam, shift, scale): eq. (1)
      for the scores values[start:] mapped as in :func:`power_frames_scaled`,
      computed here and added in frame order (see :func:`stage_scores_direct`).

    numba compiles only the branch a None argument leaves (dead-branch
    pruning), so each caller gets its own loop without a test per stage.
    """
    K = Y.size
    q, rem = T // K, T % K
    first, carry = 0, 0
    for k in range(K):
        last, carry = next_stage(first, carry, q, rem, K)
        total = 0.0
        if P is not None:
            total = stage_sum(P[first:], last - first)
        if direct is not None:
            values, start, lam, shift, scale = direct
            for i in range(first, last):
                s = np.float64(values[start + i])
                total += power(min(max((s - shift) * scale, 0.0), 1.0), lam)  # eq. (1)
        n[k] = last - first
        Y[k] = stage_score(total, last - first, reduce_mean)
        first = last


@njit(**ARITHMETIC)
def stage_scores_direct(values, start, T, lam, shift, scale, reduce_mean, Y, n):
    """Eq. (1) and (2) in one pass without scratch memory, for backends where a
    thread cannot hold a track's powers (the CUDA kernel).  The same powers as
    :func:`power_frames_scaled` (shift 0 and scale 1 leave valid scores as
    they are); sums in frame order."""
    stage_scores(None, T, reduce_mean, Y, n, (values, start, lam, shift, scale))


@njit(**ARITHMETIC)
def first_argmax(values, start, T):
    """The first arg-max of T scores known to lie in [0, 1]."""
    x = values[start : start + T]
    top = np.int64(0)
    for i in range(T):
        top = max(top, float_bits(np.float64(x[i])))  # bits of floats >= 0 order like the floats
    best = bits_float(top)
    i = 0
    while np.float64(x[i]) != best:
        i += 1
    return i


@njit(**EXACT)
def minmax_scaling(minmax, lo, hi):
    """(reason, shift, scale) mapping scores to [0, 1] by min-max, or the identity."""
    if not minmax:
        return reasons.OK, 0.0, 1.0
    if hi == lo:
        return reasons.CONSTANT_SCORES, 0.0, 1.0
    return reasons.OK, lo, 1.0 / (hi - lo)


@njit(**EXACT)
def given_key_frame(frame, valid, T):
    """Reason code for a given 0-based key frame of a track of T frames."""
    if not valid:
        return reasons.NULL_KEY_FRAME
    if frame < 0 or frame >= T:
        return reasons.KEY_FRAME_OUT_OF_RANGE
    return reasons.OK


@njit(**EXACT)
def validate_track(offsets, values, list_bits, list_bit_offset, value_bits, value_bit_offset,
                   key_frame, key_valid, t, minmax, clean):
    """The checks of track t, for every backend, in the order of README, Bad
    input: a null list, an empty list, the first bad score, constant scores
    under min-max scaling, then the given key frame.

    Returns (reason, key frame, shift, scale): the 0-based key frame (the given
    one, else the first arg-max of the scores) and the min-max mapping
    (s - shift) * scale (the identity without ``minmax``).  ``clean``: every
    score of the track is already known to be finite and in [0, 1] (without
    ``minmax``), so the scores are read only for the arg-max, in one
    vectorized pass.
    """
    if not bit_is_set(list_bits, list_bit_offset, t):
        return reasons.NULL_SCORES, 0, 0.0, 1.0
    start = offsets[t]
    T = offsets[t + 1] - start
    if T == 0:
        return reasons.EMPTY_SCORES, 0, 0.0, 1.0
    if clean:
        reason, lo, hi, arg = reasons.OK, 0.0, 1.0, 0
    else:
        reason, lo, hi, arg = first_bad_frame(values, value_bits, value_bit_offset, start, T, not minmax)
        if reason != reasons.OK:
            return reason, 0, 0.0, 1.0
    reason, shift, scale = minmax_scaling(minmax, lo, hi)
    if reason != reasons.OK:
        return reason, 0, 0.0, 1.0
    if key_frame.shape[0] > 0:
        return given_key_frame(key_frame[t], key_valid[t], T), key_frame[t], shift, scale
    if clean:
        arg = first_argmax(values, start, T)
    return reasons.OK, arg, shift, scale


@njit(**EXACT)
def score_track(values, start, T, lam, reduce_mean, minmax, shift, scale, P, Y, n):
    """Power transform (eq. 1) and stage scores (eq. 2) of a track that passed
    :func:`validate_track`, with its min-max mapping.

    Writes Y and n (see :func:`stage_scores`), using P (at least
    T + LANES - 1 long) as scratch.  The numbers come from the same functions
    as on the batch kernel's fast path, so a track gets the same bits
    whichever path it takes.
    """
    if minmax:
        power_frames_scaled(values, start, T, lam, shift, scale, P)
    else:
        power_frames(values, start, T, lam, P)
    stage_scores(P, T, reduce_mean, Y, n)


@njit(**EXACT)
def aligned_x(k, K, pos_key):
    """X_k = k/K - pos_key (eq. 4)."""
    return k / K - pos_key


@njit(**EXACT)
def _next_present(Y, k):
    """The first stage after k whose score is present (not NaN), or -1."""
    for j in range(k + 1, Y.size):
        if not np.isnan(Y[j]):
            return j
    return -1


@njit(**EXACT)
def first_grid_at_or_after(x, step, inv_step, M):
    """The first m in [0, M] with -1 + m*step >= x, checked exactly as the grid is computed.

    ``inv_step`` (1 / step) only gives the first guess; the checks decide.
    """
    m = max(0, min(M, int(math.ceil((x + 1.0) * inv_step))))
    while m > 0 and -1.0 + (m - 1) * step >= x:
        m -= 1
    while m < M and -1.0 + m * step < x:
        m += 1
    return m


@njit(**EXACT)
def curve_value(g, x_left, slope, y_left):
    """Linear interpolation from the segment's left point; left of it, its value."""
    return slope * (max(g, x_left) - x_left) + y_left


@njit(**EXACT)
def accumulate_curve(Y, pos_key, step, acc, curve):
    """Add the track's aligned curve to the moment accumulator acc (5, M).

    The curve is interpolated into ``curve`` (scratch, M long) first, so
    that the accumulation runs as one loop over the contiguous grid points
    the track covers.
    """
    m_first, m_stop = interpolate_track(Y, pos_key, step, curve)
    add_run(acc, m_first, curve[m_first:m_stop])


@njit(**EXACT)
def accumulate_curve_at(Y, pos_key, step, slab, at, curve):
    """:func:`accumulate_curve` into the accumulator (5, M = curve.size) stored flat from slab[at] on."""
    m_first, m_stop = interpolate_track(Y, pos_key, step, curve)
    add_run_at(slab, at, curve.size, m_first, curve[m_first:m_stop])


@njit(**EXACT)
def interpolate_track(Y, pos_key, step, curve):
    """Linear interpolation of the points (X_k, Y_k) onto the grid (README, The method:
    curve, and Conventions).

    Missing stage scores (NaN) are left out.  Writes curve[m] for the grid
    points the track covers, [X_first, X_last] give or take COVER_TOLERANCE
    steps, and returns that range as (m_first, m_stop); nothing outside it
    is written: no extrapolation.  A grid point exactly at X_k takes the
    segment that starts there.
    """
    K = Y.size
    M = curve.size
    inv_step = 1.0 / step
    left = _next_present(Y, -1)
    if left < 0:
        return 0, 0
    eps = COVER_TOLERANCE * step
    x_left = aligned_x(left, K, pos_key)
    m_first = first_grid_at_or_after(x_left - eps, step, inv_step, M)
    m = m_first
    while left >= 0:
        right = _next_present(Y, left)
        y_left = Y[left]
        if right >= 0:
            x_right = aligned_x(right, K, pos_key)
            stop = first_grid_at_or_after(x_right, step, inv_step, M)
            slope = (Y[right] - y_left) / (x_right - x_left)
        else:
            # The last point: its value holds up to eps past it.
            x_right = x_left
            stop = first_grid_at_or_after(x_left + eps, step, inv_step, M)
            if stop < M and -1.0 + stop * step <= x_left + eps:
                stop += 1
            slope = 0.0
        segment = curve[m:stop]  # indexed from zero: the loop vectorizes
        for j in range(segment.size):
            segment[j] = curve_value(-1.0 + (m + j) * step, x_left, slope, y_left)
        m = max(m, stop)
        left = right
        x_left = x_right
    return m_first, m
