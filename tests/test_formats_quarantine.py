"""Bad rows of text files (README, Bad input): a value of the wrong type (JSON Lines, CSV / TSV, nested
JSON) or a CSV row with the wrong number of fields goes to rejected.parquet with its reason, in any
block of the file; every other row gives the results the same rows give as Parquet.  An input without
rows completes in every format."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tf2eng
from conftest import assert_one_error as _one_error
from conftest import invoke_cli as _cli
from tf2eng.engine import formats, long

GOOD = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=20)


def _run(path, out, **kwargs):
    return tf2eng.run(path, out, plot=False, **kwargs)


def _rejected(result) -> pl.DataFrame:
    return pl.read_parquet(result.out / "rejected.parquet")


def _same_good(got, parquet, sort_by):
    """The aggregates and stages/ rows equal; the rejected rows other than the bad ones equal."""
    assert got.stage_means.equals(parquet.stage_means)
    assert got.curve.equals(parquet.curve)
    a, b = (r.stages().collect().sort(list(sort_by)) for r in (got, parquet))
    assert a.equals(b), (a, b)
    other = _rejected(got).filter(~pl.col("reason").is_in(["bad_value", "bad_field_count"]))
    assert other.select([*sort_by, "reason"]).sort(list(sort_by)).equals(
        _rejected(parquet).select([*sort_by, "reason"]).sort(list(sort_by)))


# --- JSON Lines, wide ---------------------------------------------------------------------------

# A bad line (its video id is given by the test), and what rejected.parquet holds of it.
WIDE_BAD = {
    "scores a string": ({"scores": "abc", "key_frame": 0}, {"scores": None, "key_frame": 0}),
    "a score a string": ({"scores": [0.5, "x"], "key_frame": 1}, {"scores": None, "key_frame": 1}),
    "scores an object": ({"scores": {"a": 1}, "key_frame": 0}, {"scores": None, "key_frame": 0}),
    "scores a number": ({"scores": 0.5, "key_frame": 0}, {"scores": None, "key_frame": 0}),
    "key a string": ({"scores": [0.5, 0.25], "key_frame": "abc"}, {"scores": [0.5, 0.25], "key_frame": None}),
    "key a float": ({"scores": [0.5, 0.25], "key_frame": 0.5}, {"scores": [0.5, 0.25], "key_frame": None}),
    "key a list": ({"scores": [0.5], "key_frame": [0]}, {"scores": [0.5], "key_frame": None}),
    "key a bool": ({"scores": [0.5], "key_frame": True}, {"scores": [0.5], "key_frame": None}),
}


@settings(max_examples=15, deadline=None)
@given(good=st.lists(st.tuples(GOOD, st.integers(0, 3)), min_size=8, max_size=60),
       bad=st.lists(st.tuples(st.sampled_from(sorted(WIDE_BAD)), st.integers(0, 60)), min_size=1, max_size=3),
       block=st.sampled_from([4096, 1 << 20]))
def test_jsonl_wide_bad_values_are_rejected(tmp_path_factory, good, bad, block):
    """Bad lines anywhere (the first block, where the types are inferred from the kind most of its rows
    have, or a later one) are rejected as bad_value with their other values and their row; the good lines
    give Parquet's results."""
    d = tmp_path_factory.mktemp("wide")
    lines = [{"video_id": f"g{i:03d}", "exp_id": i % 2, "scores": s, "key_frame": k} for i, (s, k) in enumerate(good)]
    expected = []
    for j, (kind, at) in enumerate(bad):
        line, kept = WIDE_BAD[kind]
        lines.insert(min(at, len(lines)), {"video_id": f"b{j:03d}", "exp_id": 0, **line})
    for row, line in enumerate(lines):
        if line["video_id"].startswith("b"):
            kept = WIDE_BAD[bad[int(line["video_id"][1:])][0]][1]
            expected.append({"video_id": line["video_id"], "exp_id": 0, **kept, "reason": "bad_value",
                             "source": str(d / "t.jsonl"), "row": row})
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (d / "t.jsonl").write_text(text)
    good_lines = [line for line in lines if line["video_id"].startswith("g")]
    pq.write_table(pa.table({"video_id": [x["video_id"] for x in good_lines],
                             "exp_id": pa.array([x["exp_id"] for x in good_lines], pa.int64()),
                             "scores": pa.array([x["scores"] for x in good_lines], pa.list_(pa.float64())),
                             "key_frame": pa.array([x["key_frame"] for x in good_lines], pa.int64())}),
                   d / "t.parquet")
    old = formats.BLOCK_BYTES
    formats.BLOCK_BYTES = block
    try:
        got = _run(d / "t.jsonl", d / "o-jsonl")
    finally:
        formats.BLOCK_BYTES = old
    parquet = _run(d / "t.parquet", d / "o-parquet")
    _same_good(got, parquet, ("video_id", "exp_id"))
    rejected = _rejected(got).filter(pl.col("reason") == "bad_value").sort("row")
    assert rejected.to_dicts() == expected
    assert got.summary["rows"]["rejected_by_reason"].get("bad_value") == len(bad)
    assert got.summary["rows"]["read"] == len(lines)


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity"])
def test_jsonl_nonfinite_score_is_quarantined_as_in_csv(tmp_path, number):
    """A score JSON Lines' parser refuses as a number (beyond float64, or Python's NaN / Infinity) is the
    float it stands for, as in CSV: the track is rejected as nonfinite_score, not bad_value; other values
    of its line are kept."""
    value = float(number)
    (tmp_path / "w.jsonl").write_text(
        '{"video_id": "a", "exp_id": 0, "scores": [0.5, 0.25], "key_frame": 1}\n'
        f'{{"video_id": "b", "exp_id": 0, "scores": [0.5, {number}, 0.1], "key_frame": 0}}\n')
    (tmp_path / "l.jsonl").write_text(
        '{"video_id": "a", "exp_id": 0, "frame": 0, "score": 0.5, "key_frame": 0}\n'
        f'{{"video_id": "b", "exp_id": 0, "frame": 0, "score": {number}, "key_frame": 0}}\n'
        '{"video_id": "b", "exp_id": 0, "frame": 1, "score": 0.25, "key_frame": 0}\n')
    (tmp_path / "l.csv").write_text(f"video_id,exp_id,frame,score,key_frame\na,0,0,0.5,0\nb,0,0,{value},0\n"
                                    "b,0,1,0.25,0\n")
    wide = _rejected(_run(tmp_path / "w.jsonl", tmp_path / "ow"))
    assert wide.select("video_id", "reason", "row").to_dicts() == [
        {"video_id": "b", "reason": "nonfinite_score", "row": 1}]
    kept = wide["scores"][0].to_list()
    assert kept[0] == 0.5 and kept[2] == 0.1 and (math.isnan(kept[1]) if math.isnan(value) else kept[1] == value)
    for name in ("l.jsonl", "l.csv"):
        got = _run(tmp_path / name, tmp_path / f"o-{name}")
        assert _rejected(got).select("video_id", "reason").to_dicts() == [
            {"video_id": "b", "reason": "nonfinite_score"}], name
        assert got.summary["rows"]["written"] == 1


