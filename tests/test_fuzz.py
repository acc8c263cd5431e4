"""Nothing lost: malformed tables and damaged files either stop the run with exit 2 and one line
naming the file (and column), or complete with every row written or rejected with its reason."""

import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

import tf2eng
from conftest import INTEGER_TYPES, key_in_type, wide_table
from tf2eng.engine.errors import InputError
from tf2eng.kernels.reasons import NAMES

KNOWN_REASONS = set(NAMES.values())
SCORE = st.one_of(st.floats(0, 1), st.sampled_from([None, math.nan, math.inf, -math.inf, -1e-9, 1.5, 1e300]))
IDS = st.one_of(st.none(), st.text(max_size=6), st.sampled_from(["ü", "视频", "🎬", "a", "a"]))


@st.composite
def tables(draw):
    n = draw(st.integers(0, 12))
    ids = draw(st.lists(IDS, min_size=n, max_size=n))
    if draw(st.booleans()) and n:
        ids = [ids[0]] * n  # duplicate ids
    tracks = draw(st.lists(st.one_of(st.none(), st.lists(SCORE, max_size=25)), min_size=n, max_size=n))
    columns = {"video_id": pa.array(ids, pa.string())}
    scores_kind = draw(st.sampled_from(["float32", "float64", "large", "float64", "ints", "string", "flat"]))
    if scores_kind == "ints":
        columns["scores"] = pa.array([[1, 2]] * n, pa.list_(pa.int64()))
    elif scores_kind == "string":
        columns["scores"] = pa.array(["0.5"] * n, pa.string())
    elif scores_kind == "flat":
        columns["scores"] = pa.array([0.5] * n, pa.float64())
    else:
        value = pa.float32() if scores_kind == "float32" else pa.float64()
        list_type = pa.large_list(value) if scores_kind == "large" else pa.list_(value)
        columns["scores"] = pa.array(tracks, list_type)
    key_kind = draw(st.sampled_from(["none", "int", "int", "int", "float", "string"]))
    if key_kind == "int":
        key_type = draw(st.sampled_from(INTEGER_TYPES))
        info = np.iinfo(key_type.to_pandas_dtype())
        key = st.one_of(st.none(), st.integers(-3, 30), st.sampled_from([int(info.min), int(info.max)]),
                        st.integers(int(info.min), int(info.max)))
        columns["key_frame"] = pa.array([key_in_type(k, key_type) for k in draw(st.lists(key, min_size=n, max_size=n))],
                                        key_type)
    if draw(st.booleans()):  # a --by column: with few rows, some groups have no good track
        columns["grp"] = pa.array(draw(st.lists(st.sampled_from(["x", "y", None]), min_size=n, max_size=n)),
                                  pa.string())
    elif key_kind == "float":
        columns["key_frame"] = pa.array([0.0] * n)
    elif key_kind == "string":
        columns["key_frame"] = pa.array(["0"] * n)
    return pa.table(columns)


def _check_outcome(path, out, plot=False, **options):
    staging = out.parent / f".{out.name}.staging"
    try:
        result = tf2eng.run(path, out, plot=plot, **options)
    except InputError as exc:
        message = str(exc)
        assert "\n" not in message
        assert str(path.name) in message
        if "column" in message:
            assert re.search(r"column '[^']+'", message)
        assert not out.exists() and not staging.exists()
        return None
    assert not staging.exists()
    assert (result.out / "alignment.png").exists() == plot
    rows = result.summary["rows"]
    assert rows["read"] == rows["written"] + rows["rejected"]
    assert set(rows["rejected_by_reason"]) <= KNOWN_REASONS
    rejected = pq.read_table(result.out / "rejected.parquet")
    assert rejected.num_rows == rows["rejected"]
    assert set(rejected.column("reason").to_pylist()) <= KNOWN_REASONS
    assert pq.read_table(result.out / "stages").num_rows == rows["written"]
    return result


@given(table=tables(), fmt=st.sampled_from(["parquet", "feather"]), plot=st.sampled_from([False, False, True]))
def test_malformed_tables(tmp_path_factory, table, fmt, plot):
    """With the plot on in a third of the runs, grouped by grp where there is one."""
    d = tmp_path_factory.mktemp("fuzz")
    path = d / f"input.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        feather.write_feather(table, path)
    by = ["grp"] if "grp" in table.column_names else []
    result = _check_outcome(path, d / "out", plot=plot, by=by)
    if result is not None:
        assert result.summary["rows"]["read"] == table.num_rows


@settings(max_examples=40)
@given(cut=st.floats(0.0, 1.0), flips=st.lists(st.integers(0, 10**9), max_size=4))
def test_damaged_files(tmp_path_factory, cut, flips):
    d = tmp_path_factory.mktemp("damaged")
    good = d / "good.parquet"
    pq.write_table(wide_table([[0.1, 0.5, 0.9]] * 40, [1] * 40), good)
    data = bytearray(good.read_bytes())
    for f in flips:
        data[f % len(data)] ^= 0xFF
    data = data[: max(1, int(len(data) * cut))] if cut < 1.0 else data
    path = d / "damaged.parquet"
    path.write_bytes(bytes(data))
    _check_outcome(path, d / "out")


def test_huge_track(tmp_path):
    rng = np.random.default_rng(0)
    huge = rng.random(1_000_000).astype(np.float32)
    table = pa.table({
        "video_id": ["small", "huge", "after"],
        "scores": pa.array([[0.2, 0.8], huge.tolist(), [0.5, 0.1, 0.9]], pa.list_(pa.float32())),
    })
    pq.write_table(table, tmp_path / "huge.parquet")
    result = _check_outcome(tmp_path / "huge.parquet", tmp_path / "out")
    stages = result.stages().collect()
    assert stages["T"].to_list() == [2, 1_000_000, 3]
    assert stages["stage_counts"][1].to_list() == [100_000] * 10
    assert stages["key_frame"][1] == int(np.argmax(huge))


def test_zero_rows_and_unicode_ids(tmp_path):
    pq.write_table(wide_table([], []), tmp_path / "empty.parquet")
    assert _check_outcome(tmp_path / "empty.parquet", tmp_path / "o1").summary["rows"]["read"] == 0
    table = pa.table({"video_id": ["视频", "🎬", "🎬"], "scores": pa.array([[0.3], [0.4], [0.5]])})
    pq.write_table(table, tmp_path / "u.parquet")
    result = _check_outcome(tmp_path / "u.parquet", tmp_path / "o2")
    assert sorted(result.stages().collect()["video_id"].to_list()) == sorted(["视频", "🎬", "🎬"])
