"""`tf2eng bench --shape many-files|long` (engine/tools/shapes.py): datasets, runs side by side, bad options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tf2eng.cli.app import app
from tf2eng.engine.tools import shapes

runner = CliRunner()


def _bench(tmp_path, *args):
    return runner.invoke(app, ["bench", "--data-dir", str(tmp_path / "data"), "--json-out",
                               str(tmp_path / "bench.json"), *map(str, args)])


@pytest.mark.parametrize("args, message", [
    (["--shape", "tall"], "--shape: unknown 'tall'"),
    (["--files", "3"], "--files: only with --shape many-files or long"),
    (["--shape", "long", "some.parquet"], "--shape long: makes its own dataset"),
])
def test_bad_shape_options_stop_with_one_line(tmp_path, args, message):
    result = _bench(tmp_path, *args)
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists() and not (tmp_path / "bench.json").exists()


def test_long_dataset_holds_every_frame_once_spread_over_the_files(tmp_path):
    rows = shapes.long_dataset(tmp_path / "long", 300, 4, 1)
    assert shapes.long_dataset(tmp_path / "long", 300, 4, 1) == rows  # made once
    files = sorted((tmp_path / "long").glob("*.parquet"))
    assert len(files) == 4
    long = pl.read_parquet(files)
    assert long.height == rows
    wide = pl.from_arrow(shapes._chunk(np.random.default_rng(1), 0, 300))
    assert rows == wide["scores"].list.len().sum()
    # each track: frames 0 ... T-1 once, its scores in frame order, its key on every row
    got = long.sort("video_id", "exp_id", "frame").group_by("video_id", "exp_id", maintain_order=True).agg(
        "frame", "score", pl.col("key_frame").unique())
    joined = wide.join(got, on=["video_id", "exp_id"])
    assert joined.height == 300
    assert all(f == list(range(len(s))) for f, s in zip(joined["frame"].to_list(), joined["scores"].to_list()))
    assert joined["score"].to_list() == joined["scores"].to_list()
    assert joined["key_frame_right"].to_list() == [[k] for k in joined["key_frame"].to_list()]
    # shuffled: the first file's rows are not in track order, and a track has rows in several files
    first = pl.read_parquet(files[0])
    assert not first["video_id"].is_sorted()
    assert long.with_columns(pl.Series("file", np.repeat(np.arange(4), [pq.read_metadata(f).num_rows for f in files]))
                             ).group_by("video_id", "exp_id").agg(pl.col("file").n_unique())["file"].max() > 1


def test_long_shape_runs_tf2eng_and_names_a_missing_duckdb(tmp_path, monkeypatch):
    monkeypatch.setattr(shapes, "duckdb_available", lambda: False)
    result = _bench(tmp_path, "--shape", "long", "--tracks", 40, "--files", 3, "--repeat", 1)
    assert result.exit_code == 0, result.output
    assert "DuckDB is not installed" in result.stderr
    assert "tf2eng run, 3 files" in result.stdout and "skipped: DuckDB not installed" in result.stdout
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["shape"] == "long"
    tf2eng_run, polars_run, numpy_run, duck = report["runs"]
    assert [r["name"] for r in (polars_run, numpy_run)] == ["polars stage sums, 3 files",
                                                             "numpy script stage sums, 3 files"]
    for run in (tf2eng_run, polars_run, numpy_run):
        assert run["wall_s"] > 0 and run["peak_rss_bytes"] > 0
    assert duck["wall_s"] is None and duck["note"].startswith("skipped")


def test_peak_rss_is_the_commands_own_not_the_benchmarks(tmp_path):
    """A child's peak RSS starts at its parent's (Linux carries it over fork and exec): the command is
    started from a small launcher, so a large benchmark process does not show in its number."""
    import sys

    ballast = b"\x01" * 400_000_000  # noqa: F841 - held while the command runs
    wall, rss = shapes.measured([sys.executable, "-S", "-c", "pass"])
    assert 0 < wall and 0 < rss < 100 * 2**20
    wall, rss = shapes.measured([sys.executable, "-S", "-c", "x = b'\\x01' * 300_000_000"])
    assert 300_000_000 < rss < 400_000_000
    with pytest.raises(shapes.InputError, match="exited with 3"):
        shapes.measured([sys.executable, "-S", "-c", "raise SystemExit(3)"])


@pytest.fixture(scope="module")
def shaped(tmp_path_factory):
    """300 synthetic tracks as one wide file, split into 7 files, and shuffled long over 4 files."""
    from tf2eng.engine.synth import write_synthetic

    d = tmp_path_factory.mktemp("shapes")
    write_synthetic(d / "one.parquet", 300, 3)
    shapes.split_dataset(d / "one.parquet", d / "split", 7)
    shapes.long_dataset(d / "long", 300, 4, 3)
    return d


@pytest.mark.parametrize("name, data, key", [
    ("polars-wide", "split", ["track"]), ("numpy-wide", "split", ["track"]),
    ("polars-long", "long", ["video_id", "exp_id"]), ("numpy-long", "long", ["video_id", "exp_id"]),
])
def test_baselines_compute_the_stage_sums_of_eq_2(shaped, name, data, key):
    """Each competitor of the shapes computes what tf2eng's stages/ holds with the defaults (up to the
    order of its additions), track by track."""
    from tf2eng.engine.tools import baselines
    from reference import track

    wide = pq.read_table(shaped / "one.parquet").to_pylist()
    want = {(i,) if key == ["track"] else (row["video_id"], row["exp_id"]):
            track(row["scores"], row["key_frame"])["Y"]
            for i, row in enumerate(wide)}
    got = pl.from_arrow(baselines.BASELINES[name](str(shaped / data / "*.parquet"))).sort(*key, "stage")
    sums = got.group_by(key, maintain_order=True).agg("stage", "y")
    assert sums.height == len(want)
    for row in sums.iter_rows(named=True):
        assert row["stage"] == list(range(10))
        np.testing.assert_allclose(row["y"], want[tuple(row[k] for k in key)], rtol=1e-12)


def test_shapes_run_polars_and_numpy_beside_tf2eng_and_skip_on_request(tmp_path, monkeypatch):
    monkeypatch.setattr(shapes, "duckdb_available", lambda: False)
    result = _bench(tmp_path, "--shape", "many-files", "--tracks", 60, "--files", 5, "--repeat", 1,
                    "--skip", "duckdb,numpy")
    assert result.exit_code == 0, result.output
    names = [run["name"] for run in json.loads((tmp_path / "bench.json").read_text())["runs"]]
    assert names == ["tf2eng run, 5 files", "tf2eng run, one file", "polars stage sums, 5 files"]
    bad = _bench(tmp_path, "--shape", "long", "--tracks", 40, "--files", 3, "--skip", "spark")
    assert bad.exit_code == 2 and "--skip: unknown spark" in bad.stderr


def test_the_shapes_time_tf2eng_with_its_bytecode_written(tmp_path, monkeypatch):
    """Where PYTHONDONTWRITEBYTECODE is set, an editable install would compile its modules in every timed
    run: the benchmark writes their bytecode first, as an install does."""
    import importlib.util

    import tf2eng

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    module = Path(tf2eng.__file__).parent / "engine" / "stream.py"
    cached = Path(importlib.util.cache_from_source(str(module)))
    cached.unlink(missing_ok=True)
    times = []
    monkeypatch.setattr(shapes, "tf2eng_run", lambda *args, **kwargs: times.append(cached.exists()) or (1.0, 1))
    monkeypatch.setattr(shapes, "duckdb_available", lambda: False)
    shapes.run_shape("long", 20, files=2, data_dir=tmp_path, log=lambda *a: None, skip=("numpy", "polars"))
    assert times == [True]
    header = cached.read_bytes()[:16]  # current: Python takes it instead of compiling the module again
    assert int.from_bytes(header[8:12], "little") == int(module.stat().st_mtime) & 0xFFFFFFFF



def test_the_tools_run_in_rounds_and_each_round_gives_its_ratio(tmp_path, monkeypatch):
    """Every tool once a round, in the table's order: a change of the machine's load falls on all of them
    alike. The table keeps the best time of each and adds the median of the rounds' ratios to the first row."""
    walls = {"split": [2.0, 3.0, 2.6], "one": [1.0, 2.0, 2.0], "duck split": [6.0, 9.0, 7.0], "duck one": [4.0, 5.0, 4.0]}
    calls = []

    def timed(name):
        calls.append(name)
        return walls[name][sum(c == name for c in calls) - 1], 2**30

    monkeypatch.setattr(shapes, "tf2eng_run", lambda path, *a, **k: timed("one" if Path(path).is_file() else "split"))
    monkeypatch.setattr(shapes, "duckdb_run", lambda query, pattern, *a: timed(
        "duck split" if pattern.endswith("*.parquet") else "duck one"))
    monkeypatch.setattr(shapes, "duckdb_available", lambda: True)
    monkeypatch.setattr(shapes, "write_bytecode", lambda: None)
    _, rows = shapes.run_shape("many-files", 30, files=2, repeat=3, data_dir=tmp_path, log=lambda *a: None,
                               skip=("numpy", "polars"))
    assert calls == ["split", "one", "duck split", "duck one"] * 3
    assert [(r.wall_s, r.walls_s) for r in rows] == [(min(w), tuple(w)) for w in walls.values()]
    assert shapes.paired_ratio(rows[1], rows[0]) == pytest.approx(2.0 / 3.0)  # 0.5, 0.67, 0.77
    assert shapes.paired_ratio(rows[2], rows[0]) == pytest.approx(3.0)  # 3.0, 3.0, 2.69
    table = shapes.shape_table(rows).splitlines()
    assert "x, median of rounds" in table[0]
    assert table[3].split()[-2:] == ["0.50", "0.67"] and table[4].split()[-2:] == ["3.00", "3.00"]
    shapes.write_shape_report("many-files", "what", rows, tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())["runs"]
    assert report[1]["walls_s"] == [1.0, 2.0, 2.0]
    assert report[1]["time_vs_first_median_of_rounds"] == pytest.approx(2.0 / 3.0)