def test_jsonl_bad_id_is_null_in_rejected(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"video_id": "a", "scores": [0.5]}\n{"video_id": 7, "scores": [0.5]}\n'
                                      '{"video_id": "c", "scores": [0.25], "note": ["any", 1]}\n')
    got = _run(tmp_path / "t.jsonl", tmp_path / "o")
    assert _rejected(got).select("video_id", "scores", "reason", "row").to_dicts() == [
        {"video_id": None, "scores": [0.5], "reason": "bad_value", "row": 1}]
    assert got.summary["rows"]["written"] == 2  # a column the run does not read is never checked


def test_jsonl_first_row_bad_does_not_decide_the_types(tmp_path):
    """The first block's types follow the kind most of its rows have, not its first row."""
    lines = ['{"video_id": "a", "scores": "abc"}'] + [json.dumps({"video_id": f"v{i}", "scores": [0.5, 0.1]})
                                                      for i in range(5)]
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n")
    got = _run(tmp_path / "t.jsonl", tmp_path / "o")
    assert _rejected(got).select("video_id", "reason", "row").to_dicts() == [
        {"video_id": "a", "reason": "bad_value", "row": 0}]
    assert got.summary["rows"]["written"] == 5


def test_jsonl_malformed_line_in_a_later_block_is_one_line(tmp_path, monkeypatch):
    """A line that is not JSON cannot be read (exit 2), in any block, naming its row."""
    monkeypatch.setattr(formats, "BLOCK_BYTES", 1 << 10)
    lines = "".join(json.dumps({"video_id": f"a{i}", "scores": [0.5]}) + "\n" for i in range(200))
    (tmp_path / "t.jsonl").write_text(lines + '{"video_id": "b", "scores": [0.5}\n')
    _one_error(_cli("run", tmp_path / "t.jsonl", "-o", tmp_path / "o"), "t.jsonl", "row 200 (0-based)")
    (tmp_path / "u.jsonl").write_text(lines + "[0.5]\n")
    _one_error(_cli("run", tmp_path / "u.jsonl", "-o", tmp_path / "o"), "u.jsonl", "row 200 (0-based)",
               "expected an object")


