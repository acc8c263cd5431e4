"""Text and NumPy input and --meta files found wrong by review: each case either stops the run with one
line naming the file (exit 2), or gives what the same tracks give as Parquet (README, Input formats,
Dataset metadata, Bad input)."""

from __future__ import annotations

import json

import pytest

from conftest import assert_one_error as _one_error
from conftest import invoke_cli as _cli
from tf2eng.engine import formats


def _track(i: int) -> str:
    return json.dumps({"video_id": f"g{i}", "exp_id": "0", "scores": [0.1, 0.5 + i / 100, 0.2], "key_frame": 1})


BAD = json.dumps({"video_id": "bad", "exp_id": "0", "scores": "x", "key_frame": 1})


# --- JSON Lines: one value a line --------------------------------------------------------------


@pytest.mark.parametrize("block", [300, 440, 650, 720, 1 << 20])
def test_jsonl_line_of_two_objects_is_one_line_wherever_it_falls(tmp_path, monkeypatch, block):
    """`{...} {...}` on one line: Arrow's parser reads two rows from it, Python's json refuses it.  Before,
    the run stopped with "Added column's length must match record batch's length" (no row named) where
    a bad row shared its 8 MiB block, read the line as two rows where none did, and named the bad row by
    its object count instead of its line.  Now: exit 2 naming the line, whatever the block size."""
    monkeypatch.setattr(formats, "BLOCK_BYTES", block)
    lines = [_track(i) for i in range(20)]
    text = "\n".join(lines[:8] + [lines[8] + " " + lines[9], BAD] + lines[10:]) + "\n"
    (tmp_path / "t.jsonl").write_text(text)
    _one_error(_cli("run", tmp_path / "t.jsonl", "-o", tmp_path / "o"), "t.jsonl", "row 8 (0-based)")


@pytest.mark.parametrize("bad", [False, True])
def test_jsonl_two_objects_on_a_line_in_a_clean_later_block_is_one_line(tmp_path, monkeypatch, bad):
    """The same line in a block that parses (no bad row in it), beside blank lines that would hide the
    extra row from a count of lines: exit 2, not a row too many."""
    monkeypatch.setattr(formats, "BLOCK_BYTES", 400)
    lines = [_track(i) for i in range(20)]
    text = "\n".join(lines[:12] + ["", "  ", lines[12] + lines[13]] + lines[14:] + ([BAD] if bad else [])) + "\n"
    (tmp_path / "t.jsonl").write_text(text)
    _one_error(_cli("run", tmp_path / "t.jsonl", "-o", tmp_path / "o"), "t.jsonl", "row 12 (0-based) holds more "
               "than one JSON value")


def test_jsonl_lines_ended_by_a_lone_carriage_return_are_one_line(tmp_path):
    """Lines ended by "\\r" alone are one line of many objects in JSON Lines (whose lines end in "\\n"):
    exit 2 saying so, where Arrow read them as rows as long as none was bad."""
    (tmp_path / "t.jsonl").write_bytes("\r".join(_track(i) for i in range(3)).encode() + b"\r")
    _one_error(_cli("run", tmp_path / "t.jsonl", "-o", tmp_path / "o"), "t.jsonl", "row 0 (0-based) holds more "
               "than one JSON value")


