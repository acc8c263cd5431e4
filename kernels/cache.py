"""Compiled kernels on disk, keyed by the sources of every kernel module.

numba's cache checks only the file that defines a function, but a kernel's
machine code also holds its callees and the constants it reads from other
modules: after an edit to track.py, a cached kernel of cpu.py would still run
the old track.py.  The locator below serves the functions defined in this
package and those of any module that imports from it (tests, benchmarks):
their cache directory is named by a hash of all kernels/*.py, and the same
hash is part of the source stamp numba checks, so code compiled from other
kernel sources is never loaded.

It is added to numba's list of cache locators, ahead of numba's own, and
answers only for those functions; every other function, and numba's
settings, are left as they are.  Where the cache goes follows numba: the
folder of NUMBA_CACHE_DIR if set, else __pycache__ next to the source file,
else (a read-only install) the user's cache folder.
"""

import functools
import hashlib
import inspect
import os
import types

from numba.core import config
from numba.core.caching import CacheImpl, _CacheLocator, _SourceFileBackedLocatorMixin
from numba.misc.appdirs import AppDirs

HERE = os.path.dirname(os.path.realpath(__file__))


@functools.lru_cache(maxsize=None)
def _sources_hash(stats: tuple) -> str:
    """Hash of the names and contents of the files in ``stats``, (name, mtime, size) each."""
    digest = hashlib.sha256()
    for name, _, _ in stats:
        with open(os.path.join(HERE, name), "rb") as f:
            content = f.read()
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def kernel_sources_hash() -> str:
    """Hash of every kernels/*.py as it is on disk now (re-read only when a file changes)."""
    stats = []
    for entry in os.scandir(HERE):
        if entry.name.endswith(".py") and entry.is_file():
            st = entry.stat()
            stats.append((entry.name, st.st_mtime_ns, st.st_size))
    return _sources_hash(tuple(sorted(stats)))


def _in_package(path) -> bool:
    return path is not None and os.path.dirname(os.path.realpath(path)) == HERE


def _from_package(value) -> bool:
    """A module of this package, or a function compiled from one of its files."""
    try:
        if isinstance(value, types.ModuleType):
            return _in_package(getattr(value, "__file__", None))
        fn = getattr(value, "py_func", None) or getattr(value, "_defn", None)  # a dispatcher or an intrinsic
        code = getattr(fn, "__code__", None)
        return code is not None and _in_package(code.co_filename)
    except Exception:  # noqa: BLE001 - an object that cannot be inspected is not a kernel
        return False


def uses_kernels(py_func) -> bool:
    """Whether py_func is defined in this package or in a module that imports from it."""
    if _in_package(inspect.getfile(py_func)):
        return True
    return any(_from_package(v) for v in list(py_func.__globals__.values()))


def _cache_folders(py_file):
    """Where numba would cache the functions of py_file, in its order of preference."""
    subpath = _CacheLocator.get_suitable_cache_subpath(py_file)
    if config.CACHE_DIR:
        return [os.path.join(config.CACHE_DIR, subpath)]
    user = AppDirs(appname="numba", appauthor=False).user_cache_dir
    return [os.path.join(os.path.dirname(py_file), "__pycache__"), os.path.join(user, subpath)]


class KernelSourcesLocator(_SourceFileBackedLocatorMixin, _CacheLocator):
    """numba's cache locator for functions that use the kernels (see the module docstring)."""

    def __init__(self, py_func, py_file, base):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._hash = kernel_sources_hash()
        self._cache_path = os.path.join(base, f"kernels-{self._hash[:16]}")

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return self._hash, super().get_source_stamp()

    @classmethod
    def from_function(cls, py_func, py_file):
        if not os.path.exists(py_file) or not uses_kernels(py_func):
            return None
        for base in _cache_folders(py_file):
            self = cls(py_func, py_file, base)
            try:
                self.ensure_cache_path()
            except OSError:
                continue  # not writable: the next place, as numba does
            return self
        return None  # nowhere to write: numba's own locators decide


def writable() -> bool:
    """Whether the kernels' compiled code has a folder it can be cached in."""
    return KernelSourcesLocator.from_function(writable, __file__) is not None


def register() -> None:
    """Put the locator first in numba's list (once per process)."""
    if KernelSourcesLocator not in CacheImpl._locator_classes:
        CacheImpl._locator_classes.insert(0, KernelSourcesLocator)
