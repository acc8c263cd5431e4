"""README, Parameter sweeps: every (λ, K) of two lists in one read, each configuration's rows equal to a
run with that configuration alone; bad lists; unit keys; the plot; Dask, CUDA (simulator), long layout."""

import json
import math

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import reference
import tf2eng
from conftest import wide_table
from test_properties import tracks
from tf2eng.cli.app import app
from tf2eng.engine.errors import InputError
from tf2eng.engine.options import PLOT_DPI
from tf2eng.engine.options import Options
from tf2eng.engine.sweep import MAX_CONFIGURATIONS, Sweep, parse_list, sweep_values
from tf2eng.engine.units import options_digest

runner = CliRunner()


def _stages(out) -> pl.DataFrame:
    return pl.read_parquet(out / "stages" / "*.parquet")


def _config(frame: pl.DataFrame, lam: float, K: int) -> pl.DataFrame:
    return frame.filter((pl.col("lam") == lam) & (pl.col("stages") == K)).drop("lam", "stages")


def _assert_equals_separate_runs(sweep, path, tmp_path, lams, ks, **options):
    """Each configuration's rows of the sweep's outputs equal, exactly, a run with it alone."""
    assert sweep.summary["configurations"] == [{"lam": float(lam), "stages": k} for lam in sorted(lams)
                                               for k in sorted(ks)]
    stages = _stages(sweep.out)
    assert stages.columns[:2] == ["lam", "stages"] and stages.schema["lam"] == pl.Float64
    assert stages.schema["stages"] == pl.Int32
    for table in (sweep.stage_means, sweep.curve):
        assert table.columns[:2] == ["lam", "stages"]
    rejected = (sweep.out / "rejected.parquet").read_bytes()
    heights = 0
    for lam in lams:
        for k in ks:
            alone = tf2eng.run(path, tmp_path / f"alone-{lam}-{k}", lam=lam, stages=k, plot=False, **options)
            assert _config(stages, lam, k).equals(_stages(alone.out)), (lam, k)
            assert _config(sweep.stage_means, lam, k).equals(alone.stage_means), (lam, k)
            assert _config(sweep.curve, lam, k).equals(alone.curve), (lam, k)
            assert (alone.out / "rejected.parquet").read_bytes() == rejected  # once, whatever λ and K
            assert alone.summary["rows"] == sweep.summary["rows"]
            heights += alone.stage_means.height
    assert sweep.stage_means.height == heights  # and no other configuration


LAMS = st.lists(st.sampled_from([0.3, 0.5, 0.7, 1.0, 2.5]), min_size=1, max_size=3, unique=True)
KS = st.lists(st.integers(1, 12), min_size=1, max_size=2, unique=True)


@settings(max_examples=8)
@given(data=tracks(max_tracks=10, long_share=0), lams=LAMS, ks=KS, reduce=st.sampled_from(["sum", "mean"]),
       key=st.sampled_from(["column", "auto"]), by=st.booleans(), split=st.integers(1, 3))
