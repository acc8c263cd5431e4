"""A run loads numba's registries on a thread of its own while it looks at its input (kernels/compiling.py,
load_registries_ahead): a kernel called meanwhile waits for them, no such thread outlives the run, and a
numba whose internals moved still runs."""

import subprocess
import sys
import threading

import pyarrow.parquet as pq
import pytest

import tf2eng
from conftest import wide_table
from tf2eng.engine.errors import InputError
from tf2eng.kernels import compiling

TRACKS = [[0.1, 0.9, 0.4], [0.2, 0.5], [0.3, 0.3, 0.3, 0.8]]


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "tf2eng-numba"]


def test_a_kernel_called_while_a_fresh_process_loads_the_registries_gives_its_result():
    """In a process of its own (this one has them loaded): the kernel is called at once, while the thread
    holds numba's compiler lock, and gives what it gives once they are loaded."""
    code = """
import numpy as np
from tf2eng.kernels.compiling import load_registries_ahead
from tf2eng.kernels.moments import sum_slabs
slabs = np.random.default_rng(0).random((3, 2, 5, 4))
early, later = np.zeros((2, 5, 4)), np.zeros((2, 5, 4))
thread = load_registries_ahead()
sum_slabs(slabs, early)
thread.join()
assert not thread.is_alive()
sum_slabs(slabs, later)
assert np.array_equal(early, later) and early.any(), early
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_no_loading_thread_outlives_a_run_or_its_failure(tmp_path):
    pq.write_table(wide_table(TRACKS), tmp_path / "in.parquet")
    tf2eng.run(tmp_path / "in.parquet", tmp_path / "out", plot=False)
    assert not _threads()
    with pytest.raises(InputError):
        tf2eng.run(tmp_path / "missing.parquet", tmp_path / "out2", plot=False)
    assert not _threads()


def test_a_numba_whose_registries_cannot_be_loaded_ahead_still_runs(tmp_path, monkeypatch):
    import numba.core.registry

    class Moved:
        def __getattr__(self, name):
            raise AttributeError(name)

    pq.write_table(wide_table(TRACKS), tmp_path / "in.parquet")
    expected = tf2eng.run(tmp_path / "in.parquet", tmp_path / "a", plot=False)
    monkeypatch.setattr(numba.core.registry, "cpu_target", Moved())
    thread = compiling.load_registries_ahead()
    thread.join()
    moved = tf2eng.run(tmp_path / "in.parquet", tmp_path / "b", plot=False)
    assert moved.stage_means_arrow.equals(expected.stage_means_arrow)
