"""No input or option makes tf2eng exit 1 (internal error): odd inputs through the CLI, each once."""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import re
import stat
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import tf2eng
from tf2eng.cli.app import app

ROOT = Path(__file__).resolve().parents[1]


def _package_sources() -> list[Path]:
    files = [ROOT / "__init__.py"]
    for folder in ("engine", "kernels", "cli"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


@pytest.mark.parametrize("path", _package_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_assert_in_the_package(path):
    """An assert vanishes under python -O: checks of input or state must raise."""
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert not lines, f"{path.relative_to(ROOT)}: assert at line(s) {lines}"


# --- the plot: groups without accepted tracks, single tracks, fine grids ------------------------


runner = CliRunner()
GOOD = [0.1, 0.5, 0.9, 0.3]
BAD = [0.2, 1.5, 0.4]  # a score above 1: score_out_of_range


def _table(tracks, models=None) -> pa.Table:
    columns = {
        "video_id": pa.array([f"v{i}" for i in range(len(tracks))], pa.string()),
        "scores": pa.array(tracks, pa.list_(pa.float64())),
    }
    if models is not None:
        columns["model"] = pa.array(models, pa.string())
    return pa.table(columns)


def _cli(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code in (0, 2), f"exit {result.exit_code}: {result.output}"
    return result


def _one_error(result) -> None:
    """Exit 2 with one error line: ours, or click's usage message ending in its one error line."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines and (len(lines) == 1 or lines[-1].startswith("Error: ")), result.stderr
    assert "internal error" not in result.stderr


def _png_ok(out: Path) -> None:
    png = out / "alignment.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not any(p.name.endswith(".staging") for p in out.parent.iterdir())


@pytest.mark.parametrize("tracks, models, by", [
    ([GOOD, BAD, GOOD], ["m1", "m2", "m1"], ["model"]),  # one group all rejected
    ([BAD, BAD], ["m1", "m2"], ["model"]),  # every group all rejected
    ([BAD, BAD], None, []),  # every track rejected, no --by
    ([GOOD, GOOD, GOOD], ["m1", "m2", "m1"], ["model"]),  # a group of one track: std is null
    ([GOOD], None, []),
    ([], [], ["model"]),  # no rows at all: no group
    ([], None, []),
])
def test_plot_of_groups_without_tracks(tmp_path, tracks, models, by):
    pq.write_table(_table(tracks, models), tmp_path / "d.parquet")
    result = tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", by=by)
    _png_ok(tmp_path / "out")
    accepted = {m for t, m in zip(tracks, models or [None] * len(tracks)) if t is GOOD}
    if by:
        assert set(result.curve["model"].to_list()) == accepted
    cli = _cli("run", tmp_path / "d.parquet", "-o", tmp_path / "cli", *(["--by", "model"] if by else []), "-q")
    assert cli.exit_code == 0


def test_plot_of_many_small_groups_shades_every_track(tmp_path, monkeypatch):
    """Beyond PANELS_MAX groups the panel is one shading of every track, small groups' too."""
    from tf2eng.engine import plot
    from tf2eng.kernels import density as density_kernels

    shaded = []
    density = density_kernels.curve_density

    def spy(stage_scores, *args):
        shaded.append(stage_scores.shape[0])
        return density(stage_scores, *args)

    monkeypatch.setattr(density_kernels, "curve_density", spy)
    n_groups = plot.PANELS_MAX + 1
    tracks = [GOOD] * (2 * n_groups)
    models = [f"m{i % n_groups:02d}" for i in range(len(tracks))]
    pq.write_table(_table(tracks, models), tmp_path / "d.parquet")
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", by=["model"])
    _png_ok(tmp_path / "out")
    assert sum(shaded) == len(tracks)


def test_plot_memory_is_bounded_on_a_fine_grid(tmp_path):
    """A grid of 10**6 points: the plot draws a coarser sample of it, not a (groups, M, bins) histogram."""
    tracks = [GOOD] * 3 + [[0.5] * 50] * 500  # few tracks drawn as lines, many as a density
    pq.write_table(_table(tracks, ["a"] * 3 + ["b"] * 500), tmp_path / "d.parquet")
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "warm", by=["model"], plot=False)
    tracemalloc.start()
    try:
        tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", by=["model"], stages=1, grid_step=1e-6)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _png_ok(tmp_path / "out")
    assert peak < 400 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_every_panel_column_has_its_x_axis_labelled(tmp_path, monkeypatch):
    """Four groups in rows of three: the two top-row panels with nothing below them keep their x axis."""
    from matplotlib.figure import Figure

    figures = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (figures.append(self), save(self, *a, **k)))
    tracks = [GOOD] * 4
    pq.write_table(_table(tracks, ["a", "b", "c", "d"]), tmp_path / "d.parquet")
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", by=["model"])
    visible = [ax for ax in figures[0].axes if ax.get_visible()]
    assert len(visible) == 4
    for ax in visible:
        box = ax.get_position()
        below = [o for o in visible if o is not ax and abs(o.get_position().x0 - box.x0) < 1e-6
                 and o.get_position().y0 < box.y0]
        if not below:
            assert ax.get_xlabel(), ax.get_title()
            assert any(label.get_visible() for label in ax.get_xticklabels()), ax.get_title()


# --- key frames and frame numbers of any integer type, in any file ---------------------------

INT64_MAX = 2**63 - 1


@pytest.mark.parametrize("key_type", [pa.int8(), pa.int16(), pa.int32(), pa.int64(),
                                      pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()], ids=str)
def test_key_frames_of_every_integer_type(key_type):
    """The kernels' int64 key frames: every value as given, or a negative one (out of range)
    where the value does not fit int64; nulls stay invalid."""
    from tf2eng.engine.ragged import key_frames_of

    info = np.iinfo(key_type.to_pandas_dtype())
    values = sorted({0, 1, int(info.max), int(info.min)} | ({2**63, 2**64 - 1} if key_type == pa.uint64() else set()))
    keys = key_frames_of(pa.array(values + [None], key_type))
    assert keys.frame.dtype == np.int64 and keys.valid.tolist() == [True] * len(values) + [False]
    for value, got in zip(values, keys.frame.tolist()):
        assert got == value if value <= INT64_MAX else got < 0, (value, got)


def test_key_frame_types_differ_between_files(tmp_path):
    """An int32 key column in one file and int64 / uint64 in the next: a key beyond the first
    file's type is an out-of-range row, not an unreadable file."""
    folder = tmp_path / "data"
    folder.mkdir()
    scores = pa.array([[0.1, 0.9, 0.3]] * 2, pa.list_(pa.float64()))
    for name, key_type, keys in (("a", pa.int32(), [1, 2]), ("b", pa.int64(), [2**40, 0]),
                                 ("c", pa.uint64(), [2**64 - 1, 1])):
        pq.write_table(pa.table({"video_id": [f"{name}0", f"{name}1"], "scores": scores,
                                 "key_frame": pa.array(keys, key_type)}), folder / f"{name}.parquet")
    result = _cli("run", folder, "-o", tmp_path / "out", "--json", "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"]["rejected_by_reason"] == {"key_frame_out_of_range": 2}
    rejected = pl.read_parquet(tmp_path / "out" / "rejected.parquet").sort("video_id")
    assert rejected["video_id"].to_list() == ["b0", "c0"]
    assert rejected["key_frame"].to_list() == [2**40, None]  # beyond int64: no int64 to echo
    stages = pl.read_parquet(tmp_path / "out" / "stages").sort("video_id")
    assert stages["key_frame"].to_list() == [1, 2, 0, 1]


def test_long_layout_keys_and_frames_beyond_int64(tmp_path):
    rows = {
        "video_id": ["a"] * 3 + ["b"] * 3 + ["c"] * 2,
        "frame": pa.array([0, 1, 2, 0, 1, 2, 0, 2**64 - 1], pa.uint64()),
        "score": [0.1, 0.9, 0.3] * 2 + [0.2, 0.4],
        "key_frame": pa.array([1, 1, 1, 2**64 - 1, 2**64 - 1, 2**64 - 1, 0, 0], pa.uint64()),
    }
    pq.write_table(pa.table(rows), tmp_path / "long.parquet")
    result = _cli("run", tmp_path / "long.parquet", "-o", tmp_path / "out", "--json", "-q")
    assert result.exit_code == 0, result.output
    rejected = pl.read_parquet(tmp_path / "out" / "rejected.parquet").sort("video_id")
    assert rejected["video_id"].to_list() == ["b", "c"]
    assert rejected["reason"].to_list() == ["key_frame_out_of_range", "bad_frame_index"]
    assert pl.read_parquet(tmp_path / "out" / "stages")["key_frame"].to_list() == [1]


# --- numeric options: one line and exit 2, never a crash -------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("small") / "small.parquet"
    pq.write_table(_table([[0.1, 0.9, 0.3], [0.5, 0.2]]), path)
    return path


@pytest.mark.parametrize("args", [
    ["--grid-step", "1e-320"],  # grid size overflows
    ["--grid-step", "inf"], ["--grid-step", "nan"], ["--grid-step", "-inf"], ["--grid-step", "-0.0"],
    ["--grid-step", "5"],  # one grid point
    ["--grid-step", "1.95"],  # two points, the second beyond 1 - 1/K = 0.9
    ["--grid-step", "1e-6"],  # 1.9 million points
    ["--grid-step", "1.2", "--stages", "1"],  # two points, the second beyond 1 - 1/K = 0
    ["--lam", "nan"], ["--lam", "inf"], ["--lam", "-1e-320"],
    ["--stages", "0"], ["--stages", "10001"], ["--stages", str(10**30)],
    ["--threads", "0"], ["--threads", str(10**30)],
    ["--workers", "0", "--engine", "dask"],
])
def test_bad_numbers_for_run_are_one_line(small, tmp_path, args):
    result = _cli("run", small, "-o", tmp_path / "out", "-q", *args)
    _one_error(result)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [
    ["--grid-step", "1.9"],  # the widest step: points at -1 and 0.9
    ["--grid-step", "1", "--stages", "1"],
    ["--grid-step", str((2 * 10 - 1) / (10 * 10**6))],  # the finest: 10**6 steps
    ["--lam", "1e-320"], ["--lam", "1e300"],
    ["--stages", "10000"],
])
def test_extreme_numbers_for_run_work(small, tmp_path, args):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. matplotlib's warning for a one-point axis
        result = _cli("run", small, "-o", tmp_path / "out", "-q", *args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    _png_ok(tmp_path / "out")


@pytest.mark.parametrize("name, value", [("lam", "0.7"), ("grid_step", "0.01"), ("stages", 10.5),
                                         ("stages", True), ("lam", None), ("grid_step", [0.01])])
def test_api_options_of_the_wrong_type(small, tmp_path, name, value):
    from tf2eng.engine.errors import InputError

    with pytest.raises(InputError, match=name.replace("_", "-")):
        tf2eng.run(small, tmp_path / "out", plot=False, **{name: value})


@pytest.mark.parametrize("args", [
    ["synth", "{tmp}/s.parquet", "--tracks", "3", "--seed", "-1"],
    ["synth", "{tmp}/s.parquet", "--tracks", "-1"],
    ["bench", "{tmp}/missing.parquet"],
    ["bench", "{tmp}"],  # a directory
    ["bench", "{small}.nope"],
    ["bench", "--seed", "-1", "--tracks", "10"],
    ["bench", "--skip", "pandas", "--tracks", "10"],
    ["bench", "--repeat", "0"], ["bench", "--tracks", "0"], ["bench", "--threads", "0"],
    ["bench", "--tracks", "10", "--data-dir", "{small}/data"],  # a file where a directory should be
    ["bench", "--tracks", "10", "--json-out", "{small}/bench.json"],
])
def test_bad_numbers_and_paths_for_synth_and_bench(small, tmp_path, args):
    args = [a.format(tmp=tmp_path, small=small) for a in args]
    if args[0] == "bench":
        args = args[:1] + ["--data-dir", str(tmp_path / "data"), "--json-out", str(tmp_path / "bench.json")] + args[1:]
    result = _cli(*args)
    _one_error(result)
    assert not (tmp_path / "bench.json").exists() and not (tmp_path / "data").exists()


@pytest.mark.parametrize("args, message", [
    (["bench", "--tracks", "10", "--data-dir", "{tmp}/data", "--json-out", "{tmp}/adir"], r"adir: .*is a directory"),
    (["bench", "--data-dir", "{tmp}/data", "--json-out", "{tmp}/b.json", "{tmp}/adir"], r"adir: not a file"),
    (["run", "{tmp}/fifo", "-o", "{tmp}/out"], r"fifo: not a regular file"),
    (["synth", "{tmp}/nodir/", "--tracks", "3"], r"nodir/: .*directory"),
    (["synth", "{tmp}/fifo", "--tracks", "3"], r"fifo: not a regular file"),
])
def test_paths_of_the_wrong_kind_are_named_for_what_they_are(tmp_path, args, message):
    (tmp_path / "adir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    result = _cli(*[a.format(tmp=tmp_path) for a in args])
    _one_error(result)
    assert re.search(message, result.stderr), result.stderr
    assert (tmp_path / "adir").is_dir() and stat.S_ISFIFO(os.stat(tmp_path / "fifo").st_mode)
    assert not (tmp_path / "nodir").exists() and not (tmp_path / "data").exists()


def test_bench_stops_on_rows_tf2eng_rejects(tmp_path):
    path = tmp_path / "dirty.parquet"
    pq.write_table(_table([[0.1, 0.9, 0.3], None, [], [0.5, None, float("nan")]]), path)
    result = _cli("bench", path, "--repeat", "1", "--data-dir", tmp_path / "data", "--json-out",
                  tmp_path / "bench.json")
    assert result.exit_code == 2, result.output
    last = result.stderr.strip().splitlines()[-1]  # after the bench's progress lines
    assert last.startswith("tf2eng: error: ") and "3 rows that tf2eng run rejects" in last
    assert not (tmp_path / "bench.json").exists()


# --- odd inputs a new user may bring --------------------------------------------------------


SCORES = pa.array([[0.1, 0.9, 0.3], [0.5, 0.2], [0.3, 0.4]], pa.list_(pa.float64()))
IDS = pa.array(["a", "b", "c"])


def _wide(**columns) -> pa.Table:
    return pa.table({"video_id": IDS, "scores": SCORES, **columns})


def _long(**columns) -> pa.Table:
    return pa.table({"video_id": ["a"] * 3 + ["b"] * 2, "frame": [0, 1, 2, 0, 1],
                     "score": [0.1, 0.5, 0.2, 0.3, 0.3], "key_frame": [1, 1, 1, 0, 0], **columns})


def _write(folder: Path, name: str, table: pa.Table) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith((".feather", ".arrow")):
        feather.write_feather(table, path)
    else:
        pq.write_table(table, path)


EMPTY = pa.table({"video_id": pa.array([], pa.string()), "scores": pa.array([], SCORES.type),
                  "cat": pa.array([], pa.string())})
ODD = {
    # name: ({file: table}, arguments, exit code)
    "empty": ({"d.parquet": EMPTY}, [], 0),
    "empty by": ({"d.parquet": EMPTY}, ["--by", "cat"], 0),
    "empty by mean": ({"d.parquet": EMPTY}, ["--by", "cat", "--reduce", "mean"], 0),
    "empty long by": ({"d.parquet": _long(cat=["x"] * 5).slice(0, 0)}, ["--by", "cat"], 0),
    "by all null": ({"d.parquet": _wide(cat=pa.array([None] * 3, pa.string()))}, ["--by", "cat"], 0),
    "by of null type": ({"d.parquet": _wide(cat=pa.nulls(3))}, ["--by", "cat"], 0),
    "by dictionary": ({"d.parquet": _wide(cat=pa.array(["x", "y", "x"]).dictionary_encode())}, ["--by", "cat"], 0),
    "by float with NaN": ({"d.parquet": _wide(cat=pa.array([1.5, float("nan"), None]))}, ["--by", "cat"], 0),
    "by bool": ({"d.parquet": _wide(cat=pa.array([True, False, None]))}, ["--by", "cat"], 0),
    "by date": ({"d.parquet": _wide(cat=pa.array([dt.date(2020, 1, 1), None, dt.date(2021, 1, 1)]))},
                ["--by", "cat"], 0),
    "by timestamp": ({"d.parquet": _wide(cat=pa.array([dt.datetime(2020, 1, 1), None, dt.datetime(2021, 1, 1)],
                                                      pa.timestamp("ns", "UTC")))}, ["--by", "cat"], 0),
    "by binary": ({"d.parquet": _wide(cat=pa.array([b"x", b"y", None]))}, ["--by", "cat"], 0),
    "by values that look like TeX": ({"d.parquet": _wide(cat=["$x^{$", "$a$", "ok"])}, ["--by", "cat"], 0),
    "a by column named like TeX, many groups": (
        {"d.parquet": pa.table({"video_id": [f"v{i}" for i in range(14)], "scores": pa.array([[0.2, 0.8]] * 14),
                                "$x^{$": [f"g{i}" for i in range(14)]})}, ["--by", "$x^{$"], 0),
    "by decimal256": ({"d.parquet": _wide(cat=pa.array([1, 2, None], pa.decimal256(40, 2)))}, ["--by", "cat"], 2),
    "by interval": ({"d.feather": _wide(cat=pa.array([pa.MonthDayNano([1, 2, 3])] * 3,
                                                      pa.month_day_nano_interval()))}, ["--by", "cat"], 2),
    "by decimal128, duration, time, fixed binary": (
        {"d.parquet": _wide(d=pa.array([1, 2, None], pa.decimal128(5, 2)), u=pa.array([1, None, 2], pa.duration("s")),
                            t=pa.array([1, None, 2], pa.time32("s")), b=pa.array([b"ab", b"cd", None], pa.binary(2)))},
        ["--by", "d,u,t,b"], 0),
    "by string_view": ({"d.feather": _wide(cat=pa.array(["x", "y", "x"], pa.string_view()))}, ["--by", "cat"], 0),
    "ids large_string": ({"d.parquet": _wide().set_column(0, "video_id", IDS.cast(pa.large_string()))}, [], 0),
    "ids dictionary": ({"d.parquet": _wide().set_column(0, "video_id", IDS.dictionary_encode())}, [], 0),
    "ids dictionary feather": ({"d.feather": _wide().set_column(0, "video_id", IDS.dictionary_encode())}, [], 0),
    "scores float16": ({"d.parquet": _wide().set_column(1, "scores", pa.array([[0.5]] * 3, pa.list_(pa.float16())))},
                       [], 2),
    "scores int": ({"d.parquet": _wide().set_column(1, "scores", pa.array([[0, 1]] * 3))}, [], 2),
    "scores not a list": ({"d.parquet": _wide()}, ["--scores-col", "video_id", "--id-cols", "scores"], 2),
    "feather": ({"d.feather": _wide()}, [], 0),
    "directory with a text file": ({"d/a.parquet": _wide(), "d/notes.txt": None}, [], 0),
    "glob without match": ({"d.parquet": _wide()}, ["--input", "nothing*[0-9].parquet"], 2),
    "a file named like a glob": ({"d[1].parquet": _wide()}, [], 0),
    "a directory named like a glob": ({"d*/a.parquet": _wide()}, [], 0),
    "empty --id-cols, wide": ({"d.parquet": _wide()}, ["--id-cols", ""], 2),
    "empty --id-cols, long": ({"d.parquet": _long()}, ["--id-cols", ""], 2),
    "empty --by": ({"d.parquet": _wide()}, ["--by", ""], 0),
    "id named twice": ({"d.parquet": _wide()}, ["--id-cols", "video_id,video_id"], 2),
    "id named twice, long": ({"d.parquet": _long()}, ["--id-cols", "video_id,video_id"], 2),
    "key column is the scores": ({"d.parquet": _wide(key_frame=[0, 1, 0])}, ["--key-col", "scores"], 2),
    "key column is the scores, long": ({"d.parquet": _long()}, ["--key-col", "score"], 2),
    "frame column is the scores": ({"d.parquet": _long()}, ["--frame-col", "score"], 2),
    "frame column is the key": ({"d.parquet": _long()}, ["--frame-col", "key_frame"], 2),
}


@pytest.mark.parametrize("name", list(ODD))
def test_odd_input_never_crashes(tmp_path, name):
    files, args, code = ODD[name]
    for file, table in files.items():
        if table is None:
            (tmp_path / file).write_text("notes")
        else:
            _write(tmp_path, file, table)
    target = str(tmp_path / next(iter(files)).split("/")[0])
    if "--input" in args:
        i = args.index("--input")
        target, args = str(tmp_path / args[i + 1]), args[:i] + args[i + 2:]
    result = _cli("run", target, "-o", tmp_path / "out", "-q", *args)
    if code == 2:
        _one_error(result)
    else:
        assert result.exit_code == 0, result.output
        _png_ok(tmp_path / "out")


def test_dataset_directory_skips_what_is_not_data(tmp_path):
    """Notes beside the data are not input; nor is a tf2eng output written inside the directory."""
    data = tmp_path / "data"
    _write(data, "part-0.parquet", _wide())
    _write(data, "category=x/part-1.parquet", _wide().set_column(0, "video_id", pa.array(["d", "e", "f"])))
    (data / "README.md").write_text("# my scores")
    (data / "scores.csv").write_text("video_id,scores\n")
    first = _cli("run", data, "-o", data / "results", "--json", "-q")
    assert first.exit_code == 0, first.output
    again = _cli("run", data, "-o", data / "results", "--json", "-q")
    assert again.exit_code == 0, again.output
    for result in (first, again):
        summary = json.loads(result.stdout)
        assert summary["rows"]["read"] == 6
        assert [Path(f["path"]).name for f in summary["input"]["fingerprint"]["files"]] == [
            "part-1.parquet", "part-0.parquet"]


def test_dataset_directory_of_two_formats_is_one_line(tmp_path):
    _write(tmp_path / "data", "a.parquet", _wide())
    _write(tmp_path / "data", "b.feather", _wide())
    result = _cli("run", tmp_path / "data", "-o", tmp_path / "out", "-q")
    _one_error(result)
    assert "holds both Parquet and Arrow IPC files" in result.stderr


# --- the environment: settings of numba and matplotlib that tf2eng cannot work with ------------


def _tf2eng(env: dict, *args) -> subprocess.CompletedProcess:
    """The installed command in a fresh process, with ``env`` added to this one's environment."""
    exe = Path(sys.executable).with_name("tf2eng")
    return subprocess.run([str(exe), *map(str, args)], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("env, plot", [
    ({"NUMBA_NUM_THREADS": "0"}, True),
    ({"NUMBA_NUM_THREADS": "-3"}, False),
    ({"NUMBA_NUM_THREADS": "abc"}, False),
    ({"NUMBA_NUM_THREADS": "1.5"}, False),
    ({"NUMBA_NUM_THREADS": "--4"}, False),
    ({"NUMBA_DISABLE_JIT": "1"}, False),
    ({"POLARS_MAX_THREADS": "0"}, False),
    ({"POLARS_MAX_THREADS": "many"}, False),
    ({"NUMBA_THREADING_LAYER": "bogus"}, False),
    ({"MPLBACKEND": "bogus"}, True),
    ({"TF2ENG_UNIT_ROWS": "a million"}, False),
])
def test_unusable_environment_is_one_line(small, tmp_path, env, plot):
    done = _tf2eng(env, "run", small, "-o", tmp_path / "out", "-q", *([] if plot else ["--no-plot"]))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tf2eng: error: ") and next(iter(env)) in lines[0], done.stderr
    assert not (tmp_path / "out").exists()


def test_synth_terminated_leaves_no_partial_file(tmp_path):
    """SIGTERM (timeout, systemd, a scheduler) while tf2eng synth writes: the partly written file is removed,
    as on Ctrl-C, and the command says so (exit 143)."""
    import signal
    import time

    exe = Path(sys.executable).with_name("tf2eng")
    proc = subprocess.Popen([str(exe), "synth", str(tmp_path / "x.parquet"), "--tracks", "5000000", "-q"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("x.parquet.tmp-*")):
        assert proc.poll() is None and time.monotonic() < deadline, "synth ended before it wrote"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and err.strip() == "tf2eng: error: terminated; nothing was written", err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [
    ["run", "x.parquet", "--key", "bogus"], ["run", "x.parquet", "--nope"], ["run"], ["bogus"],
    ["run", "x.parquet", "--engine", "dask", "--workers", "0"], ["run", "x.parquet", "--lam"],
])
def test_a_usage_error_is_one_line(args):
    """What click finds before a command runs (a bad choice, an unknown option, a missing argument or command)
    is one line and exit 2, as every other error of the command, not click's usage block."""
    done = _tf2eng({}, *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("tf2eng: error: "), done.stderr


@pytest.mark.parametrize("log", [["--log-format", "json"], ["--log-format=json"]])
def test_a_usage_error_under_json_logs_is_a_json_error_event(log):
    """With --log-format json a usage error is the JSON error event every other error is (README, Logs), though
    click stops before it reads the option."""
    done = _tf2eng({}, "run", "x.parquet", *log, "--reduce", "bogus")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    event = json.loads(lines[0])
    assert event["event"] == "error" and event["exit_code"] == 2 and "--reduce" in event["message"]


def test_a_bad_plotting_backend_does_not_matter_without_the_plot(small, tmp_path):
    done = _tf2eng({"MPLBACKEND": "bogus"}, "run", small, "-o", tmp_path / "out", "-q", "--no-plot")
    assert done.returncode == 0, done.stderr


def test_version_and_help_load_no_numba():
    code = "import sys, tf2eng.cli.app; print('numba' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_a_file_is_read_as_what_it_holds_not_as_its_name_says(tmp_path):
    """tf2eng synth writes Parquet whatever the name; a run on that file reads it."""
    synth = _cli("synth", tmp_path / "scores.feather", "--tracks", "20", "-q")
    assert synth.exit_code == 0, synth.output
    feather.write_feather(_wide(), tmp_path / "ipc.parquet")
    for name in ("scores.feather", "ipc.parquet"):
        result = _cli("run", tmp_path / name, "-o", tmp_path / f"{name}.out", "-q", "--no-plot")
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize("n_groups", [1, 2, 3, 4, 7, 12, 13])
def test_plot_texts_stay_inside_the_figure_and_apart(tmp_path, monkeypatch, n_groups):
    """Axis labels inside the figure, panel titles below the figure's title, whatever the number of rows."""
    from matplotlib.figure import Figure

    figures = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (figures.append(self), save(self, *a, **k)))
    tracks = [GOOD] * n_groups
    pq.write_table(_table(tracks, [f"g{i:02d}" for i in range(n_groups)]), tmp_path / "d.parquet")
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", by=["model"])
    fig = figures[0]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    width, height = fig.bbox.width, fig.bbox.height
    suptitle = fig._suptitle.get_window_extent(renderer)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for text in (ax.xaxis.label, ax.yaxis.label, ax.title):
            if text.get_text():
                box = text.get_window_extent(renderer)
                assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height, text.get_text()
        if ax.get_title():
            assert ax.title.get_window_extent(renderer).y1 <= suptitle.y0, ax.get_title()


def test_a_panic_from_a_library_is_an_internal_error_in_one_line(monkeypatch):
    """Rust libraries (polars) raise pyo3's PanicException, a BaseException: still exit 1, one line."""
    from tf2eng.engine.tools import steps

    class PanicException(BaseException):
        pass

    def panic(*args, **kwargs):
        raise PanicException("operator does not support primitive `Int256`")

    monkeypatch.setattr(steps, "steps_table", panic)
    result = runner.invoke(app, ["steps", "A:2"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "tf2eng: error: internal error: PanicException: operator does not support primitive `Int256` "
        "(set TF2ENG_DEBUG=1 for the traceback)"]
