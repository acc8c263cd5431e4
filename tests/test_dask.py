"""Distributed runs on Dask: a LocalCluster with 2 worker processes gives the local engine's bytes,
and a worker killed mid-task loses nothing and duplicates nothing."""

import json
import os
import signal
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tf2eng
from tf2eng.engine.synth import write_synthetic

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        with distributed.Client(local) as client:
            yield local, client


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Five files, some rows bad, a --by column."""
    d = tmp_path_factory.mktemp("dask")
    write_synthetic(d / "all.parquet", 2500, seed=8)
    table = pq.read_table(d / "all.parquet")
    (d / "data").mkdir()
    for i in range(5):
        pq.write_table(table.slice(i * 500, 500), d / "data" / f"part-{i}.parquet")
    bad = pa.table({
        "video_id": ["bad0", "bad1", "bad2"],
        "exp_id": [0, 0, 0],
        "category": ["person", "animal", "person"],
        "scores": [[0.2, 1.7], None, [0.1, 0.3]],  # out of range, null, key frame out of range
        "key_frame": [0, 0, 5],
    }, schema=table.schema)
    pq.write_table(bad, d / "data" / "part-9.parquet")
    return d / "data"


@pytest.fixture(autouse=True)
def unit_per_file(monkeypatch):
    """Units of about 400 rows: each 500-row file is a unit (a task) of its own, the small one too."""
    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "400")


def _digests(out):
    return json.loads((out / "summary.json").read_text())["digests"]


def test_dask_equals_local(cluster, dataset, tmp_path):
    local_cluster, _ = cluster
    local = tf2eng.run(dataset, tmp_path / "local", plot=False, by=["category"])
    remote = tf2eng.run(dataset, tmp_path / "dask", plot=False, by=["category"], engine="dask",
                        scheduler=local_cluster.scheduler_address)
    assert remote.summary["engine"] == "dask"
    assert remote.summary["rows"] == local.summary["rows"]
    assert remote.summary["rows"]["rejected"] == 3
    assert _digests(remote.out) == _digests(local.out)
    # Incremental and resumed runs work the same way.
    again = tf2eng.run(dataset, tmp_path / "dask", plot=False, by=["category"], engine="dask",
                       scheduler=local_cluster.scheduler_address)
    assert again.summary["units"]["reused"] == 6 and _digests(again.out) == _digests(local.out)


def test_dask_bootstrap_equals_local(cluster, dataset, tmp_path):
    """Confidence bands from replicate sums made in Dask tasks: the local run's bytes."""
    local_cluster, _ = cluster
    options = dict(plot=False, by=["category"], bootstrap=30, seed=6)
    local = tf2eng.run(dataset, tmp_path / "local", threads=1, **options)
    remote = tf2eng.run(dataset, tmp_path / "dask", engine="dask", scheduler=local_cluster.scheduler_address,
                        **options)
    assert remote.summary["units"]["processed"] == 6
    assert local.curve["ci_low"].null_count() < local.curve.height
    assert _digests(remote.out) == _digests(local.out)


def test_worker_killed_mid_task(cluster, dataset, tmp_path):
    """Both workers pause in their first task, just after committing its unit (the engine's test hook);
    one is released, the other killed there.  Dask runs the lost task again, and that second attempt
    writes the unit over the first's committed files: every track still appears exactly once."""
    local_cluster, client = cluster
    big = tmp_path / "big"
    big.mkdir()
    write_synthetic(tmp_path / "src.parquet", 24_000, seed=3)
    table = pq.read_table(tmp_path / "src.parquet")
    for i in range(8):
        pq.write_table(table.slice(i * 3000, 3000), big / f"part-{i}.parquet")
    client.run(lambda: os.environ.update(TF2ENG_PAUSE_AFTER_UNITS="1"))
    result = {}

    def go():
        result["run"] = tf2eng.run(big, tmp_path / "out", plot=False, engine="dask",
                                   scheduler=local_cluster.scheduler_address)

    runner = threading.Thread(target=go)
    runner.start()
    try:
        committed = tmp_path / ".out.staging" / "_tf2eng"
        deadline = time.monotonic() + 120
        while len(list(committed.glob("*.npz"))) < 2:  # each worker has paused
            assert runner.is_alive() and time.monotonic() < deadline, "the workers never paused"
            time.sleep(0.01)
        kept, killed = sorted(client.scheduler_info()["workers"])
        os.kill(client.run(os.getpid, workers=[killed])[killed], signal.SIGKILL)
    finally:  # release the pause wherever it still holds (a restarted worker starts without it)
        client.run(lambda: os.environ.pop("TF2ENG_PAUSE_AFTER_UNITS", None), on_error="ignore")
    runner.join(120)
    assert not runner.is_alive()
    stages = result["run"].stages().collect()
    assert stages.height == 24_000
    assert stages.select(["video_id", "exp_id"]).unique().height == 24_000
    assert [p.name for p in result["run"].out.rglob("*.tmp")] == []
    local = tf2eng.run(big, tmp_path / "local", plot=False)
    assert _digests(result["run"].out) == _digests(local.out)
    client.wait_for_workers(2, timeout=60)


