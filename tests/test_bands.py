"""Confidence bands through the engine (README, Confidence bands): ci_low and ci_high against an
independent computation, byte-identical across threads, file splits, layouts and the CUDA simulator,
and unit keys that follow --bootstrap and --seed."""

import json
import math

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference as ref
import tf2eng
from conftest import wide_table
from tf2eng.engine.intervals import t_quantile
from tf2eng.engine.synth import write_synthetic

K, H = 6, 0.05


def _dataset(n=40, seed=0):
    """n tracks (two of them rejected), a --by column with a group of one track."""
    rng = np.random.default_rng(seed)
    tracks = [list(rng.uniform(0, 1, rng.integers(2, 25))) for _ in range(n)]
    tracks[3] = [0.2, 1.5]  # out of range
    tracks[7] = None
    keys = [int(rng.integers(0, len(t))) if t else 0 for t in tracks]
    groups = ["solo"] + ["a" if i % 3 else "b" for i in range(1, n)]
    return tracks, keys, groups


def _write(tmp_path, tracks, keys, groups, name="d.parquet"):
    path = tmp_path / name
    pq.write_table(wide_table(tracks, keys, extra={"grp": groups}), path)
    return path


def _reference_tracks(tracks, keys, groups, reduce):
    out = {}
    for i, (scores, key, g) in enumerate(zip(tracks, keys, groups)):
        if ref.rejection(scores, key, False, True) is None:
            r = ref.track(scores, key, K=K, h=H, reduce=reduce)
            out.setdefault(g, []).append((f"v{i:04d}", r))
    return out


def _rows(table: pl.DataFrame, group: str) -> pl.DataFrame:
    return table.filter(pl.col("grp") == group)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_normal_bands(tmp_path, reduce):
    tracks, keys, groups = _dataset()
    result = tf2eng.run(_write(tmp_path, tracks, keys, groups), tmp_path / "out", stages=K, grid_step=H,
                        reduce=reduce, by="grp", ci=0.9, plot=False)
    for g, members in _reference_tracks(tracks, keys, groups, reduce).items():
        for table, column in ((result.stage_means, "Y"), (result.curve, "curve")):
            values = np.array([r[column] for _, r in members])
            rows = _rows(table, g)
            for j in range(values.shape[1]):
                v = values[:, j][~np.isnan(values[:, j])]
                low, high = rows["ci_low"][j], rows["ci_high"][j]
                if v.size < 2:
                    assert low is None and high is None
                    continue
                half = t_quantile(0.95, v.size - 1.0) * v.std(ddof=1) / math.sqrt(v.size)
                assert low == pytest.approx(v.mean() - half, rel=1e-9, abs=1e-12)
                assert high == pytest.approx(v.mean() + half, rel=1e-9, abs=1e-12)
    assert result.summary["parameters"]["ci"] == 0.9 and result.summary["parameters"]["bootstrap"] is None


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_bootstrap_bands(tmp_path, reduce):
    """Percentiles (linear, numpy's default) of weighted means with the reference's Poisson weights."""
    tracks, keys, groups = _dataset()
    B, seed = 40, 12345
    result = tf2eng.run(_write(tmp_path, tracks, keys, groups), tmp_path / "out", stages=K, grid_step=H,
                        reduce=reduce, by="grp", bootstrap=B, seed=seed, ci=0.8, plot=False)
    for g, members in _reference_tracks(tracks, keys, groups, reduce).items():
        W = np.array([ref.poisson_weights(ref.track_key([vid, 0], seed), B) for vid, _ in members], float)
        for table, column in ((result.stage_means, "Y"), (result.curve, "curve")):
            values = np.array([r[column] for _, r in members])
            means = ref.replicate_means(values, W)
            rows = _rows(table, g)
            for j in range(values.shape[1]):
                low, high = rows["ci_low"][j], rows["ci_high"][j]
                kept = means[j][~np.isnan(means[j])]
                if (~np.isnan(values[:, j])).sum() < 2 or kept.size == 0:
                    assert low is None and high is None
                    continue
                assert low == pytest.approx(np.percentile(kept, 10), abs=1e-7)
                assert high == pytest.approx(np.percentile(kept, 90), abs=1e-7)


def _digests(result):
    return {name: result.summary["digests"][name] for name in ("stage_means.parquet", "curve.parquet")}


@settings(max_examples=6)
@given(cuts=st.lists(st.integers(1, 59), max_size=4, unique=True), threads=st.integers(1, 2),
       unit_rows=st.sampled_from([1, 7, 1000]))
def test_identical_across_threads_and_file_splits(tmp_path_factory, cuts, threads, unit_rows):
    tmp_path = tmp_path_factory.mktemp("split")
    tracks, keys, groups = _dataset(60, seed=3)
    table = wide_table(tracks, keys, extra={"grp": groups})
    one = tf2eng.run(_write(tmp_path, tracks, keys, groups), tmp_path / "one", stages=K, grid_step=H, by="grp",
                     bootstrap=25, seed=4, plot=False, threads=1)
    (tmp_path / "parts").mkdir()
    bounds = [0, *sorted(cuts), 60]
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        pq.write_table(table.slice(a, b - a), tmp_path / "parts" / f"p{i:02d}.parquet")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TF2ENG_UNIT_ROWS", str(unit_rows))
        split = tf2eng.run(tmp_path / "parts", tmp_path / "split", stages=K, grid_step=H, by="grp", bootstrap=25,
                           seed=4, plot=False, threads=threads)
    assert _digests(split) == _digests(one)


