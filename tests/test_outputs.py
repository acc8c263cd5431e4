"""README, Input and Output: every input form, both layouts, and the output directory's schemas."""

import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import reference
import tf2eng
from conftest import wide_table
from tf2eng.engine.synth import write_synthetic


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "synth.parquet"
    write_synthetic(path, 700, seed=11)
    return path


def _signature(result):
    stages = result.stages().collect().sort(["video_id", "exp_id"])
    return stages, result.stage_means, result.curve


def test_schemas(synthetic, tmp_path):
    result = tf2eng.run(synthetic, tmp_path / "out", by=["category"], plot=False)
    out = result.out
    assert sorted(p.name for p in out.iterdir()) == [
        "_tf2eng", "curve.parquet", "rejected.parquet", "stage_means.parquet", "stages", "summary.json"]
    stages = pq.read_table(out / "stages").schema
    assert stages.names == ["video_id", "exp_id", "category", "T", "key_frame", "pos_key",
                            "stage_scores", "stage_counts"]
    assert stages.field("stage_scores").type == pa.list_(pa.float64())
    assert stages.field("stage_counts").type == pa.list_(pa.int32())
    assert stages.field("T").type == pa.int32()
    means = pl.read_parquet(out / "stage_means.parquet")
    assert means.columns == ["category", "stage", "x", "mean", "std", "count"]
    assert means.height == 4 * 10
    assert means["category"].to_list() == sorted(means["category"].to_list())
    curve = pl.read_parquet(out / "curve.parquet")
    assert curve.columns == ["category", "x", "mean", "std", "count"]
    assert curve.height == 4 * 191
    rejected = pq.read_table(out / "rejected.parquet").schema
    assert rejected.names == ["video_id", "exp_id", "category", "scores", "key_frame", "reason", "source", "row"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete"
    assert summary["rows"]["read"] == 700 == summary["rows"]["written"] + summary["rows"]["rejected"]
    assert summary["parameters"]["lam"] == 0.7 and summary["input"]["fingerprint"]["sha256"]
    assert set(summary["versions"]) >= {"numba", "numpy", "pyarrow", "polars"}
    assert summary["digests"] == _digests_of_files(out)


def _digests_of_files(out: Path) -> dict:
    """The digests summary.json promises, recomputed from the files as written."""
    digests = {name: hashlib.sha256((out / name).read_bytes()).hexdigest()
               for name in ("stage_means.parquet", "curve.parquet", "rejected.parquet")}
    listing = "".join(f"{p.name}\0{hashlib.sha256(p.read_bytes()).hexdigest()}\n"
                      for p in sorted((out / "stages").glob("*.parquet")))
    digests["stages/"] = hashlib.sha256(listing.encode()).hexdigest()
    return digests


def test_aggregates_match_reference(synthetic, tmp_path):
    result = tf2eng.run(synthetic, tmp_path / "out", plot=False, reduce="mean", lam=0.5, stages=7, grid_step=0.02)
    table = pq.read_table(synthetic).to_pydict()
    _, _, aggs = reference.dataset(table["scores"], table["key_frame"], lam=0.5, K=7, reduce="mean", h=0.02)
    (count, mean, std), (ccount, cmean, cstd) = aggs[None]["stage"], aggs[None]["curve"]
    assert result.stage_means["count"].to_list() == count.tolist()
    np.testing.assert_allclose(result.stage_means["mean"].to_numpy(), mean, rtol=1e-9)
    np.testing.assert_allclose(result.stage_means["std"].to_numpy(), std, rtol=1e-9)
    assert result.curve["count"].to_list() == ccount.tolist()
    np.testing.assert_allclose(result.curve["mean"].fill_null(np.nan).to_numpy(), cmean, rtol=1e-9)
    np.testing.assert_allclose(result.curve["std"].fill_null(np.nan).to_numpy(), cstd, rtol=1e-9, atol=1e-12)


def test_directory_glob_ipc_and_row_groups_agree(synthetic, tmp_path):
    table = pq.read_table(synthetic)
    base = tf2eng.run(synthetic, tmp_path / "base", by=["category"], plot=False)
    # A hive-partitioned directory, split by category, small row groups.
    pq.write_to_dataset(table, tmp_path / "hive", partition_cols=["category"], row_group_size=50)
    hive = tf2eng.run(tmp_path / "hive", tmp_path / "hive_out", by=["category"], plot=False)
    # Several files through a glob, and Arrow IPC with large_list scores.
    for i, part in enumerate(range(0, table.num_rows, 260)):
        pq.write_table(table.slice(part, 260), tmp_path / f"part-{i}.parquet")
    globbed = tf2eng.run(str(tmp_path / "part-*.parquet"), tmp_path / "glob_out", by=["category"], plot=False)
    large = table.set_column(3, "scores", table["scores"].cast(pa.large_list(pa.float64())))
    feather.write_feather(large, tmp_path / "data.feather")
    ipc = tf2eng.run(tmp_path / "data.feather", tmp_path / "ipc_out", by=["category"], plot=False)
    b_stages, b_means, b_curve = _signature(base)
    for other in (hive, globbed, ipc):
        stages, means, curve = _signature(other)
        assert stages.select(b_stages.columns).equals(b_stages)
        assert means["count"].equals(b_means["count"]) and curve["count"].equals(b_curve["count"])
        np.testing.assert_allclose(means["mean"].to_numpy(), b_means["mean"].to_numpy(), rtol=1e-13)
        np.testing.assert_allclose(curve["std"].fill_null(0).to_numpy(), b_curve["std"].fill_null(0).to_numpy(),
                                   rtol=1e-12)


def test_long_layout_matches_wide(synthetic, tmp_path):
    wide = pq.read_table(synthetic)
    df = pl.from_arrow(wide).with_columns(pl.int_ranges(0, pl.col("scores").list.len()).alias("frame"))
    long = df.explode(["scores", "frame"]).rename({"scores": "score"}).sample(fraction=1.0, shuffle=True, seed=1)
    long.write_parquet(tmp_path / "long.parquet")
    got = tf2eng.run(tmp_path / "long.parquet", tmp_path / "long_out", by=["category"], plot=False)
    assert got.summary["input"]["layout"] == "long"
    assert got.summary["rows"]["input_frame_rows"] == long.height
    want = tf2eng.run(synthetic, tmp_path / "wide_out", by=["category"], plot=False)
    g_stages, g_means, g_curve = _signature(got)
    w_stages, w_means, w_curve = _signature(want)
    assert g_stages["key_label"].equals(g_stages["key_frame"].alias("key_label"))  # frames 0 ... T-1
    assert g_stages.drop("key_label").equals(w_stages)
    assert g_means["count"].equals(w_means["count"])
    np.testing.assert_allclose(g_curve["mean"].fill_null(0).to_numpy(), w_curve["mean"].fill_null(0).to_numpy(),
                               rtol=1e-13)


def test_long_layout_bad_frames(tmp_path):
    rows = {
        "video_id": ["a", "a", "a", "b", "b", "c", "c", "d", "d"],
        "frame": [0, 1, 2, 0, 2, 0, 0, 1, 0],
        "score": [0.1, 0.9, 0.3, 0.5, 0.5, 0.2, 0.4, 0.8, 0.3],
        "key_frame": [1, 1, 1, 0, 0, 0, 0, 0, 1],
    }
    pq.write_table(pa.table(rows), tmp_path / "long.parquet")
    result = tf2eng.run(tmp_path / "long.parquet", tmp_path / "out", plot=False)
    rejected = pl.read_parquet(result.out / "rejected.parquet").sort("video_id")
    assert rejected["video_id"].to_list() == ["c", "d"]
    assert rejected["reason"].to_list() == ["duplicate_frame", "inconsistent_key_frame"]
    assert rejected["rows"].to_list() == [2, 2]
    # Frames are labels: b's frames 0 and 2 are its frames 0 and 1, key label 0.
    stages = result.stages().collect().sort("video_id")
    assert stages["video_id"].to_list() == ["a", "b"] and stages["key_frame"].to_list() == [1, 0]
    assert stages["key_label"].to_list() == [1, 0] and stages["T"].to_list() == [3, 2]
    assert result.summary["rows"]["input_frame_rows"] == 9


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _fail_in(phase: str, monkeypatch) -> None:
    """Make the next run fail in ``phase``, after its units were committed."""
    import tf2eng.engine.aggregate as aggregate
    import tf2eng.engine.output as output
    import tf2eng.engine.plot as plot

    def fail(*args, **kwargs):
        raise RuntimeError(f"injected failure: {phase}")

    target = {
        "aggregate": (aggregate.GroupMoments, "finalize_arrow"),
        "write": (output.OutputDir, "concatenate_rejected"),
        "plot": (plot, "render"),
        "commit": (output, "_exchange"),  # summary.json is in the staging directory by then
    }[phase]
    monkeypatch.setattr(*target, fail)


@pytest.mark.parametrize("phase", ["aggregate", "write", "plot", "commit"])
def test_previous_result_survives_a_failed_run(synthetic, tmp_path, monkeypatch, phase):
    out = tmp_path / "out"
    tf2eng.run(synthetic, out, lam=0.5)
    before = _tree(out)
    _fail_in(phase, monkeypatch)
    with pytest.raises(RuntimeError, match=f"injected failure: {phase}"):
        tf2eng.run(synthetic, out)
    monkeypatch.undo()
    assert _tree(out) == before
    # The unit was committed before the failure: the staging directory stays for --resume, and the
    # resumed run gives an uninterrupted run's bytes.
    staging = tmp_path / ".out.staging"
    assert len(list((staging / "_tf2eng").glob("*.npz"))) == 1
    assert [p.name for p in staging.rglob("*") if ".tmp" in p.name] == []
    resumed = tf2eng.run(synthetic, out, resume=True)
    assert resumed.summary["units"]["resumed"] == 1 and resumed.summary["parameters"]["lam"] == 0.7
    clean = tf2eng.run(synthetic, tmp_path / "clean")
    assert resumed.summary["digests"] == clean.summary["digests"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".clean.lock", ".out.lock"]


def test_previous_result_survives_a_failed_rename(synthetic, tmp_path, monkeypatch):
    """Where the two directories cannot be exchanged atomically: the previous result is moved aside,
    and put back if the new one cannot take its place."""
    import os

    import tf2eng.engine.output as output

    out = tmp_path / "out"
    tf2eng.run(synthetic, out, plot=False, lam=0.5)
    before = _tree(out)
    real_replace = os.replace

    def replace(src, dst):
        if Path(src).name == ".out.staging":
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(output, "_exchange", lambda a, b: False)
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(tf2eng.engine.errors.OutputError, match="out: cannot write: Input/output error"):
        tf2eng.run(synthetic, out, plot=False)
    monkeypatch.undo()
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [".out.lock"]
    again = tf2eng.run(synthetic, out, plot=False)
    assert again.summary["parameters"]["lam"] == 0.7


def test_default_output_beside_input(synthetic, tmp_path):
    import shutil

    path = tmp_path / "scores.parquet"
    shutil.copy(synthetic, path)
    result = tf2eng.run(path, plot=False)
    assert result.out == (tmp_path / "scores.tf2eng").absolute()


def test_plot_is_written(synthetic, tmp_path):
    result = tf2eng.run(synthetic, tmp_path / "out", by=["category"])
    png = result.out / "alignment.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_plot_with_few_tracks_and_many_groups(tmp_path):
    tracks = [[0.1, 0.9, 0.3, 0.2]] * 30
    table = wide_table(tracks, [1] * 30, extra={"g": [f"g{i}" for i in range(30)]})
    pq.write_table(table, tmp_path / "d.parquet")
    result = tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", by=["g"])
    assert (result.out / "alignment.png").stat().st_size > 10_000


def test_empty_input(tmp_path):
    table = wide_table([], [])
    pq.write_table(table, tmp_path / "empty.parquet")
    result = tf2eng.run(tmp_path / "empty.parquet", tmp_path / "out")
    assert result.summary["rows"]["read"] == 0
    assert result.curve["count"].sum() == 0
    assert pq.read_table(result.out / "stages").num_rows == 0


def test_one_column_given_as_a_string(tmp_path):
    """by="category" is the column category, not the columns c, a, t, ...; id_cols the same."""
    write_synthetic(tmp_path / "s.parquet", 30, seed=3)
    as_list = tf2eng.run(tmp_path / "s.parquet", tmp_path / "list", plot=False, by=["category"],
                         id_cols=["video_id", "exp_id"])
    as_string = tf2eng.run(tmp_path / "s.parquet", tmp_path / "string", plot=False, by="category",
                           id_cols=["video_id", "exp_id"])
    assert as_string.summary["columns"]["by"] == ["category"]
    assert as_string.stage_means.equals(as_list.stage_means)
    one_id = tf2eng.run(tmp_path / "s.parquet", tmp_path / "one_id", plot=False, id_cols="video_id")
    assert one_id.summary["columns"]["ids"] == ["video_id"]
