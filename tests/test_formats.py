"""Input formats (README, Input formats): the same tracks written as JSON Lines, nested JSON, CSV,
TSV and NumPy give the same stage_means.parquet, curve.parquet and stages/ rows as written as
Parquet (and as the numpy reference, tests/reference.py); bad files stop with one line; units,
incremental runs and memory follow the rules of Parquet input."""

from __future__ import annotations

import gzip
import json
import math
import random
import threading

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference
import tf2eng
from conftest import assert_one_error as _one_error
from conftest import invoke_cli as _cli
from tf2eng.engine import formats
from tf2eng.engine.errors import InputError
from tf2eng.engine.options import Options
from tf2eng.engine.source import Source

GOOD = st.floats(0.0, 1.0)
BAD = st.sampled_from([None, math.nan, math.inf, -math.inf, -0.25, 1.5])


@st.composite
def wide_tracks(draw, nulls=True):
    """(scores, key) per track: good ones, bad values, null and empty score lists, keys in and out
    of range or null."""
    n = draw(st.integers(1, 12))
    out = []
    for _ in range(n):
        kind = draw(st.sampled_from(["good"] * 5 + ["bad", "null", "empty", "one"]))
        if kind == "null" and nulls:
            scores = None
        elif kind == "empty":
            scores = []
        else:
            scores = draw(st.lists(GOOD, min_size=1, max_size=1 if kind == "one" else 40))
            if kind == "bad":
                scores[draw(st.integers(0, len(scores) - 1))] = draw(BAD)
        T = len(scores or [])
        key = draw(st.one_of(st.none(), st.integers(-1, T), st.integers(0, max(T - 1, 0))))
        out.append((scores, key))
    return out


def _run(path, out, **kwargs):
    return tf2eng.run(path, out, plot=False, **kwargs)


def _same_results(got, expected, sort_by=("video_id", "exp_id")):
    """stage_means, curve and stages/ rows of two runs, equal; rejected rows' reasons per track equal."""
    assert got.stage_means.equals(expected.stage_means)
    assert got.curve.equals(expected.curve)
    a = got.stages().collect().sort(list(sort_by))
    b = expected.stages().collect().sort(list(sort_by))
    assert a.equals(b), (a, b)
    reasons = [pl.read_parquet(r.out / "rejected.parquet").select([*sort_by, "reason"]).sort(list(sort_by))
               for r in (got, expected)]
    assert reasons[0].equals(reasons[1])
    assert got.summary["rows"]["rejected_by_reason"] == expected.summary["rows"]["rejected_by_reason"]


def _check_reference(result, tracks, has_key):
    """The Parquet run against the numpy reference: which tracks are rejected and why, and T and Y."""
    reasons, results, _ = reference.dataset([s for s, _ in tracks], [k for _, k in tracks], has_key=has_key)
    stages = {row["video_id"]: row for row in result.stages().collect().to_dicts()}
    for i, (reason, expected) in enumerate(zip(reasons, results)):
        if reason is None:
            row = stages[_vid(i)]
            assert row["T"] == len(tracks[i][0])
            np.testing.assert_allclose(row["stage_scores"], expected["Y"], rtol=1e-12)
        else:
            assert _vid(i) not in stages
    assert len(stages) == sum(r is None for r in reasons)


def _vid(i: int) -> str:
    return f"v{i:04d}"


# --- writers: the same tracks in every format -------------------------------------------------


def _write_wide(tracks, exp_type, with_key, path):
    n = len(tracks)
    columns = {"video_id": [_vid(i) for i in range(n)],
               "exp_id": pa.array([i % 3 if exp_type == "int" else str(i % 3) for i in range(n)]),
               "scores": pa.array([s for s, _ in tracks], pa.list_(pa.float64()))}
    if with_key:
        columns["key_frame"] = pa.array([k for _, k in tracks], pa.int64())
    pq.write_table(pa.table(columns), path)


def _write_jsonl(tracks, with_key, path, opener=open):
    with opener(path, "wt") as f:
        for i, (scores, key) in enumerate(tracks):
            row = {"video_id": _vid(i), "exp_id": i % 3, "scores": scores}
            if with_key:
                row["key_frame"] = key
            f.write(json.dumps(row) + "\n")