def test_each_configuration_equals_a_separate_run(tmp_path_factory, data, lams, ks, reduce, key, by, split):
    if len(lams) * len(ks) < 2:
        ks = ks + [max(ks) + 1]
    scores, keys = data
    tmp_path = tmp_path_factory.mktemp("sweep")
    extra = {"category": [f"c{i % 2}" for i in range(len(scores))]}
    table = wide_table(scores, keys, extra=extra)
    path = tmp_path / "data"
    path.mkdir()
    cut = max(1, len(scores) // split)
    for i, start in enumerate(range(0, len(scores), cut)):  # files: units and batches
        pq.write_table(table.slice(start, cut), path / f"part-{i}.parquet")
    options = {"reduce": reduce, "key": key, "by": ["category"] if by else []}
    sweep = tf2eng.run(path, tmp_path / "sweep", lam=lams, stages=ks, plot=False, **options)
    _assert_equals_separate_runs(sweep, path, tmp_path, lams, ks, **options)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from tf2eng.engine.synth import write_synthetic

    path = tmp_path_factory.mktemp("synth") / "synth.parquet"
    write_synthetic(path, 120, seed=3)
    return path


def test_aggregates_match_the_reference_per_configuration(tmp_path):
    rng = np.random.default_rng(5)
    scores = [list(rng.random(int(rng.integers(1, 40)))) for _ in range(30)] + [[0.5, math.nan], None]
    keys = [int(rng.integers(0, len(s))) for s in scores[:30]] + [0, 0]
    pq.write_table(wide_table(scores, keys), tmp_path / "d.parquet")
    result = tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", lam=(1.0, 0.5), stages=(3, 7), plot=False)
    assert result.summary["rows"]["rejected"] == 2
    assert result.summary["rows"]["rejected_by_reason"] == {"nonfinite_score": 1, "null_scores": 1}
    assert pl.read_parquet(tmp_path / "out" / "rejected.parquet").height == 2  # once, not per configuration
    assert _stages(result.out).height == 4 * 30
    for lam in (0.5, 1.0):
        for K in (3, 7):
            _, _, aggs = reference.dataset(scores, keys, lam=lam, K=K)
            count, mean, std = aggs[None]["stage"]
            got = _config(result.stage_means, lam, K)
            assert got["count"].to_list() == list(count)
            np.testing.assert_allclose(got["mean"].to_numpy(), mean, rtol=1e-9)
            count, mean, _ = aggs[None]["curve"]
            got = _config(result.curve, lam, K)
            assert got["count"].to_list() == list(count)
            np.testing.assert_allclose(got["mean"].fill_null(np.nan).to_numpy(), mean, rtol=1e-9)


def test_long_layout_sweep_equals_separate_runs(synthetic, tmp_path):
    wide = pl.read_parquet(synthetic).head(40)
    df = wide.with_columns(pl.int_ranges(0, pl.col("scores").list.len()).alias("frame"))
    long = df.explode(["scores", "frame"]).rename({"scores": "score"}).sample(fraction=1.0, shuffle=True, seed=2)
    long.write_parquet(tmp_path / "long.parquet")
    sweep = tf2eng.run(tmp_path / "long.parquet", tmp_path / "sweep", lam=[0.5, 1.0], stages=[4, 10],
                       by="category", plot=False)
    assert sweep.summary["input"]["layout"] == "long"
    assert "key_label" in _stages(sweep.out).columns
    _assert_equals_separate_runs(sweep, tmp_path / "long.parquet", tmp_path, [0.5, 1.0], [4, 10], by="category")


def test_one_value_is_a_single_run(synthetic, tmp_path):
    """A list of one value is one configuration: no lam/stages columns, the same unit keys as before."""
    single = tf2eng.run(synthetic, tmp_path / "a", lam=0.5, stages=6, plot=False)
    listed = tf2eng.run(synthetic, tmp_path / "b", lam=[0.5], stages=(6,), plot=False)
    assert listed.summary["digests"] == single.summary["digests"]
    assert "lam" not in listed.curve.columns and listed.summary["parameters"]["lam"] == 0.5
    assert listed.summary["configurations"] == [{"lam": 0.5, "stages": 6}]
    options = Options(lam=0.5, stages=6)
    assert Sweep((options,)).digest() == options_digest(options)


def test_summary_lists_the_configurations(synthetic, tmp_path):
    result = tf2eng.run(synthetic, tmp_path / "o", lam=[1.0, 0.5], stages=[10, 5], plot=False)
    summary = json.loads((result.out / "summary.json").read_text())
    assert summary["parameters"]["lam"] == [0.5, 1.0] and summary["parameters"]["stages"] == [5, 10]
    assert summary["configurations"] == [{"lam": 0.5, "stages": 5}, {"lam": 0.5, "stages": 10},
                                         {"lam": 1.0, "stages": 5}, {"lam": 1.0, "stages": 10}]
    # rows count tracks: each accepted track is in stages/ once per configuration
    assert summary["rows"]["read"] == summary["rows"]["written"] + summary["rows"]["rejected"] == 120
    assert _stages(result.out).height == 4 * summary["rows"]["written"]
    stage_means = pl.read_parquet(result.out / "stage_means.parquet")
    assert stage_means.select("lam", "stages").unique(maintain_order=True).rows() == [
        (0.5, 5), (0.5, 10), (1.0, 5), (1.0, 10)]
    assert stage_means.height == 2 * (5 + 10)


def test_incremental_and_resume_keys_include_the_configurations(synthetic, tmp_path):
    out = tmp_path / "out"
    first = tf2eng.run(synthetic, out, lam=[0.5, 0.7], stages=[5, 10], plot=False)
    again = tf2eng.run(synthetic, out, lam=[0.7, 0.5], stages=[10, 5], plot=False)  # the same set
    assert again.summary["units"]["reused"] == again.summary["units"]["total"] == 1
    assert again.summary["digests"] == first.summary["digests"]
    for lam, stages in (([0.5, 1.0], [5, 10]), ([0.5, 0.7], [5, 20]), (0.5, 5), ([0.5, 0.7], 5)):
        changed = tf2eng.run(synthetic, out, lam=lam, stages=stages, plot=False)
        assert changed.summary["units"]["processed"] == 1, (lam, stages)


def test_dask_sweep_equals_local(synthetic, tmp_path):
    pytest.importorskip("dask.distributed")
    local = tf2eng.run(synthetic, tmp_path / "local", lam=[0.5, 1.0], stages=[4, 10], by="category", plot=False)
    dask = tf2eng.run(synthetic, tmp_path / "dask", lam=[0.5, 1.0], stages=[4, 10], by="category", plot=False,
                      engine="dask", workers=1)
    assert dask.summary["engine"] == "dask"
    assert dask.summary["digests"] == local.summary["digests"]


def test_cuda_sweep_matches_cpu(tmp_path):
    from tf2eng.engine.synth import write_synthetic

    write_synthetic(tmp_path / "s.parquet", 12, seed=4)
    kwargs = {"lam": [0.5, 1.0], "stages": [3, 6], "by": ["category"], "plot": False}
    cpu = tf2eng.run(tmp_path / "s.parquet", tmp_path / "cpu", **kwargs)
    gpu = tf2eng.run(tmp_path / "s.parquet", tmp_path / "gpu", device="cuda", **kwargs)
    assert gpu.summary["device"] == "cuda" and gpu.summary["configurations"] == cpu.summary["configurations"]
    for a, b in ((cpu.stage_means, gpu.stage_means), (cpu.curve, gpu.curve)):
        assert a.drop("mean", "std").equals(b.drop("mean", "std"))
        np.testing.assert_allclose(b["mean"].fill_null(0).to_numpy(), a["mean"].fill_null(0).to_numpy(), rtol=1e-12)


def test_rows_rejected_in_some_configurations_only_stop_the_run(tmp_path, monkeypatch):
    """Every rejection reason is independent of λ and K; where configurations are scored in passes of
    their own (a GPU's, here forced on the CPU), a kernel that broke that would stop the run rather than
    write one configuration's rejections for all."""
    from tf2eng.engine import batch as batch_module
    from tf2eng.engine.sweep import Sweep

    monkeypatch.setattr(Sweep, "kernel_passes", lambda self: [[o] for o in self.configurations])

    real = batch_module.align_tracks

    def reject_first_when_lam_is_half(scores, keys, params, group, n_groups, stages, grid_size, reason, chunks):
        if params.lam == 0.5:
            reason[0] = 3
        return real(scores, keys, params, group, n_groups, stages, grid_size, reason, chunks)

    monkeypatch.setattr(batch_module, "align_tracks", reject_first_when_lam_is_half)
    pq.write_table(wide_table([[0.2, 0.4, 0.9], [0.5, 0.1]], [2, 0]), tmp_path / "d.parquet")
    with pytest.raises(RuntimeError, match="rejected in some configurations"):
        tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", lam=[0.5, 0.7], stages=3, plot=False)


# --- the plot ---------------------------------------------------------------------------

def _png_size(path) -> tuple[int, int]:
    from matplotlib.image import imread

    height, width = imread(path).shape[:2]
    return width, height


@pytest.mark.parametrize("lams, ks, by, panels", [
    ([0.5, 0.7, 1.0], [5, 10, 20], None, (3, 3)),  # a row per λ, a column per K
    ([0.5, 1.0], [10], None, (2, 1)),  # one list: up to three a row
    ([0.5, 1.0], [5, 10], "category", (4, 4)),  # a row per group (4), a column per configuration (4)
])
def test_plot_has_a_panel_per_configuration(synthetic, tmp_path, lams, ks, by, panels):
    from tf2eng.engine.sweep_plot import BOTTOM_IN, LEFT_IN, PANEL_H, PANEL_W, RIGHT_IN, TOP_IN

    result = tf2eng.run(synthetic, tmp_path / "o", lam=lams, stages=ks, by=by or (), plot=True)
    assert "alignment.png" in result.summary["outputs"]
    cols, rows = panels
    width, height = _png_size(result.out / "alignment.png")
    expected = ((LEFT_IN + RIGHT_IN + PANEL_W * cols) * PLOT_DPI, (BOTTOM_IN + TOP_IN + PANEL_H * rows) * PLOT_DPI)
    assert abs(width - expected[0]) <= 1 and abs(height - expected[1]) <= 1  # matplotlib rounds down or to nearest


def test_plot_of_many_groups_has_a_panel_per_configuration(tmp_path):
    from tf2eng.engine.sweep_plot import BOTTOM_IN, LEFT_IN, PANEL_H, PANEL_W, RIGHT_IN, TOP_IN

    n = 40
    table = wide_table([[0.1, 0.5, 0.9, 0.3]] * n, [2] * n, extra={"g": list(range(n))})
    pq.write_table(table, tmp_path / "d.parquet")
    result = tf2eng.run(tmp_path / "d.parquet", tmp_path / "o", lam=[0.5, 1.0], stages=[2, 4], by="g")
    width, height = _png_size(result.out / "alignment.png")
    expected = ((LEFT_IN + RIGHT_IN + PANEL_W * 2) * PLOT_DPI, (BOTTOM_IN + TOP_IN + PANEL_H * 2) * PLOT_DPI)
    assert abs(width - expected[0]) <= 1 and abs(height - expected[1]) <= 1


# --- bad lists ----------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--lam", "0.7,,1"], "--lam: an empty value in '0.7,,1'"),
    (["--lam", "0.7,"], "--lam: an empty value"),
    (["--lam", "0.7,-1"], "--lam must be a positive number, got -1.0"),
    (["--lam", "0.7,nan"], "--lam must be a positive number, got nan"),
    (["--lam", "0.7,x"], "--lam must be a number or a comma-separated list of them, got 'x'"),
    (["--lam", "0.7,0.70"], "--lam lists 0.7 twice"),
    (["--stages", "10,0"], "--stages must be between 1 and 10000, got 0"),
    (["--stages", "10,2.5"], "--stages must be a whole number or a comma-separated list of them, got '2.5'"),
    (["--stages", "5,10,5"], "--stages lists 5 twice"),
    (["--stages", "1,10", "--grid-step", "1.5"], "--grid-step must be a number from"),
    (["--lam", ",".join(str(0.1 * i) for i in range(1, 10)), "--stages", ",".join(map(str, range(1, 9)))],
     f"make 72 configurations; at most {MAX_CONFIGURATIONS}"),
])
def test_bad_lists_exit_2_with_one_line(tmp_path, args, message):
    pq.write_table(wide_table([[0.2, 0.4]], [1]), tmp_path / "d.parquet")
    result = runner.invoke(app, ["run", str(tmp_path / "d.parquet"), "-o", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "o").exists()


def test_grid_step_is_checked_for_every_k(tmp_path):
    pq.write_table(wide_table([[0.2, 0.4]], [1]), tmp_path / "d.parquet")
    with pytest.raises(InputError, match="for --stages 1 "):
        tf2eng.run(tmp_path / "d.parquet", tmp_path / "o", stages=[10, 1], grid_step=1.5)
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "o", stages=10, grid_step=1.5, plot=False)  # fine for K=10


