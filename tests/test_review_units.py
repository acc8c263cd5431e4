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