def _write_nested(tracks, with_key, path):
    data: dict = {}
    for i, (scores, key) in enumerate(tracks):
        data.setdefault(_vid(i), {})[str(i % 3)] = {"scores": scores, "key_frame": key} if with_key else scores
    path.write_text(json.dumps(data))


def _long_rows(tracks, labels):
    """One (video_id, exp_id, frame, score, key) per frame of each non-empty track, shuffled."""
    rows = []
    for i, (scores, key) in enumerate(tracks):
        for f, s in enumerate(scores or []):
            frame = f"{f:05d}" if labels == "padded" else f
            k = None if key is None else (f"{key:05d}" if key >= 0 else str(key)) if labels == "padded" else key
            rows.append((_vid(i), i % 3, frame, s, k))
    random.Random(len(rows)).shuffle(rows)
    return rows


def _write_long_parquet(rows, labels, path):
    label = pa.string() if labels == "padded" else pa.int64()
    keys = [r[4] for r in rows]
    key_type = pa.string() if labels == "padded" and any(isinstance(k, str) for k in keys) else pa.int64()
    keys = [str(k) if key_type == pa.string() and k is not None else k for k in keys]
    pq.write_table(pa.table({
        "video_id": pa.array([r[0] for r in rows], pa.string()), "exp_id": pa.array([r[1] for r in rows], pa.int64()),
        "frame": pa.array([r[2] for r in rows], label), "score": pa.array([r[3] for r in rows], pa.float64()),
        "key_frame": pa.array(keys, key_type)}), path)


def _csv_value(v) -> str:
    return "" if v is None else repr(v) if isinstance(v, float) else str(v)


def _write_csv(rows, path, sep=",", opener=open):
    with opener(path, "wt") as f:
        f.write(sep.join(["video_id", "exp_id", "frame", "score", "key_frame"]) + "\n")
        for row in rows:
            f.write(sep.join(_csv_value(v) for v in row) + "\n")


# --- the same results in every format ----------------------------------------------------------


@settings(max_examples=12)
@given(tracks=wide_tracks(), with_key=st.booleans())
def test_wide_formats_match_parquet(tmp_path_factory, tracks, with_key):
    d = tmp_path_factory.mktemp("wide")
    _write_wide(tracks, "int", with_key, d / "t.parquet")
    _write_wide(tracks, "str", with_key, d / "s.parquet")
    _write_jsonl(tracks, with_key, d / "t.jsonl")
    _write_nested(tracks, with_key, d / "t.json")
    parquet = _run(d / "t.parquet", d / "o-parquet")
    _check_reference(parquet, tracks, with_key)
    _same_results(_run(d / "t.jsonl", d / "o-jsonl"), parquet)
    _same_results(_run(d / "t.json", d / "o-json"), _run(d / "s.parquet", d / "o-sparquet"))


@settings(max_examples=12)
@given(tracks=wide_tracks(nulls=False), labels=st.sampled_from(["padded", "plain"]))
def test_long_formats_match_parquet(tmp_path_factory, tracks, labels):
    d = tmp_path_factory.mktemp("long")
    rows = _long_rows(tracks, labels)
    if not rows:
        return
    _write_long_parquet(rows, labels, d / "t.parquet")
    _write_csv(rows, d / "t.csv")
    _write_csv(rows, d / "t.tsv", sep="\t")
    lines = "".join(json.dumps(dict(zip(["video_id", "exp_id", "frame", "score", "key_frame"], r))) + "\n"
                    for r in rows)
    (d / "t.ndjson").write_text(lines)
    parquet = _run(d / "t.parquet", d / "o-parquet")
    for name in ("t.csv", "t.tsv", "t.ndjson"):
        got = _run(d / name, d / f"o-{name}")
        assert got.summary["input"]["layout"] == "long"
        _same_results(got, parquet)


@settings(max_examples=10)
@given(shapes=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 30), st.booleans()), min_size=1, max_size=4),
       seed=st.integers(0, 2**32 - 1), bad=st.booleans())