def test_jsonl_blank_lines_and_crlf_still_read(tmp_path, monkeypatch):
    """Blank lines (of blanks, tabs or "\\r" too) and "\\r\\n" line ends are no rows, in every block."""
    monkeypatch.setattr(formats, "BLOCK_BYTES", 300)
    text = "\r\n".join(sum(([_track(i), "", " \t", "\r"] for i in range(12)), [])) + "\r\n"
    (tmp_path / "t.jsonl").write_text(text)
    result = _cli("run", tmp_path / "t.jsonl", "-o", tmp_path / "o", "--no-plot", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["rows"]["written"] == 12


# --- nested JSON in UTF-16 / UTF-32 ----------------------------------------------------------


NESTED = {"v": {"0": {"scores": [0.1, 0.5, 0.2], "key_frame": 2}, "1": {"scores": [0.9, 0.3, 0.4, 0.2], "key_frame": 3}},
          "w": {"0": [0.2, 0.4, 0.1]}}


def _outputs(out):
    import polars as pl

    rejected = pl.read_parquet(out / "rejected.parquet").select("video_id", "exp_id", "reason")
    return pl.read_parquet(out / "stages").sort("video_id", "exp_id"), rejected.sort("video_id", "exp_id")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
@pytest.mark.parametrize("sample", [None, 16])
def test_nested_json_in_utf16_keeps_its_key_frames(tmp_path, monkeypatch, encoding, sample):
    """Python's json reads a nested JSON file in UTF-16 or UTF-32 (Windows PowerShell writes UTF-16), but
    the look for "key_frame" searched the raw bytes: the key column was missed, every key frame silently
    taken as the arg-max and a bare list's null key not rejected.  The same tracks as in UTF-8 now."""
    if sample:
        monkeypatch.setattr(formats, "SAMPLE_BYTES", sample)
    text = json.dumps(NESTED) if encoding != "utf-16-le" else "\ufeff" + json.dumps(NESTED)
    (tmp_path / "a.json").write_text(json.dumps(NESTED), encoding="utf-8")
    (tmp_path / "b.json").write_bytes(text.encode(encoding))
    for name in ("a", "b"):
        result = _cli("run", tmp_path / f"{name}.json", "-o", tmp_path / name, "--no-plot", "-q")
        assert result.exit_code == 0, result.output
    utf8, other = _outputs(tmp_path / "a"), _outputs(tmp_path / "b")
    assert utf8[0]["key_frame"].to_list() == [2, 3]
    assert utf8[1]["reason"].to_list() == ["null_key_frame"]
    assert utf8[0].equals(other[0]) and utf8[1].equals(other[1])


# --- CSV / TSV: blanks around integers ---------------------------------------------------------


def _frames_csv(sep: str, pad) -> str:
    rows = [f"v{v}{sep}{pad(0)}{sep}{pad(f)}{sep}{0.05 + ((7 * f + v) % 13) / 14:.4f}{sep}{pad(5)}"
            for v in range(3) for f in range(12)]
    return sep.join(["video_id", "exp_id", "frame", "score", "key_frame"]) + "\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize("fmt, sep", [("csv", ","), ("tsv", "\t")])
@pytest.mark.parametrize("pad", ["all", "some"])
def test_csv_integers_with_blanks_around_are_numbers(tmp_path, fmt, sep, pad):
    """README: blanks and tabs around a CSV number are ignored.  Arrow read " 5" as the integer 5, but the
    check for leading zeros then took " 5" for no plain integer and kept the column as text: frames " 0",
    " 1", " 10", " 11", " 2", ... ordered as text put the scores in the wrong order (another key position,
    other stage scores, silently), and an exp_id " 0" beside "0" made two tracks."""
    padded = (lambda n: f" {n} ") if pad == "all" else (lambda n: f" {n}" if n % 2 else str(n))
    (tmp_path / f"plain.{fmt}").write_text(_frames_csv(sep, str))
    (tmp_path / f"padded.{fmt}").write_text(_frames_csv(sep, padded))
    for name in ("plain", "padded"):
        result = _cli("run", tmp_path / f"{name}.{fmt}", "-o", tmp_path / name, "--no-plot", "-q")
        assert result.exit_code == 0, result.output
    plain, padded_out = _outputs(tmp_path / "plain"), _outputs(tmp_path / "padded")
    assert plain[0]["key_frame"].to_list() == [5, 5, 5] and plain[1].height == 0
    assert plain[0].equals(padded_out[0]) and padded_out[1].height == 0


def test_csv_label_with_a_leading_zero_and_blanks_stays_text(tmp_path):
    """A blank does not make "007" a number: the labels keep their spelling as written."""
    (tmp_path / "t.csv").write_text("video_id,exp_id,frame,score\nv,0, 007,0.5\nv,0, 008,0.25\n")
    result = _cli("run", tmp_path / "t.csv", "-o", tmp_path / "o", "--no-plot", "-q")
    assert result.exit_code == 0, result.output
    import polars as pl

    assert pl.read_parquet(tmp_path / "o" / "stages")["key_label"].to_list() == [" 007"]


# --- --meta files ------------------------------------------------------------------------------


def _meta_run(tmp_path, document: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"video_id": ["v1", "v1"], "exp_id": ["0", "1"], "scores": [[0.1, 0.5], [0.9, 0.2]]}),
                   tmp_path / "t.parquet")
    (tmp_path / "meta.json").write_text(document)
    return _cli("run", tmp_path / "t.parquet", "-o", tmp_path / "o", "--meta", tmp_path / "meta.json",
                "--no-plot", "-q")


