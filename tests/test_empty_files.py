"""Parquet and Arrow IPC files without rows among files with rows (README, Input: No rows): an empty data
frame's dump (pandas writes its columns with no type), a file of other columns, in any position, the first
too. They add nothing: the run reads the other files, whose columns decide, as if they were alone."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tf2eng
from conftest import invoke_cli, wide_table

EMPTIES = {
    # pandas' empty data frame: every column of Arrow's null type
    "untyped": pa.table({name: pa.array([], pa.null()) for name in ("video_id", "exp_id", "scores", "key_frame", "grp")}),
    "typed": wide_table([], [], extra={"grp": pa.array([], pa.string())}),
    "other columns": pa.table({"frame": pa.array([], pa.int64()), "note": pa.array([], pa.string())}),
}


def _table(n=30, seed=0):
    rng = np.random.default_rng(seed)
    tracks = [list(rng.uniform(0, 1, rng.integers(2, 12))) for _ in range(n)]
    tracks[4] = [0.3, 1.7]  # rejected: out of range
    keys = [int(rng.integers(0, len(t))) for t in tracks]
    return wide_table(tracks, keys, extra={"grp": ["a" if i % 3 else "b" for i in range(n)]})


def _outputs(out):
    summary = json.loads((out / "summary.json").read_text())
    digests = {name: summary["digests"][name] for name in ("stage_means.parquet", "curve.parquet")}
    return digests, pq.read_table(out / "stages"), pq.read_table(out / "rejected.parquet"), summary


def _write(table, directory, name, fmt):
    """``table`` as a Parquet file or an Arrow IPC file ``name`` in ``directory``."""
    if fmt == "parquet":
        pq.write_table(table, directory / f"{name}.parquet")
    else:
        with pa.ipc.new_file(directory / f"{name}.arrow", table.schema) as writer:
            writer.write_table(table)


def _run_without_rows(tmp_path, files):
    """``tf2eng run`` over the input directory ``d`` with --by grp: it completes having read no row, over
    ``files`` files; its summary.json."""
    result = invoke_cli("run", str(tmp_path / "d"), "-o", str(tmp_path / "out"), "--no-plot", "-q", "--by", "grp")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rows"]["read"] == 0 and summary["input"]["files"] == files
    return summary


@settings(max_examples=12, deadline=None)
@given(cuts=st.lists(st.integers(1, 29), max_size=3, unique=True),
       empties=st.lists(st.tuples(st.integers(0, 4), st.sampled_from(sorted(EMPTIES))), min_size=1, max_size=3))
def test_files_without_rows_anywhere_change_nothing(tmp_path_factory, cuts, empties):
    tmp = tmp_path_factory.mktemp("empty")
    table = _table()
    pq.write_table(table, tmp / "one.parquet")
    one = _outputs(tf2eng.run(tmp / "one.parquet", tmp / "one", by="grp", plot=False).out)
    bounds = [0, *sorted(cuts), table.num_rows]
    parts = [table.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:])]
    for position, kind in sorted(empties, reverse=True):
        parts.insert(min(position, len(parts)), EMPTIES[kind])
    (tmp / "parts").mkdir()
    for i, part in enumerate(parts):
        pq.write_table(part, tmp / "parts" / f"p{i:02d}.parquet")
    digests, stages, rejected, summary = _outputs(tf2eng.run(tmp / "parts", tmp / "split", by="grp", plot=False).out)
    assert digests == one[0]
    assert stages.equals(one[1])
    assert rejected.drop(["source", "row"]).equals(one[2].drop(["source", "row"]))
    assert summary["rows"] == one[3]["rows"]
    assert summary["input"]["files"] == len(cuts) + 1
    assert summary["input"]["files_without_rows"] == len(empties)
    listed = [entry["path"] for entry in summary["input"]["fingerprint"]["files"]]
    assert len(listed) == len(cuts) + 1 and all(pq.read_metadata(path).num_rows for path in listed)


def test_the_first_file_with_rows_decides_the_columns(tmp_path):
    """An empty first file without exp_id or the key column: exp_id is still an id and the key frames are read,
    as where the empty file is not there; a file with rows that lacks exp_id is named against that file."""
    table = _table(12)
    (tmp_path / "d").mkdir()
    pq.write_table(pa.table({"video_id": pa.array([], pa.string()), "scores": pa.array([], pa.list_(pa.float64()))}),
                   tmp_path / "d" / "a.parquet")
    pq.write_table(table.slice(0, 6), tmp_path / "d" / "b.parquet")
    pq.write_table(table.slice(6), tmp_path / "d" / "c.parquet")
    pq.write_table(table, tmp_path / "one.parquet")
    got = tf2eng.run(tmp_path / "d", tmp_path / "out", plot=False)
    want = tf2eng.run(tmp_path / "one.parquet", tmp_path / "want", plot=False)
    assert got.summary["columns"] == want.summary["columns"] and "exp_id" in got.summary["columns"]["ids"]
    assert pq.read_table(tmp_path / "out" / "stages").equals(pq.read_table(tmp_path / "want" / "stages"))

    pq.write_table(table.slice(6).drop(["exp_id"]), tmp_path / "d" / "c.parquet")  # lacks exp_id: stops
    pq.write_table(table.slice(0, 6).drop(["exp_id"]), tmp_path / "d" / "b.parquet")
    pq.write_table(table.slice(6), tmp_path / "d" / "c.parquet")
    result = invoke_cli("run", str(tmp_path / "d"), "-o", str(tmp_path / "out2"), "--no-plot", "-q")
    assert result.exit_code == 2
    assert "c.parquet: has the column 'exp_id', which" in result.output and "b.parquet lacks" in result.output


def test_an_empty_first_file_in_hive_partitions_and_in_arrow_ipc(tmp_path):
    table = _table(10)
    for k, part in (("1", EMPTIES["untyped"]), ("2", table.slice(0, 4)), ("3", table.slice(4))):
        (tmp_path / "hive" / f"k={k}").mkdir(parents=True)
        pq.write_table(part.drop(["grp"]) if part.num_rows else part, tmp_path / "hive" / f"k={k}" / "f.parquet")
    got = tf2eng.run(tmp_path / "hive", tmp_path / "out", by="k", plot=False)
    assert got.summary["input"]["files_without_rows"] == 1
    assert sorted(set(got.stage_means["k"].to_list())) == [2, 3]

    (tmp_path / "ipc").mkdir()
    for name, part in (("a", EMPTIES["untyped"]), ("b", table.slice(0, 4)), ("c", EMPTIES["other columns"]),
                       ("d", table.slice(4))):
        with pa.ipc.new_file(tmp_path / "ipc" / f"{name}.arrow", part.schema) as writer:
            writer.write_table(part)
    pq.write_table(table, tmp_path / "one.parquet")
    ipc = tf2eng.run(tmp_path / "ipc", tmp_path / "ipc-out", by="grp", plot=False)
    one = tf2eng.run(tmp_path / "one.parquet", tmp_path / "one-out", by="grp", plot=False)
    assert ipc.summary["input"]["files_without_rows"] == 2
    assert ipc.summary["digests"]["stage_means.parquet"] == one.summary["digests"]["stage_means.parquet"]


@pytest.mark.parametrize("layout", ["wide", "long"])
@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
@pytest.mark.parametrize("kind", ["typed", "untyped"])
@pytest.mark.parametrize("files", [1, 2])
def test_files_that_all_lack_rows_complete_with_empty_outputs(tmp_path, kind, files, fmt, layout):
    """No file has rows (a day without data): a run completes with empty outputs (exit 0), also where pandas
    wrote the columns of no type; those take the types of an input without rows (the ids and --by text, the
    scores float64), those the options do not name (exp_id, key_frame here) are left out."""
    empty = EMPTIES[kind]
    if layout == "long":
        empty = empty.drop(["scores"]).append_column("frame", pa.array([], pa.int64()))
        empty = empty.append_column("score", pa.array([], pa.null() if kind == "untyped" else pa.float64()))
    (tmp_path / "d").mkdir()
    for name in ("a", "b")[:files]:
        _write(empty, tmp_path / "d", name, fmt)
    summary = _run_without_rows(tmp_path, files)
    assert summary["input"]["files_without_rows"] == 0 and summary["input"]["layout"] == layout
    assert summary["columns"]["ids"] == (["video_id", "exp_id"] if kind == "typed" else ["video_id"])
    stages = pq.read_table(tmp_path / "out" / "stages")
    assert stages.num_rows == 0 and stages.schema.field("grp").type == pa.string()
    assert pq.read_table(tmp_path / "out" / "stage_means.parquet").num_rows == 0


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
@pytest.mark.parametrize("order", [("untyped", "typed"), ("typed", "untyped")])
def test_columns_of_no_type_take_another_files_type_where_no_file_has_rows(tmp_path, order, fmt):
    """No file has rows, and one writer gave the columns types, another (pandas) none: each column takes the
    type a file gives it, in either order, and the run completes with empty outputs of those types."""
    typed = wide_table([], [], extra={"grp": pa.array([], pa.int16())})
    typed = typed.set_column(0, "video_id", pa.array([], pa.int64()))
    tables = {"typed": typed, "untyped": EMPTIES["untyped"]}
    (tmp_path / "d").mkdir()
    for name, kind in zip("ab", order):
        _write(tables[kind], tmp_path / "d", name, fmt)
    summary = _run_without_rows(tmp_path, 2)
    assert summary["columns"]["ids"] == ["video_id", "exp_id"]
    stages = pq.read_table(tmp_path / "out" / "stages")
    assert stages.num_rows == 0
    assert stages.schema.field("video_id").type == pa.int64() and stages.schema.field("grp").type == pa.int16()
    assert pq.read_table(tmp_path / "out" / "rejected.parquet").num_rows == 0


NOT_AN_INPUT = {
    # pandas.DataFrame([]), polars.DataFrame(), pa.table({}): no columns at all
    "no columns": pa.table({}),
    # pandas 3's DataFrame({name: []}): every column float64, ids too
    "float64": pa.table({name: pa.array([], pa.float64()) for name in ("video_id", "exp_id", "scores", "key_frame")}),
    # another writer's columns: no scores, an id of a type no id takes
    "other columns": pa.table({"video_id": pa.array([], pa.list_(pa.int8())), "frame": pa.array([], pa.int64())}),
}


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
@pytest.mark.parametrize("kind", list(NOT_AN_INPUT))
def test_files_without_rows_whose_columns_make_no_input_take_the_options_columns(tmp_path, kind, fmt):
    """No file has rows and their columns make no input (none at all, ids of a type no id takes, no scores,
    a --by column none has): the run completes, with the columns the options name in README's types."""
    (tmp_path / "d").mkdir()
    for name, table in (("a", NOT_AN_INPUT[kind]), ("b", EMPTIES["typed"].drop(["grp"]))):
        _write(table, tmp_path / "d", name, fmt)
    summary = _run_without_rows(tmp_path, 2)
    assert summary["columns"]["ids"] == ["video_id"] and summary["input"]["layout"] == "wide"
    stages = pq.read_table(tmp_path / "out" / "stages")
    assert stages.num_rows == 0
    assert stages.schema.field("video_id").type == pa.string() and stages.schema.field("grp").type == pa.string()
    assert pq.read_table(tmp_path / "out" / "stage_means.parquet").num_rows == 0


