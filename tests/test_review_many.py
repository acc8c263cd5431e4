"""Review findings on datasets of many files and scheduled runs over them: each test reproduces a defect
found by trying to break the engine, and pins the behaviour README describes."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import tf2eng
from conftest import assert_one_error, invoke_cli

SCORES = [[0.1, 0.5, 0.9], [0.3, 0.2], [0.8, 0.4, 0.6, 0.7]]


def _tracks(ids, id_type, by=None, by_type=None) -> pa.Table:
    columns = {"video_id": pa.array(ids, id_type),
               "scores": pa.array([SCORES[i % 3] for i in range(len(ids))], pa.list_(pa.float64()))}
    if by is not None:
        columns["group"] = pa.array(by, by_type)
    return pa.table(columns)


@pytest.mark.parametrize("write, suffix", [(pq.write_table, "parquet"), (feather.write_feather, "arrow")])
@pytest.mark.parametrize("types, ids, want", [
    ((pa.int32(), pa.int64()), ([1, 2], [3_000_000_000, -4]), pa.int64()),
    ((pa.int64(), pa.int32()), ([3_000_000_000, -4], [1, 2]), pa.int64()),
    ((pa.int8(), pa.uint8()), ([-1, 2], [200, 3]), pa.int16()),
    ((pa.uint64(), pa.int8()), ([2**63 + 5, 1], [3, 4]), pa.uint64()),  # int64 would not hold the first: as before
])
def test_files_with_other_integer_widths_of_an_id_read_as_one_file(tmp_path, write, suffix, types, ids, want):
    """README, Input: an id column of other integer widths in other files is read as the type that holds
    them all, whichever file comes first; before, the first file's type was forced on the others and an
    id beyond it stopped the run (exit 2) with a message that named no column."""
    data = tmp_path / "data"
    data.mkdir()
    for name, id_type, values in zip("ab", types, ids):
        write(_tracks(values, id_type), data / f"{name}.{suffix}")
    one = pa.concat_tables([_tracks(v, want) for v in ids])
    pq.write_table(one, tmp_path / "one.parquet")
    got = tf2eng.run(data, tmp_path / "out", plot=False)
    whole = tf2eng.run(tmp_path / "one.parquet", tmp_path / "one.out", plot=False)
    stages = pq.read_table(got.out / "stages")
    assert stages.schema.field("video_id").type == want
    assert stages["video_id"].to_pylist() == ids[0] + ids[1]
    for name in ("stage_means.parquet", "curve.parquet"):
        assert (got.out / name).read_bytes() == (whole.out / name).read_bytes()


def test_a_by_column_of_float32_and_float64_files_keeps_float64_values(tmp_path):
    """A --by column of float32 in the first file and float64 in another is read as float64: its values
    are not rounded to float32, which merged groups that a single file keeps apart."""
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(_tracks([1, 2], pa.int64(), [0.5, 0.25], pa.float32()), data / "a.parquet")
    pq.write_table(_tracks([3, 4], pa.int64(), [0.5, 0.5000000001], pa.float64()), data / "b.parquet")
    got = tf2eng.run(data, tmp_path / "out", plot=False, by=["group"])
    means = pq.read_table(got.out / "stage_means.parquet")
    assert means.schema.field("group").type == pa.float64()
    counts = {(row["group"], row["count"]) for row in means.filter(pa.compute.equal(means["stage"], 0)).to_pylist()}
    assert counts == {(0.25, 1), (0.5, 2), (0.5000000001, 1)}


@pytest.mark.parametrize("suffix", ["npy", "npz", "jsonl", "csv"])
@pytest.mark.parametrize("given", ["directory", "glob"])
def test_a_file_whose_name_is_not_utf8_stops_the_run_naming_it_in_every_format(tmp_path, suffix, given):
    """A NumPy file whose name is not UTF-8 among others was an internal error (exit 1): its fingerprint,
    the unit keys and the outputs name files as text.  Every format now stops with one line that names
    the file and says why (as Parquet did), exit 2."""
    data = tmp_path / "data"
    data.mkdir()
    try:
        names = ["a", os.fsdecode(b"b\xff"), "c"]
        for name in names:
            path = os.path.join(str(data), f"{name}.{suffix}")
            if suffix == "npy":
                np.save(path, np.array([0.1, 0.5, 0.9]))
            elif suffix == "npz":
                np.savez(path, e0=np.array([0.1, 0.5, 0.9]))
            elif suffix == "jsonl":
                with open(path, "w") as f:
                    f.write('{"video_id": "v", "scores": [0.1, 0.5]}\n')
            else:
                with open(path, "w") as f:
                    f.write("video_id,frame,score\nv,0,0.1\nv,1,0.5\n")
    except (OSError, UnicodeError):
        pytest.skip("the file system takes UTF-8 names only")
    target = data if given == "directory" else data / f"*.{suffix}"
    assert_one_error(invoke_cli("run", target, "-o", tmp_path / "out", "--no-plot"), f"b\\udcff.{suffix}",
                     "not UTF-8")


@pytest.mark.parametrize("write, suffix", [(pq.write_table, "parquet"), (feather.write_feather, "arrow")])
@pytest.mark.parametrize("given", ["directory", "glob"])
def test_hive_partition_columns_that_the_files_hold_too_take_the_files_type(tmp_path, write, suffix, given):
    """README, Input: hive partitions whose columns the files hold too, as polars' ``write_parquet(...,
    partition_by=...)`` writes them (year int64, category text in each file, year=2020/category=x/ above
    it), read as one file of the same rows; Arrow's guess from the directory names (year int32) clashed
    with the files' int64 and stopped every run (exit 2)."""
    table = pa.table({"video_id": pa.array(["a", "b", "c", "d"]), "year": pa.array([2020, 2021, 2020, 2021]),
                      "category": pa.array(["x", "y", "x", "x"]),
                      "scores": pa.array([SCORES[i % 3] for i in range(4)], pa.list_(pa.float64()))})
    data = tmp_path / "data"
    for year, category in {(r["year"], r["category"]) for r in table.to_pylist()}:
        part = table.filter(pa.compute.and_(pa.compute.equal(table["year"], year),
                                            pa.compute.equal(table["category"], category)))
        (data / f"year={year}" / f"category={category}").mkdir(parents=True)
        write(part, data / f"year={year}" / f"category={category}" / f"0.{suffix}")
    pq.write_table(table, tmp_path / "one.parquet")
    target = data if given == "directory" else data / "**" / f"*.{suffix}"
    for by in (["year"], ["category"], ["year", "category"]):
        got = tf2eng.run(target, tmp_path / "out", plot=False, by=by)
        whole = tf2eng.run(tmp_path / "one.parquet", tmp_path / "one.out", plot=False, by=by)
        for name in ("stage_means.parquet", "curve.parquet"):
            assert (got.out / name).read_bytes() == (whole.out / name).read_bytes(), by


