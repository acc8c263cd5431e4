"""The output directory (SPEC section 3): staged, resumable, committed in one step.

A run writes into ``.NAME.staging`` beside the output directory ``NAME``.
Each input fragment's results (its part of ``stages/``, its rejected rows
and its partial aggregates) are committed there on their own, the partial
aggregates last, so a killed run can be resumed fragment by fragment.  At
the end ``summary.json`` is written and the staging directory takes the
output's name: by an atomic exchange of the two directories where the
system offers it (Linux ``renameat2``), else by two renames.  Either way a
reader finds the previous complete result or the new one, never a
half-written directory with a summary in it.

Layout::

    NAME/stages/part-KEY.parquet      per-track results, one part per input fragment
    NAME/rejected.parquet             rejected rows, all fragments
    NAME/stage_means.parquet, curve.parquet, alignment.png, summary.json
    NAME/_tf2eng/KEY.npz              partial aggregates of a fragment (for reuse)
    NAME/_tf2eng/KEY.rejected.parquet its rejected rows
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InputError
from .source import glob_base

SUMMARY = "summary.json"
STAGES_DIR = "stages"
INTERNAL_DIR = "_tf2eng"
REJECTED = "rejected.parquet"
STAGE_MEANS = "stage_means.parquet"
CURVE = "curve.parquet"
PLOT = "alignment.png"


def default_output(path: str) -> Path:
    """Beside the input: ``data.parquet`` -> ``data.tf2eng``; a glob -> its directory's ``tf2eng-out``."""
    base = glob_base(path)
    if base is not None:
        return Path(base) / "tf2eng-out"
    p = Path(path.rstrip("/\\") or ".")
    name = p.name.split(".")[0] if p.is_file() else p.name
    return p.parent / f"{name}.tf2eng"


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    if ctypes.get_errno() in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(a))


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class HashingFile(io.RawIOBase):
    """A file opened for writing that takes the SHA-256 of what goes through it,
    so that an output's digest costs no second read."""

    def __init__(self, path: Path):
        super().__init__()
        self._file = open(path, "wb")
        self._sha256 = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._sha256.update(data)  # releases the GIL for large buffers
        return self._file.write(data)

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()

    def hexdigest(self) -> str:
        return self._sha256.hexdigest()


class Staging:
    """Where one unit's results go inside a staging directory (picklable: workers use it)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def stages_part(self, key: str) -> Path:
        return self.root / STAGES_DIR / f"part-{key}.parquet"

    def rejected_part(self, key: str) -> Path:
        return self.root / INTERNAL_DIR / f"{key}.rejected.parquet"

    def partial(self, key: str) -> Path:
        """The unit's partial aggregates: present only once all its results are."""
        return self.root / INTERNAL_DIR / f"{key}.npz"

    def is_committed(self, key: str) -> bool:
        return self.partial(key).exists() and self.stages_part(key).exists() and self.rejected_part(key).exists()


class OutputDir:
    """The staging directory of a run, which becomes ``final`` on :meth:`commit`.

    The run holds an exclusive lock on ``.NAME.lock`` beside ``NAME`` from
    here until :meth:`commit` or :meth:`abort`.  The lock file is never
    removed: a lock file unlinked while held lets two later runs lock two
    different files.
    """

    def __init__(self, final: str | os.PathLike, resume: bool = False):
        self.final = Path(final).absolute()
        if self.final.exists() and not _is_previous_result(self.final):
            raise InputError(f"{self.final}: exists and is not a tf2eng output directory; choose another -o")
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.final.parent / f".{self.final.name}.lock", "a")  # noqa: SIM115
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise InputError(f"{self.final}: another tf2eng run is writing this output") from None
        self.staging = self.final.parent / f".{self.final.name}.staging"
        if self.staging.exists() and not resume:
            shutil.rmtree(self.staging)
        (self.staging / STAGES_DIR).mkdir(parents=True, exist_ok=True)
        (self.staging / INTERNAL_DIR).mkdir(exist_ok=True)
        # Leftovers of a run killed while a fragment was half written.
        for leftover in list(self.staging.rglob("*.tmp")):
            leftover.unlink()
        self.units = Staging(self.staging)

    def path(self, name: str) -> Path:
        return self.staging / name

    # --- one fragment's results ------------------------------------------------------

    def stages_part(self, key: str) -> Path:
        return self.units.stages_part(key)

    def rejected_part(self, key: str) -> Path:
        return self.units.rejected_part(key)

    def partial(self, key: str) -> Path:
        return self.units.partial(key)

    def is_committed(self, key: str) -> bool:
        return self.units.is_committed(key)

    def reuse_from_final(self, key: str) -> bool:
        """Link a fragment's results from the previous complete output, if it has them."""
        if not (self.final / SUMMARY).exists():
            return False
        names = [
            (self.final / STAGES_DIR / f"part-{key}.parquet", self.stages_part(key)),
            (self.final / INTERNAL_DIR / f"{key}.rejected.parquet", self.rejected_part(key)),
            (self.final / INTERNAL_DIR / f"{key}.npz", self.partial(key)),  # last: the commit mark
        ]
        if not all(src.exists() for src, _ in names):
            return False
        for src, dst in names:
            if dst.exists():
                dst.unlink()
            _link_or_copy(src, dst)
        return True

    def drop_stale(self, keys: set[str]) -> None:
        """Remove fragment results that belong to no fragment of this run."""
        for path in list((self.staging / STAGES_DIR).glob("part-*.parquet")):
            if path.name[len("part-") : -len(".parquet")] not in keys:
                path.unlink()
        for path in list((self.staging / INTERNAL_DIR).iterdir()):
            if path.name.split(".")[0] not in keys:
                path.unlink()

    # --- whole-run files -------------------------------------------------------------

    def write_table(self, name: str, table: pa.Table) -> None:
        tmp = self.staging / (name + ".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, self.staging / name)

    def concatenate_rejected(self, keys: list[str], schema: pa.Schema) -> None:
        """rejected.parquet: every fragment's rejected rows, in fragment order."""
        tmp = self.staging / (REJECTED + ".tmp")
        with pq.ParquetWriter(tmp, schema) as writer:
            for key in keys:
                part = pq.read_table(self.rejected_part(key))
                if part.num_rows:
                    writer.write_table(part.cast(schema))
        os.replace(tmp, self.staging / REJECTED)

    def commit(self, summary: dict) -> Path:
        """Write summary.json last, then put the staging directory in the output's place."""
        text = json.dumps(summary, indent=2, default=str)
        tmp = self.staging / (SUMMARY + ".tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, self.staging / SUMMARY)
        if self.final.exists():
            if _exchange(self.staging, self.final):
                shutil.rmtree(self.staging)  # now the previous result
            else:
                previous = self.final.parent / f".{self.final.name}.previous"
                shutil.rmtree(previous, ignore_errors=True)
                os.replace(self.final, previous)
                os.replace(self.staging, self.final)
                shutil.rmtree(previous)
        else:
            os.replace(self.staging, self.final)
        self.release()
        return self.final

    def abort(self) -> None:
        """After a failure: keep the staging directory if a fragment is committed
        there (``--resume`` picks it up), else remove it."""
        if not any((self.staging / INTERNAL_DIR).glob("*.npz")):
            shutil.rmtree(self.staging, ignore_errors=True)
        self.release()

    def release(self) -> None:
        """Unlock (the lock file stays: see the class docstring)."""
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()


def _is_previous_result(path: Path) -> bool:
    if path.is_dir():
        entries = list(path.iterdir())
        return not entries or (path / SUMMARY).exists()
    return False
