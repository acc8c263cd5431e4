"""What the ``tf2eng`` command does to start and stop quickly (README, "Start-up and compilation").

Only the command's own process is changed here; ``tf2eng.run`` in a notebook
leaves Python's settings as they are.

* The cyclic garbage collector runs rarely while the command loads its
  modules: numba, pyarrow and the CLI leave about 150,000 long-lived
  objects, and the collector's repeated scans of them took about a tenth of
  a short run.  Once they are loaded they are moved out of the collector's
  sight (``gc.freeze``) and it runs as usual; at exit, the objects made
  since are frozen too, so the interpreter does not scan them all once more
  just before it ends (0.1-0.3 s on the demo data).  A command that never
  says its modules are loaded still collects, only less often.
* pandas is not used by the command, but pyarrow imports it, where it is
  installed, at its first conversion of Python or NumPy data (about
  0.45 s).  The command makes it look uninstalled, as Arrow and polars
  expect when it is absent.  A Dask run keeps it: Dask may use it.
* Arrow's default memory pool is jemalloc (where the Arrow build has it and
  ``ARROW_DEFAULT_MEMORY_POOL`` names none): the readers' and writers'
  buffers of one batch reuse the pages of the last, where mimalloc gave
  them back and the kernel zeroed fresh ones (3-5 % of a run's wall time).
* A run that draws its figure (one configuration) starts, at its beginning,
  the process that paints it (engine/plot_worker.py), instead of loading
  matplotlib in its own.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Callable

from ..engine.lazy import Unavailable

# While loading: a collection of the youngest objects after this many new ones (Python's default:
# 700), and of the older generations as rarely as Python allows.
LOADING_THRESHOLDS = (100_000, 50, 100)
_thresholds: list[tuple[int, ...]] = []
_command = []  # non-empty in the tf2eng command's own process (not where app is called in a program or test)


def loading() -> None:
    """At the start of the command's process: few collections while modules load."""
    _command.append(True)
    if not _thresholds:
        _thresholds.append(gc.get_threshold())
        gc.set_threshold(*LOADING_THRESHOLDS)


def loaded() -> None:
    """When the modules a command needs are loaded: keep them out of the collector's scans, and
    collect as usual from here on; Arrow's memory from jemalloc (only in the command's own process)."""
    if not _command:
        return
    _arrow_memory_from_jemalloc()
    gc.freeze()
    if _thresholds:
        gc.set_threshold(*_thresholds.pop())


def _arrow_memory_from_jemalloc() -> None:
    """Arrow's default memory pool becomes jemalloc where Arrow has it, unless ARROW_DEFAULT_MEMORY_POOL
    names one: it keeps freed pages for the next batch where mimalloc gave them back and had them
    zeroed again."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    import pyarrow as pa

    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # an Arrow build without jemalloc
        pass


def exiting() -> None:
    """Just before the interpreter ends: nothing left for its last collection to scan."""
    if _command:
        gc.freeze()


def plot_elsewhere() -> bool:
    """In the command's own process, start the process that paints the run's figure
    (engine/plot_worker.py) and say so; elsewhere (the CLI called from Python) do nothing."""
    if not _command:
        return False
    from ..engine import plot_worker

    plot_worker.start()
    return True


def without_pandas() -> None:
    """In the command's own process, make ``import pandas`` fail as if pandas were not installed
    (unless it is loaded already); elsewhere (the CLI called from Python) do nothing."""
    if not _command or "pandas" in sys.modules or any(isinstance(f, Unavailable) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, Unavailable("pandas", why=" (not used by the tf2eng command)"))


class _Say(logging.Handler):
    def __init__(self, say: Callable[[str], None]):
        super().__init__(logging.INFO)
        self.say = say

    def emit(self, record: logging.LogRecord) -> None:
        self.say(record.getMessage())


def report_compiles(say: Callable[[str], None] | None) -> None:
    """Pass each "compiling ..." record of the kernels (kernels/compiling.py) to ``say`` (None:
    to no one, as before the command started)."""
    logger = logging.getLogger("tf2eng.compile")
    for handler in [h for h in logger.handlers if isinstance(h, _Say)]:
        logger.removeHandler(handler)
    if say is not None:
        logger.addHandler(_Say(say))
        logger.setLevel(logging.INFO)
    else:
        logger.setLevel(logging.NOTSET)
