"""The per-track computation, written once (SPEC section 1, steps 1-6).

Every function here works on one track and allocates nothing, so the CPU
batch kernel (a parallel loop over tracks) and any other backend call the
same body.  Equation numbers are the paper's.
"""

import math

import numpy as np
from numba import njit

from . import reasons
from .config import INLINE
from .grid import COVER_TOLERANCE


@njit(**INLINE)
def bit_is_set(bitmap, bit_offset, i):
    """Arrow validity: bit (bit_offset + i), LSB first; an empty bitmap means all valid."""
    if bitmap.size == 0:
        return True
    j = bit_offset + i
    return (bitmap[j >> 3] >> (j & 7)) & 1 == 1


@njit(**INLINE)
def stage_bounds(k, T, K):
    """0-based frames [first, last) of stage k.

    Frame i (1-based) is in stage ceil(K*i/T) - 1, so stage k holds the
    frames with k*T/K < i <= (k+1)*T/K: integer arithmetic, no per-frame
    division, and T < K leaves some stages empty.
    """
    return (k * T) // K, ((k + 1) * T) // K


@njit(**INLINE)
def _check_range(values, value_bits, value_bit_offset, start, T):
    """Reason code for the first bad score, with the min, max and first arg-max."""
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
        if s > hi:
            hi = s
            arg = i
        if s < lo:
            lo = s
    return reasons.OK, lo, hi, arg


@njit(**INLINE)
def score_track(values, value_bits, value_bit_offset, start, T, lam, reduce_mean, minmax, Y, n):
    """Power transform (eq. 1) and stage scores (eq. 2) of one track.

    Writes Y[k] (sum, or mean with NaN for an empty stage) and n[k] for
    k = 0 ... K-1, and returns (reason, first arg-max of the scores).
    """
    K = Y.size
    shift = 0.0
    scale = 1.0
    if minmax:
        reason, lo, hi, arg = _check_range(values, value_bits, value_bit_offset, start, T)
        if reason != reasons.OK:
            return reason, 0
        if hi == lo:
            return reasons.CONSTANT_SCORES, 0
        shift = lo
        scale = 1.0 / (hi - lo)
    best = -1.0
    arg = 0
    for k in range(K):
        first, last = stage_bounds(k, T, K)
        total = 0.0
        for i in range(first, last):
            j = start + i
            if not bit_is_set(value_bits, value_bit_offset, j):
                return reasons.NULL_SCORE, 0
            s = np.float64(values[j])
            if not math.isfinite(s):
                return reasons.NONFINITE_SCORE, 0
            if s > best:  # strict: the first arg-max wins
                best = s
                arg = i
            if minmax:
                s = min(max((s - shift) * scale, 0.0), 1.0)
            elif s < 0.0 or s > 1.0:
                return reasons.SCORE_OUT_OF_RANGE, 0
            total += s**lam  # eq. (1): P_i = S_i ** lambda
        count = last - first
        n[k] = count
        if not reduce_mean:
            Y[k] = total  # eq. (2): Y_k = sum of P_i in stage k
        elif count > 0:
            Y[k] = total / count
        else:
            Y[k] = np.nan  # an empty stage has no mean
    return reasons.OK, arg


@njit(**INLINE)
def aligned_x(k, K, pos_key):
    """X_k = k/K - pos_key (eq. 4)."""
    return k / K - pos_key


@njit(**INLINE)
def _next_present(Y, k):
    """The first stage after k whose score is present (not NaN), or -1."""
    for j in range(k + 1, Y.size):
        if not math.isnan(Y[j]):
            return j
    return -1


@njit(**INLINE)
def interpolate_track(Y, pos_key, step, curve):
    """Linear interpolation of the points (X_k, Y_k) onto the grid (SPEC 1.6).

    Missing stage scores (NaN) are left out.  Writes curve[m] for the grid
    points the track covers and returns that range as (m_first, m_stop);
    nothing outside it is written: no extrapolation.
    """
    K = Y.size
    M = curve.size
    k_first = _next_present(Y, -1)
    if k_first < 0:
        return 0, 0
    k_last = k_first
    while True:
        j = _next_present(Y, k_last)
        if j < 0:
            break
        k_last = j
    eps = COVER_TOLERANCE * step
    x_lo = aligned_x(k_first, K, pos_key) - eps
    x_hi = aligned_x(k_last, K, pos_key) + eps
    # First grid point at or right of x_lo, from an estimate then exact checks.
    m = max(0, min(M, int(math.ceil((x_lo + 1.0) / step))))
    while m > 0 and -1.0 + (m - 1) * step >= x_lo:
        m -= 1
    while m < M and -1.0 + m * step < x_lo:
        m += 1
    m_first = m
    left = k_first
    right = _next_present(Y, left)
    while m < M:
        g = -1.0 + m * step
        if g > x_hi:
            break
        while right >= 0 and aligned_x(right, K, pos_key) <= g:
            left = right
            right = _next_present(Y, left)
        x_left = aligned_x(left, K, pos_key)
        if right < 0 or g <= x_left:
            curve[m] = Y[left]
        else:
            slope = (Y[right] - Y[left]) / (aligned_x(right, K, pos_key) - x_left)
            curve[m] = slope * (g - x_left) + Y[left]
        m += 1
    return m_first, m
