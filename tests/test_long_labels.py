"""Long layout with real frame labels (engine/long.py): integers with gaps, digit strings, text."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tf2eng
from tf2eng.engine.errors import InputError

LABEL_KINDS = ("int", "digits", "text")


def labels_for(kind: str, T: int, rng: np.random.Generator) -> list:
    """T distinct labels of ``kind``, in label order."""
    if kind == "int":  # any start, gaps
        return (int(rng.integers(-5, 300)) + np.cumsum(rng.integers(1, 8, T))).tolist()
    if kind == "digits":  # file stems of different widths: numeric, not lexicographic, order
        width = int(rng.integers(1, 6))
        numbers = int(rng.integers(0, 120)) + 5 * np.arange(T)
        return [f"{n:0{width}d}" for n in numbers]
    # text: lexicographic ("frame_10" before "frame_9")
    return sorted({f"frame_{n}" for n in rng.choice(1000, T, replace=False)})


def long_from_tracks(tracks, keys, groups, kind: str, seed: int):
    """(long table in label order, label lists): the tracks of a wide table as one row per frame."""
    rng = np.random.default_rng(seed)
    columns = {"video_id": [], "exp_id": [], "frame": [], "score": [], "grp": []}
    if keys is not None:
        columns["key_frame"] = []
    all_labels = []
    for i, scores in enumerate(tracks):
        labels = labels_for(kind, len(scores), rng)
        all_labels.append(labels)
        for label, score in zip(labels, scores):
            columns["video_id"].append(f"v{i:04d}")
            columns["exp_id"].append(0)
            columns["frame"].append(label)
            columns["score"].append(score)
            columns["grp"].append(groups[i])
            if keys is not None:
                columns["key_frame"].append(labels[keys[i]])
    types = {"exp_id": pa.int32(), "frame": pa.int64() if kind == "int" else pa.string(), "score": pa.float64()}
    table = pa.table({c: pa.array(v, types.get(c)) for c, v in columns.items()})
    return table, all_labels


def wide_from_tracks(tracks, keys, groups) -> pa.Table:
    columns = {
        "video_id": pa.array([f"v{i:04d}" for i in range(len(tracks))]),
        "exp_id": pa.array(np.zeros(len(tracks), np.int32)),
        "scores": pa.array(tracks, pa.list_(pa.float64())),
        "grp": pa.array(groups),
    }
    if keys is not None:
        columns["key_frame"] = pa.array(keys, pa.int64())
    return pa.table(columns)


def write_split(table: pa.Table, directory: Path, files: int, seed: int) -> Path:
    """The rows of ``table`` shuffled and dealt over ``files`` Parquet files."""
    rng = np.random.default_rng(seed)
    table = table.take(pa.array(rng.permutation(table.num_rows)))
    which = rng.integers(0, files, table.num_rows)
    directory.mkdir(parents=True)
    for f in range(files):
        pq.write_table(table.filter(pa.array(which == f)), directory / f"part-{f}.parquet")
    return directory


def assert_same_as_wide(long_result, wide_result, labels):
    digests_long, digests_wide = long_result.summary["digests"], wide_result.summary["digests"]
    for name in ("stage_means.parquet", "curve.parquet"):
        assert digests_long[name] == digests_wide[name], name
    got = long_result.stages().collect().sort("video_id")
    want = wide_result.stages().collect().sort("video_id")
    assert got.drop("key_label").equals(want)
    index = [int(v[1:]) for v in got["video_id"]]
    assert got["key_label"].to_list() == [labels[i][k] for i, k in zip(index, got["key_frame"])]


score_lists = st.lists(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=14),
                       min_size=1, max_size=8)


@given(tracks=score_lists, data=st.data(), kind=st.sampled_from(LABEL_KINDS), has_key=st.booleans(),
       files=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_any_order_and_split_is_the_wide_layout(tracks, data, kind, has_key, files, seed):
    keys = [data.draw(st.integers(0, len(t) - 1)) for t in tracks] if has_key else None
    groups = [data.draw(st.sampled_from(["a", "b"])) for _ in tracks]
    long, labels = long_from_tracks(tracks, keys, groups, kind, seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_split(long, tmp / "long", files, seed)
        pq.write_table(wide_from_tracks(tracks, keys, groups), tmp / "wide.parquet")
        got = tf2eng.run(tmp / "long", tmp / "long.out", by=["grp"], plot=False)
        want = tf2eng.run(tmp / "wide.parquet", tmp / "wide.out", by=["grp"], plot=False)
        assert got.summary["rows"]["input_frame_rows"] == long.num_rows
        assert_same_as_wide(got, want, labels)


TRACKS = [[0.1, 0.5, 0.9, 0.3], [0.2, 0.4, 0.6, 0.8, 1.0, 0.0], [0.7] * 11 + [0.75]]


@pytest.mark.parametrize("kind", LABEL_KINDS)
def test_labels_of_each_kind(tmp_path, kind):
    keys, groups = [2, 0, 11], ["a", "a", "b"]
    long, labels = long_from_tracks(TRACKS, keys, groups, kind, 7)
    write_split(long, tmp_path / "long", 2, 7)
    pq.write_table(wide_from_tracks(TRACKS, keys, groups), tmp_path / "wide.parquet")
    got = tf2eng.run(tmp_path / "long", tmp_path / "long.out", plot=False)
    want = tf2eng.run(tmp_path / "wide.parquet", tmp_path / "wide.out", plot=False)
    assert_same_as_wide(got, want, labels)
    schema = pq.read_schema(next((got.out / "stages").glob("*.parquet")))
    assert schema.field("key_label").type == (pa.int64() if kind == "int" else pa.string())


def test_youtube_vos_frame_names(tmp_path):
    """Every 5th frame, named by file stem; one video starting at 00110; digits order numerically."""
    stems = {"a": ["00000", "00005", "00010", "00015"], "b": ["00110", "00115", "00120"]}
    scores = {"a": [0.1, 0.9, 0.3, 0.2], "b": [0.4, 0.5, 0.8]}
    key = {"a": "00005", "b": "00120"}
    rows = [(v, s, x, key[v]) for v in stems for s, x in zip(stems[v], scores[v])][::-1]
    table = pa.table({"video_id": [r[0] for r in rows], "frame": [r[1] for r in rows],
                      "score": [r[2] for r in rows], "key_frame": [r[3] for r in rows]})
    pq.write_table(table, tmp_path / "long.parquet")
    stages = tf2eng.run(tmp_path / "long.parquet", tmp_path / "out", plot=False).stages().collect().sort("video_id")
    assert stages["T"].to_list() == [4, 3]
    assert stages["key_frame"].to_list() == [1, 2]
    assert stages["key_label"].to_list() == ["00005", "00120"]
    np.testing.assert_allclose(stages["pos_key"].to_list(), [2 / 4, 3 / 3])


def test_digit_strings_order_numerically_text_lexicographically(tmp_path):
    """"9" < "10" while every label is digits; one non-digit label anywhere makes the order lexicographic."""
    digits = pa.table({"video_id": ["a", "a", "a"], "frame": ["10", "9", "100"], "score": [0.3, 0.9, 0.1]})
    pq.write_table(digits, tmp_path / "digits.parquet")
    stages = tf2eng.run(tmp_path / "digits.parquet", tmp_path / "d.out", plot=False).stages().collect()
    assert stages["key_label"].to_list() == ["9"] and stages["key_frame"].to_list() == [0]  # arg-max
    (tmp_path / "mixed").mkdir()
    pq.write_table(digits, tmp_path / "mixed" / "a.parquet")
    pq.write_table(pa.table({"video_id": ["b"], "frame": ["x1"], "score": [0.5]}), tmp_path / "mixed" / "b.parquet")
    stages = tf2eng.run(tmp_path / "mixed", tmp_path / "m.out", plot=False).stages().collect().sort("video_id")
    assert stages["key_label"].to_list() == ["9", "x1"] and stages["key_frame"].to_list() == [2, 0]  # 10, 100, 9


@pytest.mark.parametrize("frames, key, label", [
    (["00100", "00105", "00110"], 110, "00110"),  # integer key, digit labels: the same number
    (["00100", "00105", "00110"], "110", "00110"),  # digit key of another width
    (["f1", "f2", "110"], 110, "110"),  # text labels: the key's decimal string
    ([100, 105, 110], "00110", 110),  # digit string key, integer labels
    ([100, 105, 110], "-3", None),  # not among the frames
    (["00100", "00105", "00110"], "x", None),
    (["f1", "f2", "0110"], 110, None),  # text labels compare as strings: "110" is not "0110"
])
def test_key_of_another_type_compares_as_a_label(tmp_path, frames, key, label):
    table = pa.table({"video_id": ["a"] * 3, "frame": frames, "score": [0.2, 0.4, 0.6], "key_frame": [key] * 3})
    pq.write_table(table, tmp_path / "long.parquet")
    result = tf2eng.run(tmp_path / "long.parquet", tmp_path / "out", plot=False)
    stages = result.stages().collect()
    if label is None:
        rejected = pl.read_parquet(result.out / "rejected.parquet")
        assert rejected["reason"].to_list() == ["key_frame_out_of_range"]
        assert rejected["key_frame"].to_list() == [key]  # as read
    else:
        assert stages["key_label"].to_list() == [label]
        assert stages["key_frame"].to_list() == [0 if label == "110" else 2]  # "110" < "f1" < "f2"


# --- rejections: each new reason, with good rows around it unchanged ------------------------------


GOOD = [("g1", ["00000", "00005", "00010"], [0.1, 0.8, 0.3], "00005"),
        ("g2", ["00110", "00115"], [0.5, 0.6], "00115")]
BAD_CASES = [
    # (frames, key labels per row, reason)
    (["00000", "00005", "00005"], ["00000"] * 3, "duplicate_frame"),
    (["1", "01", "2"], ["2"] * 3, "duplicate_frame"),  # the same number
    (["00000", None, "00010"], ["00000"] * 3, "bad_frame_index"),
    (["00000", "00005"], ["00020"] * 2, "key_frame_out_of_range"),
    (["00000", "00005"], ["00000", "00005"], "inconsistent_key_frame"),
    (["00000", "00005"], [None, None], "null_key_frame"),
]


def _long_rows(tracks) -> pa.Table:
    rows = [(v, f, s, k) for v, frames, scores, keys in tracks
            for f, s, k in zip(frames, scores, keys if isinstance(keys, list) else [keys] * len(frames))]
    return pa.table({"video_id": [r[0] for r in rows], "frame": pa.array([r[1] for r in rows], pa.string()),
                     "score": [r[2] for r in rows], "key_frame": pa.array([r[3] for r in rows], pa.string())})


@pytest.mark.parametrize("frames, keys, reason", BAD_CASES)
def test_rejection_with_good_rows_around(tmp_path, frames, keys, reason):
    bad = ("bad", frames, [0.2] * len(frames), keys)
    pq.write_table(_long_rows([GOOD[0], bad, GOOD[1]])[::-1], tmp_path / "mixed.parquet")
    result = tf2eng.run(tmp_path / "mixed.parquet", tmp_path / "mixed.out", plot=False)
    rejected = pl.read_parquet(result.out / "rejected.parquet")
    assert rejected["video_id"].to_list() == ["bad"] and rejected["reason"].to_list() == [reason]
    assert rejected["rows"].to_list() == [len(frames)] and rejected["row"].to_list() == [None]
    assert sorted(rejected["frames"][0].to_list(), key=str) == sorted(frames, key=str)  # the labels as read
    schema = pq.read_schema(result.out / "rejected.parquet")
    assert schema.field("frames").type == pa.large_list(pa.string())
    assert schema.field("key_frame").type == pa.string()
    assert result.summary["rows"]["rejected_by_reason"] == {reason: 1}
    assert result.summary["rows"]["input_frame_rows"] == 5 + len(frames)

    pq.write_table(_long_rows(GOOD), tmp_path / "clean.parquet")
    clean = tf2eng.run(tmp_path / "clean.parquet", tmp_path / "clean.out", plot=False)
    assert result.stages().collect().sort("video_id").equals(clean.stages().collect().sort("video_id"))
    for name in ("stage_means.parquet", "curve.parquet"):
        assert result.summary["digests"][name] == clean.summary["digests"][name]


def test_rejected_frames_are_the_labels_in_label_order(tmp_path):
    table = pa.table({"video_id": ["a"] * 4, "frame": [30, 10, 20, 10], "score": [0.3, 0.1, 0.2, 0.4]})
    pq.write_table(table, tmp_path / "long.parquet")
    result = tf2eng.run(tmp_path / "long.parquet", tmp_path / "out", plot=False)
    rejected = pl.read_parquet(result.out / "rejected.parquet")
    assert rejected["reason"].to_list() == ["duplicate_frame"]
    assert rejected["frames"].to_list() == [[10, 10, 20, 30]] and rejected["score"].to_list() == [[0.1, 0.4, 0.2, 0.3]]


# --- column types ---------------------------------------------------------------------------------


def test_frame_column_of_a_wrong_type_stops_the_run(tmp_path):
    pq.write_table(pa.table({"video_id": ["a"], "frame": [0.0], "score": [0.5]}), tmp_path / "long.parquet")
    with pytest.raises(InputError, match=r"column 'frame' has type double, expected integer or string labels"):
        tf2eng.run(tmp_path / "long.parquet", tmp_path / "out", plot=False, layout="long")


def test_string_key_in_the_wide_layout_still_stops_the_run(tmp_path):
    table = pa.table({"video_id": ["a"], "scores": [[0.5, 0.2]], "key_frame": ["0"]})
    pq.write_table(table, tmp_path / "wide.parquet")
    with pytest.raises(InputError, match=r"column 'key_frame' has type string, expected an integer type"):
        tf2eng.run(tmp_path / "wide.parquet", tmp_path / "out", plot=False)


@pytest.mark.parametrize("column, first, second", [
    ("frame", [0, 1, 2], ["0", "1", "2"]),
    ("frame", ["0", "1", "2"], [0, 1, 2]),
    ("key_frame", [1, 1, 1], ["1", "1", "1"]),
    ("key_frame", ["1", "1", "1"], [1, 1, 1]),
])
def test_label_kinds_differing_between_files_stop_the_run(tmp_path, column, first, second):
    """README, Input: integer labels in one file and string labels in another stop the run."""
    for name, values in (("a", first), ("b", second)):
        table = {"video_id": [name] * 3, "frame": [0, 1, 2], "score": [0.1, 0.2, 0.3], "key_frame": [1, 1, 1]}
        table[column] = values
        pq.write_table(pa.table(table), tmp_path / f"{name}.parquet")
    with pytest.raises(InputError, match=rf"b\.parquet: column '{column}' has .* labels, but .* labels in"):
        tf2eng.run(tmp_path, tmp_path / "out", plot=False)


@pytest.mark.parametrize("column", ["frame", "key_frame"])
# Parquet keeps only string dictionaries (an integer one reads back plain): integer ones via Feather.
@pytest.mark.parametrize("fmt, kind", [("parquet", "string"), ("feather", "string"), ("feather", "int")])
def test_dictionary_encoded_labels_read_as_their_values(tmp_path, column, kind, fmt):
    """Pandas categoricals written to a file: a dictionary frame or key column is its values."""
    def table(encode: bool) -> pa.Table:
        frames, keys = [0, 5, 10, 0, 5], [5, 5, 5, 5, 5]
        if kind == "string":
            frames, keys = [f"{f:03d}" for f in frames], [f"{k:03d}" for k in keys]
        columns = {"video_id": pa.array(["a", "a", "a", "b", "b"]), "frame": pa.array(frames),
                   "score": pa.array([0.1, 0.9, 0.3, 0.2, 0.4]), "key_frame": pa.array(keys)}
        if encode:
            columns[column] = columns[column].dictionary_encode()
        return pa.table(columns)

    results = []
    for encode in (True, False):
        path = tmp_path / f"{encode}.{fmt}"
        if fmt == "parquet":
            pq.write_table(table(encode), path)
        else:
            import pyarrow.feather as feather
            feather.write_feather(table(encode), path)
        results.append(tf2eng.run(path, tmp_path / f"{encode}.out", plot=False))
    encoded, plain = results
    assert encoded.stages().collect().equals(plain.stages().collect())
    assert encoded.summary["rows"]["rejected_by_reason"] == plain.summary["rows"]["rejected_by_reason"]
    assert encoded.summary["rows"]["written"] == plain.summary["rows"]["written"] == 2


def test_a_by_value_differing_within_a_track_is_that_of_its_first_frame(tmp_path):
    """README, Input (long layout): rows in any order; the --by value is the first frame's in label order."""
    table = pa.table({"video_id": ["a", "a", "a", "b", "b"], "frame": [20, 0, 10, 5, 1],
                      "score": [0.1, 0.9, 0.3, 0.2, 0.4], "category": ["y", "x", "z", "u", "w"]})
    pq.write_table(table, tmp_path / "long.parquet")
    result = tf2eng.run(tmp_path / "long.parquet", tmp_path / "out", plot=False, by=["category"])
    stages = result.stages().collect().sort("video_id")
    assert stages["category"].to_list() == ["x", "w"]
