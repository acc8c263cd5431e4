"""The files of a directory or glob are looked at once before the run: their first bytes tell the format,
their end gives the fingerprint (README, Scheduled runs: a Parquet file's footer, any other file's last
64 KiB)."""

import datetime
import hashlib
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tf2eng
from conftest import wide_table
from tf2eng.engine import source
from tf2eng.engine.errors import InputError
from tf2eng.engine.options import Options

TRACKS = [[0.1, 0.9, 0.4], [0.2, 0.5], [0.3, 0.3, 0.3, 0.8], [0.6, 0.1, 0.7, 0.2, 0.9]]


def _table(first: int, n: int, **extra) -> pa.Table:
    table = wide_table([TRACKS[i % len(TRACKS)] for i in range(first, first + n)], [i % 2 for i in range(n)])
    table = table.set_column(0, "video_id", pa.array([f"v{i:05d}" for i in range(first, first + n)]))
    for name, column in extra.items():
        table = table.append_column(name, column)
    return table


def _by_columns(n: int) -> dict:
    """--by columns of types whose Arrow type comes from the footer's stored schema."""
    return {
        "when": pa.array([datetime.datetime(2026, 1, 1 + i % 20) for i in range(n)], pa.timestamp("ms", tz="UTC")),
        "big": pa.array([f"s{i % 3}" for i in range(n)], pa.large_string()),
        "kind": pa.array([f"k{i % 2}" for i in range(n)]).dictionary_encode(),
        "day": pa.array([datetime.date(2026, 1, 1 + i % 3) for i in range(n)]),
        "small": pa.array([i % 4 for i in range(n)], pa.int8()),
    }


def _dataset(tmp_path, files: int = 12) -> tuple:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(files):
        n = 2 + i % 3
        pq.write_table(_table(10 * i, n, **_by_columns(n)), data / f"f{i:02d}.parquet",
                       compression=["snappy", "zstd", "none"][i % 3])
    # several row groups, and a footer longer than the first read of a file's end
    n = 40
    pq.write_table(_table(1000, n, **_by_columns(n)), data / "g-groups.parquet", row_group_size=1)
    footer = int.from_bytes((data / "g-groups.parquet").read_bytes()[-8:-4], "little")
    assert source.FOOTER_GUESS < footer + 8 < source.TAIL_BYTES
    return data


def test_a_directory_s_fingerprints_are_those_of_each_file_given_alone(tmp_path):
    data = _dataset(tmp_path)
    looked = source.Source(data, Options()).fingerprint["files"]
    alone = [source.Source(path, Options()).fingerprint["files"][0] for path in sorted(data.iterdir())]
    assert looked == alone


def test_the_fingerprint_hashes_a_parquet_footer_and_the_tail_of_other_files(tmp_path):
    data = _dataset(tmp_path, files=3)
    big = tmp_path / "big"
    big.mkdir()
    pq.write_table(_table(0, 1500), big / "a.parquet", row_group_size=1)  # a footer over 64 KiB
    for directory in (data, big):
        fingerprint = source.Source(directory, Options()).fingerprint
        for entry in fingerprint["files"]:
            raw = open(entry["path"], "rb").read()
            footer = int.from_bytes(raw[-8:-4], "little") + 8
            assert entry["tail_sha256"] == hashlib.sha256(raw[-min(footer, 65_536):]).hexdigest()
            assert entry["size"] == len(raw) and entry["mtime_ns"] == os.stat(entry["path"]).st_mtime_ns
    ipc = tmp_path / "ipc"
    ipc.mkdir()
    for i in range(3):
        with pa.ipc.new_file(ipc / f"f{i}.arrow", _table(i, 40).schema) as writer:
            writer.write_table(_table(i, 40))
    for entry in source.Source(ipc, Options()).fingerprint["files"]:
        raw = open(entry["path"], "rb").read()
        assert entry["tail_sha256"] == hashlib.sha256(raw[-65_536:]).hexdigest()


@pytest.mark.parametrize("damage", ["length beyond the file", "zero length", "metadata", "magic"])
def test_a_damaged_footer_among_many_is_named_by_arrow_s_read(tmp_path, damage):
    data = _dataset(tmp_path, files=6)
    path = data / "f03.parquet"
    raw = bytearray(path.read_bytes())
    if damage == "length beyond the file":
        raw[-8:-4] = (len(raw) * 2).to_bytes(4, "little")
    elif damage == "zero length":
        raw[-8:-4] = (0).to_bytes(4, "little")
    elif damage == "metadata":
        raw[-60:-8] = b"\x19" * 52
    else:
        raw[-4:] = b"PAR0"
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"f03\.parquet: cannot read"):
        tf2eng.run(data, tmp_path / "out", plot=False)


def test_files_that_answer_slowly_are_looked_at_on_threads(tmp_path, monkeypatch):
    data = _dataset(tmp_path, files=80)
    fast = source.Source(data, Options()).fingerprint
    monkeypatch.setattr(source, "SLOW_LOOK_S", 0.0)  # every look counts as slow
    threads = []
    real = source.parallel_map
    monkeypatch.setattr(source, "parallel_map", lambda fn, items: threads.append(len(items)) or real(fn, items))
    slow = source.Source(data, Options()).fingerprint
    assert slow == fast
    assert threads and threads[0] == 81 - 64  # the first 64 in this thread, the rest on threads
