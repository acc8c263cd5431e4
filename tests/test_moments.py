"""The mergeable moment accumulators: exact enough that grouping does not show."""

import math
import statistics
from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tf2eng.kernels.moments import CELL, add_moment, add_run, finalize, merge_into


def _accumulate(values):
    """All values into one cell, one at a time."""
    acc = np.zeros((1, CELL, 1))
    for v in values:
        add_moment(acc[0], 0, v)
    return acc


def _stats(acc):
    count, mean, std = np.zeros(1, np.int64), np.zeros(1), np.zeros(1)
    finalize(acc, count, mean, std)
    return count[0], mean[0], std[0]


def _grouped(values, cuts, seed):
    """The values shuffled, cut into parts, each part accumulated alone, the parts merged."""
    shuffled = list(np.random.default_rng(seed).permutation(values))
    bounds = sorted({0, len(values), *[c % (len(values) + 1) for c in cuts]})
    merged = np.zeros((1, CELL, 1))
    for a, b in zip(bounds[:-1], bounds[1:]):
        merge_into(merged, _accumulate(shuffled[a:b]))
    return merged


def _bits(x: float) -> int:
    return int(np.float64(x).view(np.int64))


def _near_rounding_boundary(exact: Fraction, tolerance: Fraction) -> bool:
    """Whether a float64 rounding boundary (the midpoint of two neighbours) lies within tolerance of exact."""
    nearest = float(exact)  # correctly rounded
    for neighbour in (math.nextafter(nearest, -math.inf), math.nextafter(nearest, math.inf)):
        if abs((Fraction(nearest) + Fraction(neighbour)) / 2 - exact) <= tolerance:
            return True
    return False


# Sums and sums of squares in double-double are exact on this grid (2**-20 steps below 64, so
# about 80 bits are enough): the grouping cannot show at all, not even in a zero or tiny spread.
DYADIC = st.integers(0, 64 * 2**20).map(lambda i: i / 2**20)
NEAR_EQUAL = st.tuples(st.integers(1, 50 * 2**10), st.lists(st.integers(-3, 3), min_size=2, max_size=200)).map(
    lambda t: [t[0] / 2**10 + d / 2**40 for d in t[1]])


@given(
    values=st.one_of(st.lists(DYADIC, min_size=1, max_size=200), NEAR_EQUAL),
    cuts=st.lists(st.integers(0, 200), max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_exact_sums_give_the_same_bits_in_any_grouping_and_order(values, cuts, seed):
    whole = _stats(_accumulate(values))
    parts = _stats(_grouped(values, cuts, seed))
    assert np.array_equal(np.array(whole[1:]).view(np.int64), np.array(parts[1:]).view(np.int64)), (whole, parts)
    assert whole[0] == parts[0] == len(values)


# Values close together, their spread from 1e-13 to 1e-1 of their size: where a std's last bits
# can depend on the grouping.
CLOSE = st.tuples(st.integers(0, 2**32 - 1), st.integers(2, 200), st.floats(0.01, 50.0), st.integers(-13, -1)).map(
    lambda t: (t[2] * (1 + 10.0 ** t[3] * np.random.default_rng(t[0]).standard_normal(t[1]))).tolist())


@given(
    values=st.one_of(st.lists(st.floats(0.0, 50.0), min_size=1, max_size=200), CLOSE),
    cuts=st.lists(st.integers(0, 200), max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_grouping_and_order_gives_the_same_bits(values, cuts, seed):
    """README "Accuracy": the same float64 results in any grouping, with two exceptions."""
    n = len(values)
    whole = _stats(_accumulate(values))
    parts = _stats(_grouped(values, cuts, seed))
    assert whole[0] == parts[0] == n
    # The mean: the same bits, unless the exact sum lies within the double-double's error
    # (about 1e-30 relative) of a rounding boundary.
    exact_sum = sum(Fraction(v) for v in values)
    if _bits(whole[1]) != _bits(parts[1]):
        assert _near_rounding_boundary(exact_sum, exact_sum * n * Fraction(2) ** -100), (whole, parts)
    if n < 2:
        assert math.isnan(whole[2]) and math.isnan(parts[2])
        return
    exact_var = (n * sum(Fraction(v) ** 2 for v in values) - exact_sum**2) / (n * (n - 1))
    if exact_var == 0:  # every value equal: 0, or a few 1e-15 of the mean
        assert whole[2] <= 1e-13 * whole[1] and parts[2] <= 1e-13 * whole[1], (whole, parts)
    elif _bits(whole[2]) != _bits(parts[2]):
        # A std small against the values (their root mean square): the sum of squares' rounding
        # at 2**-104 of it, divided by the spread, reaches the std's last bits.
        mean_square = float(sum(Fraction(v) ** 2 for v in values) / n)
        std = math.sqrt(float(exact_var))
        allowed = n * 2.0**-100 * mean_square / std
        assert abs(whole[2] - parts[2]) <= 2 * allowed + 2 * math.ulp(std), (whole, parts, allowed)
        assert std < 1e-4 * math.sqrt(mean_square), ("a std this large keeps its bits", whole, parts)


# Squares of values below ~1e-154 underflow in float64; scores never come near.
VALUES = st.one_of(st.just(0.0), st.floats(1e-100, 50.0))


@given(values=st.lists(VALUES, min_size=2, max_size=300))
def test_within_tolerance_of_exact_statistics(values):
    # statistics.fmean / stdev compute with exact fractions: a sharper yardstick than numpy's.
    count, mean, std = _stats(_accumulate(values))
    assert count == len(values)
    np.testing.assert_allclose(mean, statistics.fmean(values), rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(std, statistics.stdev(values), rtol=1e-9, atol=1e-13 * mean)


def test_identical_values_have_no_spread_within_tolerance():
    # Zero up to double-double accuracy: below 1e-13 of the mean, where
    # single-pass float64 sums of squares would give ~1e-8 of it.
    for value in (0.1, 0.7, 1.0 / 3.0, 12345.678):
        count, mean, std = _stats(_accumulate([value] * 1000))
        assert count == 1000 and mean == value and std <= 1e-13 * value


def test_small_spread_on_large_mean_within_tolerance():
    v = 1000.0 + np.array([1e-7, -1e-7, 2e-7, 0.0] * 25)
    _, _, std = _stats(_accumulate(v))
    np.testing.assert_allclose(std, v.std(ddof=1), rtol=1e-6)


def test_undefined_cells():
    count, mean, std = _stats(np.zeros((1, CELL, 1)))
    assert count == 0 and np.isnan(mean) and np.isnan(std)
    count, mean, std = _stats(_accumulate([0.25]))
    assert count == 1 and mean == 0.25 and np.isnan(std)


@given(
    runs=st.lists(st.tuples(st.integers(0, 40), st.lists(st.floats(0.0, 50.0), max_size=30)), max_size=20),
)
def test_add_run_is_add_moment_cell_by_cell(runs):
    # The vectorized run over contiguous cells gives the same bits as one cell at a time.
    W = 80
    by_run, by_cell = np.zeros((CELL, W)), np.zeros((CELL, W))
    for first, values in runs:
        values = np.array(values[: W - first], np.float64)
        add_run(by_run, first, values)
        for i, v in enumerate(values):
            add_moment(by_cell, first + i, v)
    assert np.array_equal(by_run, by_cell)