def test_jsonl_line_longer_than_a_block(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "BLOCK_BYTES", 64)
    scores = [0.5] * 100
    (tmp_path / "t.jsonl").write_text(json.dumps({"video_id": "a", "scores": scores}) + "\n"
                                      + json.dumps({"video_id": "b", "scores": scores}))
    got = _run(tmp_path / "t.jsonl", tmp_path / "o")
    assert got.summary["rows"]["written"] == 2


# --- long layout: JSON Lines and CSV ------------------------------------------------------------


def _long_table(tracks):
    rows = [(f"v{i:02d}", f, s) for i, scores in enumerate(tracks) for f, s in enumerate(scores)]
    random.Random(len(rows)).shuffle(rows)
    return rows


@settings(max_examples=12, deadline=None)
@given(tracks=st.lists(GOOD, min_size=2, max_size=30), data=st.data(),
       fmt=st.sampled_from(["csv", "tsv", "jsonl"]), block=st.sampled_from([128, 1 << 20]), spill=st.booleans())
def test_long_bad_rows_reject_their_track(tmp_path_factory, tracks, data, fmt, block, spill):
    """A frame row with a bad value (or, in CSV, too many or too few fields) rejects its track with that
    reason, in any block, grouped in memory or in spilled partitions; the other tracks give Parquet's
    results."""
    d = tmp_path_factory.mktemp("long")
    rows = _long_table(tracks)
    picks = data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=1, max_size=min(4, max(1, len(rows) // 3)),
                               unique=True))
    # (CSV: a bad frame label in a later block is in test_csv_bad_rows_exactly; in the first block it
    # decides the column's type.)
    kinds = ["score", "frame", "id"] if fmt == "jsonl" else ["score", "more", "fewer"]
    bad = {at: data.draw(st.sampled_from(kinds)) for at in picks}
    sep = "\t" if fmt == "tsv" else ","
    lines = []
    for at, (video, frame, score) in enumerate(rows):
        kind = bad.get(at)
        if fmt == "jsonl":
            row = {"video_id": video, "frame": frame, "score": score}
            if kind == "score":
                row["score"] = "abc"
            elif kind == "frame":
                row["frame"] = [frame]
            elif kind == "id":
                row["video_id"] = {"v": video}
            lines.append(json.dumps(row))
            continue
        fields = [video, str(frame), repr(score)]
        if kind == "score":
            fields[2] = "abc"
        elif kind == "more":
            fields.append("7")
        elif kind == "fewer":
            fields = fields[:2]
        lines.append(sep.join(fields))
    header = "" if fmt == "jsonl" else sep.join(["video_id", "frame", "score"]) + "\n"
    # Good rows first, so that the first block decides the types as for Parquet.
    order = sorted(range(len(lines)), key=lambda i: i in bad)
    (d / f"t.{fmt}").write_text(header + "\n".join(lines[i] for i in order) + "\n")
    hit = {rows[at][0] for at, kind in bad.items() if kind != "id"}
    reason = {"more": "bad_field_count", "fewer": "bad_field_count"}
    expected = {}
    for at, kind in bad.items():  # bad_field_count before bad_value where a track has both
        video = None if kind == "id" else rows[at][0]
        if expected.get(video) != "bad_field_count":
            expected[video] = reason.get(kind, "bad_value")
    # A row whose id cannot be read joins the rows of a null id; its track is scored without it.
    keep = [r for at, r in enumerate(rows) if r[0] not in hit and bad.get(at) != "id"]
    pq.write_table(pa.table({"video_id": pa.array([r[0] for r in keep], pa.string()),
                             "frame": pa.array([r[1] for r in keep], pa.int64()),
                             "score": pa.array([r[2] for r in keep], pa.float64())}), d / "t.parquet")
    old = formats.BLOCK_BYTES, long.PARTITION_ROWS
    formats.BLOCK_BYTES = block
    long.PARTITION_ROWS = 16 if spill else old[1]
    try:
        got = _run(d / f"t.{fmt}", d / "o-text")
        assert (long.partitions_for(got.summary["rows"]["input_frame_rows"]) > 1) == (spill and len(rows) > 16)
        parquet = _run(d / "t.parquet", d / "o-parquet", layout="long")
    finally:
        formats.BLOCK_BYTES, long.PARTITION_ROWS = old
    _same_good(got, parquet, ("video_id",))
    bad_rows = _rejected(got).filter(pl.col("reason").is_in(["bad_value", "bad_field_count"]))
    assert dict(zip(bad_rows["video_id"].to_list(), bad_rows["reason"].to_list())) == expected
    assert got.summary["rows"]["input_frame_rows"] == len(rows)


