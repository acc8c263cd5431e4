"""kernels/sweep.py (README, Parameter sweeps): several configurations (λ, K) in one pass, ln S computed once
and the powers once per λ, give each configuration exactly what the one-K kernel gives, on its fast path
(clean blocks) and its per-track path (bad or null scores, min-max scaling, float32)."""

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import wide_table
from tf2eng.engine.ragged import key_frames_of, scores_of
from tf2eng.kernels.cpu import align_tracks
from tf2eng.kernels.grid import grid_size
from tf2eng.kernels.layout import Params
from tf2eng.kernels.sweep import align_tracks_sweep

SCORE = st.one_of(st.floats(0, 1), st.sampled_from([None, math.nan, 1.5, 0.0, 1.0]))


def _check(tracks, keys, lam, ks, mean, minmax, float32, step=0.05, n_chunks=4, lams=None):
    """Each configuration of the pass (align_tracks_sweep) against the one-K kernel: several K at
    ``lam``, or with ``lams`` every (λ, K) of the two lists, λ by λ."""
    n = len(tracks)
    table = wide_table(tracks, keys, dtype=pa.float32() if float32 else pa.float64())
    scores = scores_of(table.column("scores").combine_chunks())
    key = key_frames_of(table.column("key_frame").combine_chunks() if keys is not None else None)
    params = Params(lam=lam, reduce_mean=mean, minmax=minmax, step=step)
    group = (np.arange(n) % 2).astype(np.int32)
    sizes = [grid_size(k, step) for k in ks]
    if lams is None:
        configurations = [(lam, k, m) for k, m in zip(ks, sizes)]
        per_k = align_tracks_sweep(scores, key, params, group, 2, [lam] * len(ks), ks, sizes, np.zeros(n, np.uint8),
                                   n_chunks)
    else:
        configurations = [(lam_, k, m) for lam_ in lams for k, m in zip(ks, sizes)]
        per_k = align_tracks_sweep(scores, key, params._replace(lam=math.nan), group, 2,
                                   [c[0] for c in configurations], [c[1] for c in configurations],
                                   [c[2] for c in configurations], np.zeros(n, np.uint8), n_chunks)
    assert len(per_k) == len(configurations)
    for (lam_, k, m), (got, stage, curve) in zip(configurations, per_k):
        one, one_stage, one_curve = align_tracks(scores, key, params._replace(lam=lam_), group, 2, k, m,
                                                 np.zeros(n, np.uint8), n_chunks)
        for name in ("reason", "key_frame", "pos_key"):
            np.testing.assert_array_equal(getattr(got, name), getattr(one, name))
        np.testing.assert_array_equal(got.stage_scores, one.stage_scores)  # NaN where NaN
        np.testing.assert_array_equal(got.stage_counts, one.stage_counts)
        np.testing.assert_array_equal(stage, one_stage)  # the moments, bit for bit
        np.testing.assert_array_equal(curve, one_curve)


@settings(max_examples=40, deadline=None)
@given(
    tracks=st.lists(st.one_of(st.none(), st.lists(SCORE, max_size=30)), min_size=1, max_size=12),
    keys=st.lists(st.one_of(st.none(), st.integers(-1, 30)), min_size=12, max_size=12),
    use_keys=st.booleans(),
    lam=st.floats(0.1, 3.0),
    ks=st.lists(st.integers(1, 12), min_size=1, max_size=4, unique=True),
    mean=st.booleans(),
    minmax=st.booleans(),
    float32=st.booleans(),
)
def test_each_k_equals_the_one_k_kernel(tracks, keys, use_keys, lam, ks, mean, minmax, float32):
    _check(tracks, keys[: len(tracks)] if use_keys else None, lam, ks, mean, minmax, float32)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mean=st.booleans(), bad=st.booleans(), chunks=st.integers(1, 8))
def test_long_clean_blocks_and_a_bad_one(seed, mean, bad, chunks):
    """Hundreds of clean tracks (several blocks of powers, the fast path), one of them bad when ``bad``
    (its block takes the per-track path), and a track longer than a block."""
    rng = np.random.default_rng(seed)
    tracks = [list(rng.random(int(rng.integers(1, 120)))) for _ in range(300)] + [list(rng.random(5000))]
    if bad:
        tracks[int(rng.integers(0, 300))][0] = math.nan
    _check(tracks, None, float(rng.uniform(0.2, 2.0)), [3, 10, 20], mean, False, False, step=0.01,
           n_chunks=chunks)


@settings(max_examples=30, deadline=None)
@given(
    tracks=st.lists(st.one_of(st.none(), st.lists(SCORE, max_size=30)), min_size=1, max_size=12),
    lams=st.lists(st.floats(0.05, 3.0), min_size=1, max_size=3, unique=True),
    ks=st.lists(st.integers(1, 12), min_size=1, max_size=3, unique=True),
    mean=st.booleans(),
    minmax=st.booleans(),
    float32=st.booleans(),
)
def test_each_configuration_of_several_lambda_equals_the_one_k_kernel(tracks, lams, ks, mean, minmax, float32):
    _check(tracks, None, 0.7, ks, mean, minmax, float32, lams=lams)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mean=st.booleans(), bad=st.booleans(), chunks=st.integers(1, 8))
def test_several_lambda_on_long_clean_blocks_and_a_bad_one(seed, mean, bad, chunks):
    """As above with three λ, among them 1 and a large one, and scores down to subnormal values and 0:
    the logarithms computed once give each λ the powers of a run of its own."""
    rng = np.random.default_rng(seed)
    tracks = [list(rng.random(int(rng.integers(1, 120))) ** rng.uniform(1, 200)) for _ in range(300)]
    tracks += [list(rng.random(5000)), [0.0, 5e-324, 1e-310, 1.0, 0.5]]
    if bad:
        tracks[int(rng.integers(0, 300))][0] = math.nan
    _check(tracks, None, 0.7, [3, 10, 20], mean, False, False, step=0.01, n_chunks=chunks,
           lams=[float(rng.uniform(0.05, 0.9)), 1.0, float(rng.uniform(1.0, 40.0))])


def test_configurations_of_one_lambda_must_be_together():
    scores = scores_of(pa.array([[0.5, 0.25]], pa.large_list(pa.float64())))
    with pytest.raises(ValueError, match="next to each other"):
        align_tracks_sweep(scores, key_frames_of(None), Params(0.7, False, False, 0.05), np.zeros(1, np.int32), 1,
                           [0.5, 0.7, 0.5], [2, 2, 3], [grid_size(k, 0.05) for k in (2, 2, 3)],
                           np.zeros(1, np.uint8), 1)