def test_numpy_matches_parquet(tmp_path_factory, shapes, seed, bad):
    """A directory of .npy files (2-D: a track per row, exp_id the row; 1-D: one track, exp_id 0), the
    video id the file's stem, against the same tracks in Parquet."""
    d = tmp_path_factory.mktemp("npy")
    rng = np.random.default_rng(seed)
    (d / "npy").mkdir()
    rows = []
    for i, (E, T, one) in enumerate(shapes):
        array = rng.random(T) if one else rng.random((E, T))
        if bad and array.size:
            array.reshape(-1)[rng.integers(0, array.size)] = rng.choice([np.nan, np.inf, 1.5])
        if not one and i % 2:
            array = np.asfortranarray(array)
        np.save(d / "npy" / f"video{i}.npy", array)
        for e, scores in enumerate([array] if one else list(array)):
            rows.append((f"video{i}", e, scores.tolist()))
    if not rows:
        return
    pq.write_table(pa.table({"video_id": [r[0] for r in rows], "exp_id": pa.array([r[1] for r in rows], pa.int64()),
                             "scores": pa.array([r[2] for r in rows], pa.list_(pa.float64()))}), d / "t.parquet")
    got = _run(d / "npy", d / "o-npy")
    assert got.summary["input"]["format"] == "npy"
    _same_results(got, _run(d / "t.parquet", d / "o-parquet"))


def test_npz_arrays_are_tracks_named_by_the_array(tmp_path):
    np.savez(tmp_path / "clip.npz", first=np.array([0.1, 0.9, 0.2]), pair=np.array([[0.5, 0.4], [0.1, 0.3]]))
    got = _run(tmp_path / "clip.npz", tmp_path / "o")
    stages = got.stages().collect().sort("exp_id")
    assert stages["video_id"].to_list() == ["clip"] * 3
    assert stages["exp_id"].to_list() == ["first", "pair/0", "pair/1"]
    assert stages["T"].to_list() == [3, 2, 2]
    assert stages["key_frame"].to_list() == [1, 0, 1]


def test_npz_members_without_the_npy_suffix_are_arrays_as_numpy_reads_them(tmp_path):
    """An archive written by other tools than numpy.savez: a member named without ".npy" is an array named as
    the member is (as numpy.load lists it), not left out; a member that is no array stops the run, naming it."""
    import io
    import zipfile

    def member(array):
        buffer = io.BytesIO()
        np.save(buffer, array)
        return buffer.getvalue()

    with zipfile.ZipFile(tmp_path / "clip.npz", "w") as archive:
        archive.writestr("first.npy", member(np.array([0.1, 0.9, 0.2])))
        archive.writestr("second", member(np.array([0.5, 0.4])))
        archive.writestr("frames/", b"")  # a directory entry: no array
    assert {"first", "second"} <= set(np.load(tmp_path / "clip.npz").files)
    stages = _run(tmp_path / "clip.npz", tmp_path / "o").stages().collect().sort("exp_id")
    assert stages["exp_id"].to_list() == ["first", "second"] and stages["T"].to_list() == [3, 2]
    with zipfile.ZipFile(tmp_path / "clip.npz", "a") as archive:
        archive.writestr("notes.txt", b"hello")
    with pytest.raises(InputError, match=r"clip\.npz: .*member 'notes\.txt' is no NumPy array"):
        _run(tmp_path / "clip.npz", tmp_path / "o2")


def test_compressed_text_matches_plain(tmp_path):
    tracks = [([0.1, 0.8, 0.3], 1), ([0.5, 0.2], 0), ([0.9], None)]
    _write_jsonl(tracks, True, tmp_path / "t.jsonl")
    _write_jsonl(tracks, True, tmp_path / "t.jsonl.gz", opener=gzip.open)
    rows = _long_rows(tracks, "padded")
    _write_csv(rows, tmp_path / "t.csv")
    _write_csv(rows, tmp_path / "t.csv.gz", opener=gzip.open)
    _same_results(_run(tmp_path / "t.jsonl.gz", tmp_path / "a"), _run(tmp_path / "t.jsonl", tmp_path / "b"))
    _same_results(_run(tmp_path / "t.csv.gz", tmp_path / "c"), _run(tmp_path / "t.csv", tmp_path / "d"))


# --- column types of CSV ------------------------------------------------------------------------


