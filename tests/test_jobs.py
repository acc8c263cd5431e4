"""Scheduled batch jobs: atomic commits, resume after SIGKILL, incremental runs, reproducible bytes,
exit codes and JSON logs."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import tf2eng
from conftest import wide_table
from tf2eng.cli.app import app
from tf2eng.engine.errors import InputError
from tf2eng.engine.synth import write_synthetic

runner = CliRunner()
TF2ENG = os.path.join(os.path.dirname(sys.executable), "tf2eng")


def _split_dataset(source: Path, directory: Path, parts: int) -> Path:
    table = pq.read_table(source)
    directory.mkdir(parents=True, exist_ok=True)
    step = -(-table.num_rows // parts)
    for i in range(parts):
        pq.write_table(table.slice(i * step, step), directory / f"part-{i:03d}.parquet", row_group_size=2000)
    return directory


@pytest.fixture
def unit_per_file(monkeypatch):
    """A target of one row per unit: every file (and row group) is a unit of its own, as before packing."""
    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "1")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = tmp_path_factory.mktemp("jobs") / "synth.parquet"
    write_synthetic(path, 3000, seed=21)
    return path


def _digests(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())["digests"]


def _aggregate_bytes(out: Path) -> tuple[bytes, bytes]:
    return (out / "stage_means.parquet").read_bytes(), (out / "curve.parquet").read_bytes()


def test_same_bytes_whatever_the_thread_count(synthetic, tmp_path):
    one = tf2eng.run(synthetic, tmp_path / "one", threads=1, plot=False, by=["category"])
    two = tf2eng.run(synthetic, tmp_path / "two", threads=2, plot=False, by=["category"])
    assert _digests(one.out) == _digests(two.out)


def test_edited_kernels_are_not_answered_by_results_of_the_old_ones(synthetic, tmp_path, monkeypatch):
    """A unit's key covers the kernel sources: after a kernel changes, a rerun processes the unit again."""
    from tf2eng.kernels import cache

    out = tmp_path / "out"
    assert tf2eng.run(synthetic, out, plot=False).summary["units"]["processed"] == 1
    assert tf2eng.run(synthetic, out, plot=False).summary["units"]["reused"] == 1
    monkeypatch.setattr(cache, "kernel_sources_hash", lambda: "kernels edited")
    again = tf2eng.run(synthetic, out, plot=False)
    assert again.summary["units"]["processed"] == 1 and again.summary["units"]["reused"] == 0


@pytest.mark.parametrize("parts, unit_rows", [(5, None), (200, None), (200, "100")])
def test_same_aggregates_however_the_input_is_split(synthetic, tmp_path, monkeypatch, parts, unit_rows):
    whole = tf2eng.run(synthetic, tmp_path / "whole", plot=False, by=["category"])
    if unit_rows is not None:
        monkeypatch.setenv("TF2ENG_UNIT_ROWS", unit_rows)
    split = tf2eng.run(_split_dataset(synthetic, tmp_path / "split", parts), tmp_path / "split_out", plot=False,
                       by=["category"])
    assert _aggregate_bytes(whole.out) == _aggregate_bytes(split.out)
    a = whole.stages().collect().sort(["video_id", "exp_id"])
    b = split.stages().collect().sort(["video_id", "exp_id"])
    assert a.equals(b)
    # The output grows with the data, not with the number of files: a part per unit.
    units = split.summary["units"]["total"]
    assert len(list((split.out / "stages").glob("*.parquet"))) == units
    assert len(list((split.out / "_tf2eng").iterdir())) == 2 * units
    if unit_rows is None:
        assert units == 1
    else:  # 3,000 rows in units of about 100 (at most 400)
        assert 3 < units < 200


