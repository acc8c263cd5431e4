"""Reading many files: each file's checks and fingerprint in one task, the checks once per schema, and
small files read in runs: the same rows, fingerprints and errors as reading each file on its own."""

import hashlib
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tf2eng
from conftest import wide_table
from tf2eng.engine.errors import InputError
from tf2eng.engine.stream import _coalesced

TRACKS = [[0.1, 0.9, 0.4], [0.2, 0.5], [0.3, 0.3, 0.3, 0.8], [0.6, 0.1, 0.7, 0.2, 0.9]]


def _table(first: int, n: int) -> pa.Table:
    table = wide_table([TRACKS[i % len(TRACKS)] for i in range(first, first + n)], [0] * n)
    return table.set_column(0, "video_id", pa.array([f"v{i:05d}" for i in range(first, first + n)]))


def _reference_entry(path) -> dict:
    """A file's fingerprint entry as README (Scheduled runs) defines it, computed here on its own: the hash
    of a Parquet file's footer (metadata, their length and "PAR1"), of at most its last 64 KiB."""
    data = open(path, "rb").read()
    st = os.stat(path)
    footer = int.from_bytes(data[-8:-4], "little") + 8
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "tail_sha256": hashlib.sha256(data[-min(footer, 65_536):]).hexdigest()}


def test_fingerprints_and_rows_of_small_large_and_large_footer_files(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(_table(0, 5), data / "a-small.parquet")
    pq.write_table(_table(5, 3000), data / "b-large.parquet", compression="none", use_dictionary=False)  # > 64 KiB
    # 1,500 row groups of one row: a footer of more than the 64 KiB the fingerprint hashes
    pq.write_table(_table(3005, 1500), data / "c-footer.parquet", row_group_size=1)
    footer = int.from_bytes(open(data / "c-footer.parquet", "rb").read()[-8:-4], "little")
    assert footer > 65_536 and os.path.getsize(data / "b-large.parquet") > 65_536
    for i in range(40):  # small files read in runs
        pq.write_table(_table(4505 + 3 * i, 3), data / f"d-{i:02d}.parquet")
    split = tf2eng.run(data, tmp_path / "split", plot=False)
    whole_path = tmp_path / "whole.parquet"
    pq.write_table(pa.concat_tables([pq.read_table(p) for p in sorted(data.iterdir())]), whole_path)
    whole = tf2eng.run(whole_path, tmp_path / "whole", plot=False)

    files = sorted(str(p) for p in data.iterdir())
    summary = json.loads((split.out / "summary.json").read_text())
    assert summary["input"]["fingerprint"]["files"] == [_reference_entry(p) for p in files]
    assert summary["rows"]["read"] == 4625
    assert (split.out / "stage_means.parquet").read_bytes() == (whole.out / "stage_means.parquet").read_bytes()
    assert (split.out / "curve.parquet").read_bytes() == (whole.out / "curve.parquet").read_bytes()
    a = split.stages().collect().sort("video_id")
    b = whole.stages().collect().sort("video_id")
    assert a.equals(b)


def test_a_large_footer_file_is_still_cut_into_row_group_units(tmp_path, monkeypatch):
    path = tmp_path / "footer.parquet"
    pq.write_table(_table(0, 1500), path, row_group_size=1)
    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "500")
    result = tf2eng.run(path, tmp_path / "out", plot=False)
    assert result.summary["units"]["total"] == 3
    assert result.summary["rows"]["read"] == 1500


@pytest.mark.parametrize("position", [0, 17, 39])
def test_a_wrong_type_in_one_of_many_files_of_one_schema_names_that_file(tmp_path, position):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(40):
        table = _table(3 * i, 3)
        if i == position:
            table = table.set_column(2, "scores", pa.array([[1, 2]] * 3, pa.list_(pa.int32())))
        pq.write_table(table, data / f"f{i:02d}.parquet")
    with pytest.raises(InputError, match=rf"f{position:02d}\.parquet: column 'scores' has type list<"):
        tf2eng.run(data, tmp_path / "out", plot=False)


def test_a_damaged_footer_among_many_files_is_named(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(20):
        pq.write_table(_table(3 * i, 3), data / f"f{i:02d}.parquet")
    raw = bytearray((data / "f11.parquet").read_bytes())
    raw[-40:-8] = b"\xff" * 32  # the end of the footer, with its length and magic intact
    (data / "f11.parquet").write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"f11\.parquet: cannot read"):
        tf2eng.run(data, tmp_path / "out", plot=False)