def test_csv_keeps_leading_zero_labels_as_text(tmp_path):
    """"00005" stays a label as written; a column of plain integers is int64."""
    (tmp_path / "t.csv").write_text("video_id,exp_id,frame,score,key_frame\n"
                                    "007,1,00000,0.1,00005\n007,1,00005,0.9,00005\n"
                                    "012,2,00000,0.7,00000\n012,2,00010,0.2,00000\n")
    got = _run(tmp_path / "t.csv", tmp_path / "o")
    stages = got.stages().collect().sort("video_id")
    assert stages["video_id"].to_list() == ["007", "012"]
    assert stages["exp_id"].dtype == pl.Int64
    assert stages["key_label"].to_list() == ["00005", "00000"]
    assert stages["key_frame"].to_list() == [1, 0]


@pytest.mark.parametrize("sep", [",", "\t"])
def test_csv_keeps_integers_with_a_plus_sign_or_beyond_int64_as_text(tmp_path, sep):
    """"+1" (which Arrow's CSV inference reads as a float) stays text as written, in ids and exp_id alike, and
    so does an id beyond int64; a --by column of such numbers too.  Not frame or key labels: as text "+10"
    would come before "+2" (README, Frame labels), so such a column stops the run, as before."""
    rows = ["video_id,exp_id,frame,score,grp", "+1,+2,0,0.1,+5", "+1,+2,1,0.9,+5",
            f"{2**64},-3,0,0.7,+6", f"{2**64},-3,10,0.2,+6"]
    path = tmp_path / ("t.csv" if sep == "," else "t.tsv")
    path.write_text("\n".join(row.replace(",", sep) for row in rows) + "\n")
    got = _run(path, tmp_path / "o", by=["grp"])
    stages = got.stages().collect().sort("video_id")
    assert stages["video_id"].to_list() == ["+1", str(2**64)]
    assert stages["exp_id"].to_list() == ["+2", "-3"] and stages["grp"].to_list() == ["+5", "+6"]
    assert stages["T"].to_list() == [2, 2]
    labels = ["video_id,frame,score,key_frame"] + [f"a,+{i},{0.1 * (i % 5):.1f},+2" for i in range(12)]
    path.write_text("\n".join(row.replace(",", sep) for row in labels) + "\n")
    with pytest.raises(InputError, match="column '(frame|key_frame)' has type double"):
        _run(path, tmp_path / "o2")


def test_csv_ids_that_look_like_floats_or_dates_are_text(tmp_path):
    """A hex video id of digits and one "e" (5e12345678), "nan" or a date is an id as written, in a file of its
    own (per-video dumps), not a float or timestamp column that stops the run."""
    for name, vid in (("hex", "5e12345678"), ("nan", "nan"), ("date", "2021-01-01"), ("float", "1.5")):
        path = tmp_path / f"{name}.csv"
        path.write_text(f"video_id,exp_id,frame,score\n{vid},{vid},0,0.1\n{vid},{vid},1,0.5\n")
        stages = _run(path, tmp_path / f"o-{name}").stages().collect()
        assert stages["video_id"].to_list() == [vid] and stages["exp_id"].to_list() == [vid]