def test_meta_object_id_of_thousands_of_digits_is_ordered_by_value(tmp_path):
    """An obj_id of more digits than Python's int() takes (4,300) was an internal error (exit 1) while the
    ids were sorted; it is a number like the others, the largest."""
    import polars as pl

    huge = "9" * 5000
    doc = {"videos": {"v1": {"expressions": {"0": {"exp": "a", "obj_id": [huge, "10", "2", "x"]},
                                             "1": {"exp": "b", "obj_id": "\u0663"}}}}}
    result = _meta_run(tmp_path, json.dumps(doc))
    assert result.exit_code == 0, result.output
    got = pl.read_parquet(tmp_path / "o" / "stages").sort("exp_id")["obj_id"].to_list()
    assert got == [f"2,10,{huge},x", "\u0663"]


@pytest.mark.parametrize("ids", [["10", "2", "0010", "9", "x", "\u0663", "\u0662\u0660", "1a"], ["007", "7", "07"]])
def test_meta_object_ids_order_as_int_did(ids):
    """The order of object ids is that of (int, text) for ids int() takes: numbers by value (Unicode
    digits too), equal numbers by their text, then the others as text."""
    from tf2eng.engine.meta import _object_ids

    expected = sorted(dict.fromkeys(ids), key=lambda s: (0, int(s), s) if s.isdecimal() else (1, 0, s))
    assert list(_object_ids("m.json", "here", ids)) == expected


@pytest.mark.parametrize("document, twice", [
    ('{"videos": {"v1": {"expressions": {"0": {"exp": "a"}}}, "v1": {"expressions": {"0": {"exp": "b"}}}}}', '"v1"'),
    ('{"videos": {"v1": {"expressions": {"0": {"exp": "a"}, "0": {"exp": "b"}}}}}', '"0"'),
    ('{"videos": {"v1": {"expressions": {"0": {"exp": "a", "exp": "b"}}}}}', '"exp"'),
    ('{"videos": {}, "videos": {"v1": {"expressions": {"0": {"exp": "a"}}}}}', '"videos"'),
    ('{"videos": {"v1": {"objects": {"1": {"category": "dog"}, "1": {"category": "cat"}}}}}', '"1"'),
])
def test_meta_file_naming_a_key_twice_is_one_line(tmp_path, document, twice):
    """Python's json keeps the last of two members of one name: a video or expression given twice lost
    its first entry silently (the expression text, objects and categories of the other).  As in nested
    JSON input, such a file now stops the run, naming the file and the name."""
    _one_error(_meta_run(tmp_path, document), "meta.json", f"names {twice} twice")


# --- files that are no text, or hold nothing but a byte-order mark --------------------------------


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".zst"])
@pytest.mark.parametrize("fmt, rows", [("csv", 1), ("csv", 300), ("jsonl", 1), ("json", 1)])
def test_compressed_text_without_its_suffix_is_one_line(tmp_path, suffix, fmt, rows):
    """A compressed CSV named `.csv`: where its bytes held no line end it was taken for a header without
    rows, and the run completed with 0 rows read (exit 0), the file's data silently left out; elsewhere
    Arrow's message quoted binary noise.  Now exit 2, saying which suffix reads it (JSON Lines and
    nested JSON too)."""
    import pyarrow as pa

    text = {"csv": "video_id,exp_id,frame,score\n" + "".join(f"v{i},0,{f},0.5\n" for i in range(rows) for f in range(3)),
            "jsonl": _track(0) + "\n", "json": json.dumps({"v": {"0": [0.5]}})}[fmt]
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}[suffix]) as stream:
        stream.write(text.encode())
    (tmp_path / f"t.{fmt}").write_bytes(sink.getvalue().to_pybytes())
    _one_error(_cli("run", tmp_path / f"t.{fmt}", "-o", tmp_path / "o"), f"t.{fmt}", f"a name ending in {suffix} reads it")
    (tmp_path / f"t.{fmt}").rename(tmp_path / f"t.{fmt}{suffix}")  # named so, it reads
    result = _cli("run", tmp_path / f"t.{fmt}{suffix}", "-o", tmp_path / "o", "--no-plot", "-q")
    assert result.exit_code == 0, result.output


def test_text_that_starts_like_a_compression_word_is_still_text(tmp_path):
    """"BZh" alone, as a column's name, is no bz2 stream: the file is read as text."""
    (tmp_path / "t.csv").write_text("BZh9,video_id,exp_id,frame,score\nx,v,0,0,0.5\n")
    result = _cli("run", tmp_path / "t.csv", "-o", tmp_path / "o", "--no-plot", "-q")
    assert result.exit_code == 0, result.output


