"""Poisson-bootstrap replicates (README, Confidence bands): the id hash and the weights against a
plain-Python reference, replicate means against weighted numpy means, exact sums whatever the
batching, and the statistics: coverage of nominal 95 % intervals and agreement with the t interval."""

import math

import numba
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference as ref
from tf2eng.engine.errors import InputError
from tf2eng.engine.intervals import normal_interval, percentile_interval
from tf2eng.engine.replicates import ReplicateSums, check_budget, id_hashes, track_keys
from tf2eng.kernels import bootstrap as kb
from tf2eng.kernels.grid import grid_size


def test_id_hash_is_canonical():
    """A value hashes the same whatever its Arrow type; the hash is FNV-1a 64 over the canonical bytes."""
    ints = [0, 5, -3, 127]
    strings = ["a", "", "vidéo", "a"]
    expected = [ref.fnv1a64(ref.id_bytes([i, s])) for i, s in zip(ints, strings)]
    for int_type in (pa.int8(), pa.int16(), pa.int32(), pa.int64()):
        for string_type in (pa.string(), pa.large_string(), pa.string_view()):
            table = pa.table({"v": pa.array(ints, int_type), "e": pa.array(strings, string_type)})
            assert id_hashes(table, ("v", "e")).tolist() == expected
    table = pa.table({"v": pa.array(ints).dictionary_encode(), "e": pa.array(strings).dictionary_encode()})
    assert id_hashes(table, ("v", "e")).tolist() == expected
    sliced = pa.table({"v": pa.array([9] + ints), "e": pa.array(["x"] + strings)}).slice(1)
    assert id_hashes(sliced, ("v", "e")).tolist() == expected
    unsigned = pa.table({"v": pa.array([5, 2**64 - 3], pa.uint64())})
    assert id_hashes(unsigned, ("v",)).tolist() == [ref.fnv1a64(ref.id_bytes([v])) for v in (5, 2**64 - 3)]
    # -3 and 2**64 - 3 have the same 8 bytes but not the same sign tag; column order matters.
    assert id_hashes(pa.table({"v": pa.array([-3])}), ("v",))[0] != id_hashes(unsigned, ("v",))[1]
    swapped = pa.table({"e": pa.array(strings), "v": pa.array(ints)})
    assert id_hashes(swapped, ("e", "v")).tolist() != expected


def test_weights_match_reference_and_poisson():
    keys = [0, 1, 2**63 + 12345, 0xDEADBEEF]
    w = np.empty(50)
    for key in keys:
        kb.weights(np.uint64(key), 0, w)
        assert w.tolist() == ref.poisson_weights(key, 50)
    table = pa.table({"video_id": pa.array(np.arange(4000))})
    rows = np.empty((4000, 100))
    for i, key in enumerate(track_keys(table, ("video_id",), 11)):
        kb.weights(key, 0, rows[i])
    assert rows.mean() == pytest.approx(1.0, abs=0.01)
    assert rows.var() == pytest.approx(1.0, abs=0.02)
    assert (rows == 0).mean() == pytest.approx(math.exp(-1), abs=0.005)
    assert (rows == 3).mean() == pytest.approx(math.exp(-1) / 6, abs=0.002)
    # Replicates and tracks are uncorrelated.
    assert abs(np.corrcoef(rows[:, 0], rows[:, 1])[0, 1]) < 0.05
    assert abs(np.corrcoef(rows[0::2].ravel(), rows[1::2].ravel())[0, 1]) < 0.02


def _stages_table(Y: np.ndarray, pos_key: np.ndarray, ids=None) -> pa.Table:
    n = Y.shape[0]
    values = pa.array(Y.ravel(), mask=np.isnan(Y.ravel()))
    return pa.table({
        "video_id": pa.array(ids if ids is not None else [f"v{i}" for i in range(n)]),
        "stage_scores": pa.ListArray.from_arrays(pa.array(np.arange(0, n * Y.shape[1] + 1, Y.shape[1], dtype=np.int32)),
                                                 values),
        "pos_key": pa.array(pos_key),
    })


