"""Compiled kernels on disk are never stale: editing any kernel module recompiles its callers.

numba's own cache checks only the file that defines a function, so a cached
function whose callee (or a constant it reads) lives in another module would
keep the old machine code.  Each test runs on a copy of the kernels package,
in fresh processes, the way a user would: run, edit a kernel module, run again.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tf2eng.kernels

KERNELS = Path(tf2eng.kernels.__file__).parent

# A function outside the kernels package that calls a kernel (as tests/ and
# bench/ do), and one inside it; given_key_frame (track.py) returns a code
# from reasons.py, a constant numba freezes into the machine code.
CALLER = """\
from numba import njit

from kernels.track import given_key_frame


@njit(cache=True)
def null_key_reason():
    return given_key_frame(0, False, 5)
"""

RUN = """\
import caller
from kernels.track import given_key_frame

inside = given_key_frame(0, False, 5)
outside = caller.null_key_reason()
hits = sum(given_key_frame.stats.cache_hits.values()) + sum(caller.null_key_reason.stats.cache_hits.values())
print(inside, outside, hits)
"""


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "kernels").mkdir(parents=True)
    for source in KERNELS.glob("*.py"):
        shutil.copy(source, root / "kernels" / source.name)
    (root / "caller.py").write_text(CALLER)
    (root / "run.py").write_text(RUN)
    return root


def _run(root: Path, env: dict) -> tuple[int, int, int]:
    done = subprocess.run([sys.executable, "run.py"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    inside, outside, hits = map(int, done.stdout.split())
    return inside, outside, hits


def _edit_reason_code(root: Path) -> None:
    path = root / "kernels" / "reasons.py"
    text = path.read_text()
    assert "\nNULL_KEY_FRAME = 7\n" in text
    path.write_text(text.replace("\nNULL_KEY_FRAME = 7\n", "\nNULL_KEY_FRAME = 42\n"))


def _files(where: Path, pattern: str) -> list[Path]:
    return list(where.rglob(pattern)) if where.exists() else []


@pytest.mark.parametrize("where", ["in_tree", "user_cache", "numba_cache_dir"])
def test_an_edited_callee_module_is_recompiled(tmp_path, where):
    root = _copy(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["PYTHONPATH"] = str(root)
    env["XDG_CACHE_HOME"] = str(tmp_path / "user-cache")
    if where == "user_cache":
        # The source folders cannot hold a __pycache__ (as in a read-only install).
        (root / "__pycache__").write_text("")
        (root / "kernels" / "__pycache__").write_text("")
    if where == "numba_cache_dir":
        env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba-cache")
    cache = {"in_tree": root, "user_cache": tmp_path / "user-cache", "numba_cache_dir": tmp_path / "numba-cache"}[where]

    assert _run(root, env) == (7, 7, 0)
    assert _files(cache, "*.nbi"), "the first run saves its compiled code"
    assert _run(root, env) == (7, 7, 2), "an unchanged source loads the saved code"

    _edit_reason_code(root)
    assert _run(root, env)[:2] == (42, 42)
    assert _run(root, env) == (42, 42, 2), "the new code is saved and loaded in turn"


def test_without_a_writable_cache_folder_the_kernels_compile_in_every_process(tmp_path):
    # A read-only install and no writable user cache folder: numba's own locators
    # find no place and would stop the import with "cannot cache function".
    root = _copy(tmp_path)
    (root / "caller.py").write_text(CALLER.replace("cache=True", "cache=False"))
    (root / "kernels" / "__pycache__").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(PYTHONPATH=str(root), XDG_CACHE_HOME=os.devnull + "/cache")
    assert _run(root, env) == (7, 7, 0)
    _edit_reason_code(root)
    assert _run(root, env) == (42, 42, 0)


def _module(path: Path, text: str):
    import importlib.util

    path.write_text(text)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_functions_that_use_the_kernels_are_keyed_by_them(tmp_path):
    from tf2eng.kernels.cache import KernelSourcesLocator, kernel_sources_hash

    plain = _module(tmp_path / "plain.py", "def f(x):\n    return x\n")
    user = _module(tmp_path / "user.py", "from tf2eng.kernels.power import power\n\n\ndef f(x):\n    return power(x, 2.0)\n")
    assert KernelSourcesLocator.from_function(plain.f, plain.__file__) is None
    locator = KernelSourcesLocator.from_function(user.f, user.__file__)
    assert locator is not None
    assert Path(locator.get_cache_path()).name == f"kernels-{kernel_sources_hash()[:16]}"
    assert locator.get_source_stamp()[0] == kernel_sources_hash()
