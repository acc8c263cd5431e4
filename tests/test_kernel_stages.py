"""The one stage loop and its two sources of powers: on the CPU path, powers
already in a buffer added eight lanes at a time (bit for bit); on the direct
path (CUDA), powers computed frame by frame, added in frame order on a GPU
(compiled for the CPU, as under the simulator, LLVM may reorder that sum)."""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tf2eng.kernels.lanes import LANES
from tf2eng.kernels.track import power_frames_scaled, stage_scores, stage_scores_direct

TRACK = dict(values=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=200), stages=st.integers(1, 12),
             mean=st.booleans())


def _bounds(T, K):
    """Stage k holds the frames i (1-based) with ceil(K*i/T) - 1 == k (README, The method)."""
    return [((k * T) // K, ((k + 1) * T) // K) for k in range(K)]


def _lane_sum(v):
    """((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)), missing lanes as 0."""
    v = list(v) + [0.0] * (LANES - len(v))
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]))


def _score(total, count, mean):
    return (total / count if count else np.nan) if mean else total


def _powers(values, lam, shift=0.0, scale=1.0):
    P = np.zeros(len(values) + LANES)
    power_frames_scaled(np.asarray(values, np.float64), 0, len(values), lam, shift, scale, P)
    return P


@given(**TRACK)
def test_the_cpu_sums_eight_lanes_at_a_time(values, stages, mean):
    P = _powers(values, 0.7)
    T = len(values)
    Y, n = np.zeros(stages), np.zeros(stages, np.int32)
    stage_scores(P, T, mean, Y, n)
    want = []
    for first, last in _bounds(T, stages):
        total = 0.0
        for base in range(first, last, LANES):
            total += _lane_sum(P[base : min(base + LANES, last)])
        want.append(_score(total, last - first, mean))
    assert np.array_equal(Y, np.array(want), equal_nan=True)
    assert np.array_equal(n, [last - first for first, last in _bounds(T, stages)])


@given(**TRACK, minmax=st.booleans(), float32=st.booleans())
def test_the_direct_path_computes_the_same_powers_and_stages(values, stages, mean, minmax, float32):
    x = np.asarray(values, np.float32 if float32 else np.float64)
    lo, hi = float(x.min()), float(x.max())
    shift, scale = (lo, 1.0 / (hi - lo)) if minmax and hi > lo else (0.0, 1.0)
    P = _powers(x.astype(np.float64), 0.7, shift, scale)
    T = len(values)
    Y, n = np.zeros(stages), np.zeros(stages, np.int32)
    stage_scores_direct(x, 0, T, 0.7, shift, scale, mean, Y, n)
    bounds = _bounds(T, stages)
    assert np.array_equal(n, [last - first for first, last in bounds])
    want = [_score(math.fsum(P[first:last]), last - first, mean) for first, last in bounds]
    np.testing.assert_allclose(Y, want, rtol=T * 2.3e-16, atol=1e-300)
