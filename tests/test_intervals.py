"""The interval math (README, Confidence bands): the Student t quantile against closed forms and an
independent high-precision CDF, percentiles against numpy, the normal-theory interval."""

import math
from decimal import Decimal, getcontext
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tf2eng.engine.intervals import _t_quantile_asymptotic, normal_interval, percentile_interval, percentiles, t_quantile

P = (0.5005, 0.6, 0.75, 0.9, 0.95, 0.975, 0.99, 0.995, 0.9995)


@pytest.mark.parametrize("p", P)
def test_closed_forms(p):
    """df = 1 (Cauchy), 2 and 4 have closed-form quantiles."""
    assert t_quantile(p, 1.0) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-12)
    assert t_quantile(p, 2.0) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-12)
    a = 4 * p * (1 - p)
    q4 = 2 * math.sqrt(math.cos(math.acos(math.sqrt(a)) / 3) / math.sqrt(a) - 1)
    assert t_quantile(p, 4.0) == pytest.approx(q4, rel=1e-12)


def _t_cdf(t: Decimal, df: int) -> Decimal:
    """Student's t CDF in 40-digit decimals from its finite series (A&S 26.7.3 and 26.7.4)."""
    c2 = Decimal(df) / (df + t * t)  # cos^2 theta
    s = t / (df + t * t).sqrt()  # sin theta
    if df % 2 == 0:
        term, total = Decimal(1), Decimal(0)
        for j in range(df // 2):
            if j:
                term = term * (2 * j - 1) / (2 * j) * c2
            total += term
        return Decimal(1) / 2 + s * total / 2
    theta = Decimal(math.atan(float(t) / math.sqrt(df)))
    for _ in range(3):  # Newton on tan(theta) = t / sqrt(df), in decimals
        sin, cos = _sin_cos(theta)
        theta -= (sin / cos - t / Decimal(df).sqrt()) * cos * cos
    sin, cos = _sin_cos(theta)
    term, total = cos, Decimal(0)
    for j in range((df - 1) // 2):
        if j:
            term = term * (2 * j) / (2 * j + 1) * c2
        total += term
    pi = Decimal("3.141592653589793238462643383279502884197")
    return Decimal(1) / 2 + (theta + sin * total * (1 if df > 1 else 0)) / pi


def _sin_cos(x: Decimal) -> tuple[Decimal, Decimal]:
    sin, cos, term, k = Decimal(0), Decimal(0), Decimal(1), 0
    while True:  # Taylor series of e^(ix), split
        if k % 4 == 0:
            cos += term
        elif k % 4 == 1:
            sin += term
        elif k % 4 == 2:
            cos -= term
        else:
            sin -= term
        k += 1
        term = term * x / k
        if abs(term) < Decimal(10) ** -45:
            return sin, cos


@pytest.mark.parametrize("df", [1, 3, 5, 10, 29, 30, 101, 1000])
@pytest.mark.parametrize("p", [0.9, 0.975, 0.995])
def test_against_high_precision_cdf(df, p):
    """The quantile puts the CDF, evaluated independently to 40 digits, at p within 1e-10 of t."""
    getcontext().prec = 40
    t = t_quantile(p, float(df))
    density = 1.0 / (math.sqrt(df) * math.exp(math.lgamma(df / 2) + math.lgamma(0.5) - math.lgamma((df + 1) / 2))) \
        * (1 + t * t / df) ** (-(df + 1) / 2)
    error_in_t = abs(float(_t_cdf(Decimal(t), df) - Decimal(p))) / density
    assert error_in_t <= 1e-10 * t


def test_table_values():
    """As printed in every table (three decimals), and the tenth digit checked above."""
    for df, q in ((1, 12.706), (2, 4.303), (5, 2.571), (10, 2.228), (30, 2.042), (120, 1.980)):
        assert round(t_quantile(0.975, float(df)), 3) == q
    assert t_quantile(0.975, 10.0) == pytest.approx(2.228138851986274, abs=1e-10)
    assert t_quantile(0.995, 5.0) == pytest.approx(4.032142983557536, abs=1e-10)


def test_large_df_and_symmetry():
    z = NormalDist().inv_cdf(0.975)
    for df in (1e6, 1e8):  # two terms of the expansion in 1/df: the rest is below 1e-17 here
        assert t_quantile(0.975, df) == pytest.approx(
            z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2), rel=1e-14)
    for p in (0.6, 0.975, 0.9995):  # the continued fraction below 10**4 meets the expansion above
        assert t_quantile(p, 9999.0) == pytest.approx(_t_quantile_asymptotic(p, 9999.0), rel=1e-13)
    assert t_quantile(0.5, 7.0) == 0.0
    assert t_quantile(0.025, 7.0) == -t_quantile(0.975, 7.0)
    with pytest.raises(ValueError):
        t_quantile(1.0, 3.0)


@given(st.lists(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(math.nan)), min_size=1, max_size=30),
                min_size=1, max_size=5, ), st.floats(0.0, 1.0))
def test_percentiles_match_numpy(rows, p):
    width = max(len(r) for r in rows)
    values = np.array([r + [math.nan] * (width - len(r)) for r in rows])
    got = percentiles(values, p)
    for row, value in zip(values, got):
        kept = row[~np.isnan(row)]
        if kept.size == 0:
            assert math.isnan(value)
        else:
            assert value == pytest.approx(np.percentile(kept, 100 * p, method="linear"), rel=1e-12, abs=1e-9)


def test_percentile_interval_levels():
    values = np.arange(101, dtype=np.float64)[None, :]
    low, high = percentile_interval(values, 0.9)
    assert (low[0], high[0]) == pytest.approx((5.0, 95.0), rel=1e-12)


def test_normal_interval():
    mean = np.array([1.0, 2.0, 3.0, np.nan])
    std = np.array([0.5, np.nan, 2.0, np.nan])
    count = np.array([10, 1, 4, 0])
    low, high = normal_interval(mean, std, count, 0.95)
    half = t_quantile(0.975, 9.0) * 0.5 / math.sqrt(10)
    assert (low[0], high[0]) == (1.0 - half, 1.0 + half)
    assert np.isnan(low[1:2]).all() and np.isnan(low[3])
    assert high[2] == 3.0 + t_quantile(0.975, 3.0) * 2.0 / 2.0
