"""The mergeable moment accumulators: exact enough that grouping does not show."""

import statistics

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


@given(
    values=st.lists(st.floats(0.0, 50.0), min_size=1, max_size=200),
    cuts=st.lists(st.integers(0, 200), max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_grouping_and_order_gives_the_same_bits(values, cuts, seed):
    whole = _stats(_accumulate(values))
    shuffled = list(np.random.default_rng(seed).permutation(values))
    bounds = sorted({0, len(values), *[c % (len(values) + 1) for c in cuts]})
    merged = np.zeros((1, CELL, 1))
    for a, b in zip(bounds[:-1], bounds[1:]):
        merge_into(merged, _accumulate(shuffled[a:b]))
    parts = _stats(merged)
    assert whole[0] == parts[0]
    assert whole[1] == parts[1] or abs(whole[1] - parts[1]) <= 1e-15 * abs(whole[1])
    np.testing.assert_allclose(parts[2], whole[2], rtol=1e-13, atol=1e-13 * whole[1])


# Squares of values below ~1e-154 underflow in float64; scores never come near.
VALUES = st.one_of(st.just(0.0), st.floats(1e-100, 50.0))


@given(values=st.lists(VALUES, min_size=2, max_size=300))
def test_against_exact_statistics(values):
    # statistics.fmean / stdev compute with exact fractions: a sharper yardstick than numpy's.
    count, mean, std = _stats(_accumulate(values))
    assert count == len(values)
    np.testing.assert_allclose(mean, statistics.fmean(values), rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(std, statistics.stdev(values), rtol=1e-9, atol=1e-13 * mean)


def test_identical_values_have_no_spread():
    # Zero up to double-double accuracy: below 1e-13 of the mean, where
    # single-pass float64 sums of squares would give ~1e-8 of it.
    for value in (0.1, 0.7, 1.0 / 3.0, 12345.678):
        count, mean, std = _stats(_accumulate([value] * 1000))
        assert count == 1000 and mean == value and std <= 1e-13 * value


def test_small_spread_on_large_mean():
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