def test_csv_bad_rows_exactly(tmp_path, monkeypatch):
    """Which tracks, frames and scores rejected.parquet holds for each kind of bad CSV row, with the bad
    value in a later block (the file is read again as text, the rows handed on skipped: a row of too
    many fields before it is not handed on twice)."""
    monkeypatch.setattr(formats, "BLOCK_BYTES", 1 << 10)
    good = "".join(f"g{i:03d},0,0.5\n" for i in range(100))
    text = ("video_id,frame,score\nh,0,0.5,9\nh,1,0.5\n" + good + "b,0,abc\nb,1,0.5\nc,0,0.5,7\nc,1,0.25\nd,0\nd,1,0.75\n"
            "e,0,0.5\ne,1, 0.25 \nf,0,0.5\nf,1.5,0.5\n")
    (tmp_path / "t.csv").write_text(text)
    got = _run(tmp_path / "t.csv", tmp_path / "o")
    rejected = _rejected(got).sort("video_id").select("video_id", "score", "frames", "rows", "reason")
    assert rejected.to_dicts() == [
        {"video_id": "b", "score": [None, 0.5], "frames": [0, 1], "rows": 2, "reason": "bad_value"},
        {"video_id": "c", "score": [0.5, 0.25], "frames": [0, 1], "rows": 2, "reason": "bad_field_count"},
        {"video_id": "d", "score": [None, 0.75], "frames": [0, 1], "rows": 2, "reason": "bad_field_count"},
        {"video_id": "f", "score": [0.5, 0.5], "frames": [0, None], "rows": 2, "reason": "bad_value"},
        {"video_id": "h", "score": [0.5, 0.5], "frames": [0, 1], "rows": 2, "reason": "bad_field_count"},
    ]
    stages = got.stages().collect()
    assert stages.height == 101 and stages.filter(pl.col("video_id") == "e")["T"].to_list() == [2]


