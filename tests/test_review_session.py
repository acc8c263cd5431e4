"""Review findings on Parquet reads through Arrow's Parquet reader, widths across files, hive partitions
and text inputs: each test reproduces a defect found by trying to break the engine, and pins the
behaviour README describes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import tf2eng
from conftest import assert_one_error, invoke_cli

SCORES = [[0.1, 0.5, 0.9], [0.3, 0.2], [0.8, 0.4, 0.6, 0.7]]


@pytest.mark.parametrize("write, suffix", [(pq.write_table, "parquet"), (feather.write_feather, "arrow")])
@pytest.mark.parametrize("index_type, ordered", [(pa.uint32(), False), (pa.uint8(), True)])
def test_hive_partition_columns_the_files_hold_as_categoricals_read_as_their_text(tmp_path, write, suffix,
                                                                                 index_type, ordered):
    """A hive partition column that the files hold dictionary-encoded, as polars' ``write_parquet(...,
    partition_by=...)`` writes a Categorical (uint32 indices) or Enum (uint8, ordered) column, reads as
    the same rows with the column as text; the files' dictionary type was given to the partition values,
    which hold no dictionary, and every run stopped (exit 2, "No dictionary provided")."""
    table = pa.table({"video_id": pa.array(["a", "b", "c", "d"]), "category": pa.array(["x", "y", "x", "x"]),
                      "scores": pa.array([SCORES[i % 3] for i in range(4)], pa.list_(pa.float64()))})
    data = tmp_path / "data"
    for category in ("x", "y"):
        part = table.filter(pa.compute.equal(table["category"], category))
        held = pa.DictionaryArray.from_arrays(pa.array([0] * part.num_rows, index_type), pa.array([category]),
                                              ordered=ordered)
        (data / f"category={category}").mkdir(parents=True)
        write(part.set_column(1, "category", held), data / f"category={category}" / f"0.{suffix}")
    pq.write_table(table, tmp_path / "one.parquet")
    for by in ([], ["category"]):
        got = tf2eng.run(data, tmp_path / "out", plot=False, by=by)
        whole = tf2eng.run(tmp_path / "one.parquet", tmp_path / "one.out", plot=False, by=by)
        for name in ("stage_means.parquet", "curve.parquet"):
            assert (got.out / name).read_bytes() == (whole.out / name).read_bytes(), by


@pytest.mark.parametrize("suffix", ["npy", "npz"])
def test_a_numpy_file_of_python_objects_is_named_as_such(tmp_path, suffix):
    """A pickled NumPy array (dtype object) stops the run saying it holds Python objects: the check of the
    header's shape against the file's bytes took its pickle for an array cut short ("holds 1,150 bytes,
    fewer than its shape needs"), a wrong reason, since .npy files were checked so too."""
    path = tmp_path / f"a.{suffix}"
    objects = np.array([None] * 1000, dtype=object)
    if suffix == "npy":
        np.save(path, objects, allow_pickle=True)
    else:
        np.savez(path, a=objects)
    assert_one_error(invoke_cli("run", path, "-o", tmp_path / "out", "--no-plot"), "holds Python objects")


def _profiled_calls(fn) -> int:
    """Python-level calls (generator resumptions included) made while running fn: a measure of work that
    does not depend on the machine's speed."""
    import sys

    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return calls


def test_an_npz_archive_of_many_arrays_is_looked_at_in_linear_work(tmp_path):
    """The look for an array stored twice in an .npz compared each array's name with every name before
    it: an archive of 20,000 arrays took 29 s to open instead of 1 s.  The work per array no longer
    grows with the arrays before it (the check itself: test_review_text)."""
    from tf2eng.engine import formats

    calls = {}
    for n in (400, 800):
        path = tmp_path / f"a{n}.npz"
        np.savez(path, **{f"e{i}": np.array([0.1, 0.5]) for i in range(n)})
        calls[n] = _profiled_calls(lambda: formats._npz_headers(str(path)))
    assert calls[800] < 2.5 * calls[400], calls
