"""SPEC section 4: every bad row ends in rejected.parquet with its reason; bad files stop the run."""

import math

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tf2eng
from conftest import wide_table
from tf2eng.engine.errors import InputError

GOOD = [[0.1, 0.5, 0.9, 0.3], [0.2, 0.4, 0.6, 0.8, 1.0, 0.0], [0.7] * 11 + [0.75]]

ROW_RULES = [
    # (scores, key_frame, options, reason)
    (None, 0, {}, "null_scores"),
    ([], 0, {}, "empty_scores"),
    ([0.1, None, 0.3], 0, {}, "null_score"),
    ([0.1, math.nan, 0.3], 0, {}, "nonfinite_score"),
    ([0.1, math.inf, 0.3], 0, {}, "nonfinite_score"),
    ([0.1, -math.inf, 0.3], 0, {}, "nonfinite_score"),
    ([0.1, 1.0001, 0.3], 0, {}, "score_out_of_range"),
    ([0.1, -0.0001, 0.3], 0, {}, "score_out_of_range"),
    ([0.4, 0.4, 0.4], 0, {"normalize": "minmax"}, "constant_scores"),
    ([0.1, 0.2, 0.3], None, {}, "null_key_frame"),
    ([0.1, 0.2, 0.3], 3, {}, "key_frame_out_of_range"),
    ([0.1, 0.2, 0.3], -1, {}, "key_frame_out_of_range"),
]


def _run(tmp_path, table, name, **options):
    path = tmp_path / f"{name}.parquet"
    pq.write_table(table, path)
    return tf2eng.run(path, tmp_path / f"{name}.out", plot=False, **options)


@pytest.mark.parametrize("bad, key, options, reason", ROW_RULES)
def test_row_rule(tmp_path, bad, key, options, reason):
    tracks = [GOOD[0], bad, GOOD[1], GOOD[2]]
    keys = [1, key, 2, 11]
    result = _run(tmp_path, wide_table(tracks, keys), "mixed", **options)
    rejected = pl.read_parquet(result.out / "rejected.parquet")
    assert rejected["video_id"].to_list() == ["v0001"]
    assert rejected["reason"].to_list() == [reason]
    assert rejected["row"].to_list() == [1]
    assert rejected["source"][0].endswith("mixed.parquet")
    assert rejected["key_frame"].to_list() == [key]
    expected_scores = None if bad is None else bad
    got = rejected["scores"].to_list()[0]
    if expected_scores is not None:  # the row as it came, NaN and all, to repair it
        assert len(got) == len(expected_scores)
    rows = result.summary["rows"]
    assert rows == {"read": 4, "written": 3, "rejected": 1, "rejected_by_reason": {reason: 1}}

    # The good rows around it are untouched: same results as a run without the bad row.
    clean = _run(tmp_path, wide_table([GOOD[0], GOOD[1], GOOD[2]], [1, 2, 11]), "clean", **options)
    a = result.stages().drop("video_id").collect()
    b = clean.stages().drop("video_id").collect()
    assert a.equals(b)
    assert result.curve.equals(clean.curve)
    assert result.stage_means.equals(clean.stage_means)


def test_minmax_accepts_scores_outside_unit_interval(tmp_path):
    result = _run(tmp_path, wide_table([[2.0, 4.0, 3.0], [-1.0, 1.0]], [None, None]), "mm",
                  normalize="minmax", key="auto")
    stages = result.stages().collect()
    assert stages.height == 2
    assert stages["key_frame"].to_list() == [1, 1]


def test_null_id_is_rejected(tmp_path):
    table = pa.table({"video_id": pa.array(["a", None, "c"]), "scores": pa.array([[0.5], [0.5], [0.5]])})
    result = _run(tmp_path, table, "ids")
    rejected = pl.read_parquet(result.out / "rejected.parquet")
    assert rejected["reason"].to_list() == ["null_id"]
    assert result.summary["rows"]["written"] == 2


def test_on_invalid_error_stops_at_first_rejected_row(tmp_path):
    table = wide_table([GOOD[0], [0.1, 2.0], GOOD[1]], [0, 0, 0])
    with pytest.raises(InputError, match=r"bad\.parquet: row 1: score_out_of_range"):
        _run(tmp_path, table, "bad", on_invalid="error")
    assert not (tmp_path / "bad.out").exists()
    assert not any(p.name.startswith(".bad.out") for p in tmp_path.iterdir())


def test_every_row_accounted_for(tmp_path):
    rng = np.random.default_rng(3)
    tracks, keys = [], []
    for i in range(300):
        t = rng.random(rng.integers(1, 30)).tolist()
        kind = i % 7
        if kind == 1:
            t[0] = math.nan
        elif kind == 2:
            t = None
        elif kind == 3:
            t[-1] = 1.5
        tracks.append(t)
        keys.append(None if i % 11 == 0 else int(rng.integers(0, 40)))
    result = _run(tmp_path, wide_table(tracks, keys), "many")
    rows = result.summary["rows"]
    assert rows["read"] == 300 == rows["written"] + rows["rejected"]
    assert sum(rows["rejected_by_reason"].values()) == rows["rejected"]
    rejected = pl.read_parquet(result.out / "rejected.parquet")
    stages = result.stages().collect()
    assert rejected.height == rows["rejected"] and stages.height == rows["written"]
    assert set(rejected["video_id"]).isdisjoint(stages["video_id"])
    assert len(set(rejected["video_id"]) | set(stages["video_id"])) == 300


