"""A unit's last writes and its commit overlap the next unit's first batch (engine/api.py, run_units): the
results, the order of the unit events, and what a failure leaves for --resume are those of units run one
after another."""

import json
import time
from pathlib import Path

import pytest

import tf2eng
from conftest import synthetic_files
from tf2eng.engine import api, stream
from tf2eng.engine.errors import InputError
from tf2eng.engine.units import UnitAggregates


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    return synthetic_files(tmp_path_factory.mktemp("overlap"), 1200, 6, seed=5)


@pytest.fixture
def unit_per_file(monkeypatch):
    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "1")


def one_after_another(monkeypatch):
    """Units run as before the overlap: each finished before the next starts."""
    def start_unit(ctx, unit, tick=None, after_first_batch=None):
        if after_first_batch is not None:
            after_first_batch()  # the unit before: finished before this one starts
        return _Done(stream.run_unit(ctx, unit, tick))

    monkeypatch.setattr(api, "start_unit", start_unit)


class _Done:
    def __init__(self, result):
        self.result = result

    def finish(self):
        return self.result


def test_outputs_and_unit_events_are_those_of_units_one_after_another(files, tmp_path, unit_per_file, monkeypatch):
    events = []
    overlapped = tf2eng.run(files, tmp_path / "a", plot=False, log=events.append)
    one_after_another(monkeypatch)
    alone = []
    sequential = tf2eng.run(files, tmp_path / "b", plot=False, log=alone.append)
    assert overlapped.summary["units"] == sequential.summary["units"] == {"total": 6, "processed": 6, "resumed": 0,
                                                                           "reused": 0}
    assert overlapped.summary["digests"] == sequential.summary["digests"]
    assert [e for e in events if e["event"] == "unit"] == [e for e in alone if e["event"] == "unit"]
    units = [e["file"] for e in events if e["event"] == "unit"]
    assert units == sorted(units) and len(units) == 6  # in unit order, each once, before "complete"
    assert [e["event"] for e in events][-1] == "complete"


def test_a_unit_that_fails_leaves_the_unit_before_committed(files, tmp_path, unit_per_file, monkeypatch):
    """The fourth unit fails while it streams: the third, whose rows were all written, still commits, and
    --resume reuses the three."""
    real = stream.process_batch
    seen = []

    def failing(batch, *args, **kwargs):
        seen.append(batch.num_rows)
        if len(seen) == 4:
            raise InputError("a fault in the fourth unit")
        return real(batch, *args, **kwargs)

    monkeypatch.setattr(stream, "process_batch", failing)
    real_save = UnitAggregates.save

    def slow_save(self, path):  # the third unit's commit is still on its way when the fourth fails
        if len(seen) >= 3:
            time.sleep(0.3)
        real_save(self, path)

    monkeypatch.setattr(UnitAggregates, "save", slow_save)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="fourth unit"):
        tf2eng.run(files, out, plot=False)
    monkeypatch.setattr(stream, "process_batch", real)
    monkeypatch.setattr(UnitAggregates, "save", real_save)
    committed = list((tmp_path / ".out.staging" / "_tf2eng").glob("*.npz"))
    assert len(committed) == 3
    assert not list((tmp_path / ".out.staging").rglob("*.tmp"))  # the failed unit's files are gone
    resumed = tf2eng.run(files, out, plot=False, resume=True)
    assert resumed.summary["units"]["resumed"] == 3 and resumed.summary["units"]["processed"] == 3
    clean = tf2eng.run(files, tmp_path / "clean", plot=False)
    assert resumed.summary["digests"] == clean.summary["digests"]


def test_a_writer_error_of_the_unit_before_stops_the_run(files, tmp_path, unit_per_file, monkeypatch):
    """The second unit's commit fails on its writer while the third unit streams: the run stops with that
    error, and no later unit commits."""
    real_commit = stream._UnitFiles.commit
    commits = []

    def commit(self, aggregates):
        commits.append(1)
        if len(commits) == 2:
            raise OSError(28, "No space left on device")
        return real_commit(self, aggregates)

    monkeypatch.setattr(stream._UnitFiles, "commit", commit)
    with pytest.raises(Exception) as stopped:
        tf2eng.run(files, tmp_path / "out", plot=False)
    assert "No space left on device" in str(stopped.value)
    staging = tmp_path / ".out.staging" / "_tf2eng"
    assert len(list(staging.glob("*.npz"))) <= 1 if staging.exists() else True
    assert not (tmp_path / "out" / "summary.json").exists()
    summary = tmp_path / "out" / "summary.json"
    assert not summary.exists() or json.loads(summary.read_text())["status"] != "complete"
