"""The vectorized power transform against math.pow: the error bound kernels/power.py states."""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from numba import njit

from tf2eng.kernels.power import power

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
