"""Review findings on many small files, incremental runs and the long layout: each test reproduces a
defect found by trying to break the engine, and pins the behaviour README describes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tf2eng
from tf2eng.engine import long as long_module


@pytest.mark.parametrize("budget", [None, 2])
def test_long_layout_takes_uint64_ids_above_the_int64_maximum(tmp_path, monkeypatch, budget):
    """README, Input: ids are string or integer.  uint64 ids above 2**63 - 1 gather their frames into
    tracks (in memory and spilled) as the wide layout reads them, instead of an internal error."""
    if budget is not None:
        monkeypatch.setattr(long_module, "PARTITION_ROWS", budget)
    big = 2**63 + 5
    ids = pa.array([big, 1, big, 1, 1, 2**64 - 1], pa.uint64())
    long = pa.table({"video_id": ids, "frame": [3, 0, 1, 1, 2, 0],
                     "score": [0.1, 0.5, 0.2, 0.6, 0.7, 0.9]})
    pq.write_table(long, tmp_path / "long.parquet")
    wide = pa.table({"video_id": pa.array([1, big, 2**64 - 1], pa.uint64()),
                     "scores": [[0.5, 0.6, 0.7], [0.2, 0.1], [0.9]]})
    pq.write_table(wide, tmp_path / "wide.parquet")
    got = tf2eng.run(tmp_path / "long.parquet", tmp_path / "long.out", plot=False)
    want = tf2eng.run(tmp_path / "wide.parquet", tmp_path / "wide.out", plot=False)
    assert got.summary["rows"]["written"] == 3
    for name in ("stage_means.parquet", "curve.parquet"):
        assert got.summary["digests"][name] == want.summary["digests"][name]
    assert got.stages().collect().drop("key_label").sort("video_id").equals(want.stages().collect().sort("video_id"))


_SPILL_RUN = """
import sys
import tf2eng.engine.long as L
L.PARTITION_ROWS = 2
from tf2eng.cli.app import main
sys.argv = ["tf2eng", "run", sys.argv[1], "-o", sys.argv[2], "--no-plot", "-q"]
main()
"""


def _run_with_open_files(args, soft, hard):
    import resource
    import subprocess
    import sys

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return subprocess.run([sys.executable, "-c", _SPILL_RUN, *map(str, args)], preexec_fn=limit,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def many_partitions(tmp_path):
    """A long dataset of 400 frame rows: 200 spill partitions at a budget of 2 rows."""
    rng = np.random.default_rng(5)
    n = 400
    pq.write_table(pa.table({"video_id": pa.array(rng.integers(0, 150, n)), "frame": np.arange(n),
                             "score": rng.random(n)}), tmp_path / "long.parquet")
    return tmp_path / "long.parquet"


def test_spill_raises_a_low_soft_limit_of_open_files(many_partitions, tmp_path):
    """README, Input (Larger than memory): the spill keeps a file open per partition, more than a soft
    limit of 100 open files (macOS has 256) allows; the run raises its soft limit up to the hard one
    and completes with the aggregates of an in-memory run, instead of an internal error."""
    resource = pytest.importorskip("resource")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 400:
        pytest.skip("the hard limit of open files is too low to raise the soft one")
    done = _run_with_open_files([many_partitions, tmp_path / "spilled"], 100, hard)
    assert done.returncode == 0, done.stderr
    want = tf2eng.run(many_partitions, tmp_path / "memory", plot=False)
    import json

    got = json.loads((tmp_path / "spilled" / "summary.json").read_text())
    for name in ("stage_means.parquet", "curve.parquet"):
        assert got["digests"][name] == want.summary["digests"][name]


def test_spill_beyond_the_hard_limit_of_open_files_is_one_line(many_partitions, tmp_path):
    """Where even the hard limit is too low for the spill files: one line, exit 2, and no staging
    directory left behind (the spill files' descriptors were held by the error's traceback, so the
    clean-up could not open the directories it removes)."""
    pytest.importorskip("resource")
    done = _run_with_open_files([many_partitions, tmp_path / "out"], 100, 100)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "ulimit -n" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "long.parquet"]


@pytest.mark.parametrize("layout", ["long", "wide"])
@pytest.mark.parametrize("first_has_exp_id", [False, True])
def test_exp_id_in_some_files_only_stops_the_run_in_either_order(tmp_path, layout, first_has_exp_id):
    """README, Input: video_id and exp_id identify a track.  The default ids are taken from the first
    file; where it lacked exp_id and a later file had one, that file's expressions were silently
    merged into one track (long layout: one track of both expressions' frames, T = 4), while the
    same files in the other order stopped the run.  Both orders now stop with one line."""
    if layout == "long":
        without = pa.table({"video_id": ["u", "u"], "frame": [0, 1], "score": [0.1, 0.2]})
        with_exp = pa.table({"video_id": ["v"] * 4, "exp_id": [0, 0, 1, 1], "frame": [0, 1, 2, 3],
                             "score": [0.1, 0.2, 0.3, 0.4]})
    else:
        without = pa.table({"video_id": ["u"], "scores": [[0.1, 0.2]]})
        with_exp = pa.table({"video_id": ["v", "v"], "exp_id": [0, 1], "scores": [[0.1, 0.2], [0.3, 0.4]]})
    names = ("a.parquet", "b.parquet") if first_has_exp_id else ("b.parquet", "a.parquet")
    pq.write_table(with_exp, tmp_path / names[0])
    pq.write_table(without, tmp_path / names[1])
    from tf2eng.engine.errors import InputError

    with pytest.raises(InputError, match="exp_id"):
        tf2eng.run(tmp_path, tmp_path / "out", plot=False)
    by_video = tf2eng.run(tmp_path, tmp_path / "out", plot=False, id_cols="video_id")  # asked for: one id
    assert by_video.summary["rows"]["written"] == (2 if layout == "long" else 3)


@pytest.mark.parametrize("first_has_key", [False, True])
def test_key_column_in_some_files_only_stops_the_run_in_either_order(tmp_path, first_has_key):
    """README, Input: the key column is read where the data has one.  Where the first file lacked it
    and a later file had one, that file's key frames were silently replaced by the arg-max (the
    other order stopped the run); both orders now stop with one line, and --key auto takes the
    arg-max everywhere as asked."""
    names = ("a.parquet", "b.parquet") if first_has_key else ("b.parquet", "a.parquet")
    pq.write_table(pa.table({"video_id": ["v"], "scores": [[0.9, 0.2, 0.1]], "key_frame": [2]}), tmp_path / names[0])
    pq.write_table(pa.table({"video_id": ["u"], "scores": [[0.1, 0.2]]}), tmp_path / names[1])
    from tf2eng.engine.errors import InputError

    with pytest.raises(InputError, match="key_frame"):
        tf2eng.run(tmp_path, tmp_path / "out", plot=False)
    auto = tf2eng.run(tmp_path, tmp_path / "out", plot=False, key="auto")
    assert auto.stages().collect().sort("video_id")["key_frame"].to_list() == [1, 0]