def test_options_that_make_no_run_still_stop_an_input_without_rows(tmp_path):
    """An input without rows does not stop on its files' columns, but options that clash still stop it."""
    pq.write_table(EMPTIES["untyped"], tmp_path / "a.parquet")
    result = invoke_cli("run", str(tmp_path / "a.parquet"), "-o", str(tmp_path / "out"), "--no-plot", "-q",
                        "--by", "stage")
    assert result.exit_code == 2 and "clashes" in result.output


def test_hive_partitions_of_files_without_rows_change_nothing(tmp_path):
    """The directory names of files without rows give the partition columns neither their type (a text
    value among integers) nor their names: the run equals one without those files."""
    table = _table(12)
    for k, part in (("1", table.slice(0, 6)), ("2", table.slice(6)), ("x", EMPTIES["untyped"])):
        (tmp_path / "with" / f"k={k}").mkdir(parents=True)
        pq.write_table(part, tmp_path / "with" / f"k={k}" / "f.parquet")
        if part.num_rows:
            (tmp_path / "without" / f"k={k}").mkdir(parents=True)
            pq.write_table(part, tmp_path / "without" / f"k={k}" / "f.parquet")
    (tmp_path / "with" / "k=2" / "extra=1").mkdir()  # a partition key only files without rows have
    pq.write_table(EMPTIES["typed"], tmp_path / "with" / "k=2" / "extra=1" / "g.parquet")
    got = tf2eng.run(tmp_path / "with", tmp_path / "out", by="k", plot=False)
    want = tf2eng.run(tmp_path / "without", tmp_path / "want", by="k", plot=False)
    assert got.summary["input"]["files_without_rows"] == 2 and got.summary["input"]["files"] == 2
    for name in ("stage_means.parquet", "curve.parquet"):
        assert got.summary["digests"][name] == want.summary["digests"][name]
    assert pq.read_table(tmp_path / "out" / "stages").equals(pq.read_table(tmp_path / "want" / "stages"))
    assert pq.read_table(tmp_path / "out" / "stage_means.parquet").schema.field("k").type == pa.int32()
    result = invoke_cli("run", str(tmp_path / "with"), "-o", str(tmp_path / "out2"), "--no-plot", "-q", "--by", "extra")
    assert result.exit_code == 2 and "missing column 'extra'" in result.output


