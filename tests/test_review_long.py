"""Review findings on the long layout and real frame labels (engine/long.py): each test reproduces a
defect found by trying to break the engine, and pins the behaviour README describes."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tf2eng
from tf2eng.engine.errors import InputError
from tf2eng.engine import long as long_module


def _stages(result) -> pl.DataFrame:
    return result.stages().collect().sort("video_id")


@pytest.mark.parametrize("spill", [False, True])
@pytest.mark.parametrize("first, second", [(pa.int8(), pa.int64()), (pa.uint8(), pa.int32()), (pa.int16(), pa.uint64())])
def test_integer_labels_of_other_widths_in_other_files(tmp_path, monkeypatch, spill, first, second):
    """README, Input: files must agree on the *kind* of the frame column (integers or strings), and a
    key column may be of any integer type, files differing.  A first file of int8 labels and keys
    set the type every later file was cast to, so labels beyond it (100000) stopped the run with an
    internal error."""
    if spill:
        monkeypatch.setattr(long_module, "PARTITION_ROWS", 2)
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"video_id": ["a", "a"], "frame": pa.array([1, 2], first), "score": [0.5, 0.25],
                             "key_frame": pa.array([2, 2], first)}), data / "a.parquet")
    pq.write_table(pa.table({"video_id": ["b", "b", "b"], "frame": pa.array([100000, 200000, 300000], second),
                             "score": [0.1, 0.3, 0.2], "key_frame": pa.array([200000] * 3, second)}),
                   data / "b.parquet")
    stages = _stages(tf2eng.run(data, tmp_path / "out", plot=False))
    assert stages["key_label"].to_list() == [2, 200000]
    assert stages["key_frame"].to_list() == [1, 1] and stages["T"].to_list() == [2, 3]


@pytest.mark.parametrize("types, grouped", [
    ((pa.int32(), pa.int32()), pa.int32()),  # all files agree: as they hold them (half the spilled bytes of int64)
    ((pa.int32(), pa.int64()), pa.int64()),
    ((pa.uint64(), pa.uint64()), pa.int64()),  # (null beyond int64)
])
def test_labels_are_grouped_as_the_files_hold_them_where_they_agree(tmp_path, types, grouped):
    """Frame labels and keys become int64 for the grouping only where files hold other integer types
    (or uint64): int32 labels of every file grouped as int64 spilled 0.8 GB more on 100 M frame rows,
    and the run took 21-23 s instead of 25 s."""
    from tf2eng.engine.options import Options
    from tf2eng.engine.source import Source

    data = tmp_path / "data"
    data.mkdir()
    for name, t in zip("ab", types):
        pq.write_table(pa.table({"video_id": [name, name], "frame": pa.array([0, 1], t),
                                 "score": [0.5, 0.25], "key_frame": pa.array([1, 1], t)}), data / f"{name}.parquet")
    schema = long_module._spill_schema(Source(str(data), Options()))
    assert schema.field("frame").type == grouped and schema.field("key_frame").type == grouped


@pytest.mark.parametrize("spill", [False, True])
def test_float64_scores_after_a_float32_file_keep_their_digits(tmp_path, monkeypatch, spill):
    """README, Accuracy: float32 input is widened, float64 read as it is, and the long layout gives the
    wide layout's results on the same tracks.  A first file of float32 scores made every later file's
    float64 scores float32 (0.1 became 0.10000000149...)."""
    if spill:
        monkeypatch.setattr(long_module, "PARTITION_ROWS", 2)
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"video_id": ["a", "a"], "frame": [1, 2], "score": pa.array([0.5, 0.25], pa.float32())}),
                   data / "a.parquet")
    pq.write_table(pa.table({"video_id": ["b", "b"], "frame": [1, 2], "score": pa.array([0.1, 0.3], pa.float64())}),
                   data / "b.parquet")
    wide = pa.table({"video_id": ["a", "b"], "scores": pa.array([[0.5, 0.25], [0.1, 0.3]], pa.list_(pa.float64()))})
    pq.write_table(wide, tmp_path / "wide.parquet")
    got = tf2eng.run(data, tmp_path / "long.out", plot=False)
    want = tf2eng.run(tmp_path / "wide.parquet", tmp_path / "wide.out", plot=False)
    assert _stages(got).drop("key_label").equals(_stages(want))
    for name in ("stage_means.parquet", "curve.parquet"):
        assert got.summary["digests"][name] == want.summary["digests"][name]


LONG = pa.table({"video_id": ["a", "a", "b"], "frame": ["00000", "00005", "00000"], "score": [0.2, 0.6, 0.4],
                 "key_frame": ["00005", "00005", "00000"]})
WIDE = pa.table({"video_id": ["a", "b"], "scores": [[0.2, 0.6], [0.4]]})


@pytest.mark.parametrize("table, role, name", [
    (LONG, "by", "key_label"), (LONG, "by", "frames"), (LONG, "by", "rows"), (LONG, "ids", "rows"),
    (LONG, "by", "reason"), (LONG, "ids", "source"), (LONG, "by", "__track"), (LONG, "ids", "__key_read"),
    (LONG, "by", "__key_beyond_int64"), (WIDE, "by", "x"), (WIDE, "by", "count"), (WIDE, "by", "stage"),
    (WIDE, "by", "row"), (WIDE, "ids", "reason"),
])
def test_an_id_or_by_column_named_as_an_output_column_stops_the_run(tmp_path, table, role, name):
    """README, Input: an id or --by column may not take a name the outputs give their own columns.
    Before, the long layout's ``frames``, ``rows`` and working columns gave an internal error (exit 1),
    ``--by key_label`` a stages/ with two key_label columns, ``--by x`` a stage_means.parquet whose
    group column was overwritten by the positions, ``--by reason`` a message about damaged stored
    results."""
    pq.write_table(table.append_column(name, pa.array(["g"] * table.num_rows)), tmp_path / "in.parquet")
    options = {"by": [name]} if role == "by" else {"id_cols": ["video_id", name]}
    with pytest.raises(InputError, match=rf"column '{name}' clashes with a column tf2eng reads or writes"):
        tf2eng.run(tmp_path / "in.parquet", tmp_path / "out", plot=False, **options)


def test_key_label_is_a_by_column_of_the_wide_layout_without_meta(tmp_path):
    """Only outputs that write key_label reserve the name: a wide run without --meta groups by it."""
    pq.write_table(WIDE.append_column("key_label", pa.array(["g", "h"])), tmp_path / "in.parquet")
    stages = _stages(tf2eng.run(tmp_path / "in.parquet", tmp_path / "out", plot=False, by=["key_label"]))
    assert stages["key_label"].to_list() == ["g", "h"]


@pytest.mark.parametrize("frames", [[1, 1, 2], [None, None, None]])
def test_rejected_by_value_of_tied_rows_does_not_depend_on_row_order(tmp_path, frames):
    """README, Input (long layout): a track with a null or repeated label is ordered by label, score,
    key and --by values, so that its row in rejected.parquet does not depend on the input's row order.
    Two rows alike in label, score and key but not in --by value gave the category of whichever came
    first."""
    table = pa.table({"video_id": ["a", "a", "a", "b"], "frame": pa.array(frames + [1], pa.int64()),
                      "score": [0.1, 0.1, 0.2, 0.3], "category": ["y", "x", "y", "y"]})
    rejected = []
    for i, order in enumerate(([0, 1, 2, 3], [1, 0, 2, 3])):
        pq.write_table(table.take(order), tmp_path / f"{i}.parquet")
        result = tf2eng.run(tmp_path / f"{i}.parquet", tmp_path / f"{i}.out", plot=False, by=["category"])
        rejected.append(pl.read_parquet(result.out / "rejected.parquet").drop("source"))
    assert rejected[0]["category"].to_list() == ["x"]
    assert rejected[0].equals(rejected[1])