@pytest.mark.parametrize("name", ["lam", "stages"])
def test_a_column_named_like_a_sweep_column(tmp_path, name):
    table = wide_table([[0.2, 0.4]], [1], extra={name: ["a"]})
    pq.write_table(table, tmp_path / "d.parquet")
    with pytest.raises(InputError, match=f"column '{name}': a sweep adds a '{name}' column"):
        tf2eng.run(tmp_path / "d.parquet", tmp_path / "o", lam=[0.5, 1.0], by=name)
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "one", lam=0.5, by=name, plot=False)  # one configuration


@pytest.mark.parametrize("value, message", [
    ([], "--lam: an empty list"),
    ([0.5, "1"], "--lam must be a number, got '1'"),
    ([0.5, True], "--lam must be a number, got True"),
    ((0.5, 0.5), "--lam lists 0.5 twice"),
    ("0.5,1", "--lam must be a number, got '0.5,1'"),
])
def test_api_bad_lam_lists(tmp_path, value, message):
    with pytest.raises(InputError, match=message):
        tf2eng.run(tmp_path / "missing.parquet", tmp_path / "o", lam=value)


def test_api_bad_stages_lists(tmp_path):
    with pytest.raises(InputError, match="--stages must be a whole number, got 2.0"):
        tf2eng.run(tmp_path / "missing.parquet", tmp_path / "o", stages=[5, 2.0])


