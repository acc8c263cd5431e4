"""A run that ends while its thread holds a lock that loading numba's registries needs (numba's compiler
lock, llvmlite's lock: a Ctrl-C that lands between acquiring one and entering the block that releases it
leaves it held, and the run then stops) raises as before instead of waiting forever for the loading
thread (kernels/compiling.py, load_registries_ahead, wait_for_registries)."""

import subprocess
import sys

import pytest

HOLD = {
    "llvmlite": "from llvmlite.binding import ffi\nffi.lib._lock.__enter__()",
    "compiler": "from numba.core.compiler_lock import global_compiler_lock\nglobal_compiler_lock.acquire()",
}

CODE = """
import sys
import tf2eng
from tf2eng.engine.errors import InputError
{hold}
try:
    tf2eng.run(sys.argv[1], sys.argv[2], plot=False)
except InputError:
    print("InputError")
"""


@pytest.mark.parametrize("lock", sorted(HOLD))
def test_a_run_that_stops_while_its_thread_holds_a_lock_the_loading_needs_does_not_wait_forever(tmp_path, lock):
    # A fresh process: the registries are not loaded yet, so the loading thread needs both locks.
    # The input is missing: the run stops at once, as after a Ctrl-C, with the lock still held.
    try:
        done = subprocess.run([sys.executable, "-c", CODE.format(hold=HOLD[lock]), str(tmp_path / "missing.parquet"),
                               str(tmp_path / "out")], capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run waited forever for the registries' loading thread ({lock} lock held)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "InputError", done.stderr