def test_one_line_csv_that_is_no_text_is_one_line(tmp_path):
    """A first line alone that is not UTF-8 is no header: exit 2, not a file without rows."""
    (tmp_path / "t.csv").write_bytes(b"\xff\xfe\x00\x01binary")
    _one_error(_cli("run", tmp_path / "t.csv", "-o", tmp_path / "o"), "t.csv", "its first line is not UTF-8")


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
@pytest.mark.parametrize("content", [b"\xef\xbb\xbf", b"\xef\xbb\xbf\n", b"\xef\xbb\xbf \r\n\n"])
def test_file_of_a_byte_order_mark_alone_is_empty(tmp_path, fmt, content):
    """An empty file saved "as UTF-8 with BOM" (Notepad) holds three bytes: it is an empty file, as 0 bytes
    are (no rows, the other files' columns).  Before, JSON Lines and nested JSON stopped the run (a file
    of no columns, malformed JSON) while CSV read it as empty."""
    good = {"jsonl": _track(0) + "\n", "json": json.dumps({"g0": {"0": [0.1, 0.5]}}),
            "csv": "video_id,exp_id,frame,score\ng0,0,0,0.1\ng0,0,1,0.5\n"}[fmt]
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / f"a.{fmt}").write_text(good)
    (tmp_path / "d" / f"b.{fmt}").write_bytes(content)
    for path in (tmp_path / "d", tmp_path / "d" / f"b.{fmt}"):
        result = _cli("run", path, "-o", tmp_path / "o", "--no-plot", "-q", "--full")
        assert result.exit_code == 0, result.output
        read = json.loads((tmp_path / "o" / "summary.json").read_text())["rows"]["read"]
        assert read == (1 if path.is_dir() else 0)


# --- JSON Lines: a column the first block never names -------------------------------------------


def _rows_without(name: str, n: int) -> list[str]:
    rows = [json.loads(_track(i)) for i in range(n)]
    for row in rows:
        del row[name]
    return [json.dumps(row) for row in rows]


@pytest.mark.parametrize("name", ["key_frame", "exp_id"])
def test_jsonl_optional_column_first_named_after_the_first_block_is_one_line(tmp_path, monkeypatch, name):
    """Rows written without a member where its value is null (serializers that skip nulls) for a whole
    first block: the block decides the file's columns, so the key frames of the later rows were silently
    taken for arg-maxes (or their exp_id dropped).  Now exit 2 naming the first row that names it, as a
    later file with such a column stops the run."""
    monkeypatch.setattr(formats, "BLOCK_BYTES", 400)
    lines = _rows_without(name, 12) + [_track(i) for i in range(12, 20)]
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n")
    _one_error(_cli("run", tmp_path / "t.jsonl", "-o", tmp_path / "o"), "t.jsonl", f"row 12 (0-based) names column "
               f"'{name}'")


@pytest.mark.parametrize("options", [["--key", "auto"], ["--id-cols", "video_id,exp_id", "--key", "auto"]])
def test_jsonl_optional_column_not_read_or_not_at_top_level_does_not_stop(tmp_path, monkeypatch, options):
    """The stop is for a column the run would read: not with --key auto, and not for the name inside
    another member or as text."""
    monkeypatch.setattr(formats, "BLOCK_BYTES", 400)
    later = [json.dumps({"video_id": f"w{i}", "exp_id": "0", "scores": [0.5, 0.25], "note": {"key_frame": 3},
                         "text": "key_frame"}) for i in range(3)]
    lines = _rows_without("key_frame", 12) + later + [_track(i) for i in range(12, 20)]
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n")
    result = _cli("run", tmp_path / "t.jsonl", "-o", tmp_path / "o", "--no-plot", "-q", *options)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["rows"]["written"] == 23
    lines = _rows_without("key_frame", 12) + later
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n")
    result = _cli("run", tmp_path / "t.jsonl", "-o", tmp_path / "o2", "--no-plot", "-q")
    assert result.exit_code == 0, result.output


# --- NumPy: headers that do not fit the data, archives that store an array twice ---------------


def _npy_with_header(path, header: str, data: bytes = b"\0" * 48):
    text = header.encode()
    text += b" " * (64 - (10 + len(text) + 1) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + data)


@pytest.mark.parametrize("shape", ["(2, 3)", "(1000000000000,)", "(1, 4611686018427387904)",
                                   "(4611686018427387904, 4611686018427387904)"])
def test_npy_header_shape_beyond_its_data_is_one_line(tmp_path, shape):
    """An .npy whose header's shape needs more bytes than the file holds: NumPy's memory map failed with
    "mmap length is greater than file size", or, where the size overflows, printed a RuntimeWarning
    (two lines more on stderr) before its error.  Now one line, as for such an array in an .npz."""
    import warnings

    _npy_with_header(tmp_path / "v.npy", f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}", b"\0" * 40)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _one_error(_cli("run", tmp_path / "v.npy", "-o", tmp_path / "o"), "v.npy", "fewer than its shape needs")
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]