def _tracks(draw_scores, K, reduce, h):
    results = [ref.track(s, None, K=K, h=h, reduce=reduce) for s in draw_scores]
    Y = np.array([r["Y"] for r in results]).reshape(len(results), K)
    curves = np.array([r["curve"] for r in results])
    pos_key = np.array([r["pos_key"] for r in results])
    return Y, curves, pos_key


@settings(max_examples=25)
@given(
    scores=st.lists(st.lists(st.floats(0, 1), min_size=1, max_size=40), min_size=1, max_size=25),
    K=st.integers(1, 12),
    reduce=st.sampled_from(["sum", "mean"]),
    h=st.sampled_from([0.01, 0.05, 0.003]),
    B=st.integers(1, 9),
    seed=st.integers(0, 2**64 - 1),
)
def test_replicate_means_match_reference(scores, K, reduce, h, B, seed):
    """Replicate means equal the weighted means of the reference's stage scores and curves, to the
    fixed-point resolution; NaN where a replicate gives no weight to a point."""
    Y, curves, pos_key = _tracks(scores, K, reduce, h)
    table = _stages_table(Y, pos_key)
    sums = ReplicateSums(B, seed, K, curves.shape[1])
    sums.add_tracks(table, np.zeros(len(scores), np.int32), 1, ("video_id",), h)
    stage, curve, stage_n, curve_n = sums.means(np.array([0]))
    W = np.array([ref.poisson_weights(ref.track_key([f"v{i}"], seed), B) for i in range(len(scores))], float)
    scale = max(1.0, np.nanmax(np.abs(Y), initial=0.0))
    np.testing.assert_allclose(stage[0], ref.replicate_means(Y, W), rtol=0, atol=1e-9 * scale, equal_nan=True)
    np.testing.assert_allclose(curve[0], ref.replicate_means(curves, W), rtol=0, atol=5e-8 * scale, equal_nan=True)
    np.testing.assert_array_equal(curve_n[0], (~np.isnan(curves)).T.astype(np.int64) @ W.astype(np.int64))
    np.testing.assert_array_equal(stage_n[0], (~np.isnan(Y)).T.astype(np.int64) @ W.astype(np.int64))


@settings(max_examples=15)
@given(
    n=st.integers(1, 80),
    cuts=st.lists(st.integers(0, 80), max_size=4),
    order_seed=st.integers(0, 1000),
    threads=st.integers(1, 2),
    big=st.booleans(),
)
def test_sums_are_exact_whatever_the_batching(n, cuts, order_seed, threads, big):
    """The same tracks in any batches, order, groups' local codes or thread count: the same integers.
    ``big`` makes tracks too large for the float accumulators (the exact path)."""
    rng = np.random.default_rng(order_seed)
    K, h, B = 10, 0.01, 7
    Y = rng.uniform(0, 2.5e5 if big else 3.0, (n, K))
    Y[rng.uniform(size=(n, K)) < (0.1 if order_seed % 3 else 0.0)] = np.nan
    # Few distinct positions: many tracks add to the same rows and go four at a time.
    pos_key = rng.choice([0.25, 0.5, 0.731, 1.0], n) if order_seed % 2 else rng.uniform(0.01, 1.0, n)
    group = rng.integers(0, 3, n).astype(np.int32)
    M = grid_size(K, h)

    def run(order, bounds, nthreads):
        sums = ReplicateSums(B, 5, K, M)
        previous = numba.get_num_threads()
        numba.set_num_threads(min(nthreads, numba.config.NUMBA_NUM_THREADS))
        try:
            for a, b in zip(bounds[:-1], bounds[1:]):
                part = order[a:b]
                sums.add_tracks(_stages_table(Y[part], pos_key[part], [f"v{i}" for i in part]), group[part], 3,
                                ("video_id",), h)
        finally:
            numba.set_num_threads(previous)
        return sums

    one = run(np.arange(n), [0, n], 1)
    other = run(rng.permutation(n), sorted({0, n, *[min(c, n) for c in cuts]}), threads)
    np.testing.assert_array_equal(one.hi, other.hi)
    np.testing.assert_array_equal(one.lo, other.lo)
    assert ((one.lo >= 0) & (one.lo < 2**32)).all()