def test_jsonl_stray_id_of_another_number_kind_is_a_bad_row(tmp_path):
    """A float, or an integer beyond int64, among integer ids is one bad row (bad_value), as in a key column,
    not a column of floats that stops the run."""
    rows = [{"video_id": i, "scores": [0.1, 0.2]} for i in range(20)]
    rows[7]["video_id"] = 1.5
    rows[11]["video_id"] = 2**64
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    got = _run(tmp_path / "t.jsonl", tmp_path / "o")
    rejected = pl.read_parquet(got.out / "rejected.parquet").sort("row")
    assert rejected["reason"].to_list() == ["bad_value", "bad_value"] and rejected["row"].to_list() == [7, 11]
    assert got.stages().collect()["video_id"].sort().to_list() == [i for i in range(20) if i not in (7, 11)]
    # ids that are mostly beyond int64 are no column of integers with bad rows: the run stops, naming it
    rows = [{"video_id": 2**63 + i, "scores": [0.1, 0.2]} for i in range(5)] + [{"video_id": 1, "scores": [0.1]}]
    (tmp_path / "u.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(InputError, match="column 'video_id' has type double"):
        _run(tmp_path / "u.jsonl", tmp_path / "o2")


def test_csv_nan_is_a_number_and_an_empty_field_is_null(tmp_path):
    (tmp_path / "t.csv").write_text("video_id,frame,score\na,0,nan\na,1,0.5\nb,0,\nb,1,0.5\nc,0,0.2\nc,1,0.4\n")
    got = _run(tmp_path / "t.csv", tmp_path / "o")
    rejected = pl.read_parquet(got.out / "rejected.parquet").sort("video_id")
    assert rejected["reason"].to_list() == ["nonfinite_score", "null_score"]


# --- detection, directories, mixing -------------------------------------------------------------


def test_directory_of_one_family_and_detection(tmp_path):
    """.jsonl and .ndjson (and .jsonl.gz) are one format; notes and metadata files of other formats
    in the directory stop the run unless --format picks one."""
    d = tmp_path / "d"
    d.mkdir()
    _write_jsonl([([0.1, 0.9], 1)], True, d / "a.jsonl")
    _write_jsonl([([0.3, 0.2, 0.8], 2)], True, d / "b.ndjson")
    _write_jsonl([([0.5], 0)], True, d / "c.jsonl.gz", opener=gzip.open)
    (d / "notes.txt").write_text("not data")
    result = _cli("run", d, "-o", tmp_path / "o", "--no-plot", "--json", "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["input"]["format"] == "jsonl" and summary["input"]["files"] == 3
    assert summary["rows"]["read"] == 3
    (d / "meta.json").write_text("{}")
    _one_error(_cli("run", d, "-o", tmp_path / "o2"), "holds both JSON Lines and JSON files", "--format")
    assert _cli("run", d, "-o", tmp_path / "o3", "--format", "jsonl", "--no-plot", "-q").exit_code == 0


def test_parquet_in_a_directory_wins_over_text_files(tmp_path):
    """As before: a directory of Parquet files reads them and skips a CSV beside them."""
    _write_wide([([0.1, 0.9], 1)], "int", True, tmp_path / "a.parquet")
    (tmp_path / "scores.csv").write_text("video_id,frame,score\na,0,0.5\n")
    got = _run(tmp_path, tmp_path / "o")
    assert got.summary["input"]["format"] == "parquet" and got.summary["rows"]["read"] == 1
    got = _run(tmp_path, tmp_path / "o2", format="csv")
    assert got.summary["input"]["format"] == "csv" and got.summary["input"]["layout"] == "long"


def test_glob_of_two_formats_is_one_line(tmp_path):
    _write_jsonl([([0.1, 0.9], 1)], True, tmp_path / "a.jsonl")
    (tmp_path / "b.csv").write_text("video_id,frame,score\na,0,0.5\n")
    _one_error(_cli("run", tmp_path / "*", "-o", tmp_path / "o"), "holds both JSON Lines and CSV files")


def test_format_names():
    assert formats.format_by_name("x/a.JSONL") == "jsonl"
    assert formats.format_by_name("a.ndjson.zst") == "jsonl"
    assert formats.format_by_name("a.csv.gz") == "csv"
    assert formats.format_by_name("a.tsv.bz2") == "tsv"
    assert formats.format_by_name("a.json") == "json"
    assert formats.format_by_name("a.npz") == "npy"
    assert formats.format_by_name("a.npy.gz") is None
    assert formats.format_by_name("a.parquet.gz") is None
    assert formats.format_by_name("a.txt") is None
    with pytest.raises(InputError, match="--format must be one of"):
        _run("x.parquet", None, format="xml")


# --- bad files ----------------------------------------------------------------------------------

NUMPY_OBJECT = object()  # a pickled object array, written by the test

BAD_FILES = {
    "jsonl malformed": ("t.jsonl", '{"video_id": "a", "scores": [0.1]}\n{"video_id": "b", "scores": [0.1\n',
                        ["t.jsonl", "JSON"]),
    "jsonl scores a number": ("t.jsonl", '{"video_id": "a", "scores": 0.5}\n',
                              ["t.jsonl", "column 'scores' has type double, expected list"]),
    "jsonl key a float": ("t.jsonl", '{"video_id": "a", "scores": [0.5], "key_frame": 0.5}\n',
                          ["t.jsonl", "column 'key_frame' has type double"]),
    "jsonl an array per line": ("t.jsonl", "[0.1, 0.2]\n", ["t.jsonl"]),
    "jsonl no id": ("t.jsonl", '{"scores": [0.5]}\n', ["t.jsonl", "missing column 'video_id'"]),
    "csv text score": ("t.csv", "video_id,frame,score\na,0,high\n",
                       ["t.csv", "column 'score' has type string, expected float"]),
    "csv wide": ("t.csv", "video_id,scores\na,0.5\n", ["t.csv", "column 'scores'"]),
    "tsv no frame": ("t.tsv", "video_id\tscore\na\t0.5\n", ["t.tsv", "'frame'"]),
    "json malformed": ("t.json", '{"a": {"0": [0.1,', ["t.json", "cannot read as JSON"]),
    "json a list": ("t.json", "[[0.1, 0.2]]", ["t.json", "expected a JSON object"]),
    "json video not an object": ("t.json", '{"a": [0.1, 0.2]}', ["t.json", "video 'a'"]),
    "json key a string": ("t.json", '{"a": {"0": {"scores": [0.1], "key_frame": "0"}}}', ["t.json", "'key_frame'"]),
    "json unknown member": ("t.json", '{"a": {"0": {"score": [0.1]}}}', ["t.json", "'scores'"]),
    "npy garbage": ("t.npy", "garbage", ["t.npy", "cannot read as NumPy"]),
    "npz garbage": ("t.npz", "garbage", ["t.npz", "cannot read as NumPy"]),
    "npy pickled objects": ("t.npy", NUMPY_OBJECT, ["t.npy", "Python objects"]),
    "npy 3-D": ("t.npy", np.zeros((2, 2, 2)), ["t.npy", "shape (2, 2, 2)"]),
    "npy text": ("t.npy", np.array(["a", "b"]), ["t.npy", "dtype"]),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_file_is_one_line(tmp_path, name):
    file, content, needles = BAD_FILES[name]
    path = tmp_path / file
    if content is NUMPY_OBJECT:
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_text(content)
    _one_error(_cli("run", path, "-o", tmp_path / "out"), *needles)
    assert not (tmp_path / "out").exists()


def test_empty_file_beside_others_has_no_rows(tmp_path):
    _write_jsonl([([0.1, 0.9], 1)], True, tmp_path / "a.jsonl")
    (tmp_path / "b.jsonl").write_text("")
    got = _run(tmp_path, tmp_path / "o")
    assert got.summary["rows"]["read"] == 1 and got.summary["input"]["files"] == 2


# --- units, incremental runs, rows, memory --------------------------------------------------------


def test_text_files_pack_into_units_and_rerun_incrementally(tmp_path, monkeypatch):
    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "4")
    d = tmp_path / "d"
    d.mkdir()
    for i in range(8):
        _write_jsonl([([0.1 * (i + 1), 0.5], 1), ([0.3, 0.2, 0.1], 0)], True, d / f"part-{i}.jsonl")
    first = _run(d, tmp_path / "o")
    assert first.summary["units"]["total"] > 1
    _write_jsonl([([0.9, 0.5], 0)], True, d / "part-3.jsonl")
    again = _run(d, tmp_path / "o")
    units = again.summary["units"]
    assert units["reused"] >= units["total"] - 2 and units["processed"] >= 1
    assert again.summary["rows"]["read"] == 15
    full = _run(d, tmp_path / "full")
    assert again.stage_means.equals(full.stage_means)


def test_row_estimates(tmp_path):
    """Exact for a file within the sample; within a few percent beyond it (plain and compressed)."""
    options = Options()
    lines = "".join(json.dumps({"video_id": f"v{i}", "scores": [0.25] * (i % 7 + 1)}) + "\n" for i in range(40_000))
    small = lines[: lines.index("\n", 5000) + 1]
    (tmp_path / "small.jsonl").write_text(small)
    (tmp_path / "big.jsonl").write_text(lines)
    with gzip.open(tmp_path / "big.jsonl.gz", "wt") as f:
        f.write(lines)
    for codec, suffix in (("bz2", ".bz2"), ("zstd", ".zst"), ("lz4", ".lz4")):
        with pa.CompressedOutputStream(str(tmp_path / f"big.jsonl{suffix}"), codec) as f:
            f.write(lines.encode())
    assert Source(tmp_path / "small.jsonl", options).rows_total == small.count("\n")
    for name in ("big.jsonl", "big.jsonl.gz", "big.jsonl.bz2", "big.jsonl.zst", "big.jsonl.lz4"):
        estimate = Source(tmp_path / name, options).rows_total
        assert 0.9 * 40_000 < estimate < 1.1 * 40_000, (name, estimate)
    np.save(tmp_path / "a.npy", np.zeros((7, 3)))
    assert Source(tmp_path / "a.npy", options).rows_total == 7


def test_nested_json_files_are_parsed_one_at_a_time(tmp_path, monkeypatch):
    """A file that cannot stream is never read ahead beside another: at most one is parsed at once."""
    for i in range(6):
        _write_nested([([0.1, 0.9], 1), ([0.5, 0.2], 0)], True, tmp_path / f"p{i}.json")
    active, most = [0], [0]
    lock = threading.Lock()
    original = formats.TextFragment._json_table

    def counted(self):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        try:
            table = original(self)
            threading.Event().wait(0.02)  # a parse that takes a moment, so overlaps would show
            return table
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(formats.TextFragment, "_json_table", counted)
    got = _run(tmp_path, tmp_path / "o")
    assert got.summary["rows"]["read"] == 12 and got.summary["units"]["total"] == 1
    assert most[0] == 1


def test_long_text_layout_spills_like_parquet(tmp_path, monkeypatch):
    """Beyond the grouping budget the long layout spills to partitions whatever the format."""
    from tf2eng.engine import long

    tracks = [([0.1 * (i % 9 + 1), 0.5, 0.2], i % 3) for i in range(60)]
    rows = _long_rows(tracks, "plain")
    _write_csv(rows, tmp_path / "t.csv")
    _write_long_parquet(rows, "plain", tmp_path / "t.parquet")
    monkeypatch.setattr(long, "PARTITION_ROWS", 40)
    got = _run(tmp_path / "t.csv", tmp_path / "b")
    assert long.partitions_for(got.summary["rows"]["input_frame_rows"]) > 1
    _same_results(got, _run(tmp_path / "t.parquet", tmp_path / "a"))


def test_hive_partitions_become_columns_as_for_parquet(tmp_path):
    """key=value directories: the same columns, types and values as Arrow gives Parquet files."""
    parts = {"cat=x/n=1": [([0.1, 0.9], 1)], "cat=y%20z/n=20": [([0.3, 0.2, 0.8], 2), ([0.5, 0.4], 0)],
             "cat=__HIVE_DEFAULT_PARTITION__/n=3": [([0.6, 0.1], 0)]}
    for fmt in ("parquet", "jsonl"):
        for i, (part, tracks) in enumerate(parts.items()):
            d = tmp_path / fmt / part
            d.mkdir(parents=True)
            if fmt == "parquet":
                table = pa.table({"video_id": [f"{i}-{j}" for j in range(len(tracks))],
                                  "exp_id": pa.array([0] * len(tracks), pa.int64()),
                                  "scores": [s for s, _ in tracks], "key_frame": pa.array([k for _, k in tracks],
                                                                                          pa.int64())})
                pq.write_table(table, d / "f.parquet")
            else:
                with open(d / "f.jsonl", "w") as f:
                    for j, (s, k) in enumerate(tracks):
                        f.write(json.dumps({"video_id": f"{i}-{j}", "exp_id": 0, "scores": s, "key_frame": k}) + "\n")
    expected = _run(tmp_path / "parquet", tmp_path / "a", by=["cat", "n"])
    got = _run(tmp_path / "jsonl", tmp_path / "b", by=["cat", "n"])
    _same_results(got, expected)
    stages = got.stages().collect().sort("video_id")
    assert stages["cat"].to_list() == ["x", "y z", "y z", None]
    assert stages["n"].dtype == pl.Int32 and stages["n"].to_list() == [1, 20, 20, 3]
