"""A Parquet file's footer is read once, by the look at the file before the run (engine/source.py, _look):
the Source parses it from those bytes instead of having Arrow open the file and read its footer again.
A footer longer than the look's read is left to Arrow."""

import datetime
import decimal
import json

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import tf2eng
from conftest import wide_table
from tf2eng.engine import source
from tf2eng.engine.options import Options

TRACKS = [[0.1, 0.9, 0.4], [0.2, 0.5], [0.3, 0.3, 0.3, 0.8], [0.6, 0.1, 0.7, 0.2, 0.9]]


def _table(first: int, n: int) -> pa.Table:
    table = wide_table([TRACKS[i % len(TRACKS)] for i in range(first, first + n)], [i % 2 for i in range(n)])
    return table.set_column(0, "video_id", pa.array([f"v{i:05d}" for i in range(first, first + n)]))


def _extra_columns(n: int, kind: int) -> dict:
    """Columns whose Arrow types come from the schema stored in the footer, not from Parquet's own."""
    columns = {
        "when": pa.array([datetime.datetime(2026, 1, 1 + i % 20) for i in range(n)], pa.timestamp("ms", tz="UTC")),
        "big": pa.array([f"s{i % 3}" for i in range(n)], pa.large_string()),
        "kind": pa.array([f"k{i % 2}" for i in range(n)]).dictionary_encode(),
        "day": pa.array([datetime.date(2026, 1, 1 + i % 3) for i in range(n)]),
        "small": pa.array([i % 4 for i in range(n)], pa.int8()),
        "price": pa.array([decimal.Decimal(i) / 4 for i in range(n)], pa.decimal128(9, 2)),
        "nothing": pa.nulls(n),
        "flag": pa.array([i % 2 == 0 for i in range(n)]),
        "count": pa.array(list(range(n)), pa.uint64()),
        "pair": pa.array([{"a": i, "b": str(i)} for i in range(n)]),
    }
    names = sorted(columns)
    return {name: columns[name] for name in names[kind % 3::2]}


def _write(path, table: pa.Table, **kwargs) -> None:
    pq.write_table(table, path, **kwargs)


def _dataset(tmp_path, files: int = 9):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(files):
        n = 2 + i % 3
        table = _table(10 * i, n)
        for name, column in _extra_columns(n, i).items():
            table = table.append_column(name, column)
        if i % 4 == 1:  # scores as large_list<double>
            scores = table.column("scores").cast(pa.large_list(pa.float64()))
            table = table.set_column(table.schema.get_field_index("scores"), "scores", scores)
        if i % 4 == 2:  # key-value metadata of the writer's own
            table = table.replace_schema_metadata({b"origin": json.dumps({"file": i}).encode()})
        _write(data / f"f{i:02d}.parquet", table, compression=["snappy", "zstd", "none"][i % 3],
               row_group_size=[1, 2, 64][i % 3])
    return data


class _Guarded:
    """A fragment whose footer must not be read through Arrow again."""

    def __init__(self, fragment):
        self._fragment = fragment

    def __getattr__(self, name):
        if name in ("metadata", "physical_schema", "count_rows", "ensure_complete_metadata"):
            raise AssertionError(f"{self._fragment.path}: footer read again through Arrow ({name})")
        return getattr(self._fragment, name)


def _guard_fragments(monkeypatch) -> None:
    """Every Source made from here on has fragments whose footers Arrow must not read again."""
    opened = source.Source._open_dataset

    def guarded(self, *args, **kwargs):
        opened(self, *args, **kwargs)
        self.fragments = [_Guarded(fragment) for fragment in self.fragments]

    monkeypatch.setattr(source.Source, "_open_dataset", guarded)


def test_each_footer_parsed_from_its_look_equals_the_footer_arrow_reads(tmp_path, monkeypatch):
    data = _dataset(tmp_path)
    _guard_fragments(monkeypatch)
    src = source.Source(data, Options())
    for fragment in ds.dataset(sorted(str(path) for path in data.iterdir())).get_fragments():
        metadata, own = src._footers[fragment.path]
        assert metadata.equals(pq.read_metadata(fragment.path))
        assert metadata.schema.to_arrow_schema().equals(fragment.physical_schema, check_metadata=True)
        assert own == fragment.physical_schema.names