def test_csv_score_column_with_a_bad_value_in_the_first_block_is_numbers(tmp_path):
    (tmp_path / "t.csv").write_text("video_id,frame,score\na,0,0.5\na,1,high\nb,0,0.25\n")
    got = _run(tmp_path / "t.csv", tmp_path / "o")
    assert _rejected(got)["reason"].to_list() == ["bad_value"]
    assert got.stages().collect()["video_id"].to_list() == ["b"]
    (tmp_path / "u.csv").write_text("video_id,frame,score\na,0,high\nb,0,low\n")  # no number at all
    _one_error(_cli("run", tmp_path / "u.csv", "-o", tmp_path / "o2"), "u.csv", "column 'score' has type string")


# --- nested JSON ------------------------------------------------------------------------------


def test_nested_json_key_kind_is_the_first_non_null_key_anywhere(tmp_path):
    """The key column's kind is that of the file's first non-null key, even past the first MiB; a key of
    the other kind, a score that is no number, a track that is no list: bad_value."""
    data = {f"v{i:05d}": {"0": [0.25, 0.5, 0.75]} for i in range(40_000)}  # > 1 MiB without a key
    data["w"] = {"0": {"scores": [0.5, 0.25], "key_frame": None}, "1": {"scores": [0.25, 0.5], "key_frame": 1},
                 "2": {"scores": [0.5], "key_frame": "00000"}, "3": [0.5, "x"], "4": "abc",
                 "5": [0.5, float("nan")], "6": [10**400]}
    (tmp_path / "t.json").write_text(json.dumps(data))  # NaN as Python writes it
    assert (tmp_path / "t.json").stat().st_size > formats.SAMPLE_BYTES
    got = _run(tmp_path / "t.json", tmp_path / "o")
    rejected = _rejected(got).filter(pl.col("video_id") == "w").select("exp_id", "scores", "key_frame", "reason")
    rejected = rejected.with_columns(pl.col("scores").list.eval(pl.element().fill_nan(-1.0)))  # NaN != NaN
    assert rejected.sort("exp_id").to_dicts() == [
        {"exp_id": "0", "scores": [0.5, 0.25], "key_frame": None, "reason": "null_key_frame"},
        {"exp_id": "2", "scores": [0.5], "key_frame": None, "reason": "bad_value"},
        {"exp_id": "3", "scores": None, "key_frame": None, "reason": "bad_value"},
        {"exp_id": "4", "scores": None, "key_frame": None, "reason": "bad_value"},
        {"exp_id": "5", "scores": [0.5, -1.0], "key_frame": None, "reason": "nonfinite_score"},
        {"exp_id": "6", "scores": None, "key_frame": None, "reason": "bad_value"},
    ]
    stages = got.stages().collect().filter(pl.col("video_id") == "w")
    assert stages.select("exp_id", "key_frame").to_dicts() == [{"exp_id": "1", "key_frame": 1}]
    # A string first key past the first MiB: frame names, which need --meta (exit 2, one line).
    data["w"] = {"2": {"scores": [0.5], "key_frame": "00000"}, "1": {"scores": [0.25, 0.5], "key_frame": 1}}
    data.pop("v00000")
    (tmp_path / "u.json").write_text(json.dumps(data))
    _one_error(_cli("run", tmp_path / "u.json", "-o", tmp_path / "o2"), "u.json", "column 'key_frame' has type string")


# --- inputs without rows ------------------------------------------------------------------------

EMPTY = {
    "parquet": ("t.parquet", None),
    "jsonl 0 bytes": ("t.jsonl", ""),
    "jsonl blank lines": ("t.jsonl", "\n\n  \n"),
    "csv 0 bytes": ("t.csv", ""),
    "csv header only": ("t.csv", "video_id,frame,score\n"),
    "csv header only, no newline": ("t.csv", "video_id,frame,score"),
    "csv header only, CRLF": ("t.csv", "\ufeffvideo_id,frame,score\r\n"),
    "tsv 0 bytes": ("t.tsv", ""),
    "json 0 bytes": ("t.json", ""),
    "json no track": ("t.json", '{"a": {}}'),
    "npy no track": ("t.npy", np.zeros((0, 4))),
}