# --- files and columns that stop the run ----------------------------------------------


def test_missing_column(tmp_path):
    path = tmp_path / "nocol.parquet"
    pq.write_table(pa.table({"video_id": ["a"], "key_frame": [0]}), path)
    with pytest.raises(InputError, match=r"nocol\.parquet: missing column 'scores'"):
        tf2eng.run(path, tmp_path / "o")


def test_missing_id_column(tmp_path):
    path = tmp_path / "noid.parquet"
    pq.write_table(pa.table({"scores": pa.array([[0.5]])}), path)
    with pytest.raises(InputError, match=r"noid\.parquet: missing column 'video_id'"):
        tf2eng.run(path, tmp_path / "o")


@pytest.mark.parametrize(
    "column, values, message",
    [
        ("scores", pa.array([[1, 2]], pa.list_(pa.int64())), r"column 'scores' has type list<element: int64>"),
        ("scores", pa.array(["0.5"]), r"column 'scores' has type string"),
        ("key_frame", pa.array([0.0]), r"column 'key_frame' has type double"),
        ("video_id", pa.array([1.5]), r"column 'video_id' has type double"),
    ],
)
def test_wrong_column_type(tmp_path, column, values, message):
    columns = {"video_id": pa.array(["a"]), "scores": pa.array([[0.5, 0.2]]), "key_frame": pa.array([0])}
    columns[column] = values
    path = tmp_path / "typed.parquet"
    pq.write_table(pa.table(columns), path)
    with pytest.raises(InputError, match=r"typed\.parquet: " + message):
        tf2eng.run(path, tmp_path / "o")


def test_by_column_missing(write_parquet, tmp_path):
    path = write_parquet(wide_table([GOOD[0]], [0]))
    with pytest.raises(InputError, match="missing column 'nope'"):
        tf2eng.run(path, tmp_path / "o", by=["nope"])


def test_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.parquet"
    path.write_bytes(b"PAR1 this is not a parquet file at all PAR1")
    with pytest.raises(InputError, match=r"corrupt\.parquet: cannot read"):
        tf2eng.run(path, tmp_path / "o")


def test_truncated_file(tmp_path, write_parquet):
    good = write_parquet(wide_table([GOOD[0]] * 50, [0] * 50))
    data = open(good, "rb").read()
    path = tmp_path / "truncated.parquet"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"truncated\.parquet: "):
        tf2eng.run(path, tmp_path / "o")


def test_corrupt_file_inside_dataset_is_named(tmp_path):
    d = tmp_path / "ds"
    d.mkdir()
    pq.write_table(wide_table([GOOD[0]], [0]), d / "a.parquet")
    (d / "b.parquet").write_bytes(b"PAR1garbagegarbagePAR1")
    with pytest.raises(InputError, match=r"b\.parquet: cannot read"):
        tf2eng.run(d, tmp_path / "o")


def test_no_such_input(tmp_path):
    with pytest.raises(InputError, match="no such file or directory"):
        tf2eng.run(tmp_path / "missing.parquet", tmp_path / "o")


def test_not_a_data_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(InputError, match="neither a Parquet nor an Arrow IPC file"):
        tf2eng.run(path, tmp_path / "o")


@pytest.mark.parametrize("options, message", [
    ({"lam": 0.0}, "--lam"), ({"stages": 0}, "--stages"), ({"grid_step": 0.0}, "--grid-step"),
    ({"reduce": "median"}, "--reduce"), ({"normalize": "zscore"}, "--normalize"),
])
def test_bad_options(write_parquet, tmp_path, options, message):
    path = write_parquet(wide_table([GOOD[0]], [0]))
    with pytest.raises(InputError, match=message):
        tf2eng.run(path, tmp_path / "o", **options)


def test_output_over_foreign_directory_is_refused(write_parquet, tmp_path):
    path = write_parquet(wide_table([GOOD[0]], [0]))
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    with pytest.raises(InputError, match="not a tf2eng output directory"):
        tf2eng.run(path, foreign)
    assert (foreign / "thesis.tex").read_text() == "keep me"


def test_too_many_groups(tmp_path, monkeypatch):
    import tf2eng.engine.groups as groups

    monkeypatch.setattr(groups, "MAX_GROUPS", 5)
    table = wide_table([GOOD[0]] * 8, [0] * 8, extra={"vid": [f"g{i}" for i in range(8)]})
    pq.write_table(table, tmp_path / "g.parquet")
    with pytest.raises(InputError, match="--by vid: more than 5 groups"):
        tf2eng.run(tmp_path / "g.parquet", tmp_path / "o", by=["vid"])