def test_a_failed_run_closes_the_cluster_before_it_gives_up_the_output(dataset, tmp_path, monkeypatch):
    """The staging directory and the lock stay the run's until its cluster is closed."""
    import fcntl

    import tf2eng.engine.distributed as engine_distributed

    seen = {}

    class FailingCluster:
        def __init__(self, scheduler, workers):
            pass

        def run_units(self, ctx, units, done):
            raise RuntimeError("a task failed")

        def close(self):
            seen["staging"] = (tmp_path / ".out.staging").exists()
            with open(tmp_path / ".out.lock", "a") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    seen["locked"] = False
                except BlockingIOError:
                    seen["locked"] = True

    monkeypatch.setattr(engine_distributed, "Cluster", FailingCluster)
    with pytest.raises(RuntimeError, match="a task failed"):
        tf2eng.run(dataset, tmp_path / "out", plot=False, engine="dask")
    assert seen == {"staging": True, "locked": True}
    assert not (tmp_path / ".out.staging").exists()  # then aborted: nothing was committed


def _one_worker(threads: int, **env):
    """A local cluster of one worker process with ``threads`` task threads and ``env`` set in it."""
    return distributed.LocalCluster(n_workers=1, threads_per_worker=threads, processes=True,
                                    dashboard_address=":0", env=env)


def _executing(client) -> list[str]:
    def keys(dask_worker):
        return [str(task.key) for task in dask_worker.state.executing]

    return [key for found in client.run(keys).values() for key in found]


def test_a_failed_run_waits_for_its_tasks_still_running(dataset, tmp_path):
    """Two units on one worker with two threads: the first to commit pauses there for 3 s (the test
    hook), the other finishes, and the client fails on its result.  When run() raises, no task of the
    run is still executing: none can write into the staging directory after the lock is released."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("part-0.parquet", "part-1.parquet"):
        (data / name).write_bytes((dataset / name).read_bytes())

    def progress(done, total):
        raise RuntimeError("the client fails")

    with _one_worker(2, TF2ENG_PAUSE_AFTER_UNITS="1:3") as local, distributed.Client(local) as client:
        with pytest.raises(RuntimeError, match="the client fails"):
            tf2eng.run(data, tmp_path / "out", plot=False, engine="dask", scheduler=local.scheduler_address,
                       progress=progress)
        assert _executing(client) == []
    # Both units were committed (the paused one before its pause): --resume picks them up.
    resumed = tf2eng.run(data, tmp_path / "out", plot=False, resume=True)
    assert resumed.summary["units"]["resumed"] == 2


def test_threads_are_the_workers(dataset, tmp_path):
    """--threads is sent to the tasks, which cannot use more than their worker's NUMBA_NUM_THREADS;
    summary.json reports what the tasks used, not the client's count."""
    with _one_worker(1, NUMBA_NUM_THREADS="1") as local:
        result = tf2eng.run(dataset, tmp_path / "out", plot=False, engine="dask", threads=2,
                            scheduler=local.scheduler_address)
    assert result.summary["threads"] == 1


def test_dask_packed_units_equal_local(cluster, dataset, tmp_path, monkeypatch):
    """Units of several files each: one task per unit, the local engine's bytes."""
    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "1200")
    local_cluster, _ = cluster
    local = tf2eng.run(dataset, tmp_path / "local", plot=False, by=["category"])
    assert local.summary["units"]["total"] < 6
    remote = tf2eng.run(dataset, tmp_path / "dask", plot=False, by=["category"], engine="dask",
                        scheduler=local_cluster.scheduler_address)
    assert remote.summary["units"] == local.summary["units"]
    assert _digests(remote.out) == _digests(local.out)
    rejected = pq.read_table(remote.out / "rejected.parquet")
    assert set(rejected["source"].to_pylist()) == {str(dataset / "part-9.parquet")}
    assert sorted(rejected["row"].to_pylist()) == [0, 1, 2]
