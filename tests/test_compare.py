"""README, Comparing two runs: tf2eng compare against plain numpy, its rules, its exit codes."""

import json
import shutil

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import reference
import tf2eng
from tf2eng.cli.app import app
from tf2eng.engine.errors import InputError
from tf2eng.engine.synth import write_synthetic

K, H = 5, 0.05
LEVEL = 0.95
runner = CliRunner()


def _reference_rows(table: dict, lam: float, reduce: str) -> np.ndarray:
    """Each track's stage scores then its curve on the grid, NaN where missing (tests/reference.py)."""
    rows = []
    for scores, key in zip(table["scores"], table["key_frame"]):
        r = reference.track(scores, key, lam=lam, K=K, reduce=reduce, h=H)
        rows.append(np.concatenate([r["Y"], r["curve"]]))
    return np.array(rows)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A (λ 0.7, sum) and B (λ 0.5, mean) of the same tracks; C (λ 0.5) of two thirds of them."""
    root = tmp_path_factory.mktemp("compare")
    data = root / "data.parquet"
    write_synthetic(data, 150, seed=7)
    table = pq.read_table(data)
    subset = table.filter(pa.array(np.arange(table.num_rows) % 3 != 0))
    pq.write_table(subset, root / "subset.parquet")
    common = dict(stages=K, grid_step=H, by=["category"], plot=False)
    tf2eng.run(data, root / "a", lam=0.7, **common)
    tf2eng.run(data, root / "b", lam=0.5, reduce="mean", **common)
    tf2eng.run(root / "subset.parquet", root / "c", lam=0.5, **common)
    full, part = table.to_pydict(), subset.to_pydict()
    return {
        "root": root, "a": root / "a", "b": root / "b", "c": root / "c",
        "rows_a": _reference_rows(full, 0.7, "sum"), "rows_b": _reference_rows(full, 0.5, "mean"),
        "rows_c": _reference_rows(part, 0.5, "sum"),
        "ids_a": list(zip(full["video_id"], full["exp_id"])), "ids_c": list(zip(part["video_id"], part["exp_id"])),
        "cat_a": np.array(full["category"]), "cat_c": np.array(part["category"]),
    }


def _by_group(result):
    """Both tables, per category (sorted), as numpy columns: stage cells first, then grid points."""
    out = {}
    for cat in sorted(set(result.compare["category"].to_list())):
        stage = result.compare_stages.filter(pl.col("category") == cat)
        curve = result.compare.filter(pl.col("category") == cat)
        out[cat] = {c: np.concatenate([stage[c].fill_null(np.nan).to_numpy().astype(float),
                                       curve[c].fill_null(np.nan).to_numpy().astype(float)])
                    for c in ("mean_a", "mean_b", "diff", "ci_low", "ci_high", "n_a", "n_b", "n_pairs")}
    return out


def _close(got, want, rtol=1e-9):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12, equal_nan=True)


def test_paired_t_matches_reference(runs, tmp_path):
    result = tf2eng.compare(runs["a"], runs["b"], tmp_path / "cmp", plot=False)
    assert result.summary["comparison"] == "paired"
    assert result.summary["tracks"] == {"a": 150, "b": 150, "common": 150}
    assert result.summary["differs"] == {"lam": [0.7, 0.5], "reduce": ["sum", "mean"]}
    assert result.compare.columns == ["category", "x", "mean_a", "mean_b", "diff", "ci_low", "ci_high",
                                      "n_a", "n_b", "n_pairs"]
    assert result.compare_stages.columns[:3] == ["category", "stage", "x"]
    groups = _by_group(result)
    assert list(groups) == sorted(set(runs["cat_a"]))
    for cat, got in groups.items():
        member = runs["cat_a"] == cat
        a, b = runs["rows_a"][member], runs["rows_b"][member]
        mean, low, high, count = reference.paired_compare(a, b, LEVEL)
        _close(got["diff"], mean)
        _close(got["ci_low"], low)
        _close(got["ci_high"], high)
        assert got["n_pairs"].tolist() == count.tolist()
        n_a, mean_a, _ = reference.moments(a)
        n_b, mean_b, _ = reference.moments(b)
        _close(got["mean_a"], mean_a)
        _close(got["mean_b"], mean_b)
        assert got["n_a"].tolist() == n_a.tolist() and got["n_b"].tolist() == n_b.tolist()
    saved = json.loads((tmp_path / "cmp" / "summary.json").read_text())
    assert saved["comparison"] == "paired" and saved["inputs"]["b"]["parameters"]["reduce"] == "mean"
    assert sorted(p.name for p in (tmp_path / "cmp").iterdir()) == [
        "compare.parquet", "compare_stages.parquet", "summary.json"]
    assert pl.read_parquet(tmp_path / "cmp" / "compare.parquet").equals(result.compare)


def test_means_are_the_runs_means_bit_for_bit(runs, tmp_path):
    """The curves recomputed from stages/ reproduce curve.parquet and stage_means.parquet exactly."""
    result = tf2eng.compare(runs["a"], runs["b"], tmp_path / "cmp", plot=False)
    for side in ("a", "b"):
        curve = pl.read_parquet(runs[side] / "curve.parquet")
        stages = pl.read_parquet(runs[side] / "stage_means.parquet")
        for table, run_table in ((result.compare, curve), (result.compare_stages, stages)):
            assert table[f"mean_{side}"].to_list() == run_table["mean"].to_list()
            assert table[f"n_{side}"].to_list() == run_table["count"].to_list()


@pytest.mark.parametrize("B, seed", [(60, 11), (7, 2)])  # an odd number of replicates too
def test_paired_bootstrap_matches_reference(runs, tmp_path, B, seed):
    result = tf2eng.compare(runs["a"], runs["b"], tmp_path / "cmp", bootstrap=B, seed=seed, plot=False)
    assert result.summary["comparison"] == "paired" and result.summary["interval"]["bootstrap"] == B
    weights = np.array([reference.poisson_weights(reference.track_key(ids, seed), B) for ids in runs["ids_a"]],
                       dtype=float)
    for cat, got in _by_group(result).items():
        member = runs["cat_a"] == cat
        d = runs["rows_a"][member] - runs["rows_b"][member]
        low, high = reference.percentile_interval(reference.replicate_means(d, weights[member]), LEVEL)
        _close(got["ci_low"], low)
        _close(got["ci_high"], high)
        mean, _, _, _ = reference.paired_compare(runs["rows_a"][member], runs["rows_b"][member], LEVEL)
        _close(got["diff"], mean)


def test_unpaired_welch_matches_reference(runs, tmp_path):
    result = tf2eng.compare(runs["a"], runs["c"], tmp_path / "cmp", plot=False)
    s = result.summary
    assert s["comparison"] == "unpaired"
    assert s["tracks"] == {"a": 150, "b": 100, "common": 100}
    assert "50 only in OUT_A" in s["reason"]
    common = np.isin(np.arange(150) % 3, [1, 2])
    for cat, got in _by_group(result).items():
        a, c = runs["rows_a"][runs["cat_a"] == cat], runs["rows_c"][runs["cat_c"] == cat]
        diff, low, high = reference.welch_compare(a, c, LEVEL)
        _close(got["diff"], diff)
        _close(got["ci_low"], low)
        _close(got["ci_high"], high)
        overlap = ~np.isnan(runs["rows_a"][common & (runs["cat_a"] == cat)] - c)
        assert got["n_pairs"].tolist() == overlap.sum(axis=0).tolist()


def test_unpaired_bootstrap_matches_reference(runs, tmp_path):
    B, seed = 40, 5
    result = tf2eng.compare(runs["a"], runs["c"], tmp_path / "cmp", bootstrap=B, seed=seed, plot=False)
    w_a = np.array([reference.poisson_weights(reference.track_key(i, seed), B) for i in runs["ids_a"]], float)
    w_c = np.array([reference.poisson_weights(reference.track_key(i, seed + 1), B) for i in runs["ids_c"]], float)
    for cat, got in _by_group(result).items():
        ma, mc = runs["cat_a"] == cat, runs["cat_c"] == cat
        rep = reference.replicate_means(runs["rows_a"][ma], w_a[ma]) - \
            reference.replicate_means(runs["rows_c"][mc], w_c[mc])
        low, high = reference.percentile_interval(rep, LEVEL)
        _close(got["ci_low"], low)
        _close(got["ci_high"], high)


def test_forced_pairing_over_the_common_tracks(runs, tmp_path):
    result = tf2eng.compare(runs["a"], runs["c"], tmp_path / "cmp", pairing="paired", plot=False)
    assert result.summary["comparison"] == "paired" and "100 tracks in both" in result.summary["reason"]
    common = np.arange(150) % 3 != 0
    for cat, got in _by_group(result).items():
        a = runs["rows_a"][common & (runs["cat_a"] == cat)]
        c = runs["rows_c"][runs["cat_c"] == cat]
        mean, low, high, count = reference.paired_compare(a, c, LEVEL)
        _close(got["diff"], mean)
        _close(got["ci_low"], low)
        _close(got["ci_high"], high)
        assert got["n_pairs"].tolist() == count.tolist()
    unpaired = tf2eng.compare(runs["a"], runs["b"], tmp_path / "cmp2", pairing="unpaired", plot=False)
    assert unpaired.summary["comparison"] == "unpaired"


@pytest.mark.parametrize("bootstrap", [None, 30])
def test_identical_outputs_differ_by_exactly_zero(runs, tmp_path, bootstrap):
    result = tf2eng.compare(runs["a"], runs["a"], tmp_path / "cmp", bootstrap=bootstrap, plot=False)
    assert result.summary["comparison"] == "paired"
    for table in (result.compare, result.compare_stages):
        some = table.filter(pl.col("n_pairs") >= 2)
        assert some.height > 0
        assert set(some["diff"].to_list()) == {0.0}
        assert set(some["ci_low"].to_list()) == {0.0} and set(some["ci_high"].to_list()) == {0.0}
        assert some["n_pairs"].to_list() == some["n_a"].to_list() == some["n_b"].to_list()


def test_same_bytes_whatever_the_thread_count(runs, tmp_path):
    one = tf2eng.compare(runs["a"], runs["c"], tmp_path / "one", bootstrap=20, threads=1, plot=False)
    two = tf2eng.compare(runs["a"], runs["c"], tmp_path / "two", bootstrap=20, threads=2, plot=False)
    assert one.compare.equals(two.compare) and one.compare_stages.equals(two.compare_stages)


def test_kernel_weights_are_the_bootstrap_weights():
    from tf2eng.kernels.compare import weight_matrix

    keys = np.array([reference.track_key(("v1", 0), 3), reference.track_key((7,), 0), 2**64 - 1], np.uint64)
    w = np.empty((3, 26))  # an even width: the weights come in pairs (kernels/bootstrap.py)
    weight_matrix(keys, w)
    assert w.tolist() == [reference.poisson_weights(int(k), 26) for k in keys]


def test_a_modified_output_is_refused(runs, tmp_path):
    """The recomputation check: a curve.parquet that its stages/ does not reproduce stops the comparison."""
    copy = tmp_path / "a"
    shutil.copytree(runs["a"], copy)
    curve = pl.read_parquet(copy / "curve.parquet")
    curve.with_columns(pl.col("mean") * (1 + 1e-6)).write_parquet(copy / "curve.parquet")
    with pytest.raises(InputError, match=r"OUT_A .*curve.parquet: does not match its stages/"):
        tf2eng.compare(copy, runs["b"], tmp_path / "cmp", plot=False)
    assert not (tmp_path / "cmp").exists()
    assert not list(tmp_path.glob(".cmp*staging"))


def test_paired_t_interval_covers_the_true_difference(tmp_path):
    """4,000 independent intervals (400 groups x 10 stages, 8 pairs each, normal differences with mean
    0.1): the nominal 95 % t intervals cover 0.1 in 93-97 % of them."""
    rng = np.random.default_rng(2024)
    groups, per_group, T = 400, 8, 10
    n = groups * per_group
    a = 0.5 + 0.05 * rng.standard_normal((n, T))
    b = a - 0.1 + 0.03 * rng.standard_normal((n, T))
    base = {"video_id": [f"v{i}" for i in range(n)], "rep": np.repeat(np.arange(groups), per_group),
            "key_frame": np.full(n, 4)}
    for name, scores in (("a", a), ("b", b)):
        pq.write_table(pa.table({**base, "scores": pa.array(list(scores))}), tmp_path / f"{name}.parquet")
        tf2eng.run(tmp_path / f"{name}.parquet", tmp_path / name, lam=1.0, reduce="mean", stages=T,
                   grid_step=0.1, by=["rep"], plot=False)
    result = tf2eng.compare(tmp_path / "a", tmp_path / "b", tmp_path / "cmp")
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 0  # 12 of the 400 groups drawn
    stages = result.compare_stages
    assert stages.height == groups * T and set(stages["n_pairs"].to_list()) == {per_group}
    covered = ((stages["ci_low"] <= 0.1) & (stages["ci_high"] >= 0.1)).to_numpy()
    assert 0.93 <= covered.mean() <= 0.97, covered.mean()


# --- bad input: one line, exit 2, nothing written ----------------------------------------


def _cli(*args):
    return runner.invoke(app, ["compare", *map(str, args)])


@pytest.fixture(scope="module")
def other_runs(runs):
    root = runs["root"]
    data = root / "data.parquet"
    tf2eng.run(data, root / "k7", stages=7, grid_step=H, by=["category"], plot=False)
    tf2eng.run(data, root / "h", stages=K, grid_step=0.1, by=["category"], plot=False)
    tf2eng.run(data, root / "noby", stages=K, grid_step=H, plot=False)
    (root / "notout").mkdir(exist_ok=True)
    (root / "notout" / "x.txt").write_text("x")
    return root


@pytest.mark.parametrize("case, message", [
    ("k7", "OUT_A has K = 5, OUT_B has K = 7"),
    ("h", "OUT_A has grid step 0.05, OUT_B has 0.1"),
    ("noby", "OUT_A has --by category, OUT_B has no --by"),
    ("missing", "OUT_B .*missing: no such directory"),
    ("notout", "OUT_B .*notout: not a complete tf2eng output"),
])
def test_outputs_that_cannot_be_compared(runs, other_runs, tmp_path, case, message):
    result = _cli(runs["a"], other_runs / case, "-o", tmp_path / "cmp")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tf2eng: error: ")
    assert __import__("re").search(message, lines[0]), lines[0]
    assert not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("options, message", [
    (["--ci", "1.5"], "--ci must be a number strictly between 0 and 1"),
    (["--ci", "0"], "--ci must be a number strictly between 0 and 1"),
    (["--bootstrap", "1"], "--bootstrap must be a whole number from 2"),
    (["--pairing", "paired"], None),
])
def test_bad_options(runs, tmp_path, options, message):
    if message is None:  # A and C have common tracks: paired works; two unrelated id sets do not
        other = tmp_path / "renamed"
        shutil.copytree(runs["c"], other)
        part = next((other / "stages").glob("*.parquet"))
        table = pq.read_table(part)
        pq.write_table(table.set_column(0, "video_id", pa.array([f"w{i}" for i in range(table.num_rows)])), part)
        options, message = options, "--pairing paired: no track .* is in both outputs"
        # the ids no longer match and the stages/ rows still reproduce the aggregates
        result = _cli(runs["a"], other, "-o", tmp_path / "cmp", *options)
    else:
        result = _cli(runs["a"], runs["b"], "-o", tmp_path / "cmp", *options)
    assert result.exit_code == 2, result.output
    assert __import__("re").search(message, result.output), result.output
    assert not (tmp_path / "cmp").exists()


def test_output_may_not_replace_an_input(runs):
    result = _cli(runs["a"], runs["b"], "-o", runs["b"])
    assert result.exit_code == 2 and "would replace OUT_B" in result.output
    assert (runs["b"] / "curve.parquet").exists()


def test_cli_end_to_end(runs, tmp_path):
    result = _cli(runs["a"], runs["b"], "-o", tmp_path / "cmp", "--bootstrap", "20", "--seed", "4", "--ci", "0.9")
    assert result.exit_code == 0, result.output
    assert "paired comparison" in result.output
    out = tmp_path / "cmp"
    assert sorted(p.name for p in out.iterdir()) == [
        "compare.parquet", "compare.png", "compare_stages.parquet", "summary.json"]
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["options"] == {"ci": 0.9, "bootstrap": 20, "seed": 4, "pairing": "auto"}
    again = _cli(runs["a"], runs["b"], "-o", out, "--json", "--no-plot")
    assert again.exit_code == 0 and json.loads(again.output)["comparison"] == "paired"
    assert not (out / "compare.png").exists()


def test_repeated_ids_are_not_paired(runs, tmp_path):
    table = pq.read_table(runs["root"] / "data.parquet").slice(0, 30)
    pq.write_table(pa.concat_tables([table, table.slice(0, 3)]), tmp_path / "dup.parquet")
    tf2eng.run(tmp_path / "dup.parquet", tmp_path / "dup", stages=K, grid_step=H, by=["category"], plot=False)
    result = tf2eng.compare(tmp_path / "dup", tmp_path / "dup", tmp_path / "cmp", plot=False)
    assert result.summary["comparison"] == "unpaired"
    assert result.summary["reason"] == "OUT_A has 6 tracks whose ids are not unique"
    with pytest.raises(InputError, match="--pairing paired: OUT_A has 6 tracks whose ids are not unique"):
        tf2eng.compare(tmp_path / "dup", tmp_path / "dup", tmp_path / "cmp2", pairing="paired", plot=False)


def test_memory_budget_stops_before_reading(runs, tmp_path, monkeypatch):
    from tf2eng.engine import compare as engine_compare

    monkeypatch.setattr(engine_compare, "MEMORY_BUDGET", 8 * (K + 1) * 299)
    with pytest.raises(InputError, match="needs 0.0 GiB for the stage scores of both outputs"):
        tf2eng.compare(runs["a"], runs["b"], tmp_path / "cmp", plot=False)
    assert not (tmp_path / "cmp").exists()


def test_a_cuda_run_compares_with_a_cpu_run(tmp_path):
    """Outputs of any device compare alike (the CUDA kernels under numba's simulator here)."""
    write_synthetic(tmp_path / "s.parquet", 40, seed=4)
    tf2eng.run(tmp_path / "s.parquet", tmp_path / "cpu", stages=K, grid_step=H, plot=False)
    tf2eng.run(tmp_path / "s.parquet", tmp_path / "gpu", stages=K, grid_step=H, plot=False, device="cuda")
    result = tf2eng.compare(tmp_path / "cpu", tmp_path / "gpu", tmp_path / "cmp", plot=False)
    assert result.summary["comparison"] == "paired" and result.summary["differs"] == {"device": ["cpu", "cuda"]}
    table = result.compare.filter(pl.col("n_pairs") > 0)
    assert table["n_pairs"].to_list() == table["n_a"].to_list() == table["n_b"].to_list()
    assert float(table["diff"].abs().max()) <= 1e-12 * float(table["mean_a"].abs().max())


@pytest.mark.parametrize("pairing", ["auto", "unpaired"])
def test_swapping_the_outputs_negates_the_difference(runs, tmp_path, pairing):
    ab = tf2eng.compare(runs["a"], runs["b"], tmp_path / "ab", pairing=pairing, plot=False).compare
    ba = tf2eng.compare(runs["b"], runs["a"], tmp_path / "ba", pairing=pairing, plot=False).compare
    assert ab["mean_a"].equals(ba["mean_b"]) and ab["n_a"].equals(ba["n_b"]) and ab["n_pairs"].equals(ba["n_pairs"])
    for mine, theirs in (("diff", "diff"), ("ci_low", "ci_high"), ("ci_high", "ci_low")):
        _close(ab[mine].fill_null(np.nan).to_numpy(), -ba[theirs].fill_null(np.nan).to_numpy(), rtol=1e-12)


# --- one configuration of a sweep -----------------------------------------------------------


@pytest.fixture(scope="module")
def sweep(runs):
    """A sweep over λ 0.5, 0.7 and K 5, 7 of runs' data (by category), and its λ 0.5, K = 5 alone."""
    root = runs["root"]
    data = root / "data.parquet"
    tf2eng.run(data, root / "sweep", lam=[0.5, 0.7], stages=[K, 7], grid_step=H, by=["category"], plot=False)
    tf2eng.run(data, root / "l05", lam=0.5, stages=K, grid_step=H, by=["category"], plot=False)
    return root / "sweep"


def _same_tables(got, want):
    assert got.compare.equals(want.compare) and got.compare_stages.equals(want.compare_stages)


@pytest.mark.parametrize("bootstrap", [None, 50])
def test_a_sweeps_configuration_compares_as_its_own_run(runs, sweep, tmp_path, bootstrap):
    """--lam/--stages pick a configuration of a sweep output; comparing it gives the tables of comparing
    the same configuration run alone, paired or not, t or bootstrap."""
    got = tf2eng.compare(sweep, runs["c"], tmp_path / "s", lam=0.5, stages=K, bootstrap=bootstrap, plot=False)
    want = tf2eng.compare(runs["root"] / "l05", runs["c"], tmp_path / "r", bootstrap=bootstrap, plot=False)
    _same_tables(got, want)
    assert got.summary["inputs"]["a"]["configuration"] == {"lam": 0.5, "stages": K}
    assert got.summary["inputs"]["b"]["configuration"] is None
    assert got.summary["differs"] == want.summary["differs"] == {}


def test_two_configurations_of_one_sweep_are_paired(runs, sweep, tmp_path):
    """The same sweep twice, λ 0.5 against λ 0.7 at K = 5: paired over every track, and the tables of
    comparing two runs of those settings; summary.json says which configurations and that λ differs."""
    got = tf2eng.compare(sweep, sweep, tmp_path / "s", lam=0.5, lam_b=0.7, stages=K, plot=False)
    alone = runs["root"] / "l07"
    tf2eng.run(runs["root"] / "data.parquet", alone, lam=0.7, stages=K, grid_step=H, by=["category"], plot=False)
    want = tf2eng.compare(runs["root"] / "l05", alone, tmp_path / "r", plot=False)
    _same_tables(got, want)
    assert got.summary["comparison"] == "paired" and got.summary["differs"] == {"lam": [0.5, 0.7]}
    assert [got.summary["inputs"][x]["configuration"] for x in "ab"] == [{"lam": 0.5, "stages": K},
                                                                        {"lam": 0.7, "stages": K}]


@pytest.mark.parametrize("options, message", [
    ([], "OUT_A .*sweep: a sweep of 4 configurations \\(λ=0.5, K=5; λ=0.5, K=7; λ=0.7, K=5; λ=0.7, K=7\\); "
         "pick one with --lam and --stages"),
    (["--lam", "0.5"], "a sweep of 4 configurations .*; pick one with --lam and --stages"),
    (["--lam", "0.6", "--stages", "5"], "OUT_A .*sweep: no configuration with λ 0.6, K 5 in its sweep"),
    (["--lam", "0.5", "--stages", "5", "--stages-b", "6"], "OUT_B .*: no configuration with λ 0.5, K 6"),
    (["--lam", "0.5", "--stages", "5", "--stages-b", "7"], "OUT_A has K = 5, OUT_B has K = 7"),
    (["--lam", "0", "--stages", "5"], "--lam must be a number greater than 0"),
    (["--lam", "0.5", "--stages", "0"], "--stages must be a whole number of at least 1"),
])
def test_choosing_a_sweeps_configuration(sweep, tmp_path, options, message):
    result = _cli(sweep, sweep, "-o", tmp_path / "cmp", *options)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and __import__("re").search(message, lines[0]), lines[0]
    assert not (tmp_path / "cmp").exists()


def test_a_single_run_must_be_the_configuration_asked_for(runs, sweep, tmp_path):
    """--lam/--stages name the configuration of both outputs: a run of another one is refused."""
    result = _cli(runs["a"], sweep, "-o", tmp_path / "cmp", "--lam", "0.5", "--stages", str(K))
    assert result.exit_code == 2 and "OUT_A" in result.output and "--lam 0.7, not 0.5" in result.output, \
        result.output
    ok = _cli(runs["c"], sweep, "-o", tmp_path / "cmp2", "--lam", "0.5", "--stages", str(K), "--no-plot")
    assert ok.exit_code == 0, ok.output