@pytest.mark.parametrize(("name", "text", "kind"), [("--lam", "0_7", float), ("--lam", "0.5,1_0", float),
                                                    ("--stages", "1_0", int), ("--stages", "\u0661\u0660", int)])
def test_a_list_value_python_would_stretch_to_a_number_is_refused(name, text, kind):
    with pytest.raises(InputError, match=f"{name} must be a"):
        parse_list(name, text, kind)


def test_lists_parse_and_sort():
    assert parse_list("--lam", " 1, 0.5 ,0.70", float) == (1.0, 0.5, 0.7)
    assert sweep_values("--lam", parse_list("--lam", "1,0.5,0.7", float), float) == (0.5, 0.7, 1.0)
    assert sweep_values("--stages", [np.int64(20), 5], int) == (5, 20)
    assert sweep_values("--lam", 0.7, float) == (0.7,)


def test_sigkill_then_resume_a_sweep(synthetic, tmp_path, monkeypatch):
    """A sweep killed after two units resumes them; resumed with other lists, it reuses none."""
    import signal

    from test_jobs import _run_until_paused, _split_dataset

    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "1")  # a unit per file
    data = _split_dataset(synthetic, tmp_path / "data", 4)
    lists = ("--lam", "0.5,1", "--stages", "4,10")
    for out, resumed_lists, resumed_units in ((tmp_path / "same", ([0.5, 1.0], [4, 10]), 2),
                                              (tmp_path / "other", ([0.5, 1.0], [4, 12]), 0)):
        proc = _run_until_paused(data, out, 2, *lists)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        lam, stages = resumed_lists
        resumed = tf2eng.run(data, out, lam=lam, stages=stages, plot=False, resume=True)
        assert resumed.summary["units"]["resumed"] == resumed_units
        assert resumed.summary["units"]["processed"] == 4 - resumed_units
        clean = tf2eng.run(data, tmp_path / f"clean-{out.name}", lam=lam, stages=stages, plot=False)
        assert resumed.summary["digests"] == clean.summary["digests"]


