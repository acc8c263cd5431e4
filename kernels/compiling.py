"""Saying, before a kernel is compiled, that it is (README, "Start-up and compilation"); loading
numba's registries ahead of the first kernel call.

A kernel is compiled once per input type (float32 or float64 scores, list
or large_list offsets) and then loaded from numba's disk cache; compiling
takes 10-20 s.  :func:`announce` checks, before the call, whether the
machine code for the call's argument types is loaded or cached, and if not
logs one INFO record on the ``tf2eng.compile`` logger.  The ``tf2eng``
command prints those records on stderr; through the Python API they go
wherever the program's logging sends INFO records (by default nowhere).

The check reads numba's cache index the way numba's dispatcher does before
compiling (the same key); it costs nothing when no one listens to the
logger, and a dictionary lookup once the code is loaded.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

LOGGER = logging.getLogger("tf2eng.compile")

# (dispatcher, input type) pairs known to run without compiling in this process: typing the
# arguments again for every batch would cost about 0.2 ms a batch (many small files).
_ready: set = set()


def signature(dispatcher, args: tuple) -> tuple:
    """numba's argument types for calling ``dispatcher`` with ``args``."""
    return tuple(dispatcher.typeof_pyval(a) for a in args)


def is_ready(dispatcher, sig: tuple) -> bool:
    """Whether a call with argument types ``sig`` runs without compiling: its code is loaded in
    this process, or numba's disk cache holds it for this machine and these kernel sources."""
    if sig in dispatcher.overloads:
        return True
    cache = getattr(dispatcher, "_cache", None)
    cache_file = getattr(cache, "_cache_file", None)
    if cache_file is None:  # caching off (no writable cache folder): every process compiles
        return False
    key = cache._index_key(sig, dispatcher.targetctx.codegen())
    return key in cache_file._load_index()


def scores_type(scores) -> str:
    """The input type of a batch's scores, in the words of README, Input."""
    values = "float64" if scores.values.dtype == np.float64 else "float32"
    lists = "large_list (int64 offsets)" if scores.offsets.dtype == np.int64 else "list (int32 offsets)"
    return f"{values} scores in a {lists}"


def announce(dispatcher, args: tuple, what: str, kind=None) -> None:
    """Log, once per process and argument types, that ``dispatcher(*args)`` is about to compile.

    ``kind`` (hashable, optional) names the input type the argument types follow from (the
    dtypes of a batch's offsets and scores): once that kind is known ready, the check is a set
    lookup.
    """
    if not LOGGER.isEnabledFor(logging.INFO) or (kind is not None and (dispatcher, kind) in _ready):
        return
    try:
        sig = signature(dispatcher, args)
        if is_ready(dispatcher, sig):
            if kind is not None:
                _ready.add((dispatcher, kind))
            return
    except Exception:  # noqa: BLE001 - numba's internals moved: say nothing rather than fail the run
        return
    LOGGER.info("compiling %s; this happens once for this input type (later runs load it from numba's "
                "cache; `tf2eng warmup` compiles every kernel ahead)", what)


def load_registries_ahead() -> threading.Thread:
    """Start loading numba's typing and lowering registries on a thread of their own; returns the thread.

    The first call of any kernel, cached or not, loads them (about 0.15 s, holding Python's lock); a run
    that starts this before it looks at its input has them loaded while its files are opened and its
    first batch decoded (without the lock), not after.  numba's compiler lock is held meanwhile: a kernel
    called before they are loaded waits for them.
    """

    def load() -> None:
        try:
            from numba.core.compiler_lock import global_compiler_lock
            from numba.core.registry import cpu_target

            with global_compiler_lock:  # a kernel called meanwhile waits for it
                cpu_target.typing_context.refresh()
                cpu_target.target_context.refresh()
        except Exception:  # noqa: BLE001 - numba's internals moved: the first kernel call loads them
            pass

    thread = threading.Thread(target=load, name="tf2eng-numba", daemon=True)
    thread.start()
    return thread


def _held_here() -> bool:
    """Whether this thread holds numba's compiler lock or llvmlite's lock, which loading the registries
    takes: a Ctrl-C that lands between acquiring one and entering the block that releases it leaves it
    held (the caller of a run holds neither otherwise)."""
    try:
        from llvmlite.binding import ffi
        from numba.core.compiler_lock import global_compiler_lock

        return bool(global_compiler_lock.is_locked() or ffi.lib._lock._lock._is_owned())
    except Exception:  # noqa: BLE001 - numba's or llvmlite's internals moved: taken as not held
        return False


def wait_for_registries(thread: threading.Thread) -> None:
    """Wait for the thread of :func:`load_registries_ahead` to end, unless this thread holds a lock it
    waits for: it would never end then (a daemon thread, it is left blocked on that lock)."""
    if not _held_here():
        thread.join()