def test_large_values_take_the_exact_path():
    """Stage scores near the fixed-point limit still give the weighted means (tracks alone and four
    at a time)."""
    K, h, B = 3, 0.1, 5
    Y = np.array([[2.0e5, 1.0e5, 2.5e5], [1.0, 2.0, 3.0], [2.6e5, 0.0, 7.0]] + [[2.0e5, 3.0, 1.0e5]] * 4)
    Y += np.arange(Y.size).reshape(Y.shape) * 0.0123456789  # values with all their bits
    # Many more: the sums pass 2**53 (float partials must be flushed into the limbs in time).
    Y = np.vstack([Y, np.random.default_rng(1).uniform(1e5, 2.6e5, (40, K))])
    pos_key = np.array([0.5, 0.25, 1.0] + [0.5] * 4 + [0.5, 1.0] * 20)
    n = Y.shape[0]
    M = grid_size(K, h)
    sums = ReplicateSums(B, 0, K, M)
    sums.add_tracks(_stages_table(Y, pos_key), np.zeros(n, np.int32), 1, ("video_id",), h)
    stage, _, _, _ = sums.means(np.array([0]))
    W = np.array([ref.poisson_weights(ref.track_key([f"v{i}"], 0), B) for i in range(n)], float)
    np.testing.assert_allclose(stage[0], ref.replicate_means(Y, W), rtol=1e-13, atol=2**-32, equal_nan=True)
    # The stage sums are exactly sum_t w_tb * round(y_t * 2**32), as Python integers.
    exact = [[sum(int(W[t, b]) * math.floor(Y[t, k] * 2**32 + 0.5) for t in range(n)) for b in range(B)]
             for k in range(K)]
    got = sums.hi[0, :K].astype(object) * 2**32 + sums.lo[0, :K].astype(object)
    assert got.tolist() == exact
    beyond = ReplicateSums(B, 0, K, M)
    with pytest.raises(InputError, match="fixed-point range"):
        beyond.add_tracks(_stages_table(Y * 2, pos_key), np.zeros(n, np.int32), 1, ("video_id",), h)


def test_memory_budget():
    check_budget(3, 200, 10, 191, ("category",))
    with pytest.raises(InputError, match="--bootstrap 10000: 30 groups of --by category need"):
        check_budget(30, 10_000, 10, 191, ("category",))


# --- statistics ---------------------------------------------------------------------------------

K_STAT, H_STAT = 10, 0.05


def _synthetic(rng, n):
    """n tracks with stage scores mu_k + N(0, 0.3^2) (independent across stages), all at pos_key 0.5:
    stage k sits at grid point 10 + 2k, and the grid points between two stages are their midpoints."""
    mu = np.linspace(0.2, 2.0, K_STAT)
    Y = mu + rng.normal(0.0, 0.3, (n, K_STAT))
    true_curve = np.full(grid_size(K_STAT, H_STAT), np.nan)
    true_curve[10:29:2] = mu
    true_curve[11:28:2] = 0.5 * (mu[:-1] + mu[1:])
    return Y, np.full(n, 0.5), mu, true_curve


def _covered(low, high, truth):
    keep = ~np.isnan(truth)
    return (low[keep] <= truth[keep]) & (truth[keep] <= high[keep])