def test_each_configuration_has_a_part_of_its_own_per_unit(synthetic, tmp_path, monkeypatch):
    """stages/ holds a part per unit and configuration, part-KEY.cNN.parquet in configuration order, each
    with that configuration's rows only (so a filter on lam and stages reads only its files), and
    summary.json's stages/ digest is that of the parts as written."""
    import hashlib

    from test_jobs import _split_dataset

    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "1")  # a unit per file
    data = _split_dataset(synthetic, tmp_path / "data", 3)
    result = tf2eng.run(data, tmp_path / "o", lam=[0.5, 1.0], stages=[4, 10], plot=False)
    parts = sorted((result.out / "stages").glob("*.parquet"))
    keys = sorted({p.name.split(".")[0] for p in parts})
    assert len(keys) == 3 and [p.name for p in parts] == [f"{k}.c{j:02d}.parquet" for k in keys for j in range(4)]
    configurations = [(0.5, 4), (0.5, 10), (1.0, 4), (1.0, 10)]
    for part in parts:
        table = pl.read_parquet(part)
        assert table.height > 0
        assert table.select("lam", "stages").unique().rows() == [configurations[int(part.name.split(".c")[1][:2])]]
        meta = pq.ParquetFile(part).metadata
        for i in range(meta.num_row_groups):
            stats = [meta.row_group(i).column(c).statistics for c in (0, 1)]
            assert all(s.min == s.max for s in stats)
    digest = hashlib.sha256()
    for part in parts:
        digest.update(f"{part.name}\0{hashlib.sha256(part.read_bytes()).hexdigest()}\n".encode())
    assert result.summary["digests"]["stages/"] == digest.hexdigest()
    # reused by an incremental run, part for part
    again = tf2eng.run(data, tmp_path / "o", lam=[0.5, 1.0], stages=[4, 10], plot=False)
    assert again.summary["units"]["reused"] == 3 and again.summary["digests"] == result.summary["digests"]
    assert sorted(p.name for p in (again.out / "stages").glob("*.parquet")) == [p.name for p in parts]