def test_ids_of_any_type_and_the_long_layout_give_the_same_bytes(tmp_path):
    """The weights follow the id values, not their Arrow types, nor the layout."""
    tracks, keys, groups = _dataset(30, seed=5)
    tracks = [t if t else [0.5] for t in tracks]
    table = wide_table(tracks, keys, extra={"grp": groups})
    pq.write_table(table, tmp_path / "wide.parquet")
    other = table.set_column(0, "video_id", table.column("video_id").cast(pa.large_string()).dictionary_encode())
    other = other.set_column(1, "exp_id", other.column("exp_id").cast(pa.int8()))
    pq.write_table(other, tmp_path / "typed.parquet")
    rows = [{"video_id": f"v{i:04d}", "exp_id": 0, "frame": f, "score": s, "key_frame": keys[i], "grp": groups[i]}
            for i, t in enumerate(tracks) for f, s in reversed(list(enumerate(t)))]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "long.parquet")
    options = dict(stages=K, grid_step=H, by="grp", bootstrap=30, seed=9, plot=False)
    wide = tf2eng.run(tmp_path / "wide.parquet", tmp_path / "w", **options)
    typed = tf2eng.run(tmp_path / "typed.parquet", tmp_path / "t", **options)
    long = tf2eng.run(tmp_path / "long.parquet", tmp_path / "l", **options)
    assert _digests(typed) == _digests(wide) == _digests(long)


def test_unit_keys_follow_bootstrap_and_seed(tmp_path):
    path = _write(tmp_path, *_dataset(20))
    out = tmp_path / "out"

    def run(**options):
        return tf2eng.run(path, out, stages=K, grid_step=H, plot=False, **options)

    run()
    assert run(ci=0.9).summary["units"]["reused"] == 1  # the level needs no new sums
    first = run(bootstrap=10, seed=1)
    assert first.summary["units"]["processed"] == 1
    assert run(bootstrap=10, seed=1).summary["units"]["reused"] == 1
    other = run(bootstrap=10, seed=2)
    assert other.summary["units"]["processed"] == 1 and _digests(other) != _digests(first)
    assert run(bootstrap=11, seed=2).summary["units"]["processed"] == 1
    assert _digests(run(bootstrap=10, seed=1)) == _digests(first)


def test_resumed_run_gives_the_same_bytes(tmp_path, monkeypatch):
    """A unit committed by an earlier (killed) run is picked up with its replicate sums."""
    write_synthetic(tmp_path / "s.parquet", 300, seed=2)
    table = pq.read_table(tmp_path / "s.parquet")
    (tmp_path / "d").mkdir()
    for i in range(3):
        pq.write_table(table.slice(100 * i, 100), tmp_path / "d" / f"p{i}.parquet")
    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "1")
    options = dict(by="category", bootstrap=15, seed=3, plot=False)
    whole = tf2eng.run(tmp_path / "d", tmp_path / "whole", **options)
    # A first run over two of the files leaves their units in the output; the next reuses them.
    (tmp_path / "d" / "p2.parquet").rename(tmp_path / "p2.parquet")
    tf2eng.run(tmp_path / "d", tmp_path / "again", **options)
    (tmp_path / "p2.parquet").rename(tmp_path / "d" / "p2.parquet")
    again = tf2eng.run(tmp_path / "d", tmp_path / "again", **options)
    assert again.summary["units"]["reused"] == 2 and _digests(again) == _digests(whole)


def test_cuda_simulator_gives_the_same_bands(tmp_path):
    """The replicate sums are taken on the CPU from the per-track results: the bands are the CPU's
    (the means and stds differ in their last bits, README, On a GPU)."""
    from tf2eng.kernels import cuda as cuda_kernels

    if not cuda_kernels.usable():
        pytest.skip("neither a GPU nor the CUDA simulator")
    write_synthetic(tmp_path / "s.parquet", 40, seed=4)
    options = dict(by="category", bootstrap=20, seed=1, plot=False)
    cpu = tf2eng.run(tmp_path / "s.parquet", tmp_path / "cpu", **options)
    gpu = tf2eng.run(tmp_path / "s.parquet", tmp_path / "gpu", device="cuda", **options)
    assert gpu.summary["device"] == "cuda"
    for a, b in ((cpu.stage_means, gpu.stage_means), (cpu.curve, gpu.curve)):
        assert a["ci_low"].null_count() < a.height
        assert a.select("ci_low", "ci_high").equals(b.select("ci_low", "ci_high"))


def test_plot_draws_the_band(tmp_path):
    """The band is in the figure: a filled area per panel with a label giving the level."""
    from tf2eng.engine import plot as plot_module

    drawn = []
    original = plot_module._draw_band

    def spy(ax, plot, code, colour, alpha):
        original(ax, plot, code, colour, alpha)
        drawn.append((code, plot.level, ax.collections[-1].get_label()))

    write_synthetic(tmp_path / "s.parquet", 60, seed=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plot_module, "_draw_band", spy)
        tf2eng.run(tmp_path / "s.parquet", tmp_path / "out", by="category", ci=0.9)
    assert len(drawn) == 4 and all(label == "0.9 confidence band" for _, _, label in drawn)
    assert (tmp_path / "out" / "alignment.png").stat().st_size > 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["parameters"]["ci"] == 0.9
