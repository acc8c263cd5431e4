"""The vectorized power transform against math.pow: the error bound kernels/power.py states."""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from numba import njit

from tf2eng.kernels.lanes import LANES
from tf2eng.kernels.power import power
from tf2eng.kernels.track import log_frames, power_frames, powers_of_logs

BOUND = 2e-13  # relative, where s ** lam >= 1e-300


@njit(cache=True)
def _powers(s, lam, out):
    for i in range(s.size):
        out[i] = power(s[i], lam)


def _check(s, lam):
    s = np.asarray(s, dtype=np.float64)
    got = np.empty_like(s)
    _powers(s, lam, got)
    want = np.array([math.pow(v, lam) for v in s])
    normal = want >= 1e-300
    rel = np.abs(got[normal] - want[normal]) / want[normal]
    assert rel.size == 0 or rel.max() <= BOUND, (lam, s[normal][np.argmax(rel)], rel.max())
    assert np.all(np.abs(got[~normal] - want[~normal]) <= 2.3e-308)


@given(s=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50), lam=st.floats(0.001, 64.0))
def test_power_bound(s, lam):
    _check(s, lam)


@given(lam=st.floats(0.001, 64.0))
def test_power_over_every_binade(lam):
    s = np.concatenate([np.logspace(-323, 0, 3000), np.random.default_rng(0).random(3000)])
    _check(s, lam)


def test_power_exact_points():
    _check([0.0, 1.0, 0.5, 5e-324, np.nextafter(1.0, 0.0)], 0.7)
    out = np.empty(3)
    _powers(np.array([0.0, 1.0, 0.25]), 0.5, out)
    assert out[0] == 0.0 and out[1] == 1.0 and out[2] == 0.5


def test_float32_scores():
    s = np.random.default_rng(1).random(10_000).astype(np.float32).astype(np.float64)
    for lam in (0.3, 0.7, 1.0, 2.5):
        _check(s, lam)


@given(lam=st.floats(0.01, 1.0), seed=st.integers(0, 2**32 - 1))
def test_batch_loop_bound_and_flags(lam, seed):
    # power_frames is the loop the batch kernel runs (vectorized, with its own
    # floating-point flags); README promises 1e-15 for scores >= 0.01, lam <= 1.
    rng = np.random.default_rng(seed)
    s = np.concatenate([rng.uniform(0.01, 1.0, 997), [0.01, 1.0, 0.5]]).astype(np.float32)
    out = np.empty(s.size + LANES)
    bad = power_frames(s, 0, s.size, lam, out)
    want = np.array([math.pow(float(v), lam) for v in s])
    assert bad == 0
    assert np.max(np.abs(out[: s.size] - want) / want) <= 1e-15


def test_batch_loop_counts_bad_scores():
    s = np.array([0.5, np.nan, -0.1, 1.5, np.inf, 0.0, 1.0], np.float64)
    assert power_frames(s, 0, s.size, 0.7, np.empty(s.size)) == 4


@given(seed=st.integers(0, 2**32 - 1), lams=st.lists(st.floats(0.01, 64.0), min_size=1, max_size=4),
       float32=st.booleans())
def test_powers_from_shared_logarithms_have_the_bits_of_the_one_loop(seed, lams, float32):
    # A sweep computes ln S once (log_frames) and S ** lam from it for each lam (powers_of_logs): the
    # same operations as power_frames, so the same bits, on every binade, subnormals, 0 and 1.
    rng = np.random.default_rng(seed)
    s = np.concatenate([rng.random(500), 2.0 ** -rng.uniform(0, 1074, 500), [0.0, 1.0, 5e-324, 2.2250738585072014e-308]])
    s = s.astype(np.float32) if float32 else s
    logs = np.empty(s.size + LANES)
    assert log_frames(s, 0, s.size, logs) == 0
    for lam in lams:
        want, got = np.empty(s.size + LANES), np.empty(s.size + LANES)
        power_frames(s, 0, s.size, lam, want)
        powers_of_logs(logs, s.size, lam, got)
        np.testing.assert_array_equal(got[: s.size].view(np.int64), want[: s.size].view(np.int64))


def test_logarithms_count_bad_scores():
    s = np.array([0.5, np.nan, -0.1, 1.5, np.inf, 0.0, 1.0], np.float64)
    assert log_frames(s, 0, s.size, np.empty(s.size)) == 4
