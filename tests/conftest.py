"""Shared helpers: building score tables and running them through tf2eng in memory or on disk."""

from __future__ import annotations

import os
import sys

# CI has no GPU: the CUDA kernels run under numba's simulator (before numba is imported).
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
settings.register_profile("ci", parent=settings.get_profile("default"), max_examples=60, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


def scores_array(tracks, dtype=pa.float64(), large=False) -> pa.Array:
    """tracks: list of (list of float|None) or None."""
    list_type = pa.large_list(dtype) if large else pa.list_(dtype)
    return pa.array(tracks, type=list_type)


def wide_table(tracks, keys=None, dtype=pa.float64(), large=False, extra=None) -> pa.Table:
    n = len(tracks)
    columns = {
        "video_id": pa.array([f"v{i:04d}" for i in range(n)], pa.string()),
        "exp_id": pa.array(np.zeros(n, np.int32)),
        "scores": scores_array(tracks, dtype, large),
    }
    if keys is not None:
        columns["key_frame"] = pa.array(keys, pa.int64())
    for name, values in (extra or {}).items():
        columns[name] = pa.array(values)
    return pa.table(columns)


@pytest.fixture
def write_parquet(tmp_path):
    import pyarrow.parquet as pq

    def write(table: pa.Table, name: str = "data.parquet", **kwargs) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, **kwargs)
        return str(path)

    return write
