"""Odd text and NumPy input found by fuzzing the readers of engine/formats.py: each either stops the run
with one line naming the file (and row or column), exit 2, or is read with its bad rows rejected, and
the good rows give what the same rows give as Parquet (README, Input formats and Bad input).  Never an
internal error, a Python traceback or a crash of the process."""

from __future__ import annotations

import json

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tf2eng
from conftest import assert_one_error as _one_error
from conftest import invoke_cli as _cli
from tf2eng.engine import formats
from tf2eng.engine.errors import InputError

TRACKS = [{"video_id": f"v{i}", "exp_id": 0, "scores": [0.1 * (i % 9) + 0.05, 0.5 + i / 100, 0.25 - i / 400]}
          for i in range(40)]


def _jsonl(rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def _run(path, out, **kwargs):
    return tf2eng.run(path, out, plot=False, **kwargs)


def _same_as_parquet(got, tracks, tmp_path):
    """The results of ``got`` equal those of the same tracks as Parquet."""
    n = len(list(tmp_path.glob("same-*.parquet")))
    pq.write_table(pa.Table.from_pylist(tracks), tmp_path / f"same-{n}.parquet")
    parquet = _run(tmp_path / f"same-{n}.parquet", tmp_path / f"same-{n}-out")
    assert got.stage_means.equals(parquet.stage_means)
    assert got.curve.equals(parquet.curve)
    assert got.stages().collect().sort("video_id").equals(parquet.stages().collect().sort("video_id"))


# --- JSON Lines: lines Arrow's parser takes for rows of nulls or crashes on ------------------------


@pytest.mark.parametrize("text, row", [("null", 0), ("  null \r", 0), ("\n\nnull", 0)])
@pytest.mark.parametrize("where", ["alone", "first", "later", "later block"])
def test_jsonl_null_line_is_one_line(tmp_path, monkeypatch, text, row, where):
    """A line `null` is no JSON object: exit 2 naming its row (blank lines not counted), as for a line
    `[1]`; Arrow's parser would take it for a row of nulls, or crash on a file of it alone."""
    if where == "later block":
        monkeypatch.setattr(formats, "BLOCK_BYTES", 1024)
    before = {"alone": [], "first": [], "later": TRACKS[:3], "later block": TRACKS}[where]
    after = [] if where == "alone" else TRACKS[:2]
    (tmp_path / "t.jsonl").write_text(_jsonl(before) + text + "\n" + _jsonl(after))
    _one_error(_cli("run", tmp_path / "t.jsonl", "-o", tmp_path / "o"), "t.jsonl",
               f"row {len(before) + row} (0-based) is a JSON null")


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("column", ["scores", "note"])
@pytest.mark.parametrize("depth, block", [(101, None), (20_000, None), (20_000, 1024)])
def test_jsonl_values_nested_too_deep_are_one_line(tmp_path, monkeypatch, column, depth, block):
    """Values nested more than 100 levels deep stop the run with one line naming the row, in the first
    block or a later one, in a column the run reads or not: Arrow's parser runs out of stack on
    thousands of levels (the process crashes), Python's on about a thousand (RecursionError)."""
    if block:
        monkeypatch.setattr(formats, "BLOCK_BYTES", block)
    deep = json.dumps({"video_id": "deep", "exp_id": 0, "scores": [0.5]})[:-1] + f', "{column}": {_nested(depth)}}}'
    (tmp_path / "t.jsonl").write_text(_jsonl([*TRACKS[:30], deep, *TRACKS[30:]]))
    _one_error(_cli("run", tmp_path / "t.jsonl", "-o", tmp_path / "o"), "t.jsonl",
               "row 30 (0-based) nests values more than 100 levels deep")


def test_jsonl_many_brackets_that_do_not_nest_deep_are_read(tmp_path):
    """Lines with hundreds of brackets that nest shallow (a list of 600 lists, brackets inside text, 100
    levels exactly) are read as usual."""
    extra = [{"boxes": [[1, 2]] * 600}, {"note": "[" * 700 + "{" * 700}, {"note": json.loads(_nested(99))}]
    tracks = [dict(t, **extra[i % 3]) for i, t in enumerate(TRACKS)]
    (tmp_path / "t.jsonl").write_text(_jsonl(tracks))
    got = _run(tmp_path / "t.jsonl", tmp_path / "o")
    assert got.summary["rows"]["written"] == len(TRACKS)
    _same_as_parquet(got, TRACKS, tmp_path)


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_nested_json_nested_too_deep_is_one_line(tmp_path, depth):
    """A nested JSON file nested beyond what Python's parser takes: one line, not a RecursionError."""
    (tmp_path / "t.json").write_text('{"a": {"0": ' + _nested(depth) + "}}")
    _one_error(_cli("run", tmp_path / "t.json", "-o", tmp_path / "o"), "t.json", "nested too deeply")


# --- CSV / TSV ------------------------------------------------------------------------------------


@pytest.mark.parametrize("header, column", [("video_id,frame,frame,score", "frame"),
                                            ("video_id,frame,score,n,n", "n"), ("video_id,,,frame,score", "")])
def test_csv_header_naming_an_integer_column_twice_is_one_line(tmp_path, header, column):
    """A header that names a column of integers twice (or two columns without a name) is one line naming
    the column, as for other columns, not an internal error of the type inference."""
    (tmp_path / "t.csv").write_text(header + "\na,0,1,0,0.5\na,1,2,1,0.25\n")
    _one_error(_cli("run", tmp_path / "t.csv", "-o", tmp_path / "o"), "t.csv", f"column '{column}' twice")


# --- in memory and Arrow IPC: string_view columns of the long layout ---------------------------------


@pytest.mark.parametrize("frames", [["1", "0", "2"], ["b", "a", "c"], ["00001", "00000", "00002"]])
@pytest.mark.parametrize("ids", [pa.string(), pa.string_view()])
def test_long_layout_of_string_view_columns(tmp_path, frames, ids):
    """Frame labels, keys and ids of type string_view (polars' and DuckDB's text) give what the same text
    as string gives, in memory and from an Arrow IPC file, instead of an internal error of Arrow's
    kernels (which have none for string_view)."""
    import pyarrow.feather as feather

    def table(text):
        return pa.table({"video_id": pa.array(["a", "a", "b"], ids if text == pa.string_view() else pa.string()),
                         "frame": pa.array(frames, text), "score": [0.1, 0.2, 0.3],
                         "key_frame": pa.array([frames[0], frames[0], None], text)})

    plain = tf2eng.align(table(pa.string()))
    assert plain.summary["rows"]["rejected_by_reason"] == {"null_key_frame": 1}
    got = tf2eng.align(table(pa.string_view()))
    for name in ("stages", "stage_means", "curve", "rejected"):
        assert getattr(got, name).equals(getattr(plain, name)), name
    feather.write_feather(table(pa.string_view()), tmp_path / "t.arrow")
    run = _run(tmp_path / "t.arrow", tmp_path / "o")
    assert run.curve.equals(plain.curve) and run.summary["rows"]["written"] == 1


def _pandas_frames():
    import pandas as pd

    return {"mixed objects": (pd.DataFrame({"video_id": ["a", "b"], "scores": [[0.1], "x"]}), "column scores"),
            "ids text and numbers": (pd.DataFrame({"video_id": ["a", 1], "scores": [[0.1], [0.2]]}), "column video_id"),
            "a name twice": (pd.DataFrame([["a", [0.1]]], columns=["video_id", "video_id"]), "video_id")}


@pytest.mark.parametrize("name", ["mixed objects", "ids text and numbers", "a name twice"])
def test_align_pandas_frame_without_an_arrow_table_is_an_input_error(name):
    pytest.importorskip("pandas")
    frame, needle = _pandas_frames()[name]
    with pytest.raises(InputError, match="data: cannot be read as an Arrow table") as error:
        tf2eng.align(frame)
    assert needle in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("column", ["video_id", "key_frame"])
def test_align_polars_column_of_no_arrow_type_is_an_input_error(lazy, column):
    frame = pl.DataFrame({"video_id": ["a", "b"], "scores": [[0.1, 0.9], [0.2, 0.3]], "key_frame": [1, 0]})
    frame = frame.with_columns(pl.col(column).cast(pl.Int128) if column == "key_frame" else
                               pl.Series(column, [1, 2], pl.Int128))
    with pytest.raises(InputError, match=f"data: column '{column}' of type Int128 has no Arrow type"):
        tf2eng.align(frame.lazy() if lazy else frame)


def test_align_mapping_with_ids_beyond_64_bits_is_an_input_error():
    with pytest.raises(InputError, match="mapping's ids"):
        tf2eng.align({2**70: [0.1, 0.5], 1: [0.2]})


@pytest.mark.parametrize("sep", [",", "\t"])
@pytest.mark.parametrize("field", ["x" * 300_000, '"' + "x," * 150_000 + '"'])
@pytest.mark.parametrize("many", [1, 1_200])
def test_csv_row_of_the_wrong_field_count_with_a_huge_field_is_a_bad_row(tmp_path, sep, field, many):
    """A row of another number of fields whose field is longer than Python's csv field limit (131,072
    characters) is a bad row of its track like any other (or, as most of the first block, one line
    naming the counts), not an internal error."""
    good = [f"v{i}{sep}0{sep}0{sep}0.5" for i in range(5)] + [f"v{i}{sep}0{sep}1{sep}0.25" for i in range(5)]
    bad = [f"v{i}{sep}0{sep}2{sep}0.5{sep}{field if i == 0 else 'x'}" for i in range(many)]
    fmt = "csv" if sep == "," else "tsv"
    (tmp_path / f"t.{fmt}").write_text(sep.join(["video_id", "exp_id", "frame", "score"]) + "\n" +
                                       "\n".join(good + bad) + "\n")
    if many > 1_000:
        _one_error(_cli("run", tmp_path / f"t.{fmt}", "-o", tmp_path / "o"), f"t.{fmt}",
                   f"{many:,} of the first {many + 10:,} rows", "header's 4 (the first 5)")
        return
    got = _run(tmp_path / f"t.{fmt}", tmp_path / "o")
    assert got.summary["rows"]["rejected_by_reason"] == {"bad_field_count": 1}
    rejected = pl.read_parquet(got.out / "rejected.parquet")
    assert rejected["video_id"].to_list() == ["v0"] and rejected["frames"].to_list() == [[0, 1, 2]]
    _same_as_parquet(got, [{"video_id": f"v{i}", "exp_id": 0, "frame": f, "score": s}
                           for i in range(1, 5) for f, s in ((0, 0.5), (1, 0.25))], tmp_path)


# --- NumPy archives ---------------------------------------------------------------------------------


def _npz(compressed=False, **arrays) -> bytearray:
    import io

    import numpy as np

    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return bytearray(buffer.getvalue())


def _npy_bytes(array) -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _damaged(kind: str) -> bytes:
    import zipfile

    import numpy as np

    if kind in ("shape beyond the data", "data cut short"):
        member = _npy_bytes(np.linspace(0, 1, 50))
        member = member.replace(b"(50,)", b"(99999999999,)") if kind == "shape beyond the data" else member[:-30]
        import io

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("a.npy", member)
        return buffer.getvalue()
    data = _npz(compressed=kind == "a compressed byte flipped", a=np.linspace(0, 1, 100_000))
    at = data.find(b"\x93NUMPY") + 4000 if kind == "a stored byte flipped" else len(data) // 2
    data[at] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize("kind", ["shape beyond the data", "data cut short", "a stored byte flipped",
                                  "a compressed byte flipped"])
def test_damaged_npz_is_one_line(tmp_path, kind):
    """An .npz whose array's header claims more data than the member holds (NumPy would allocate what
    the shape says first, 800 GB here), or whose member fails its CRC or deflate stream: one line naming
    the file, exit 2, not a MemoryError or an internal error (BadZipFile)."""
    (tmp_path / "v.npz").write_bytes(_damaged(kind))
    _one_error(_cli("run", tmp_path / "v.npz", "-o", tmp_path / "o"), "v.npz", "cannot read as NumPy")


# --- text that is not UTF-8 -------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["video_id", "cat"])
@pytest.mark.parametrize("block", [None, 1024])
def test_jsonl_text_not_utf8_is_one_line(tmp_path, monkeypatch, column, block):
    """Bytes that are not UTF-8 in a text column the run reads (an id, a --by column), in the first block
    or a later one: one line naming the row, exit 2.  Arrow's parser keeps them, and stages/ or
    rejected.parquet would hold text that no Parquet reader takes.  In a column the run does not read
    they do not matter."""
    if block:
        monkeypatch.setattr(formats, "BLOCK_BYTES", block)
    tracks = [dict(t, cat="x") for t in TRACKS]
    lines = [json.dumps(t).encode() for t in tracks]
    lines[30] = lines[30].replace(b'"x"' if column == "cat" else b'"v30"', b'"\xff\xfe"')
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    _one_error(_cli("run", tmp_path / "t.jsonl", "-o", tmp_path / "o", "--by", "cat"), "t.jsonl",
               "row 30 (0-based) is not valid UTF-8")
    if column == "cat":  # without --by cat, a column not read
        _same_as_parquet(_run(tmp_path / "t.jsonl", tmp_path / "o2"), TRACKS, tmp_path)


@pytest.mark.parametrize("block", [None, 1024])
def test_csv_text_not_utf8_is_one_line(tmp_path, monkeypatch, block):
    if block:
        monkeypatch.setattr(formats, "BLOCK_BYTES", block)
    rows = [f"v{i},0,{f},0.5".encode() for i in range(60) for f in range(3)]
    rows[150] = b"\xff\xfe" + rows[150]
    (tmp_path / "t.csv").write_bytes(b"video_id,exp_id,frame,score\n" + b"\n".join(rows) + b"\n")
    _one_error(_cli("run", tmp_path / "t.csv", "-o", tmp_path / "o"), "t.csv", "video_id")


@pytest.mark.parametrize("end", ["\r", "\r\n", "\n"])
@pytest.mark.parametrize("sep", [",", "\t"])
def test_csv_lines_ending_in_a_carriage_return_alone_are_read(tmp_path, end, sep):
    """A CSV whose lines end in "\\r" alone (old Mac files) holds rows, read as Arrow's parser reads them,
    bad rows included; before, its rows were counted from "\\n" alone, none was found, and the file was
    taken for a header without rows: a run that silently read nothing."""
    rows = [sep.join(["video_id", "exp_id", "frame", "score"])]
    rows += [sep.join([f"v{i}", "0", str(f), str(s)]) for i, t in enumerate(TRACKS) for f, s in enumerate(t["scores"])]
    rows += [sep.join(["bad", "0", "0", "x"]), sep.join(["short", "0", "0"])]
    fmt = "csv" if sep == "," else "tsv"
    (tmp_path / f"t.{fmt}").write_text(end.join(rows) + end, newline="")
    got = _run(tmp_path / f"t.{fmt}", tmp_path / "o")
    assert got.summary["rows"]["rejected_by_reason"] == {"bad_field_count": 1, "bad_value": 1}
    _same_as_parquet(got, [{"video_id": f"v{i}", "exp_id": 0, "frame": f, "score": s}
                           for i, t in enumerate(TRACKS) for f, s in enumerate(t["scores"])], tmp_path)


@pytest.mark.parametrize("number", [2**63, 2**64, -(2**64), 10**300])
def test_nested_json_integer_score_beyond_int64_is_out_of_range(tmp_path, number):
    """An integer score beyond int64 but within float64 is that float, out of [0, 1]: the track is
    score_out_of_range, as from JSON Lines, not a stop of the run (Arrow's conversion of the integers)."""
    data = {t["video_id"]: {"0": t["scores"]} for t in TRACKS}
    data["big"] = {"0": [0.5, number]}
    (tmp_path / "t.json").write_text(json.dumps(data))
    (tmp_path / "t.jsonl").write_text(_jsonl([*TRACKS, {"video_id": "big", "exp_id": 0, "scores": [0.5, number]}]))
    for name in ("t.json", "t.jsonl"):
        got = _run(tmp_path / name, tmp_path / f"o-{name}")
        assert got.summary["rows"]["rejected_by_reason"] == {"score_out_of_range": 1}
        exp = "0" if name == "t.json" else 0  # (nested JSON: expressions are object keys, text)
        _same_as_parquet(got, [dict(t, exp_id=exp) for t in TRACKS], tmp_path)


@pytest.mark.parametrize("value", [0.5, 1, [[0.5]], [0.5, [0.25]]])
@pytest.mark.parametrize("block", [None, 1024])
def test_jsonl_scores_a_number_where_lists_are_is_a_bad_value(tmp_path, monkeypatch, value, block):
    """A track whose scores are a number (or nested lists) among tracks of lists is a bad row (bad_value),
    in the first block or a later one, not a stop of the run on Arrow's conversion error."""
    if block:
        monkeypatch.setattr(formats, "BLOCK_BYTES", block)
    (tmp_path / "t.jsonl").write_text(_jsonl([*TRACKS[:30], {"video_id": "odd", "exp_id": 0, "scores": value},
                                              *TRACKS[30:]]))
    got = _run(tmp_path / "t.jsonl", tmp_path / "o")
    assert got.summary["rows"]["rejected_by_reason"] == {"bad_value": 1}
    rejected = pl.read_parquet(got.out / "rejected.parquet")
    assert rejected["video_id"].to_list() == ["odd"] and rejected["row"].to_list() == [30]
    _same_as_parquet(got, TRACKS, tmp_path)


@pytest.mark.parametrize("header", [(b"}", b"("), (b"'descr'", b"(((((((")])
def test_npy_header_that_is_no_python_literal_is_one_line(tmp_path, header):
    """An .npy whose header text is damaged so that Python's tokenizer fails on it (brackets never
    closed): one line naming the file, not an internal error (TokenError)."""
    import numpy as np

    data = _npy_bytes(np.zeros((4, 10)))
    (tmp_path / "v.npy").write_bytes(data.replace(*header))
    _one_error(_cli("run", tmp_path / "v.npy", "-o", tmp_path / "o"), "v.npy", "cannot read as NumPy")


@pytest.mark.parametrize("block", [None, 1024])
def test_csv_row_of_another_field_count_not_utf8_is_one_line(tmp_path, monkeypatch, block):
    """A row of another number of fields whose text is not UTF-8: Arrow's reader fails to decode it for
    the handler of such rows and reports that as an "Exception ignored" traceback on stderr; the run
    stops with one line naming the file and saying so, and nothing else on stderr."""
    if block:
        monkeypatch.setattr(formats, "BLOCK_BYTES", block)
    rows = [f"v{i},0,{f},0.5".encode() for i in range(60) for f in range(3)]
    rows[150] = b"q\xff\xfe,0"
    (tmp_path / "t.csv").write_bytes(b"video_id,exp_id,frame,score\n" + b"\n".join(rows) + b"\n")
    _one_error(_cli("run", tmp_path / "t.csv", "-o", tmp_path / "o"), "t.csv", "whose text is not UTF-8")
