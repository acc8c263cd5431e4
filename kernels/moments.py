"""Mergeable moments: count, sum and sum of squares in double-double precision.

An accumulator holds, for each of W cells (stages or grid points), five
float64 rows, so that a loop over cells reads contiguous memory::

    acc[..., COUNT, w], acc[..., SUM_HI, w], acc[..., SUM_LO, w],
    acc[..., SQ_HI, w], acc[..., SQ_LO, w]

Sums are unevaluated pairs hi + lo kept with error-free transformations
(Knuth's TwoSum; TwoProduct with a fused multiply-add), about 106 bits
wide.  That makes two promises at once:

* merging is plain addition, so partials from threads, batches, files or
  workers combine in any grouping (chunk -> combine -> finalize);
* the float64 mean and std do not depend on that grouping except in
  vanishingly rare ties, and the variance keeps its digits when the spread
  is small against the mean.

These functions are compiled without fast-math flags: reordering any of
the operations below would break the error-free transformations.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .config import EXACT

CELL = 5
COUNT, SUM_HI, SUM_LO, SQ_HI, SQ_LO = range(CELL)

_EXACT_INLINED = dict(EXACT, inline="always")


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c with a single rounding (llvm.fma)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@intrinsic
def mul_rounded(typingctx, a, b):
    """a * b, rounded by itself: never fused with a later addition into an fma.

    On the CPU a plain multiplication (these functions carry no contract
    flag).  In PTX an unrounded ``mul.f64`` may be fused with an addition by
    the assembler, so for a GPU it is the explicitly rounded ``mul.rn.f64``.
    """
    sig = types.float64(types.float64, types.float64)

    def codegen(context, builder, signature, args):
        if builder.module.triple.startswith("nvptx"):
            double = ir.DoubleType()
            mul_rn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(double, [double, double]), "llvm.nvvm.mul.rn.d")
            return builder.call(mul_rn, args)
        return builder.fmul(*args)

    return sig, codegen


@njit(**_EXACT_INLINED)
def two_sum(a, b):
    """s + e == a + b exactly, with s = fl(a + b)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


@njit(**_EXACT_INLINED)
def two_prod(a, b):
    """p + e == a * b exactly, with p = fl(a * b)."""
    p = mul_rounded(a, b)
    return p, fma(a, b, -p)


@njit(**_EXACT_INLINED)
def add_moment(acc, w, y):
    """Add y to cell w of acc (5, W)."""
    _add(acc, w, y, True)


@njit(**_EXACT_INLINED)
def _sums_plus(sum_hi, sum_lo, sq_hi, sq_lo, y):
    """The double-double sum and sum of squares of one cell after adding y."""
    s, e = two_sum(sum_hi, y)
    p, pe = two_prod(y, y)
    q, f = two_sum(sq_hi, p)
    return s, sum_lo + e, q, sq_lo + (f + pe)


@njit(**_EXACT_INLINED)
def _add(acc, w, y, present):
    acc[COUNT, w] += 1.0 if present else 0.0
    acc[SUM_HI, w], acc[SUM_LO, w], acc[SQ_HI, w], acc[SQ_LO, w] = _sums_plus(
        acc[SUM_HI, w], acc[SUM_LO, w], acc[SQ_HI, w], acc[SQ_LO, w], y if present else 0.0)


@njit(**EXACT)
def add_run(acc, first, values):
    """Add values[i] to cell first + i of acc (5, W) for every i.

    One loop over contiguous cells, counted from zero so that LLVM sees
    in-bounds, non-negative indices and vectorizes it; the same sums as
    :func:`add_moment` cell by cell.
    """
    n = values.size
    count = acc[COUNT, first : first + n]
    sum_hi = acc[SUM_HI, first : first + n]
    sum_lo = acc[SUM_LO, first : first + n]
    sq_hi = acc[SQ_HI, first : first + n]
    sq_lo = acc[SQ_LO, first : first + n]
    for i in range(n):
        count[i] += 1.0
        sum_hi[i], sum_lo[i], sq_hi[i], sq_lo[i] = _sums_plus(sum_hi[i], sum_lo[i], sq_hi[i], sq_lo[i], values[i])