@pytest.mark.parametrize("name", list(EMPTY))
def test_input_without_rows_completes_in_every_format(tmp_path, name):
    """A zero-row Parquet file and an empty text file both give empty outputs (exit 0)."""
    file, content = EMPTY[name]
    path = tmp_path / file
    if content is None:
        pq.write_table(pa.table({"video_id": pa.array([], pa.string()), "scores": pa.array([], pa.list_(pa.float64()))}),
                       path)
    elif isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_text(content)
    result = _cli("run", path, "-o", tmp_path / "o", "--no-plot")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["rows"]["read"] == 0 and summary["rows"]["written"] == 0
    curve = pl.read_parquet(tmp_path / "o" / "curve.parquet")
    assert curve.height == 191 and curve["count"].sum() == 0 and curve["mean"].null_count() == 191
    assert pl.read_parquet(tmp_path / "o" / "stages").height == 0
    assert pl.read_parquet(tmp_path / "o" / "rejected.parquet").height == 0


def test_nested_json_key_kind_across_a_read_boundary(tmp_path, monkeypatch):
    """The first key's value may lie in the next MiB read, after blanks (a read of 16 bytes here)."""
    monkeypatch.setattr(formats, "SAMPLE_BYTES", 16)
    path = tmp_path / "k.json"
    for value, kind in (('"x"', "text"), ("3", "int"), ('null, "b": {"scores": [0.1], "key_frame": "y"}', "text")):
        path.write_text('{"a": {"0": {"scores": [0.1], "key_frame":' + " " * 40 + value + "}}}")
        assert formats._first_key_kind(str(path)) == kind
    path.write_text('{"a": {"0": [0.1]}}')
    assert formats._first_key_kind(str(path)) is None


def test_most_of_a_block_of_another_type_is_a_column_of_the_wrong_type(tmp_path, monkeypatch):
    """Beyond WRONG_TYPE_ROWS bad values in a block, where they are most of its rows, the column has
    changed type (a file joined from two dumps): one line, exit 2, rather than a row at a time."""
    monkeypatch.setattr(formats, "BLOCK_BYTES", 1 << 10)
    monkeypatch.setattr(formats, "WRONG_TYPE_ROWS", 10)
    lines = [json.dumps({"video_id": f"a{i}", "scores": [0.5]}) for i in range(50)]
    lines += [json.dumps({"video_id": i, "scores": [0.5]}) for i in range(100)]
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n")
    _one_error(_cli("run", tmp_path / "t.jsonl", "-o", tmp_path / "o"), "t.jsonl", "column 'video_id' has type string",
               "a column of the wrong type")
    rows = "".join(f"a{i},0,0.5\n" for i in range(50)) + "".join(f"b{i},0,NA\n" for i in range(100))
    (tmp_path / "t.csv").write_text("video_id,frame,score\n" + rows)
    _one_error(_cli("run", tmp_path / "t.csv", "-o", tmp_path / "o"), "t.csv", "column 'score' has type double",
               "'NA'", "a column of the wrong type")
    # Up to WRONG_TYPE_ROWS bad values, or fewer than half the block's rows, are bad rows.
    lines = lines[:50] + lines[50:60] + [json.dumps({"video_id": f"c{i}", "scores": [0.5]}) for i in range(100)]
    (tmp_path / "u.jsonl").write_text("\n".join(lines) + "\n")
    got = _run(tmp_path / "u.jsonl", tmp_path / "o2")
    assert got.summary["rows"]["rejected_by_reason"] == {"bad_value": 10}


def test_on_invalid_error_stops_at_the_first_bad_row(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"video_id": "a", "scores": [0.5]}\n{"video_id": "b", "scores": "x"}\n')
    _one_error(_cli("run", tmp_path / "t.jsonl", "-o", tmp_path / "o", "--on-invalid", "error"),
               "t.jsonl", "row 1", "bad_value")
    (tmp_path / "t.csv").write_text("video_id,frame,score\na,0,0.5\nb,0,0.5,1\n")
    _one_error(_cli("run", tmp_path / "t.csv", "-o", tmp_path / "o", "--on-invalid", "error"),
               "t.csv", "video_id='b'", "bad_field_count")


