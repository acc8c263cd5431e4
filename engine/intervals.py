"""Confidence intervals (README, Confidence bands): the Student t quantile, the normal-theory
interval mean ± t·std/√n, and percentile intervals over bootstrap replicates.

The t quantile needs no special-function library: the t distribution's tail
is a regularized incomplete beta function, evaluated by its continued
fraction (Abramowitz and Stegun 26.5.8, with the modified Lentz method), and
inverted by Newton steps kept inside a shrinking bracket; from 10**4 degrees
of freedom on, by Fisher's expansion around the normal quantile.  Accurate to
about 1e-13 relative (tests/test_intervals.py holds it to closed forms, to an
independent 40-digit evaluation of the CDF and to table values).
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np

_TINY = 1e-300
_EPS = 1e-16
_MAX_TERMS = 100_000
_HALF_LOG_PI = 0.5 * math.log(math.pi)
ASYMPTOTIC_DF = 1e4  # from here on, the t quantile comes from its expansion in 1/df


def check_level(level) -> float:
    """A confidence level strictly between 0 and 1, as a float; ValueError otherwise."""
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < float(level) < 1.0:
        raise ValueError(f"a confidence level must lie strictly between 0 and 1, got {level!r}")
    return float(level)


def _log_gamma_ratio_half(a: float) -> float:
    """log Γ(a + 1/2) − log Γ(a), without the cancellation of two large lgamma values for large a
    (Stirling's series of both, their difference taken term by term)."""
    if a < 20.0:
        return math.lgamma(a + 0.5) - math.lgamma(a)

    def series(z: float) -> float:
        z2 = z * z
        return (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - 1.0 / (1680.0 * z2)) / z2) / z2) / z

    return a * math.log1p(0.5 / a) + 0.5 * math.log(a) - 0.5 + series(a + 0.5) - series(a)


def _continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) · a · B(a, b) / (x^a (1 − x)^b), modified Lentz;
    converges quickly for x < (a + 1) / (a + b + 2)."""
    c = 1.0
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    result = d
    for m in range(1, _MAX_TERMS):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            result *= c * d
        if abs(c * d - 1.0) < _EPS:
            return result
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def t_tail(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom, t >= 0:
    ½ · I_x(df/2, 1/2) with x = df / (df + t²)."""
    if t <= 0.0:
        return 0.5
    a = 0.5 * df
    u = t * t / df
    x = 1.0 / (1.0 + u)  # df / (df + t²)
    y = u / (1.0 + u)  # t² / (df + t²) = 1 − x, without the cancellation
    # log of x^a (1 − x)^(1/2) / B(a, 1/2)
    front = math.exp(_log_gamma_ratio_half(a) - _HALF_LOG_PI - a * math.log1p(u) + 0.5 * math.log(y))
    if x < (a + 1.0) / (a + 2.5):
        return 0.5 * front * _continued_fraction(a, 0.5, x) / a
    return 0.5 * (1.0 - front * _continued_fraction(0.5, a, y) / 0.5)


def _t_density(t: float, df: float) -> float:
    a = 0.5 * df
    return math.exp(_log_gamma_ratio_half(a) - 0.5 * math.log(df) - _HALF_LOG_PI - (a + 0.5) * math.log1p(t * t / df))


@lru_cache(maxsize=65536)
def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with ``df`` > 0 degrees of freedom (0 < p < 1)."""
    if not 0.0 < p < 1.0 or not df > 0.0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    return t_upper(1.0 - p, df)


def t_critical(level: float, df: float) -> float:
    """t_{(1+level)/2, df}, the multiplier of a two-sided interval at ``level``: the upper quantile
    found from its tail (1 − level)/2, which a level within 2**-53 of 1 keeps, where (1 + level)/2
    would round to 1."""
    return t_upper(0.5 * (1.0 - level), df)


@lru_cache(maxsize=65536)
def t_upper(alpha: float, df: float) -> float:
    """The t ≥ 0 whose upper tail P(T > t) is ``alpha`` (0 < alpha ≤ 1/2), df > 0."""
    if not 0.0 < alpha <= 0.5 or not df > 0.0:
        raise ValueError(f"t_upper needs 0 < alpha <= 1/2 and df > 0, got alpha={alpha}, df={df}")
    if alpha == 0.5:
        return 0.0
    if df >= ASYMPTOTIC_DF:
        return -_t_quantile_asymptotic(alpha, df)  # the expansion is odd in z
    lo, hi = 0.0, 1.0  # solve t_tail(t) = alpha, t > 0; t_tail falls from 1/2
    while t_tail(hi, df) > alpha:
        lo, hi = hi, 2.0 * hi
    t = 0.5 * (lo + hi)
    for _ in range(400):
        f = t_tail(t, df) - alpha
        if f > 0.0:
            lo = t
        else:
            hi = t
        step = f / _t_density(t, df)
        nxt = t + step
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        if abs(nxt - t) <= 4e-16 * nxt or hi - lo <= 4e-16 * hi:
            return nxt
        t = nxt
    return t


def _t_quantile_asymptotic(p: float, df: float) -> float:
    """Fisher's expansion of the t quantile in powers of 1/df around the normal quantile z
    (Abramowitz and Stegun 26.7.5, four terms): for df >= 10**4 its truncation error is below
    1e-15 relative, where the continued fraction, slow near its convergence boundary, loses digits."""
    z = NormalDist().inv_cdf(p)
    z2 = z * z
    g1 = (z2 + 1.0) * z / 4.0
    g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0
    g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0
    g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0
    return z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df


def normal_interval(mean: np.ndarray, std: np.ndarray, count: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """mean ± t_{(1+level)/2, n−1} · std / √n per entry; NaN where n < 2 (or mean/std are NaN)."""
    mean = np.asarray(mean, np.float64)
    count = np.asarray(count, np.int64)
    t = np.full(count.shape, np.nan)
    for n in np.unique(count[count >= 2]):
        t[count == n] = t_critical(level, float(n - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        half = t * np.asarray(std, np.float64) / np.sqrt(np.maximum(count, 1).astype(np.float64))
    return mean - half, mean + half


def percentiles(values: np.ndarray, p: float) -> np.ndarray:
    """The p-percentile of each row of ``values`` (NaN entries left out), by linear interpolation
    between order statistics: with the n values sorted, v_(0) ≤ … ≤ v_(n−1), h = (n − 1)·p,
    j = ⌊h⌋, it is v_(j) + (h − j)·(v_(j+1) − v_(j)) (v_(j) itself when j = n − 1).  NaN for a row
    without values."""
    values = np.sort(values, axis=-1)  # NaN last
    n = np.sum(~np.isnan(values), axis=-1)
    h = (np.maximum(n, 1) - 1) * p
    j = np.floor(h).astype(np.int64)
    frac = h - j
    upper_index = np.minimum(j + 1, np.maximum(n, 1) - 1)
    lower = np.take_along_axis(values, j[..., None], axis=-1)[..., 0]
    upper = np.take_along_axis(values, upper_index[..., None], axis=-1)[..., 0]
    out = lower + frac * (upper - lower)
    out[n == 0] = np.nan
    return out


def percentile_interval(replicates: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The (1 − level)/2 and (1 + level)/2 percentiles of each row of ``replicates`` (NaN: left out)."""
    return percentiles(replicates, 0.5 * (1.0 - level)), percentiles(replicates, 0.5 * (1.0 + level))