def test_coverage_of_nominal_95_percent_intervals():
    """400 repetitions of 50 tracks: the t interval and the bootstrap interval (B = 200) each cover the
    true stage means and curve in 93-97 % of cases."""
    rng = np.random.default_rng(2024)
    M = grid_size(K_STAT, H_STAT)
    hits = {"normal stage": [], "normal curve": [], "bootstrap stage": [], "bootstrap curve": []}
    for rep in range(400):
        Y, pos_key, mu, true_curve = _synthetic(rng, 50)
        curve = np.array([ref.track_curve_from_stages(y, p, K_STAT, H_STAT) for y, p in zip(Y, pos_key)])
        for name, values, truth in (("stage", Y, mu), ("curve", curve[:, ~np.isnan(true_curve)],
                                                        true_curve[~np.isnan(true_curve)])):
            low, high = normal_interval(values.mean(0), values.std(0, ddof=1), np.full(truth.size, 50), 0.95)
            hits["normal " + name].append(_covered(low, high, truth))
        sums = ReplicateSums(200, rep, K_STAT, M)
        sums.add_tracks(_stages_table(Y, pos_key), np.zeros(50, np.int32), 1, ("video_id",), H_STAT)
        stage, curve_reps, _, _ = sums.means(np.array([0]))
        for name, reps, truth in (("stage", stage[0], mu), ("curve", curve_reps[0], true_curve)):
            low, high = percentile_interval(reps, 0.95)
            hits["bootstrap " + name].append(_covered(low, high, truth))
    rates = {name: np.concatenate(rows).mean() for name, rows in hits.items()}
    print(rates)
    assert all(0.93 <= rate <= 0.97 for rate in rates.values()), rates


def test_bootstrap_agrees_with_the_t_interval():
    """With many tracks the percentile interval and the t interval differ by a few percent."""
    rng = np.random.default_rng(7)
    Y, pos_key, _, _ = _synthetic(rng, 5000)
    M = grid_size(K_STAT, H_STAT)
    sums = ReplicateSums(1000, 3, K_STAT, M)
    sums.add_tracks(_stages_table(Y, pos_key), np.zeros(5000, np.int32), 1, ("video_id",), H_STAT)
    stage, _, _, _ = sums.means(np.array([0]))
    low, high = percentile_interval(stage[0], 0.95)
    n_low, n_high = normal_interval(Y.mean(0), Y.std(0, ddof=1), np.full(K_STAT, 5000), 0.95)
    ratio = (high - low) / (n_high - n_low)
    assert abs(ratio.mean() - 1.0) < 0.03 and np.abs(ratio - 1.0).max() < 0.1
    centre = 0.5 * (low + high) - 0.5 * (n_low + n_high)
    assert np.abs(centre).max() < 0.1 * (n_high - n_low).min()


def test_tracks_four_at_a_time_match_reference():
    """Tracks that share their rows (the same positions) are added four at a time: the same means."""
    rng = np.random.default_rng(4)
    K, h, B = 10, 0.01, 33
    n = 50
    Y = rng.uniform(0, 20, (n, K))
    Y[:, 9] = np.where(rng.uniform(size=n) < 0.3, np.nan, Y[:, 9])
    pos_key = rng.choice([0.3, 0.55], n)
    curves = np.array([ref.track_curve_from_stages(y, p, K, h) for y, p in zip(Y, pos_key)])
    sums = ReplicateSums(B, 8, K, curves.shape[1])
    sums.add_tracks(_stages_table(Y, pos_key), np.zeros(n, np.int32), 1, ("video_id",), h)
    stage, curve, _, _ = sums.means(np.array([0]))
    W = np.array([ref.poisson_weights(ref.track_key([f"v{i}"], 8), B) for i in range(n)], float)
    np.testing.assert_allclose(stage[0], ref.replicate_means(Y, W), rtol=0, atol=1e-9 * 20, equal_nan=True)
    np.testing.assert_allclose(curve[0], ref.replicate_means(curves, W), rtol=0, atol=5e-8 * 20, equal_nan=True)


def test_weight_table_rows_are_the_tracks_weights():
    """A sweep draws each track's weights once (kernels/bootstrap.py weight_rows, a run of tracks per
    call): row t is what kb.weights gives for key t, up to the even width, as uint8, and tops[t] its
    largest."""
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 2**63, 37, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    table = np.zeros((keys.size, 26), np.uint8)
    tops = np.zeros(keys.size)
    for first, stop in ((0, 10), (10, 11), (11, 37)):
        kb.weight_rows(keys, first, stop, table, tops)
    for t, key in enumerate(keys):
        assert table[t].tolist() == ref.poisson_weights(int(key), 26)
        assert tops[t] == max(ref.poisson_weights(int(key), 26))
