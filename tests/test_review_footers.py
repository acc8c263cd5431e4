"""Review of the footers parsed from the looks' bytes (engine/source.py, Source._parquet_metadata): damaged
footers end as Arrow's own reading of the file does, a Source sent to another process (Dask) reads what it
read here, and a column name that is not UTF-8 text stops the run with one line naming the file."""

import json
import pickle
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import invoke_cli, wide_table
from tf2eng.engine import source
from tf2eng.engine.errors import InputError
from tf2eng.engine.options import Options

TRACKS = [[0.1 * (j + 1) for j in range(i % 5 + 1)] for i in range(24)]


def _good(path, **kwargs) -> bytes:
    pq.write_table(wide_table(TRACKS, [i % 2 for i in range(len(TRACKS))]), path, row_group_size=7, **kwargs)
    return path.read_bytes()


def test_a_damaged_footer_ends_as_arrow_s_own_reading_of_the_file(tmp_path):
    """Bytes of a later file's footer overwritten (its length field and magic kept): the Source stops on
    the file, naming it, exactly where Arrow cannot read its footer; else it counts the rows Arrow counts."""
    good = _good(tmp_path / "good.parquet")
    footer = int.from_bytes(good[-8:-4], "little")
    rng = random.Random(7)
    for case in range(40):
        damaged = bytearray(good)
        for _ in range(rng.choice([1, 2, 4])):
            damaged[len(good) - 8 - 1 - rng.randrange(footer)] = rng.randrange(256)
        data = tmp_path / f"case{case}"
        data.mkdir()
        (data / "a.parquet").write_bytes(good)
        (data / "z.parquet").write_bytes(bytes(damaged))
        try:
            rows = pq.read_metadata(data / "z.parquet").num_rows
            names = pq.read_schema(data / "z.parquet").names
        except (pa.ArrowException, OSError, UnicodeDecodeError):
            rows = None
        if rows is None or "scores" not in names or "video_id" not in names:
            with pytest.raises(InputError, match=f"^{data / 'z.parquet'}: "):
                source.Source(data, Options(key="auto"))
            continue
        try:
            src = source.Source(data, Options(key="auto"))
        except InputError as exc:  # a column of another type: named in one line
            assert str(exc).startswith(f"{data / 'z.parquet'}: "), exc
            continue
        assert src.rows_in(1) == rows


def test_a_pickled_source_reads_the_batches_it_read_before(tmp_path):
    """--engine dask sends the Source to its workers: the footers it parsed travel with it."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        _good(data / f"f{i}.parquet", store_schema=i != 1)
    src = source.Source(data, Options())
    copy = pickle.loads(pickle.dumps(src))
    for i in range(3):
        assert copy.row_groups(i) == src.row_groups(i) == [7, 7, 7, 3]
        assert pa.Table.from_batches(list(copy.batches(i, (1, 3)))).equals(
            pa.Table.from_batches(list(src.batches(i, (1, 3)))))


def _not_utf8(path) -> None:
    """A file whose column 'xq\\xff\\xfez' has a name that is not UTF-8 text (Parquet stores it as given)."""
    table = wide_table(TRACKS).append_column("xq\u00e9\u00e9z", pa.array(range(len(TRACKS))))
    pq.write_table(table, path, store_schema=False)
    raw = path.read_bytes()
    path.write_bytes(raw.replace("xq\u00e9\u00e9z".encode(), b"xq\xff\xfe\xfd\xfcz"))


@pytest.mark.parametrize("first", [True, False])
def test_a_column_name_that_is_not_utf8_is_named_in_one_line(tmp_path, first):
    data = tmp_path / "data"
    data.mkdir()
    _good(data / "b.parquet")
    bad = data / ("a.parquet" if first else "c.parquet")
    _not_utf8(bad)
    with pytest.raises(InputError, match=f"^{bad}: cannot read: a column's name is not UTF-8 text"):
        source.Source(data, Options())
    with pytest.raises(InputError, match=f"^{bad}: cannot read: a column's name is not UTF-8 text"):
        source.Source(bad, Options())
    result = invoke_cli("run", str(data), "--no-plot", "-q", "-o", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output and str(bad) in result.output


@pytest.mark.parametrize("pattern", ["*.parquet", "f?.parquet", "**/*.parquet"])
def test_a_glob_in_the_working_directory_without_a_directory_part(tmp_path, monkeypatch, pattern):
    """`tf2eng run '*.parquet'` run in the data's own directory: its files have no directory part; an output
    written there is still not read back as input."""
    for i in range(2):
        _good(tmp_path / f"f{i}.parquet")
    monkeypatch.chdir(tmp_path)
    first = invoke_cli("run", pattern, "--no-plot", "-q", "-o", "out")
    assert first.exit_code == 0, first.output
    parsed, fingerprinted = [], []  # footers parsed from the looks' bytes; fingerprints taken again
    monkeypatch.setattr(source, "_footer_metadata", lambda footer, real=source._footer_metadata:
                        parsed.append(footer) or real(footer))
    monkeypatch.setattr(source, "_file_fingerprint", lambda path, real=source._file_fingerprint:
                        fingerprinted.append(path) or real(path))
    src = source.Source(pattern, Options())
    assert [fragment.path for fragment in src.fragments] == ["f0.parquet", "f1.parquet"]
    assert len(parsed) == 2 and fingerprinted == [] and len(src.fingerprint["files"]) == 2
    again = invoke_cli("run", pattern, "--no-plot", "-q", "-o", "out2")
    assert again.exit_code == 0, again.output
    assert pq.read_table(tmp_path / "out2" / "stages").equals(pq.read_table(tmp_path / "out" / "stages"))
    assert json.loads((tmp_path / "out2" / "summary.json").read_text())["rows"]["read"] == 2 * len(TRACKS)


@pytest.mark.parametrize("damage", ["length", "metadata", "zero"])
def test_a_damaged_later_footer_is_named_as_arrow_names_it(tmp_path, damage):
    """A footer the look read whole but that cannot be parsed: the message is the one Arrow gives reading the
    file itself, as for the first file (which Arrow's dataset reads) and for a footer over 64 KiB."""
    data = tmp_path / "data"
    data.mkdir()
    good = _good(data / "a.parquet")
    footer = int.from_bytes(good[-8:-4], "little")
    body, metadata = good[:-8 - footer], good[-8 - footer:-8]
    damaged = {"length": body + metadata + (footer - 9).to_bytes(4, "little") + b"PAR1",
               "metadata": body + b"\x00" * footer + footer.to_bytes(4, "little") + b"PAR1",
               "zero": body + metadata + (0).to_bytes(4, "little") + b"PAR1"}[damage]
    (data / "z.parquet").write_bytes(damaged)
    with pytest.raises((pa.ArrowException, OSError)) as arrow:
        list(source.ds.dataset([str(data / "a.parquet"), str(data / "z.parquet")]).get_fragments())[1].metadata
    expected = f"{data / 'z.parquet'}: cannot read: {str(arrow.value).splitlines()[0]}"
    assert "Could not open Parquet input source" in expected
    with pytest.raises(InputError) as exc:
        source.Source(data, Options())
    assert str(exc.value) == expected
