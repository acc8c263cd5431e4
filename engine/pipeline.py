"""Overlap of reading, computing and writing: one reader thread and one writer thread.

Arrow's Parquet decoding and encoding and the numba kernels all release
the GIL, so a batch can be decoded while the previous one is scored and
the one before it is written.  Queues are short, which bounds memory.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator

_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def prefetched(items: Iterable, depth: int = 2) -> Iterator:
    """Iterate ``items`` on a background thread, up to ``depth`` items ahead.

    An exception raised while producing is re-raised here; leaving the loop
    early stops the producer.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(_Failure(exc))

    thread = threading.Thread(target=produce, name="tf2eng-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


class BackgroundWriter:
    """Runs submitted calls one after another on a single thread, in order.

    An error in a call is raised by the next :meth:`submit` or by
    :meth:`close`; later calls are skipped.  As a context manager it waits
    for every call on a normal exit; leaving on an exception skips the calls
    not yet started, and an error of the writer's own is then noted on the
    exception in flight instead of replacing it.
    """

    def __init__(self, depth: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._discard = False
        self.busy_s = 0.0
        self._thread = threading.Thread(target=self._work, name="tf2eng-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, args = item
            if self._error is not None or self._discard:
                continue
            t = time.perf_counter()
            try:
                fn(*args)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
                self._error = exc
            self.busy_s += time.perf_counter() - t

    def submit(self, fn: Callable, *args) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((fn, args))

    def close(self, discard: bool = False) -> None:
        """Wait for every submitted call (``discard``: only for the one running); raise the first error."""
        self._discard = self._discard or discard
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.close()
            return
        try:
            self.close(discard=True)
        except BaseException as secondary:  # noqa: BLE001 - the first error is the one to report
            if secondary is not exc:
                exc.add_note(f"also, while writing: {type(secondary).__name__}: {secondary}")