def test_npz_storing_an_array_twice_is_one_line(tmp_path):
    """A zip archive may hold two members of one name (Python's zipfile warns and writes both); NumPy
    reads the last for both, so the first array's tracks were lost and the other's counted twice, under
    one exp_id.  Now exit 2 naming the array."""
    import io
    import warnings
    import zipfile

    import numpy as np

    arrays = []
    for values in ([[0.1, 0.5], [0.2, 0.3]], [[0.9, 0.1]]):
        buffer = io.BytesIO()
        np.save(buffer, np.array(values))
        arrays.append(buffer.getvalue())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(tmp_path / "v.npz", "w") as archive:
            archive.writestr("a.npy", arrays[0])
            archive.writestr("a.npy", arrays[1])
    _one_error(_cli("run", tmp_path / "v.npz", "-o", tmp_path / "o"), "v.npz", "array 'a' is stored twice")


# --- JSON Lines after a byte-order mark -----------------------------------------------------------


def _run_in_a_process(tmp_path):
    """`tf2eng run t.jsonl -o o --no-plot -q` in a process of its own, so that a crash fails one test."""
    import subprocess
    import sys

    code = "import sys; from tf2eng.cli.entry import main; sys.argv[0] = 'tf2eng'; main()"
    return subprocess.run([sys.executable, "-c", code, "run", str(tmp_path / "t.jsonl"), "-o", str(tmp_path / "o"),
                           "--no-plot", "-q"], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("where", ["first", "later"])
def test_jsonl_null_line_after_a_byte_order_mark_is_one_line(tmp_path, where):
    """A line `null` right after the file's UTF-8 byte-order mark (or one at a line's start, in files
    joined with `cat`) escaped the look for null lines, and Arrow's parser crashed the process on it
    (a segmentation fault).  Run in a process of its own, so that a crash fails this test alone."""
    good = _track(0).encode() + b"\n"
    data = b"\xef\xbb\xbfnull\n" + good if where == "first" else good + b"\xef\xbb\xbfnull\n" + good
    (tmp_path / "t.jsonl").write_bytes(data)
    proc = _run_in_a_process(tmp_path)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert proc.stderr.count("\n") == 1 and f"row {0 if where == 'first' else 1} (0-based) is a JSON null" in proc.stderr


@pytest.mark.parametrize("block", [300, 1 << 20])
@pytest.mark.parametrize("data", [b"\xef\xbb\xbf\n{0}\n{1}\n", b"\xef\xbb\xbf  \r\n\n{0}\n{1}\n", b"{0}\n\xef\xbb\xbf\n{1}\n",
                                  b"\xef\xbb\xbf{0}\n\xef\xbb\xbf{1}\n"])
def test_jsonl_byte_order_mark_alone_on_a_line_is_a_blank_line(tmp_path, monkeypatch, block, data):
    """Arrow's parser skips a file's byte-order mark: a line of it alone is a blank line, no row, and a
    line it starts is read as the row it holds."""
    monkeypatch.setattr(formats, "BLOCK_BYTES", block)
    data = data.replace(b"{0}", _track(0).encode()).replace(b"{1}", _track(1).encode())
    (tmp_path / "t.jsonl").write_bytes(data)
    result = _cli("run", tmp_path / "t.jsonl", "-o", tmp_path / "o", "--no-plot", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["rows"]["written"] == 2


@pytest.mark.parametrize("line", ["null,", "null {\"video_id\": \"x\"}", "nullnull", "\t null null"])
@pytest.mark.parametrize("where", ["first", "later"])
def test_jsonl_line_that_starts_with_null_is_one_line(tmp_path, where, line):
    """Arrow's parser crashes the process on a piece of the file that starts with `null`, whatever
    follows it on the line; only a line of `null` alone was stopped before.  As the first line of the
    file it crashed the run (a segmentation fault); elsewhere it was read as a row or more of nulls.
    Run in a process of its own, so that a crash fails this test alone."""
    good = _track(0) + "\n"
    (tmp_path / "t.jsonl").write_text(line + "\n" + good if where == "first" else good + line + "\n" + good)
    proc = _run_in_a_process(tmp_path)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert proc.stderr.count("\n") == 1
    assert f"row {0 if where == 'first' else 1} (0-based) starts with null, expected an object" in proc.stderr
