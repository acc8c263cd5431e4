"""Review of the one look at each file (engine/source.py, _look): the tail a fingerprint hashes is a Parquet
file's footer and any other file's last 64 KiB (README, Scheduled runs), whatever its first bytes say."""

import hashlib
import os
import shutil
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_one_error, invoke_cli, wide_table
from tf2eng.engine import source
from tf2eng.engine.options import Options


def _long_csv(first: str) -> bytes:
    """A CSV file of the long layout, over 64 KiB, whose first column's name is ``first``."""
    rows = [f"{first},video_id,exp_id,frame,score"]
    rows += [f"t,v{v:05d},0,{f},{(7 * v + f) % 10 / 10}" for v in range(2500) for f in range(4)]
    return ("\n".join(rows) + "\n").encode()


@pytest.mark.parametrize("first", ["PAR1_tag", "PAR1x"])
def test_a_text_file_that_starts_like_parquet_hashes_its_last_64_kib(tmp_path, first):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("a.csv", "b.csv"):
        (data / name).write_bytes(_long_csv(first))
    raw = (data / "a.csv").read_bytes()
    assert raw.startswith(b"PAR1") and len(raw) > 4 * source.FOOTER_GUESS
    want = hashlib.sha256(raw[-65_536:]).hexdigest()
    fingerprint = source.Source(data, Options(), input_format="csv").fingerprint
    assert [entry["tail_sha256"] for entry in fingerprint["files"]] == [want, want]
    assert source.Source(data / "a.csv", Options(), input_format="csv").fingerprint["files"][0]["tail_sha256"] == want


@pytest.mark.parametrize("size", [100, 20_000, 70_000])
def test_a_file_that_starts_but_does_not_end_like_parquet_hashes_its_last_64_kib(tmp_path, size):
    """(A damaged Parquet file: its reader says what is wrong; its fingerprint is that of any other file.)"""
    path = tmp_path / "damaged.parquet"
    raw = b"PAR1" + bytes(range(256)) * (size // 256) + b"end"
    path.write_bytes(raw)
    assert source._look(str(path)).fingerprint["tail_sha256"] == hashlib.sha256(raw[-65_536:]).hexdigest()


@pytest.mark.parametrize("given", ["directory", "glob", "file"])
def test_a_parquet_file_whose_name_is_not_utf8_stops_the_run_naming_it(tmp_path, given):
    """(Arrow takes paths as UTF-8 text: such a name was an internal error, exit 1.)"""
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(wide_table([[0.1, 0.9], [0.2, 0.5]], [1, 0]), data / "a.parquet")
    bad = os.path.join(str(data), os.fsdecode(b"b\xff.parquet"))
    try:
        shutil.copy(data / "a.parquet", bad)
    except (OSError, UnicodeError):
        pytest.skip("the file system takes UTF-8 names only")
    target = {"directory": data, "glob": data / "*.parquet", "file": bad}[given]
    assert_one_error(invoke_cli("run", target, "-o", tmp_path / "out", "--no-plot"), "b\\udcff.parquet",
                     "not UTF-8")


def _reference_tail(raw: bytes) -> bytes:
    """README, Scheduled runs: a Parquet file's footer (metadata, their length and "PAR1"), at most its last
    64 KiB; of any other file the last 64 KiB."""
    if raw[:4] == b"PAR1" and len(raw) >= 8 and raw[-4:] == b"PAR1":
        return raw[-min(int.from_bytes(raw[-8:-4], "little") + 8, 65_536):]
    return raw[-65_536:]


_SIZES = st.sampled_from([0, 3, 4, 7, 8, 9, 100, 16_383, 16_384, 16_385, 40_000, 65_535, 65_536, 65_537, 90_000])


@settings(max_examples=60, deadline=None)
@given(size=_SIZES, starts=st.booleans(), ends=st.booleans(),
       length=st.one_of(st.integers(0, 70_000), st.integers(0, 2**32 - 1)))
def test_the_tail_hashed_is_the_footer_or_the_last_64_kib_of_any_bytes(size, starts, ends, length):
    raw = bytearray(i * 7 % 251 for i in range(size))
    if starts and size >= 4:
        raw[:4] = b"PAR1"
    if ends and size >= 8:
        raw[-8:] = length.to_bytes(4, "little") + b"PAR1"
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "f.parquet")
        with open(path, "wb") as f:
            f.write(raw)
        look = source._look(path)
    assert look.head == bytes(raw[:6])
    assert look.fingerprint["size"] == size
    assert look.fingerprint["tail_sha256"] == hashlib.sha256(_reference_tail(bytes(raw))).hexdigest()


@pytest.mark.parametrize("given", ["data", "./data", "data/", ".//data", "data/../data", "link", "data/*/*.parquet",
                                   "./data/**/*.parquet", "data/k=1", "ipc", "./ipc/*.arrow"])
def test_the_looks_fingerprints_serve_every_spelling_of_a_directory_or_glob(tmp_path, monkeypatch, given):
    """Arrow's fragment paths are the paths as listed: the fingerprints the looks took are used, none is taken
    again, and they are those of each file given alone."""
    monkeypatch.chdir(tmp_path)
    for part in ("k=1", "k=2"):
        (tmp_path / "data" / part).mkdir(parents=True)
        for name in ("a é.parquet", "b c.parquet"):
            pq.write_table(wide_table([[0.1, 0.9], [0.2, 0.5, 0.3]], [1, 0]), tmp_path / "data" / part / name)
    (tmp_path / "link").symlink_to("data")
    (tmp_path / "ipc").mkdir()
    for name in ("a.arrow", "b.arrow"):
        with pa.ipc.new_file(tmp_path / "ipc" / name, wide_table([[0.1, 0.9]], [1]).schema) as writer:
            writer.write_table(wide_table([[0.1, 0.9]], [1]))
    taken_again = []
    real = source._file_fingerprint
    monkeypatch.setattr(source, "_file_fingerprint", lambda path: taken_again.append(path) or real(path))
    looked = source.Source(given, Options())
    files = looked.fingerprint["files"]
    assert taken_again == [] and len(files) == len(looked.fragments) >= 2
    assert files == [real(fragment.path) for fragment in looked.fragments]