def test_a_run_reads_no_footer_twice_and_gives_what_arrow_s_footers_give(tmp_path, monkeypatch):
    data = _dataset(tmp_path)
    plain = tf2eng.run(data, tmp_path / "plain", plot=False)
    _guard_fragments(monkeypatch)
    once = tf2eng.run(data, tmp_path / "once", plot=False)
    assert once.stage_means_arrow.equals(plain.stage_means_arrow) and once.curve_arrow.equals(plain.curve_arrow)
    assert pq.read_table(tmp_path / "once" / "stages").equals(pq.read_table(tmp_path / "plain" / "stages"))


def test_the_footers_bytes_are_not_kept_once_parsed(tmp_path):
    data = _dataset(tmp_path)
    assert all(source._look(str(path)).footer is not None for path in data.iterdir())
    src = source.Source(data, Options())
    assert not src._looks and len(src.fingerprint["files"]) == len(src.fragments)  # (taken before they went)
    assert len(src._footers) == len(src.fragments)


def test_a_file_given_alone_is_looked_at_once(tmp_path, monkeypatch):
    path = tmp_path / "one.parquet"
    _write(path, _table(0, 5), row_group_size=2)
    monkeypatch.setattr(source, "_file_fingerprint", lambda p: pytest.fail("looked at twice"))
    src = source.Source(path, Options())
    assert src.fingerprint["files"][0]["size"] == path.stat().st_size
    assert src.row_groups(0) == [2, 2, 1]
    assert src._footers[str(path)][0].equals(pq.read_metadata(path))


@pytest.mark.parametrize("alone", [True, False])
def test_a_footer_longer_than_the_look_s_read_is_read_by_arrow(tmp_path, alone):
    n = 1500
    table = _table(0, n)
    big = tmp_path / "big"
    big.mkdir()
    _write(big / "a.parquet", table, row_group_size=1)  # 1,500 row groups: a footer over 64 KiB
    footer = int.from_bytes((big / "a.parquet").read_bytes()[-8:-4], "little")
    assert footer + 8 > source.TAIL_BYTES
    if not alone:
        _write(big / "b.parquet", _table(n, 3))
    assert source._look(str(big / "a.parquet")).footer is None  # left to Arrow
    src = source.Source(big / "a.parquet" if alone else big, Options())
    assert src.row_groups(0) == [1] * n
    one = tmp_path / "one"
    one.mkdir()
    _write(one / "a.parquet", table)
    if not alone:
        _write(one / "b.parquet", _table(n, 3))
    a = tf2eng.run(big / "a.parquet" if alone else big, tmp_path / "out-big", plot=False)
    b = tf2eng.run(one / "a.parquet" if alone else one, tmp_path / "out-one", plot=False)
    assert a.stage_means_arrow.equals(b.stage_means_arrow) and a.curve_arrow.equals(b.curve_arrow)
    assert a.summary["rows"]["written"] == n + (0 if alone else 3)


def test_a_second_check_of_wider_ids_parses_no_footer_again(tmp_path, monkeypatch):
    """Files of other id widths are checked twice (the second time with the type that holds them all): the
    footers parsed the first time serve the second."""
    (tmp_path / "d").mkdir()
    for i, id_type in enumerate([pa.int32(), pa.int64(), pa.int32()]):
        table = _table(10 * i, 3)
        _write(tmp_path / "d" / f"{i}.parquet", table.set_column(1, "exp_id", table.column("exp_id").cast(id_type)))
    parsed = []
    monkeypatch.setattr(source, "_footer_metadata", lambda footer, real=source._footer_metadata:
                        parsed.append(footer) or real(footer))
    src = source.Source(tmp_path / "d", Options())
    assert src.schema.field("exp_id").type == pa.int64() and len(parsed) == 3