def _named_badly(path, rows):
    """A Parquet file whose column 'zzzz' is named with bytes that are not UTF-8."""
    pq.write_table(pa.table({"zzzz": pa.array(range(rows), pa.int64())}), path)
    path.write_bytes(path.read_bytes().replace(b"zzzz", b"\xff\xfezz"))


@pytest.mark.parametrize("first", [True, False])
def test_files_without_rows_are_not_checked_whatever_their_column_names(tmp_path, first):
    """A column named twice, or with bytes that are not UTF-8, in a file without rows: not checked."""
    table = _table(12)
    (tmp_path / "d").mkdir()
    pq.write_table(table.slice(0, 6), tmp_path / "d" / "b.parquet")
    pq.write_table(table.slice(6), tmp_path / "d" / "d.parquet")
    _named_badly(tmp_path / "d" / ("a.parquet" if first else "c.parquet"), 0)
    if not first:
        twice = pa.Table.from_arrays([pa.array([], pa.int64())] * 2, names=["x", "x"])
        pq.write_table(twice, tmp_path / "d" / "e.parquet")
    pq.write_table(table, tmp_path / "one.parquet")
    got = tf2eng.run(tmp_path / "d", tmp_path / "out", plot=False)
    want = tf2eng.run(tmp_path / "one.parquet", tmp_path / "want", plot=False)
    assert got.summary["input"]["files_without_rows"] == (1 if first else 2)
    assert got.summary["digests"]["stage_means.parquet"] == want.summary["digests"]["stage_means.parquet"]
    _named_badly(tmp_path / "d" / "b.parquet", 3)  # with rows: checked
    result = invoke_cli("run", str(tmp_path / "d"), "-o", str(tmp_path / "out2"), "--no-plot", "-q")
    assert result.exit_code == 2 and "b.parquet: cannot read: a column's name is not UTF-8" in result.output


