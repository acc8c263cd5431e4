"""Stage sums eight lanes at a time: masked, position-independent, and the sum they claim."""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tf2eng.kernels.lanes import LANES
from tf2eng.kernels.track import stage_scores, stage_sum


@given(values=st.lists(st.floats(0.0, 1e6), max_size=100), pad=st.integers(0, 9))
def test_stage_sum_masks_what_follows(values, pad):
    # Entries past the end are read but masked: NaN there must not leak in.
    buffer = np.full(pad + len(values) + LANES, np.nan)
    buffer[pad : pad + len(values)] = values
    total = stage_sum(buffer[pad:], len(values))
    assert math.isfinite(total)
    assert math.isclose(total, math.fsum(values), rel_tol=len(values) * 2.3e-16, abs_tol=1e-300)


@given(values=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=300), shift=st.integers(1, 15),
       stages=st.integers(1, 12))
def test_stage_scores_do_not_depend_on_position(values, shift, stages):
    # The same track at another offset of the block buffer gives the same bits.
    T = len(values)
    here = np.zeros(T + LANES)
    there = np.full(shift + T + LANES, 0.5)
    here[:T] = values
    there[shift : shift + T] = values
    Y1, Y2 = np.zeros(stages), np.zeros(stages)
    n1, n2 = np.zeros(stages, np.int32), np.zeros(stages, np.int32)
    stage_scores(here, T, False, Y1, n1)
    stage_scores(there[shift:], T, False, Y2, n2)
    assert np.array_equal(Y1, Y2) and np.array_equal(n1, n2)
    # Stage k holds frames i (1-based) with ceil(K*i/T) - 1 == k (README, The method: conventions).
    k = (stages * np.arange(1, T + 1) + T - 1) // T - 1
    assert np.array_equal(n1, np.bincount(k, minlength=stages))
    for s in range(stages):
        assert math.isclose(Y1[s], math.fsum(np.asarray(values)[k == s]), rel_tol=1e-13, abs_tol=1e-300)
