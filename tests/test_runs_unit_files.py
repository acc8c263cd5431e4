"""A unit's files: closed and removed when the unit fails, an error of the writer thread never hides the
first one, and two attempts at the same unit at once (a Dask worker wrongly presumed dead) never share a
temporary file."""

import errno
import io
import json
import os
import threading
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

import tf2eng
import tf2eng.engine.api as api
import tf2eng.engine.output as output_module
import tf2eng.engine.stream as stream
from tf2eng.engine.errors import RejectedRowError
from tf2eng.engine.source import Source
from tf2eng.engine.synth import write_synthetic


@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    """Two files of 600 tracks; the second has a bad row near its end."""
    d = tmp_path_factory.mktemp("units")
    write_synthetic(d / "all.parquet", 1200, seed=6)
    table = pq.read_table(d / "all.parquet")
    (d / "data").mkdir()
    pq.write_table(table.slice(0, 600), d / "data" / "a.parquet")
    second = table.slice(600, 600).to_pydict()
    second["scores"][550] = [0.5, 3.0]
    pq.write_table(type(table).from_pydict(second, schema=table.schema), d / "data" / "b.parquet")
    return d / "data"


@pytest.fixture(autouse=True)
def unit_per_file(monkeypatch):
    """Units of about 500 rows: each 600-row file is a unit of its own."""
    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "500")


@pytest.fixture
def small_batches(monkeypatch):
    """Read in batches of 100 rows, so that a unit streams several batches."""
    real = Source.batches

    def batches(self, index, row_groups=None, batch_rows=None):
        return real(self, index, row_groups, 100)

    monkeypatch.setattr(Source, "batches", batches)


def _open_under(root: Path) -> list[str]:
    """Files under root that this process holds open."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(root)):
            held.append(target)
    return held


def test_a_failed_unit_closes_and_removes_its_files(two_files, tmp_path, small_batches):
    with pytest.raises(RejectedRowError, match="b.parquet: row 550"):
        tf2eng.run(two_files, tmp_path / "out", plot=False, on_invalid="error")
    staging = tmp_path / ".out.staging"
    # The first file's unit is committed and resumable; the second left nothing behind.
    assert len(list((staging / "_tf2eng").glob("*.npz"))) == 1
    assert sorted(p.name for p in staging.rglob("*") if ".tmp" in p.name) == []
    assert _open_under(tmp_path) == []


class _FullAfterHeader(io.RawIOBase):
    """A file on a disk that fills up after the first write (the Parquet magic bytes)."""

    def __init__(self, path, full: threading.Event):
        super().__init__()
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._full = full
        self._writes = 0

    def writable(self):
        return True

    def write(self, data):
        self._writes += 1
        if self._writes > 1:
            self._full.set()
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._file.write(data)

    def close(self):
        if not self.closed:
            self._file.close()
        super().close()


def test_the_writers_error_does_not_hide_the_first(two_files, tmp_path, monkeypatch, small_batches):
    """The writer thread fails on the stages part; then, before it hears of it, the unit fails
    otherwise: that first error of the unit's own is the one raised."""
    full = threading.Event()
    real_open = open

    def fake_open(path, mode="r", *args, **kwargs):
        if "w" in mode and Path(path).name.startswith("part-"):
            return _FullAfterHeader(path, full)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(output_module, "open", fake_open, raising=False)
    real_process = stream.process_batch
    calls = []

    def process_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            assert full.wait(30), "the writer never wrote the first batch"
            raise RuntimeError("the first error")
        return real_process(*args, **kwargs)

    monkeypatch.setattr(stream, "process_batch", process_batch)
    with pytest.raises(RuntimeError, match="the first error") as caught:
        tf2eng.run(two_files / "a.parquet", tmp_path / "out", plot=False)
    assert any("No space left on device" in note for note in getattr(caught.value, "__notes__", []))
    assert not (tmp_path / ".out.staging").exists() and _open_under(tmp_path) == []


def test_two_attempts_at_one_unit_at_once(two_files, tmp_path, monkeypatch, small_batches):
    """Attempt A stops after its first batch; attempt B of the same unit runs to its commit; then A
    finishes and commits too.  Neither disturbs the other's files: the output is a clean run's."""
    clean = tf2eng.run(two_files / "a.parquet", tmp_path / "clean", plot=False)
    started, resume = threading.Event(), threading.Event()
    real_process = stream.process_batch

    def process_batch(*args, **kwargs):
        result = real_process(*args, **kwargs)
        if threading.current_thread().name == "attempt-A" and not started.is_set():
            started.set()
            assert resume.wait(30)
        return result

    monkeypatch.setattr(stream, "process_batch", process_batch)
    real_start_unit = api.start_unit
    replaced = []
    real_replace = os.replace

    def replace(src, dst):
        replaced.append(Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)

    def two_attempts(ctx, unit, tick=None, after_first_batch=None):
        results = {}

        def attempt_a():
            try:
                results["A"] = stream.run_unit(ctx, unit)
            except BaseException as exc:  # noqa: BLE001 - checked below
                results["A"] = exc

        thread = threading.Thread(target=attempt_a, name="attempt-A")
        thread.start()
        assert started.wait(30)
        results["B"] = real_start_unit(ctx, unit, tick, after_first_batch).finish()
        resume.set()
        thread.join(60)
        assert not isinstance(results["A"], BaseException), results["A"]
        return SimpleNamespace(finish=lambda: results["A"])

    monkeypatch.setattr(api, "start_unit", two_attempts)
    both = tf2eng.run(two_files / "a.parquet", tmp_path / "out", plot=False)
    monkeypatch.undo()
    part = [name for name in replaced if name.startswith("part-")]
    assert len(part) == 2 and part[0] != part[1]  # each attempt its own temporary name
    assert both.summary["digests"] == clean.summary["digests"]
    stages = both.stages().collect()
    assert stages.height == 600 and stages.select(["video_id", "exp_id"]).unique().height == 600
    assert json.loads((both.out / "summary.json").read_text())["status"] == "complete"


def test_files_of_a_dead_attempt_are_not_committed(two_files, tmp_path):
    """An attempt killed with its Dask worker leaves its temporary files in the staging directory;
    the commit leaves them out of the output."""
    staging = tmp_path / ".out.staging"

    def progress(done, total):
        (staging / "stages" / "part-0123456789abcdef01234567.parquet.deadbeef0000.tmp").write_bytes(b"PAR1")
        (staging / "_tf2eng" / "0123456789abcdef01234567.npz.deadbeef0000.tmp").write_bytes(b"PK")

    result = tf2eng.run(two_files / "a.parquet", tmp_path / "out", plot=False, progress=progress)
    assert [p.name for p in result.out.rglob("*.tmp")] == []
    assert pq.read_table(result.out / "stages").num_rows == 600