def test_sweep_outputs_do_not_depend_on_threads(synthetic, tmp_path):
    """The parts are written on threads of their own and the kernel runs on any number of threads:
    the same bytes whatever --threads."""
    runs = [tf2eng.run(synthetic, tmp_path / f"t{threads}", lam=[0.5, 0.7, 1.0], stages=[3, 8], plot=False,
                       threads=threads, reduce="mean") for threads in (1, 2)]
    assert runs[0].summary["digests"] == runs[1].summary["digests"]


@pytest.mark.parametrize("options", [dict(), dict(by=["category"], ci=0.9),
                                     dict(by=["category"], bootstrap=20, seed=3, ci=0.95)])
def test_align_of_a_sweep_is_the_runs(synthetic, tmp_path, options):
    """tf2eng.align with lists: the four tables of tf2eng run's sweep on the same tracks (lam and stages
    first, each configuration's rows), its parameters and configurations; both plot() give the same
    figure, a panel per configuration, drawn whole (not into given axes)."""
    import pyarrow.parquet as pq_
    from matplotlib.figure import Figure
    from polars.testing import assert_frame_equal

    from tf2eng.engine.plot import save

    sweep = dict(lam=[0.5, 0.7], stages=[3, 8], **options)
    result = tf2eng.run(synthetic, tmp_path / "o", plot_format="svg", **sweep)
    aligned = tf2eng.align(pq_.read_table(synthetic), **sweep)
    out = tmp_path / "o"
    assert_frame_equal(aligned.stages, pl.read_parquet(out / "stages" / "*.parquet"), check_exact=True)
    assert_frame_equal(aligned.stage_means, result.stage_means, check_exact=True)
    assert_frame_equal(aligned.curve, result.curve, check_exact=True)
    assert aligned.rejected.drop("source").equals(pl.read_parquet(out / "rejected.parquet").drop("source"))
    for name in ("parameters", "configurations", "rows", "groups"):
        assert aligned.summary[name] == result.summary[name], name
    assert "4 configurations" in repr(aligned)
    figures = (result.plot(), aligned.plot())
    for i, fig in enumerate(figures):
        assert len([ax for ax in fig.axes if ax.get_visible()]) >= 4
        save(fig, tmp_path / f"{i}.svg", "svg")
        assert (tmp_path / f"{i}.svg").read_bytes() == (out / "alignment.svg").read_bytes()
    for plotted in (result, aligned):
        with pytest.raises(ValueError, match="drawn whole"):
            plotted.plot(ax=Figure().subplots())


def test_sweep_bands_are_each_configurations(synthetic, tmp_path):
    """--ci in a sweep: each configuration's ci_low, ci_high equal a run of it alone."""
    sweep = tf2eng.run(synthetic, tmp_path / "s", lam=[0.5, 1.0], stages=[5], ci=0.9, plot=False)
    alone = tf2eng.run(synthetic, tmp_path / "a", lam=1.0, stages=5, ci=0.9, plot=False)
    mine = sweep.curve.filter(pl.col("lam") == 1.0).drop("lam", "stages")
    assert mine.equals(alone.curve) and "ci_high" in mine.columns