@pytest.mark.parametrize("suffix", ["parquet", "arrow", "csv"])
def test_a_file_value_of_a_hive_partition_column_wins_over_its_directory_name_in_every_format(tmp_path, suffix):
    """README, Input: where a file holds a hive partition column itself, its own values are read, whatever
    the directory says; Arrow IPC files took the directory's value, while Parquet and text files took the
    file's."""
    table = pa.table({"video_id": pa.array(["a", "b", "c"]), "grp": pa.array([2, 2, 3]),
                      "scores": pa.array(SCORES, pa.list_(pa.float64()))})
    (tmp_path / "data" / "grp=1").mkdir(parents=True)
    path = tmp_path / "data" / "grp=1" / f"0.{suffix}"
    if suffix == "parquet":
        pq.write_table(table, path)
    elif suffix == "arrow":
        feather.write_feather(table, path)
    else:
        import pyarrow.csv as pacsv

        long = pa.table({"video_id": [v for v, s in zip(["a", "b", "c"], SCORES) for _ in s],
                         "grp": [g for g, s in zip([2, 2, 3], SCORES) for _ in s],
                         "frame": [i for s in SCORES for i in range(len(s))],
                         "score": [x for s in SCORES for x in s]})
        pacsv.write_csv(long, path)
    pq.write_table(table, tmp_path / "one.parquet")
    got = tf2eng.run(tmp_path / "data", tmp_path / "out", plot=False, by="grp")
    whole = tf2eng.run(tmp_path / "one.parquet", tmp_path / "one.out", plot=False, by="grp")
    assert set(pq.read_table(got.out / "stage_means.parquet").column("grp").to_pylist()) == {2, 3}
    for name in ("stage_means.parquet", "curve.parquet"):
        assert (got.out / name).read_bytes() == (whole.out / name).read_bytes()


def test_an_id_that_the_dataset_type_cannot_hold_is_named_with_its_column(tmp_path):
    """README, Input: uint64 ids beside signed ones keep the first file's type; a value beyond it stops the
    run (exit 2) with one line that now names the column, not only the value Arrow could not cast."""
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(_tracks([1, 2], pa.int32()), data / "a.parquet")
    pq.write_table(_tracks([3_000_000_000, 5], pa.uint64()), data / "b.parquet")
    assert_one_error(invoke_cli("run", data, "-o", tmp_path / "out", "--no-plot"), "b.parquet",
                     "column 'video_id' (uint64) as int32", "3000000000")