@njit(**EXACT)
def add_present(acc, values):
    """Add values[w] to cell w of acc (5, W) wherever it is not NaN."""
    for w in range(values.size):
        v = values[w]
        _add(acc, w, v, not np.isnan(v))


@njit(**EXACT)
def add_run_at(slab, at, W, first, values):
    """:func:`add_run` on the accumulator (5, W) stored flat from slab[at] on: the same sums, without
    a 2-D view of the slab to make for every track (a sweep's kernel, kernels/sweep.py)."""
    n = values.size
    base = at + first
    count = slab[base : base + n]
    sum_hi = slab[base + SUM_HI * W : base + SUM_HI * W + n]
    sum_lo = slab[base + SUM_LO * W : base + SUM_LO * W + n]
    sq_hi = slab[base + SQ_HI * W : base + SQ_HI * W + n]
    sq_lo = slab[base + SQ_LO * W : base + SQ_LO * W + n]
    for i in range(n):
        count[i] += 1.0
        sum_hi[i], sum_lo[i], sq_hi[i], sq_lo[i] = _sums_plus(sum_hi[i], sum_lo[i], sq_hi[i], sq_lo[i], values[i])


@njit(**EXACT)
def add_present_at(slab, at, values):
    """:func:`add_present` on the accumulator (5, W = values.size) stored flat from slab[at] on."""
    W = values.size
    for w in range(W):
        v = values[w]
        present = not np.isnan(v)
        slab[at + w] += 1.0 if present else 0.0
        i = at + w
        slab[i + SUM_HI * W], slab[i + SUM_LO * W], slab[i + SQ_HI * W], slab[i + SQ_LO * W] = _sums_plus(
            slab[i + SUM_HI * W], slab[i + SUM_LO * W], slab[i + SQ_HI * W], slab[i + SQ_LO * W],
            v if present else 0.0)


@njit(**_EXACT_INLINED)
def merge_cell(dst, src, w):
    """Cell w of dst (5, W) += cell w of src (5, W)."""
    dst[COUNT, w] += src[COUNT, w]
    for j in (SUM_HI, SQ_HI):
        hi, e = two_sum(dst[j, w], src[j, w])
        dst[j, w] = hi
        dst[j + 1, w] += e + src[j + 1, w]


@njit(**EXACT)
def merge_into(dst, src):
    """dst += src; both shaped (..., 5, W) alike."""
    d = dst.reshape(-1, CELL, dst.shape[-1])
    s = src.reshape(-1, CELL, src.shape[-1])
    for i in range(d.shape[0]):
        for w in range(d.shape[2]):
            merge_cell(d[i], s[i], w)


@njit(**EXACT)
def sum_slabs(slabs, out):
    """out += the sum over axis 0 of slabs (per-chunk partials), in order."""
    for k in range(slabs.shape[0]):
        merge_into(out, slabs[k])


@njit(**EXACT)
def finalize(acc, count, mean, std):
    """Count, mean and sample std (ddof = 1) of every cell; NaN where undefined.

    acc is (..., 5, W); count, mean and std are flat, one entry per cell.
    """
    a = acc.reshape(-1, CELL, acc.shape[-1])
    W = a.shape[2]
    for i in range(a.shape[0]):
        for w in range(W):
            out = i * W + w
            n = a[i, COUNT, w]
            count[out] = np.int64(n)
            if n == 0.0:
                mean[out] = np.nan
                std[out] = np.nan
                continue
            s_hi, s_lo = two_sum(a[i, SUM_HI, w], a[i, SUM_LO, w])
            mean[out] = (s_hi + s_lo) / n
            if n < 2.0:
                std[out] = np.nan
                continue
            # n * var * (n - 1) = n * sumsq - sum**2, evaluated in double-double.
            q_hi, q_lo = two_sum(a[i, SQ_HI, w], a[i, SQ_LO, w])
            nq_hi, nq_e = two_prod(n, q_hi)
            nq_e += n * q_lo
            ss_hi, ss_e = two_prod(s_hi, s_hi)
            ss_e += 2.0 * s_hi * s_lo
            d_hi, d_e = two_sum(nq_hi, -ss_hi)
            d = d_hi + (d_e + nq_e - ss_e)
            var = d / (n * (n - 1.0))
            std[out] = math.sqrt(var) if var > 0.0 else 0.0
