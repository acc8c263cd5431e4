"""Importing the kernels leaves the caller's process as it found it; the CLI sets its own defaults."""

import os
import subprocess
import sys

IMPORT_KERNELS = """\
import os
before = dict(os.environ)
import tf2eng
import tf2eng.kernels.cpu
import tf2eng.kernels.density
assert dict(os.environ) == before, {k: v for k, v in os.environ.items() if before.get(k) != v}
"""

RUN_CLI = """\
import os
import sys
from tf2eng.cli.app import main
sys.argv = ["tf2eng", "--version"]
try:
    main()
except SystemExit:
    pass
print(os.environ.get("OMP_WAIT_POLICY"), os.environ.get("OPENBLAS_NUM_THREADS"))
"""


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS", "ARROW_DEFAULT_MEMORY_POOL")}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          timeout=300)


def test_importing_the_kernels_leaves_the_environment_alone():
    done = _python(IMPORT_KERNELS)
    assert done.returncode == 0, done.stderr


def test_the_cli_lets_openmp_threads_sleep_unless_the_user_says_otherwise():
    assert _python(RUN_CLI).stdout.split()[-2] == "PASSIVE"
    assert _python(RUN_CLI, OMP_WAIT_POLICY="ACTIVE").stdout.split()[-2] == "ACTIVE"


def test_the_cli_starts_one_blas_thread_unless_the_user_says_otherwise():
    assert _python(RUN_CLI).stdout.split()[-1] == "1"
    assert _python(RUN_CLI, OPENBLAS_NUM_THREADS="4").stdout.split()[-1] == "4"


def test_the_cli_loads_numpy_after_it_sets_the_blas_threads():
    """OpenBLAS reads its thread count once, as numpy loads: the command's modules must not load numpy
    before main() runs."""
    done = _python("import sys\nimport tf2eng.cli.app\nprint('numpy' in sys.modules)")
    assert done.stdout.split()[-1] == "False", done.stderr


POOL_AFTER_LOADING = """\
import pyarrow as pa
from tf2eng.cli import startup
startup.loading()  # as the command's own process does first
startup.loaded()
print(pa.default_memory_pool().backend_name)
"""

POOL_IN_A_PROGRAM = """\
import pyarrow as pa
import tf2eng
from tf2eng.cli import startup
startup.loaded()  # a program that calls the CLI's code: not the command's process
print(pa.default_memory_pool().backend_name)
"""


def test_the_command_takes_arrow_memory_from_jemalloc_unless_the_user_names_a_pool():
    import pyarrow as pa

    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return  # an Arrow build without jemalloc: the default stays
    assert _python(POOL_AFTER_LOADING).stdout.split()[-1] == "jemalloc"
    assert _python(POOL_AFTER_LOADING, ARROW_DEFAULT_MEMORY_POOL="system").stdout.split()[-1] == "system"
    library = _python(POOL_IN_A_PROGRAM).stdout.split()[-1]
    assert library == _python("import pyarrow as pa; print(pa.default_memory_pool().backend_name)").stdout.split()[-1]
    assert library != "jemalloc"
