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


def test_worker_killed_mid_task(cluster, dataset, tmp_path):
    local_cluster, client = cluster
    big = tmp_path / "big"
    big.mkdir()
    write_synthetic(tmp_path / "src.parquet", 24_000, seed=3)
    table = pq.read_table(tmp_path / "src.parquet")
    for i in range(8):
        pq.write_table(table.slice(i * 3000, 3000), big / f"part-{i}.parquet")
    result = {}

    def go():
        result["run"] = tf2eng.run(big, tmp_path / "out", plot=False, engine="dask",
                                   scheduler=local_cluster.scheduler_address)

    runner = threading.Thread(target=go)
    runner.start()
    killed = None
    deadline = time.monotonic() + 60
    while runner.is_alive() and time.monotonic() < deadline and killed is None:
        busy = {w: keys for w, keys in client.processing().items() if any("tf2eng-unit" in str(k) for k in keys)}
        if busy:
            worker = next(iter(busy))
            pid = client.run(os.getpid, workers=[worker])[worker]
            os.kill(pid, signal.SIGKILL)
            killed = worker
        time.sleep(0.01)
    runner.join(120)
    assert not runner.is_alive()
    if killed is None:
        pytest.skip("the run finished before a worker could be killed")
    stages = result["run"].stages().collect()
    assert stages.height == 24_000
    assert stages.select(["video_id", "exp_id"]).unique().height == 24_000
    local = tf2eng.run(big, tmp_path / "local", plot=False)
    assert _digests(result["run"].out) == _digests(local.out)
    client.wait_for_workers(2, timeout=60)
