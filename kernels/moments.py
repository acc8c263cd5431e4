"""Mergeable moments: count, sum and sum of squares in double-double precision.

Each cell of an accumulator is five float64 numbers::

    [count, sum_hi, sum_lo, sumsq_hi, sumsq_lo]

Sums are kept as unevaluated pairs hi + lo (error-free transformations,
Knuth's TwoSum and Dekker's TwoProduct), about 106 bits wide.  That makes
two promises at once:

* merging is plain addition, so partials from threads, batches, files or
  workers combine in any grouping (chunk -> combine -> finalize);
* the final float64 mean and std do not depend on that grouping except in
  vanishingly rare ties, and the variance does not lose digits to
  cancellation when the spread is small against the mean.
"""

import math

import numpy as np
from numba import njit

from .config import INLINE, SERIAL

CELL = 5  # count, sum_hi, sum_lo, sumsq_hi, sumsq_lo
_SPLITTER = 134217729.0  # 2**27 + 1, Dekker's split constant for float64


@njit(**INLINE)
def two_sum(a, b):
    """s + e == a + b exactly, with s = fl(a + b)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


@njit(**INLINE)
def _split(a):
    c = _SPLITTER * a
    hi = c - (c - a)
    return hi, a - hi


@njit(**INLINE)
def two_prod(a, b):
    """p + e == a * b exactly, with p = fl(a * b)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


@njit(**INLINE)
def add_value(cell, y):
    """Add one observation y to an accumulator cell (a length-5 view)."""
    cell[0] += 1.0
    s, e = two_sum(cell[1], y)
    cell[1] = s
    cell[2] += e
    p, pe = two_prod(y, y)
    s, e = two_sum(cell[3], p)
    cell[3] = s
    cell[4] += e + pe


@njit(**SERIAL)
def merge_into(dst, src):
    """dst += src, cell by cell; both shaped (..., 5) with equal shapes."""
    d = dst.reshape(-1, CELL)
    s = src.reshape(-1, CELL)
    for i in range(d.shape[0]):
        d[i, 0] += s[i, 0]
        for j in (1, 3):
            hi, e = two_sum(d[i, j], s[i, j])
            d[i, j] = hi
            d[i, j + 1] += e + s[i, j + 1]


@njit(**SERIAL)
def sum_slabs(slabs, out):
    """out += the sum over axis 0 of slabs (per-thread partials), in order."""
    for k in range(slabs.shape[0]):
        merge_into(out, slabs[k])


@njit(**INLINE)
def _dd_value(hi, lo):
    s, e = two_sum(hi, lo)
    return s, e


@njit(**SERIAL)
def finalize(acc, count, mean, std):
    """Count, mean and sample std (ddof = 1) of every cell; NaN where undefined.

    acc is (..., 5); count, mean, std are flat outputs of acc's cell count.
    """
    a = acc.reshape(-1, CELL)
    for i in range(a.shape[0]):
        n = a[i, 0]
        count[i] = np.int64(n)
        if n == 0.0:
            mean[i] = np.nan
            std[i] = np.nan
            continue
        s_hi, s_lo = _dd_value(a[i, 1], a[i, 2])
        mean[i] = (s_hi + s_lo) / n
        if n < 2.0:
            std[i] = np.nan
            continue
        # n * var * (n - 1) = n * sumsq - sum**2, evaluated in double-double.
        q_hi, q_lo = _dd_value(a[i, 3], a[i, 4])
        nq_hi, nq_e = two_prod(n, q_hi)
        nq_e += n * q_lo
        ss_hi, ss_e = two_prod(s_hi, s_hi)
        ss_e += 2.0 * s_hi * s_lo
        d_hi, d_e = two_sum(nq_hi, -ss_hi)
        d = d_hi + (d_e + nq_e - ss_e)
        var = d / (n * (n - 1.0))
        std[i] = math.sqrt(var) if var > 0.0 else 0.0
