"""Where features meet (README, Input formats; Dataset metadata; Confidence bands; Comparing two
runs): input formats with metadata, bands, sweeps and compare, and odd inputs of each format."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tf2eng
from conftest import assert_one_error as _one_error
from conftest import invoke_cli as _cli


# --- files without tracks are empty files (README, Input formats: No rows) ----------------------------


@pytest.mark.parametrize("content", ["{}", '{"v1": {}}', "{ }\n"])
def test_nested_json_without_tracks_beside_files_with_keys(tmp_path, content):
    """A nested JSON file that names no track has no rows: it takes the other files' columns
    (here a key_frame column) instead of stopping the run for a missing one."""
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.json").write_text(json.dumps({"v1": {"0": {"scores": [0.1, 0.9, 0.2], "key_frame": 1}}}))
    (d / "b.json").write_text(content)
    got = tf2eng.run(d, tmp_path / "o", plot=False)
    assert got.summary["rows"] == {"read": 1, "written": 1, "rejected": 0, "rejected_by_reason": {}}
    assert got.summary["columns"]["key_frame"] == "key_frame"


@pytest.mark.parametrize("name", ["t.json", "t.npz", "t.npy"])
def test_an_input_of_one_file_without_tracks_completes_as_an_empty_file(tmp_path, name):
    """As an empty JSON Lines or CSV file and a Parquet file of zero rows (README, Input formats: No
    rows): an input whose every file has no tracks completes with empty outputs."""
    path = tmp_path / name
    if name == "t.json":
        path.write_text("{}")
    elif name == "t.npz":
        np.savez(path)
    else:
        np.save(path, np.zeros((0, 5)))
    result = _cli("run", path, "-o", tmp_path / "out", "--no-plot")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rows"] == {"read": 0, "written": 0, "rejected": 0, "rejected_by_reason": {}}


# --- RunResult.plot() of a sweep (README, In memory: plot(); Parameter sweeps: The plot) -----------


def _sweep_data(path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(5)
    rows = [{"video_id": f"v{i}", "exp_id": i % 2, "category": ["cat", "dog"][i % 2],
             "scores": rng.random(int(rng.integers(4, 30))).tolist()} for i in range(12)]
    pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.mark.parametrize("by", [(), ("category",)])
def test_run_result_plot_of_a_sweep_is_the_saved_figure(tmp_path, by):
    """RunResult.plot() of a sweep (with --ci bands) draws the figure tf2eng run saved, the same SVG bytes."""
    from tf2eng.engine.plot import save

    _sweep_data(tmp_path / "d.parquet")
    result = tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", lam=[0.5, 1.0], stages=[5, 10], by=by,
                        ci=0.9, plot_format="svg")
    save(result.plot(), tmp_path / "again.svg", "svg")
    assert (tmp_path / "again.svg").read_bytes() == (tmp_path / "out" / "alignment.svg").read_bytes()
    from matplotlib.figure import Figure

    with pytest.raises(ValueError, match="sweep"):
        result.plot(ax=Figure().subplots())


# --- nested JSON with frame-name key frames and --meta (README, Dataset metadata) -------------------


def test_nested_json_key_frames_as_frame_names_with_meta(tmp_path):
    """With --meta a wide key column may hold frame names, in nested JSON as in JSON Lines: the same
    tracks give the same stages/ rows (key_frame the name's position, key_label the name)."""
    meta = {"videos": {"v1": {"expressions": {"0": {"exp": "a dog", "obj_id": "1"},
                                              "1": {"exp": "a cat", "obj_id": "2"}},
                              "frames": ["00000", "00005", "00010", "00015"]}}}
    (tmp_path / "meta_expressions.json").write_text(json.dumps(meta))
    tracks = {"0": ([0.1, 0.9, 0.3, 0.2], "00005"), "1": ([0.4, 0.2, 0.3, 0.8], "00099")}
    (tmp_path / "t.json").write_text(json.dumps(
        {"v1": {e: {"scores": s, "key_frame": k} for e, (s, k) in tracks.items()}}))
    (tmp_path / "t.jsonl").write_text("".join(
        json.dumps({"video_id": "v1", "exp_id": e, "scores": s, "key_frame": k}) + "\n"
        for e, (s, k) in tracks.items()))
    got = {}
    for name in ("t.json", "t.jsonl"):
        got[name] = tf2eng.run(tmp_path / name, tmp_path / f"o-{name}", plot=False,
                               meta=tmp_path / "meta_expressions.json")
    stages = got["t.json"].stages().collect()
    assert stages["key_frame"].to_list() == [1] and stages["key_label"].to_list() == ["00005"]
    assert stages.equals(got["t.jsonl"].stages().collect())
    assert got["t.json"].summary["rows"]["rejected_by_reason"] == {"key_frame_out_of_range": 1}
    assert got["t.json"].stage_means.equals(got["t.jsonl"].stage_means)


def test_nested_json_mixing_integer_and_name_keys(tmp_path):
    """The first key is a frame name: an integer key later is a bad value (README, Input formats:
    Nested JSON); without --meta frame names stop the run."""
    import polars as pl

    (tmp_path / "t.json").write_text(json.dumps(
        {"v1": {"0": {"scores": [0.1, 0.9], "key_frame": "00005"}, "1": {"scores": [0.1, 0.9], "key_frame": 1}}}))
    (tmp_path / "m.json").write_text(json.dumps({"videos": {"v1": {"expressions": {}, "frames": ["00000", "00005"]}}}))
    result = _cli("run", tmp_path / "t.json", "-o", tmp_path / "out", "--meta", tmp_path / "m.json", "--no-plot")
    assert result.exit_code == 0, result.output
    rejected = pl.read_parquet(tmp_path / "out" / "rejected.parquet")
    assert rejected.select("exp_id", "key_frame", "reason").to_dicts() == [
        {"exp_id": "1", "key_frame": None, "reason": "bad_value"}]
    _one_error(_cli("run", tmp_path / "t.json", "-o", tmp_path / "out2"), "t.json", "'key_frame'", "--meta")


def test_compare_names_id_types_as_the_outputs_hold_them(tmp_path):
    """An integer exp_id (Parquet) against a text one (nested JSON): unpaired, and the reason names
    the types the outputs' stages/ hold, not an internal widening."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"video_id": ["v1", "v2"], "exp_id": [0, 0],
                             "scores": [[0.1, 0.9, 0.2], [0.3, 0.5, 0.4]]}), tmp_path / "a.parquet")
    (tmp_path / "b.json").write_text(json.dumps({"v1": {"0": [0.1, 0.9, 0.2]}, "v2": {"0": [0.3, 0.5, 0.4]}}))
    for name in ("a.parquet", "b.json"):
        tf2eng.run(tmp_path / name, tmp_path / f"o-{name}", plot=False)
    result = _cli("compare", tmp_path / "o-a.parquet", tmp_path / "o-b.json", "-o", tmp_path / "c", "--no-plot",
                  "--json", "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["comparison"] == "unpaired"
    assert summary["reason"] == "id column exp_id is int64 in OUT_A and string in OUT_B", summary["reason"]


@pytest.mark.parametrize("sweep", [dict(lam=[0.5, 1.0]), dict(stages=[5, 10])])
def test_compare_of_a_sweep_without_a_choice_is_one_line(tmp_path, sweep):
    """A sweep output compared without --lam/--stages that leave one configuration: one line listing its
    configurations; with them, the comparison runs."""
    _sweep_data(tmp_path / "d.parquet")
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "one", plot=False)
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "sweep", plot=False, **sweep)
    _one_error(_cli("compare", tmp_path / "one", tmp_path / "sweep", "-o", tmp_path / "c"),
               "OUT_B", "a sweep of 2 configurations", "pick one with --lam-b and --stages-b")
    assert not (tmp_path / "c").exists()
    ok = _cli("compare", tmp_path / "one", tmp_path / "sweep", "-o", tmp_path / "c", "--no-plot",
              "--lam", "0.7" if "stages" in sweep else "1.0", "--stages", "10")
    assert ok.exit_code == (0 if "stages" in sweep else 2), ok.output