def test_small_files_packed_into_one_unit_keep_their_rejected_rows_source_and_row(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    expected = []
    for i in range(30):
        tracks = [[0.1, 0.9, 0.4], [0.2, 0.5], [0.3, 0.3, 0.3, 0.8]]
        if i % 7 == 3:
            tracks[i % 3] = [0.5, 7.0]  # out of [0, 1]
            expected.append((str(data / f"f{i:02d}.parquet"), i % 3))
        pq.write_table(wide_table(tracks, [0] * len(tracks)), data / f"f{i:02d}.parquet")
    result = tf2eng.run(data, tmp_path / "out", plot=False)
    assert result.summary["units"]["total"] == 1
    rejected = pq.read_table(result.out / "rejected.parquet")
    assert list(zip(rejected["source"].to_pylist(), rejected["row"].to_pylist())) == expected
    assert result.summary["rows"]["read"] == 90


def test_packing_is_local_adding_changing_or_removing_a_file_moves_at_most_two_groups():
    import random

    from tf2eng.engine.units import pack_files

    rng = random.Random(3)
    paths = [f"data/part-{i:05d}.parquet" for i in range(2000)]
    rows = [rng.randint(1, 20) for _ in paths]

    def groups(paths, rows):
        return {tuple(paths[i] for i in g) for g in pack_files(paths, rows, 100)}

    before = groups(paths, rows)
    assert 100 < len(before) < 400  # about 10 files (100 rows) per unit
    assert max(len(g) for g in before) <= 400
    for trial in range(50):
        i = rng.randrange(len(paths))
        changed_rows = rows[:i] + [rows[i] + rng.randint(1, 30)] + rows[i + 1:]
        added = (paths[:i] + [paths[i] + ".new"] + paths[i:], rows[:i] + [rng.randint(1, 20)] + rows[i:])
        removed = (paths[:i] + paths[i + 1:], rows[:i] + rows[i + 1:])
        for after in (groups(paths, changed_rows), groups(*added), groups(*removed)):
            assert len(after - before) <= 2


def test_incremental_run_over_many_small_files_recomputes_at_most_two_units(tmp_path, monkeypatch):
    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "40")
    data = tmp_path / "data"
    data.mkdir()
    write_synthetic(tmp_path / "all.parquet", 1000, seed=8)
    table = pq.read_table(tmp_path / "all.parquet")
    for i in range(200):
        pq.write_table(table.slice(5 * i, 5), data / f"part-{i:03d}.parquet")
    out = tmp_path / "out"
    first = tf2eng.run(data, out, plot=False)
    assert 10 < first.summary["units"]["total"] < 100

    def check(step: str) -> None:
        again = tf2eng.run(data, out, plot=False)
        full = tf2eng.run(data, tmp_path / f"full-{step}", plot=False, full=True)
        units = again.summary["units"]
        assert units["processed"] <= 2, step
        assert units["reused"] == units["total"] - units["processed"], step
        assert _digests(again.out) == _digests(full.out), step
        assert len(list((out / "stages").glob("*.parquet"))) == units["total"]

    pq.write_table(table.slice(0, 12), data / "part-077.parquet")  # change one file
    check("changed")
    pq.write_table(table.slice(20, 3), data / "part-123a.parquet")  # add one
    check("added")
    (data / "part-150.parquet").unlink()  # remove one
    check("removed")


def test_incremental_run_processes_only_new_and_changed_files(synthetic, tmp_path, unit_per_file):
    data = _split_dataset(synthetic, tmp_path / "data", 4)
    out = tmp_path / "out"
    first = tf2eng.run(data, out, plot=False)
    assert first.summary["units"] == {"total": 4, "processed": 4, "resumed": 0, "reused": 0}
    # Add a file and change another.
    extra = wide_table([[0.1, 0.9, 0.4]] * 5, [1] * 5)
    pq.write_table(extra, data / "part-100.parquet")
    table = pq.read_table(data / "part-001.parquet")
    pq.write_table(table.slice(0, 100), data / "part-001.parquet")
    second = tf2eng.run(data, out, plot=False)
    assert second.summary["units"] == {"total": 5, "processed": 2, "resumed": 0, "reused": 3}
    full = tf2eng.run(data, tmp_path / "full", plot=False, full=True)
    assert full.summary["units"]["processed"] == 5
    assert _digests(second.out) == _digests(full.out)
    assert second.summary["rows"] == full.summary["rows"]
    # Stale parts of the changed file are gone.
    assert len(list((out / "stages").glob("*.parquet"))) == 5


def test_changed_options_recompute_everything(synthetic, tmp_path):
    out = tmp_path / "out"
    tf2eng.run(synthetic, out, plot=False)
    again = tf2eng.run(synthetic, out, plot=False, lam=0.5)
    assert again.summary["units"]["processed"] == 1 and again.summary["parameters"]["lam"] == 0.5