@pytest.mark.parametrize("fmt, sep", [("csv", ","), ("tsv", "\t")])
def test_csv_whose_rows_do_not_fit_the_header_is_one_line(tmp_path, fmt, sep):
    """Rows that mostly have another number of fields than the header in the first block (a delimiter at
    the end of every row) make a file of no one table: exit 2 naming the file, not every row rejected.
    A minority of such rows stays bad rows."""
    rows = [sep.join(["v%d" % (i // 10), "0", str(i % 10), "0.5", "0"]) for i in range(1500)]
    header = sep.join(["video_id", "exp_id", "frame", "score", "key_frame"])
    (tmp_path / f"t.{fmt}").write_text(header + "\n" + "".join(r + sep + "\n" for r in rows))
    _one_error(_cli("run", tmp_path / f"t.{fmt}", "-o", tmp_path / "o"), f"t.{fmt}", "1,500 of the first 1,500 rows",
               "header's 5 (the first 6)")
    (tmp_path / f"u.{fmt}").write_text(header + "\n" + "".join(r + "\n" for r in rows) +
                                       "".join(r + sep + "\n" for r in rows[:1200]))
    got = _run(tmp_path / f"u.{fmt}", tmp_path / "o2")
    assert got.summary["rows"]["rejected_by_reason"] == {"bad_field_count": 120}


@pytest.mark.parametrize("following", [2, 30_000])
def test_csv_quote_never_closed_is_one_line(tmp_path, following):
    """A quote never closed swallows the lines after it into one row of the wrong field count: exit 2
    naming the file and the row's start, not one bad row hiding the lines (nor an internal error on a
    row beyond Python's csv field limit).  A quoted line break in a row that fits is a value."""
    rows = "".join(f"v{i},0,0,0.5,0\n" for i in range(following))
    (tmp_path / "t.csv").write_text('video_id,exp_id,frame,score,key_frame\n"a,0,0,0.5,0\n' + rows)
    _one_error(_cli("run", tmp_path / "t.csv", "-o", tmp_path / "o"), "t.csv", "row starting '\"a,0,0,0.5,0",
               f"runs over {following + 1:,} lines", "quote never closed")
    (tmp_path / "u.csv").write_text('video_id,exp_id,frame,score,key_frame\n"a\nb",0,0,0.5,0\n' + rows)
    got = _run(tmp_path / "u.csv", tmp_path / "o2")
    assert got.summary["rows"]["written"] == following + 1


@pytest.mark.parametrize("header, by, column", [("video_id,frame,score,score", (), "score"),
                                                ("video_id,frame,score,cat,cat", ("cat",), "cat"),
                                                ("video_id,frame,score,note,note", (), "note")])
def test_csv_header_naming_a_column_twice_is_one_line(tmp_path, header, by, column):
    """A CSV header that names a column twice is a file of no one table (as in Parquet): exit 2, naming the
    file and the column, never an internal error."""
    (tmp_path / "t.csv").write_text(header + "\na,0,0.5,x,y\n")
    args = [a for name in by for a in ("--by", name)]
    _one_error(_cli("run", tmp_path / "t.csv", "-o", tmp_path / "o", *args), "t.csv", f"column '{column}'", "twice")


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_column_without_a_value_in_a_file_takes_the_other_files_type(tmp_path, fmt):
    """A file whose id (or frame) column holds only nulls in its first block has no type of its own
    there: it takes the type the other files give the column, and its rows are rejected as in Parquet
    (null_id, bad_frame_index), instead of stopping the run for a type conflict."""
    d = tmp_path / "d"
    d.mkdir()
    if fmt == "jsonl":
        rows = {"a": [("a", 0, [0.1, 0.5])], "b": [("b", None, [0.2, 0.3])], "c": [("c", 1, [0.4, 0.6])]}
        for name, tracks in rows.items():
            (d / f"{name}.jsonl").write_text("".join(json.dumps({"video_id": v, "exp_id": e, "scores": s}) + "\n"
                                                     for v, e, s in tracks))
        table = pa.table({"video_id": ["a", "b", "c"], "exp_id": pa.array([0, None, 1], pa.int64()),
                          "scores": [[0.1, 0.5], [0.2, 0.3], [0.4, 0.6]]})
        reasons = ["null_id"]
    else:
        (d / "a.csv").write_text("video_id,exp_id,frame,score\na,0,00000,0.1\na,0,00001,0.5\n")
        (d / "b.csv").write_text("video_id,exp_id,frame,score\nb,,00000,0.2\nb,,00001,0.3\n")
        (d / "c.csv").write_text("video_id,exp_id,frame,score\nc,1,,0.4\n")
        table = pa.table({"video_id": ["a", "a", "b", "b", "c"], "exp_id": pa.array([0, 0, None, None, 1], pa.int64()),
                          "frame": ["00000", "00001", "00000", "00001", None], "score": [0.1, 0.5, 0.2, 0.3, 0.4]})
        reasons = ["bad_frame_index", "null_id"]
    pq.write_table(table, tmp_path / "t.parquet")
    got, parquet = _run(d, tmp_path / "o"), _run(tmp_path / "t.parquet", tmp_path / "p")
    _same_good(got, parquet, ["video_id"])
    assert sorted(_rejected(got)["reason"].to_list()) == reasons
    assert got.summary["rows"] == parquet.summary["rows"]


def test_jsonl_column_of_no_one_type_is_read_only_where_named(tmp_path):
    """A column the run does not read whose values differ in type deeper than the vote of the first block
    sees (an object whose member is a list in one row and text in another; a list of mixed kinds in every
    row) does not stop the run; a run that names it stops with one line naming it."""
    lines = [{"video_id": "a", "exp_id": 0, "scores": [0.1, 0.5], "meta": {"bbox": [1, 2]}, "tags": [1, "x"]},
             {"video_id": "b", "exp_id": 0, "scores": [0.2, "x"], "meta": {"bbox": "none"}, "tags": ["y", 2]},
             {"video_id": "c", "exp_id": 0, "scores": [0.4, 0.3], "meta": {"bbox": [3, 4]}, "tags": [3, "z"]}]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    pq.write_table(pa.table({"video_id": ["a", "c"], "exp_id": [0, 0], "scores": [[0.1, 0.5], [0.4, 0.3]]}),
                   tmp_path / "t.parquet")
    got, parquet = _run(tmp_path / "t.jsonl", tmp_path / "o"), _run(tmp_path / "t.parquet", tmp_path / "p")
    _same_good(got, parquet, ["video_id"])
    assert _rejected(got)["reason"].to_list() == ["bad_value"]
    for column in ("meta", "tags"):
        _one_error(_cli("run", tmp_path / "t.jsonl", "-o", tmp_path / f"o-{column}", "--by", column),
                   "t.jsonl", f"column '{column}'")


@pytest.mark.parametrize("text, key", [('{"a": {"0": [0.1, 0.2]}, "a": {"1": [0.3, 0.4]}}', "'a'"),
                                       ('{"a": {"0": [0.1, 0.2], "0": [0.3]}}', "'0'"),
                                       ('{"a": {"0": [0.1, 0.2]}, "a": {}}', "'a'"),
                                       ('{"a": {"0": {"scores": [0.1], "scores": [0.2]}}}', "'scores'")])
def test_nested_json_key_twice_in_one_object_is_one_line(tmp_path, text, key):
    """Python's json keeps the last of two members of one name: a track would vanish from every count.
    A file that names a video, expression or member twice in one object stops the run instead."""
    (tmp_path / "t.json").write_text(text)
    _one_error(_cli("run", tmp_path / "t.json", "-o", tmp_path / "o"), "t.json", key, "twice")