@pytest.mark.parametrize("fmt", ["parquet", "ipc"])
def test_an_empty_first_file_adds_no_column(tmp_path, fmt):
    """The columns of an empty first file that the files with rows lack are no columns of the dataset:
    its exp_id no id, its other columns nothing --by could name."""
    table = _table(12).drop(["exp_id"])
    empty = pa.table({"video_id": pa.array([], pa.string()), "exp_id": pa.array([], pa.int64()),
                      "scores": pa.array([], pa.list_(pa.float64())), "note": pa.array([], pa.string())})
    (tmp_path / "d").mkdir()
    for name, part in (("a", empty), ("b", table.slice(0, 6)), ("c", table.slice(6))):
        if fmt == "parquet":
            pq.write_table(part, tmp_path / "d" / f"{name}.parquet")
        else:
            with pa.ipc.new_file(tmp_path / "d" / f"{name}.arrow", part.schema) as writer:
                writer.write_table(part)
    pq.write_table(table, tmp_path / "one.parquet")
    got = tf2eng.run(tmp_path / "d", tmp_path / "out", by="grp", plot=False)
    want = tf2eng.run(tmp_path / "one.parquet", tmp_path / "want", by="grp", plot=False)
    assert got.summary["columns"] == want.summary["columns"]
    assert pq.read_table(tmp_path / "out" / "stages").equals(pq.read_table(tmp_path / "want" / "stages"))
    result = invoke_cli("run", str(tmp_path / "d"), "-o", str(tmp_path / "out2"), "--no-plot", "-q", "--by", "note")
    assert result.exit_code == 2 and "b." in result.output and "missing column 'note'" in result.output