@pytest.mark.parametrize("by", [[], ["category"]])
def test_sweep_bootstrap_bands_equal_separate_runs(synthetic, tmp_path, monkeypatch, by):
    """--bootstrap in a sweep: each configuration's replicate sums, with the same Poisson weights per
    track, so its ci_low and ci_high (and every other column) equal a run of it alone with --bootstrap,
    also when the sums of several units are merged and on Dask."""
    from test_jobs import _split_dataset

    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "1")  # a unit per file: sums merged across units
    data = _split_dataset(synthetic, tmp_path / "data", 3)
    options = dict(bootstrap=25, seed=7, ci=0.9, by=by, plot=False)
    lams, ks = [0.5, 1.0], [3, 8]
    sweep = tf2eng.run(data, tmp_path / "s", lam=lams, stages=ks, **options)
    for lam in lams:
        for k in ks:
            alone = tf2eng.run(data, tmp_path / f"a{lam}-{k}", lam=lam, stages=k, **options)
            for got, want in ((sweep.curve, alone.curve), (sweep.stage_means, alone.stage_means)):
                mine = _config(got, lam, k)
                assert "ci_low" in mine.columns and mine["ci_low"].null_count() < mine.height
                assert mine.equals(want), (lam, k)
    other_seed = tf2eng.run(data, tmp_path / "seed", lam=lams, stages=ks, **{**options, "seed": 8})
    assert not other_seed.curve["ci_low"].equals(sweep.curve["ci_low"])  # the bands are the replicates'
    result = CliRunner().invoke(app, ["run", str(data), "-o", str(tmp_path / "c"), "--lam", "0.5,1", "--stages",
                                      "3,8", "--bootstrap", "25", "--seed", "7", "--ci", "0.9", "--no-plot", "-q"]
                                + [a for b in by for a in ("--by", b)])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(tmp_path / "c" / "curve.parquet").equals(sweep.curve)


def test_dask_sweep_bootstrap_equals_local(synthetic, tmp_path):
    pytest.importorskip("dask.distributed")
    local = tf2eng.run(synthetic, tmp_path / "l", lam=[0.5, 1.0], stages=[4], bootstrap=15, plot=False)
    dask = tf2eng.run(synthetic, tmp_path / "d", lam=[0.5, 1.0], stages=[4], bootstrap=15, plot=False,
                      engine="dask", workers=1)
    assert dask.curve.equals(local.curve) and dask.stage_means.equals(local.stage_means)


def test_switching_between_a_sweep_and_one_configuration_leaves_only_the_current_parts(synthetic, tmp_path):
    """The same output directory, sweep -> one configuration -> a smaller sweep: stages/ holds exactly the
    parts of the last run, and summary.json's stages/ digest is that of the files as they are."""
    import hashlib

    out = tmp_path / "out"
    for lam, stages, n_configs in (([0.5, 1.0], [5, 10], 4), (0.7, 10, 1), ([1.0, 0.5], 5, 2)):
        result = tf2eng.run(synthetic, out, lam=lam, stages=stages, plot=False)
        parts = sorted(p.name for p in (out / "stages").iterdir())
        keys = {name.split(".")[0] for name in parts}
        suffixes = [f".c{j:02d}.parquet" for j in range(n_configs)] if n_configs > 1 else [".parquet"]
        assert parts == sorted(key + suffix for key in keys for suffix in suffixes), (lam, stages)
        assert len(keys) == result.summary["units"]["total"]
        h = hashlib.sha256()
        for name in parts:
            h.update(f"{name}\0{hashlib.sha256((out / 'stages' / name).read_bytes()).hexdigest()}\n".encode())
        assert result.summary["digests"]["stages/"] == h.hexdigest()
        assert _stages(out).height == n_configs * result.summary["rows"]["written"]


def test_kernel_passes_one_on_the_cpu_one_per_configuration_on_a_gpu():
    from tf2eng.engine.options import Options
    from tf2eng.engine.sweep import Sweep

    cpu = Sweep.of(Options(), [0.5, 1.0], [3, 6])
    assert cpu.kernel_passes() == [list(cpu.configurations)]
    gpu = Sweep.of(Options(device="cuda"), [0.5, 1.0], [3, 6])
    assert gpu.kernel_passes() == [[o] for o in gpu.configurations]
