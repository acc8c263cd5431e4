"""The power transform of eq. (1), P = S ** lambda, as a loop LLVM can vectorize.

A scalar ``pow`` call per frame costs more than everything else a frame
needs, and it keeps the loop scalar.  Here ``S ** lambda`` is
``exp(lambda * ln S)`` with ``ln`` and ``exp`` written out as polynomials on
reduced arguments, using only arithmetic, selects and bit casts, so the
frame loop compiles to SIMD code.

Error bound (tests/test_power.py checks it): for S in [0, 1] and lambda in
(0, 64], relative error at most 2e-13 where S ** lambda >= 1e-300 (about
|lambda ln S| * 2e-16, so 1e-15 or better for scores above 0.01), and a
result below 2.3e-308 (underflow) comes out as 0.  S = 0 gives 0, S = 1
gives exactly 1.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .config import ARITHMETIC_INLINE


@intrinsic
def float_bits(typingctx, x):
    """The IEEE-754 bits of a float64, as an int64."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def bits_float(typingctx, x):
    """The float64 whose IEEE-754 bits are the int64 x."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


# ln 2 split so that e * LN2_HI is exact for |e| < 2**11.
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.4426950408889634
SQRT2 = 1.4142135623730951
TINY = 2.2250738585072014e-308  # smallest normal float64
TWO_64 = 18446744073709551616.0


@njit(**ARITHMETIC_INLINE)
def log_nonneg(s):
    """ln s for s > 0 (normal or subnormal), via s = 2**e * m, m in [sqrt(2)/2, sqrt(2))."""
    sub = s < TINY
    s = s * TWO_64 if sub else s  # subnormals: scale up, correct e below
    bits = float_bits(s)
    e = ((bits >> 52) & 0x7FF) - 1023
    e = e - 64 if sub else e
    m = bits_float((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    high = m > SQRT2
    m = m * 0.5 if high else m
    e = e + 1 if high else e
    # ln m = 2 atanh(z), z = (m - 1) / (m + 1), |z| <= 0.1716: the odd series to
    # z**19 (the rest is below 2 |z|**21 / 21 < 1e-17).
    z = (m - 1.0) / (m + 1.0)
    z2 = z * z
    p = 1.0 / 19.0
    p = p * z2 + 1.0 / 17.0
    p = p * z2 + 1.0 / 15.0
    p = p * z2 + 1.0 / 13.0
    p = p * z2 + 1.0 / 11.0
    p = p * z2 + 1.0 / 9.0
    p = p * z2 + 1.0 / 7.0
    p = p * z2 + 1.0 / 5.0
    p = p * z2 + 1.0 / 3.0
    ef = np.float64(e)
    return ef * LN2_HI + (ef * LN2_LO + 2.0 * z + 2.0 * z * z2 * p)


@njit(**ARITHMETIC_INLINE)
def exp_nonpos(t):
    """exp t for t <= 0, via t = k ln 2 + r, |r| <= ln(2)/2; underflow gives 0."""
    k = math.floor(t * INV_LN2 + 0.5)
    r = (t - k * LN2_HI) - k * LN2_LO
    # Taylor series of exp r to r**13 (|r|**14 / 14! < 5e-18).
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    normal = k >= -1022.0
    ki = np.int64(k if normal else 0.0)
    return p * bits_float((ki + 1023) << 52) if normal else 0.0


@njit(**ARITHMETIC_INLINE)
def log_score(s):
    """The half of :func:`power` that does not depend on lambda: ln s for s > 0, -inf for s = 0."""
    return log_nonneg(s) if s > 0.0 else -math.inf


@njit(**ARITHMETIC_INLINE)
def power_of_log(log_s, lam):
    """s ** lam from log_s = :func:`log_score` (s): the same operations as :func:`power`, so the same
    bits, with the logarithm computed once for several lambda (README, Parameter sweeps)."""
    return exp_nonpos(lam * log_s) if log_s > -math.inf else 0.0


@njit(**ARITHMETIC_INLINE)
def power(s, lam):
    """s ** lam for s in [0, 1] and lam > 0 (eq. 1); other s give unspecified values."""
    return exp_nonpos(lam * log_nonneg(s)) if s > 0.0 else 0.0