def test_rejected_rows_of_small_files_in_runs_name_their_file_and_row(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    expected = []
    for i in range(60):
        tracks = [TRACKS[j % len(TRACKS)] for j in range(i % 5 + 1)]
        if i % 9 == 4:
            tracks[-1] = [0.5, 3.0]  # out of [0, 1]
            expected.append((str(data / f"f{i:02d}.parquet"), len(tracks) - 1))
        pq.write_table(wide_table(tracks, [0] * len(tracks)), data / f"f{i:02d}.parquet")
    result = tf2eng.run(data, tmp_path / "out", plot=False)
    rejected = pq.read_table(result.out / "rejected.parquet")
    assert list(zip(rejected["source"].to_pylist(), rejected["row"].to_pylist())) == expected


def _batch(rows: int) -> pa.RecordBatch:
    return pa.record_batch({"x": pa.array(np.arange(rows))})


def test_a_full_batch_is_handed_on_before_the_next_is_read():
    """A batch of the full size is never joined with a later one: it goes on at once, so the first batch
    of a large file is scored while the second is read."""

    def items():
        yield _batch(100), [("big", 0, 0)]
        raise AssertionError("the second batch was asked for before the first was handed on")

    batch, origin = next(_coalesced(items(), rows=100))
    assert batch.num_rows == 100 and origin == [("big", 0, 0)]


def test_coalesced_joins_files_and_runs_but_not_batches_of_one_file():
    items = [
        (_batch(30), [("a", 0, 0)]),
        (_batch(30), [("a", 30, 0)]),  # the same file: not joined with its first batch
        (_batch(20), [("b", 0, 0), ("c", 0, 12)]),  # a run of two small files, already joined
        (_batch(60), [("d", 0, 0)]),  # does not fit
        (_batch(40), [("e", 0, 0)]),  # fills the batch to 100
        (_batch(5), [("f", 0, 0)]),
    ]
    out = [(b.num_rows, origin) for b, origin in _coalesced(iter(items), rows=100)]
    assert out == [
        (30, [("a", 0, 0)]),
        (50, [("a", 30, 0), ("b", 0, 30), ("c", 0, 42)]),
        (100, [("d", 0, 0), ("e", 0, 60)]),
        (5, [("f", 0, 0)]),
    ]


def test_the_first_batch_is_handed_on_alone_when_asked():
    """A unit's first batch is scored as soon as it is read: it waits for no later batch to join it."""

    def items():
        yield _batch(10), [("a", 0, 0)]
        raise AssertionError("the second batch was asked for before the first was handed on")

    batch, origin = next(_coalesced(items(), rows=100, first_alone=True))
    assert batch.num_rows == 10 and origin == [("a", 0, 0)]
    items = [(_batch(10), [("a", 0, 0)]), (_batch(30), [("b", 0, 0)]), (_batch(30), [("c", 0, 0)])]
    out = [(b.num_rows, origin) for b, origin in _coalesced(iter(items), rows=100, first_alone=True)]
    assert out == [(10, [("a", 0, 0)]), (60, [("b", 0, 0), ("c", 0, 30)])]  # then joined as ever


def test_a_unit_s_first_run_of_small_files_is_small_and_the_rows_are_those_of_one_file(tmp_path, monkeypatch):
    from tf2eng.engine import stream

    monkeypatch.setattr(stream, "FIRST_BATCH_ROWS", 10)
    monkeypatch.setattr(stream, "BATCH_ROWS", 40)
    data = tmp_path / "data"
    data.mkdir()
    for i in range(30):
        pq.write_table(_table(4 * i, 4), data / f"f{i:02d}.parquet")
    source = tf2eng.engine.source.Source(data, tf2eng.engine.options.Options())
    unit = tf2eng.engine.units.Unit("k", tuple(tf2eng.engine.units.Part(i) for i in range(30)), "all")
    sizes = [batch.num_rows for batch, _ in stream._file_batches(source, unit)]
    assert sizes[0] == 8 and all(n == 40 for n in sizes[1:-1]) and sum(sizes) == 120
    split = tf2eng.run(data, tmp_path / "split", plot=False)
    pq.write_table(pa.concat_tables([pq.read_table(p) for p in sorted(data.iterdir())]), tmp_path / "one.parquet")
    whole = tf2eng.run(tmp_path / "one.parquet", tmp_path / "whole", plot=False)
    assert (split.out / "stage_means.parquet").read_bytes() == (whole.out / "stage_means.parquet").read_bytes()
    assert split.stages().collect().equals(whole.stages().collect())


def test_small_files_after_a_large_first_file_are_read_in_full_runs(tmp_path, monkeypatch):
    from tf2eng.engine import stream

    monkeypatch.setattr(stream, "FIRST_BATCH_ROWS", 10)
    monkeypatch.setattr(stream, "BATCH_ROWS", 40)
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(_table(0, 100), data / "a-large.parquet")  # more than a batch: streamed on its own
    for i in range(20):
        pq.write_table(_table(100 + 4 * i, 4), data / f"f{i:02d}.parquet")
    source = tf2eng.engine.source.Source(data, tf2eng.engine.options.Options())
    unit = tf2eng.engine.units.Unit("k", tuple(tf2eng.engine.units.Part(i) for i in range(21)), "all")
    sizes = [batch.num_rows for batch, _ in stream._file_batches(source, unit)]
    assert sizes == [100, 40, 40]  # the large file (streamed whole here), then runs of ten small files
