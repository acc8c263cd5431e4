"""Review of the overlap of a unit's commit with the next unit's first batch (engine/api.py, run_units):
what a failure in a later unit leaves (the unit events, the committed units, the threads) is what units
run one after another leave."""

import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

import tf2eng
from conftest import synthetic_files
from tf2eng.engine import api, stream
from tf2eng.engine.errors import InputError


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """Five files of 100 tracks; the third has a track with a NaN score (its fourth row)."""

    def with_a_nan(i: int, part: pa.Table) -> pa.Table:
        if i != 2:
            return part
        scores = part.column("scores").to_pylist()
        scores[3] = [float("nan")] * len(scores[3])
        index = part.schema.get_field_index("scores")
        return part.set_column(index, "scores", pa.array(scores, part.schema.field("scores").type))

    return synthetic_files(tmp_path_factory.mktemp("review_overlap"), 500, 5, seed=11, change=with_a_nan)


@pytest.fixture
def unit_per_file(monkeypatch):
    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "1")


class _Done:
    def __init__(self, result):
        self.result = result

    def finish(self):
        return self.result


def _one_after_another(ctx, unit, tick=None, after_first_batch=None):
    """Units as they ran before the overlap: each committed before the next starts."""
    if after_first_batch is not None:
        after_first_batch()
    return _Done(stream.run_unit(ctx, unit, tick))


def _failed_run(files, out, **kwargs):
    events = []
    with pytest.raises(InputError, match="part-2.parquet"):
        tf2eng.run(files, out, plot=False, on_invalid="error", log=events.append, **kwargs)
    return [(e["event"], e.get("file"), e.get("status"), e.get("rows")) for e in events]


def test_a_failure_at_the_first_batch_of_a_unit_reports_the_unit_before(files, tmp_path, unit_per_file,
                                                                      monkeypatch):
    """--on-invalid error stops the run at the third unit's first batch: the second unit, which commits
    (and --resume reuses), has its "processed" event, as when units ran one after another."""
    overlapped = _failed_run(files, tmp_path / "a")
    monkeypatch.setattr(api, "start_unit", _one_after_another)
    sequential = _failed_run(files, tmp_path / "b")
    monkeypatch.setattr(api, "start_unit", stream.start_unit)
    assert [e[1] for e in sequential if e[0] == "unit"] == [str(files / "part-0.parquet"),
                                                          str(files / "part-1.parquet")]
    assert overlapped == sequential
    committed = list((tmp_path / ".a.staging" / "_tf2eng").glob("*.npz"))
    assert len(committed) == 2
    assert not [t for t in threading.enumerate() if t.name in ("tf2eng-writer", "tf2eng-reader")]
    resumed = tf2eng.run(files, tmp_path / "a", plot=False, resume=True)
    assert resumed.summary["units"] == {"total": 5, "processed": 3, "resumed": 2, "reused": 0}


def test_a_run_stopped_by_a_bad_option_leaves_no_footer_reader_behind(files, monkeypatch):
    """`tf2eng run DIR --lam abc` stops before it reads its input: the thread that reads the files'
    footers ahead has ended by the time the command returns (one still in Arrow's code as the process
    exits aborted it: exit 134, "terminate called without an active exception", instead of 2)."""
    from typer.testing import CliRunner

    from tf2eng.cli.app import app
    from tf2eng.engine import source

    real = source._arrow_dataset

    def slow(*args, **kwargs):  # footers that take a while to read
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(source, "_arrow_dataset", slow)
    result = CliRunner().invoke(app, ["run", str(files), "--lam", "abc", "--no-plot"])
    assert result.exit_code == 2
    assert not [t for t in threading.enumerate() if t.name == "tf2eng-footers"]
