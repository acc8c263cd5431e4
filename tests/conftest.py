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


# Every integer type a key_frame column may have.
INTEGER_TYPES = (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64())


def key_in_type(key, key_type: pa.DataType):
    """``key`` made to fit ``key_type``: below the type's range, the type's minimum, or for an
    unsigned type a large value (``2**64 + key`` for uint64, beyond the int64 maximum, and at
    least half the type's maximum); above it,
    the type's maximum.  Give the reference the key as converted."""
    if key is None:
        return None
    info = np.iinfo(key_type.to_pandas_dtype())
    if key < info.min:
        return max(int(info.max) + key + 1, int(info.max) // 2 + 1) if info.min == 0 else int(info.min)
    return min(key, int(info.max))


def wide_table(tracks, keys=None, dtype=pa.float64(), large=False, extra=None, key_type=pa.int64()) -> pa.Table:
    n = len(tracks)
    columns = {
        "video_id": pa.array([f"v{i:04d}" for i in range(n)], pa.string()),
        "exp_id": pa.array(np.zeros(n, np.int32)),
        "scores": scores_array(tracks, dtype, large),
    }
    if keys is not None:
        columns["key_frame"] = pa.array(keys, key_type)
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


def invoke_cli(*args):
    """`tf2eng ARGS` in process (typer's runner), every argument as text."""
    from typer.testing import CliRunner

    from tf2eng.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_error(result, *needles):
    """Exit 2 with one line on stderr, `tf2eng: error: ...`, holding every needle."""
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("tf2eng: error: "), result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


def synthetic_files(root, tracks: int, parts: int, seed: int, change=None):
    """A synthetic dataset of ``tracks`` tracks (engine/synth.py) split into ``parts`` Parquet files of
    equal rows under root/data (``change(i, table)``: file i's rows as written); the directory."""
    import pyarrow.parquet as pq

    from tf2eng.engine.synth import write_synthetic

    write_synthetic(root / "all.parquet", tracks, seed=seed)
    table = pq.read_table(root / "all.parquet")
    data = root / "data"
    data.mkdir()
    step = tracks // parts
    for i in range(parts):
        part = table.slice(i * step, step)
        pq.write_table(part if change is None else change(i, part), data / f"part-{i}.parquet")
    return data