def _run_until_paused(data: Path, out: Path, units: int, *extra: str) -> subprocess.Popen:
    """Start ``tf2eng run`` with the engine's test hook set to pause it for ever after it commits its
    ``units``-th unit, and return once it has: it is then killed at a known point."""
    env = dict(os.environ, TF2ENG_PAUSE_AFTER_UNITS=str(units))
    proc = subprocess.Popen([TF2ENG, "run", str(data), "-o", str(out), "--no-plot", "-q", *extra],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    committed = out.parent / f".{out.name}.staging" / "_tf2eng"
    deadline = time.monotonic() + 120
    while len(list(committed.glob("*.npz"))) < units:
        assert proc.poll() is None, f"tf2eng run exited with {proc.returncode} before it paused"
        assert time.monotonic() < deadline, "tf2eng run did not reach its pause"
        time.sleep(0.01)
    return proc


def test_sigkill_then_resume(synthetic, tmp_path, unit_per_file):
    data = _split_dataset(synthetic, tmp_path / "data", 12)
    out = tmp_path / "out"
    # A previous complete result, made with other options.
    tf2eng.run(data, out, plot=False, lam=0.5)
    previous = (out / "summary.json").read_text()
    proc = _run_until_paused(data, out, 3, "--threads", "1")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The previous result is untouched and still complete.
    assert (out / "summary.json").read_text() == previous
    assert len(list((tmp_path / ".out.staging" / "_tf2eng").glob("*.npz"))) == 3
    resumed = tf2eng.run(data, out, plot=False, resume=True)
    assert resumed.summary["units"]["resumed"] == 3
    assert resumed.summary["units"]["processed"] == 9
    clean = tf2eng.run(data, tmp_path / "clean", plot=False)
    assert _digests(resumed.out) == _digests(clean.out)
    assert not (tmp_path / ".out.staging").exists()


def test_on_invalid_error_stops_at_rejected_rows_of_reused_and_resumed_units(tmp_path, unit_per_file):
    """Unit keys leave --on-invalid out (the results are the same): units stored by a quarantine run, reused
    by an incremental run or resumed, stop a run under --on-invalid error at their first rejected row, as
    computing them would have, instead of completing with rows rejected."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(6):
        tracks = [[0.1, 0.5, 0.9], [0.2, 0.4]] + ([[0.3, 1.7]] if i == 0 else [])  # 1.7: out of range
        pq.write_table(wide_table(tracks, [1, 0] + ([0] if i == 0 else [])), data / f"part-{i:03d}.parquet")
    out = tmp_path / "out"
    assert tf2eng.run(data, out, plot=False).summary["rows"]["rejected"] == 1
    with pytest.raises(InputError, match=r"part-000\.parquet: row 2: score_out_of_range"):
        tf2eng.run(data, out, plot=False, on_invalid="error")
    assert json.loads((out / "summary.json").read_text())["parameters"]["on_invalid"] == "quarantine"
    proc = _run_until_paused(data, tmp_path / "killed", 2, "--threads", "1")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    result = CliRunner().invoke(app, ["run", str(data), "-o", str(tmp_path / "killed"), "--no-plot", "-q",
                                      "--resume", "--on-invalid", "error"])
    assert result.exit_code == 2 and "part-000.parquet: row 2: score_out_of_range" in result.output


def test_killed_first_run_leaves_no_output(synthetic, tmp_path, unit_per_file):
    data = _split_dataset(synthetic, tmp_path / "data", 12)
    out = tmp_path / "out"
    proc = _run_until_paused(data, out, 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    # Without --resume, the next run starts afresh and completes.
    again = tf2eng.run(data, out, plot=False)
    assert again.summary["units"] == {"total": 12, "processed": 12, "resumed": 0, "reused": 0}


def test_strict_exit_code_3(tmp_path):
    pq.write_table(wide_table([[0.5, 0.2], [0.5, 7.0]], [0, 0]), tmp_path / "d.parquet")
    result = runner.invoke(app, ["run", str(tmp_path / "d.parquet"), "-o", str(tmp_path / "out"), "--strict",
                                 "--no-plot"])
    assert result.exit_code == 3
    assert "1 rows rejected (--strict)" in result.stderr
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["status"] == "complete"
    clean = runner.invoke(app, ["run", str(tmp_path / "d.parquet"), "-o", str(tmp_path / "out2"), "--no-plot",
                                "-q"])
    assert clean.exit_code == 0


def test_json_log(tmp_path, synthetic):
    result = runner.invoke(app, ["run", str(synthetic), "-o", str(tmp_path / "out"), "--no-plot",
                                 "--log-format", "json", "-q"])
    assert result.exit_code == 0
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert [e["event"] for e in events] == ["start", "unit", "complete"]
    assert events[-1]["rows"]["read"] == 3000
    bad = runner.invoke(app, ["run", str(tmp_path / "missing.parquet"), "--log-format", "json"])
    assert bad.exit_code == 2
    (event,) = [json.loads(line) for line in bad.stderr.splitlines()]
    assert event["event"] == "error" and event["exit_code"] == 2 and "missing.parquet" in event["message"]


def test_concurrent_runs_are_refused(synthetic, tmp_path):
    from tf2eng.engine.errors import InputError
    from tf2eng.engine.output import OutputDir

    holder = OutputDir(tmp_path / "out")
    try:
        with pytest.raises(InputError, match="another tf2eng run"):
            tf2eng.run(synthetic, tmp_path / "out", plot=False)
    finally:
        holder.abort()


def test_the_lock_file_outlives_its_holders(tmp_path):
    """A run that finishes never removes the lock file: a run that opened it just before, and locks
    it just after, must still exclude every later run."""
    import fcntl

    from tf2eng.engine.errors import InputError
    from tf2eng.engine.output import OutputDir

    out = tmp_path / "out"
    first = OutputDir(out)
    lock_file = tmp_path / ".out.lock"
    second = open(lock_file, "a")  # a second run, between its open and its flock
    first.abort()
    fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with pytest.raises(InputError, match="another tf2eng run"):
        OutputDir(out)
    fcntl.flock(second, fcntl.LOCK_UN)
    second.close()
    # Holders one after another: each excludes the others while it holds the lock.
    a = OutputDir(out)
    a.abort()
    b = OutputDir(out)
    try:
        with pytest.raises(InputError, match="another tf2eng run"):
            OutputDir(out)
    finally:
        b.abort()
    assert lock_file.exists()
    OutputDir(out).abort()


def test_a_run_leaves_numbas_thread_count_as_it_found_it(synthetic, tmp_path):
    import numba

    from tf2eng.engine.errors import InputError

    limit, before = numba.config.NUMBA_NUM_THREADS, numba.get_num_threads()
    if limit < 2:
        pytest.skip("numba has one thread only (NUMBA_NUM_THREADS=1): no count to change")
    numba.set_num_threads(limit)
    try:
        tf2eng.run(synthetic, tmp_path / "out", plot=False, threads=1)
        assert numba.get_num_threads() == limit
        with pytest.raises(InputError):
            tf2eng.run(tmp_path / "missing.parquet", tmp_path / "out2", threads=1)
        assert numba.get_num_threads() == limit
    finally:
        numba.set_num_threads(before)


def test_large_file_is_cut_into_row_group_units(tmp_path, monkeypatch):
    import numpy as np

    import tf2eng.engine.units as units

    rng = np.random.default_rng(5)
    tracks = [rng.random(rng.integers(3, 30)).tolist() for _ in range(200)]
    tracks[120][0] = 2.0  # a bad row in the third row group
    pq.write_table(wide_table(tracks, [0] * 200), tmp_path / "d.parquet", row_group_size=50)
    whole = tf2eng.run(tmp_path / "d.parquet", tmp_path / "whole", plot=False)
    monkeypatch.setattr(units, "UNIT_ROWS", 100)
    cut = tf2eng.run(tmp_path / "d.parquet", tmp_path / "cut", plot=False)
    assert whole.summary["units"]["total"] == 1 and cut.summary["units"]["total"] == 2
    assert _aggregate_bytes(whole.out) == _aggregate_bytes(cut.out)
    assert pq.read_table(cut.out / "rejected.parquet")["row"].to_pylist() == [120]
    a = whole.stages().collect().sort("video_id")
    b = cut.stages().collect().sort("video_id")
    assert a.equals(b)


def test_sigkill_then_resume_with_packed_units(synthetic, tmp_path, monkeypatch):
    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "600")  # 24 files of 125 rows: units of about 5 files
    data = _split_dataset(synthetic, tmp_path / "data", 24)
    out = tmp_path / "out"
    proc = _run_until_paused(data, out, 2, "--threads", "1")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = tf2eng.run(data, out, plot=False, resume=True)
    units = resumed.summary["units"]
    assert 2 < units["total"] < 24 and units["resumed"] == 2 and units["processed"] == units["total"] - 2
    clean = tf2eng.run(data, tmp_path / "clean", plot=False)
    assert _digests(resumed.out) == _digests(clean.out)
