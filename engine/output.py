"""The output directory (README, Output and Scheduled runs): staged, resumable, committed in one step.

A run writes into ``.NAME.staging`` beside the output directory ``NAME``.
Each unit's results (its part of ``stages/``, its rejected rows and its
aggregates) are committed there on their own, the aggregates last, so a
killed run can be resumed unit by unit.  At the end ``summary.json`` is
written and the staging directory takes the output's name: by an atomic
exchange of the two directories where the system offers it (Linux
``renameat2``), else by two renames.  Either way a reader finds the
previous complete result or the new one, never a half-written directory
with a summary in it.

Every file is written under a temporary name of its own (a random token
per file, so two attempts at the same unit never share one) and renamed
into place when complete; the rename is the only commit.  Every byte goes
through :class:`OutputFile`, which turns a failed write (a full disk, a
read-only file system) into one :class:`OutputError` naming the file.

Layout::

    NAME/stages/part-KEY.parquet      per-track results, one part per unit
    NAME/stages/part-KEY.cNN.parquet  (a sweep: one part per unit and configuration NN)
    NAME/rejected.parquet             rejected rows, all units
    NAME/stage_means.parquet, curve.parquet, alignment.png, summary.json
    NAME/_tf2eng/KEY.npz              the aggregates of a unit (for reuse)
    NAME/_tf2eng/KEY.rejected.parquet its rejected rows

A unit is an input file, a run of row groups of a large one, or the whole
dataset in the long layout; KEY digests what its results depend on.
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
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InputError, OutputError
from .source import glob_base

SUMMARY = "summary.json"
STAGES_DIR = "stages"
INTERNAL_DIR = "_tf2eng"
REJECTED = "rejected.parquet"
STAGE_MEANS = "stage_means.parquet"
CURVE = "curve.parquet"
PLOT = "alignment.png"

# Errors that only writing can cause: an OSError with one of these, wherever
# it comes from, is about the output.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def default_output(path: str) -> Path:
    """Beside the input: ``data.parquet`` -> ``data.tf2eng``; a glob -> its directory's ``tf2eng-out``."""
    base = glob_base(path)
    if base is not None:
        return Path(base) / "tf2eng-out"
    p = Path(path.rstrip("/\\") or ".")
    name = p.name.split(".")[0] if p.is_file() else p.name
    return p.parent / f"{name}.tf2eng"


def cannot_write(path: str | os.PathLike, exc: OSError) -> OutputError:
    """The one line that says why ``path`` could not be written."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return OutputError(f"{path}: cannot write: {reason}")


def temporary(path: Path) -> Path:
    """A temporary name beside ``path``, of its own: two writers of the same file never share one."""
    return path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.tmp")


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


class OutputFile(io.RawIOBase):
    """A file of the output, opened for writing; every byte of an output goes through one.

    It takes the SHA-256 of what goes through it, so that a digest costs no
    second read, and reports a failed open, write or close as an
    :class:`OutputError` naming the file.
    """

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self._sha256 = hashlib.sha256()
        self._file = None
        try:
            self._file = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise cannot_write(self.path, exc) from exc

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._sha256.update(data)  # releases the GIL for large buffers
        try:
            return self._file.write(data)
        except OSError as exc:
            raise cannot_write(self.path, exc) from exc

    def sync(self) -> None:
        """Flush to the disk (fsync)."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise cannot_write(self.path, exc) from exc

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._file is not None:
                self._file.close()  # the buffered bytes are written here
        except OSError as exc:
            raise cannot_write(self.path, exc) from exc
        finally:
            super().close()

    def hexdigest(self) -> str:
        return self._sha256.hexdigest()


def write_file(path: Path, fill: Callable[[OutputFile], None], sync: bool = False) -> str:
    """Write ``path`` through a temporary name, then rename it into place: readers
    find the previous file or the whole new one.  Returns the file's SHA-256."""
    tmp = temporary(path)
    try:
        with OutputFile(tmp) as file:
            fill(file)
            if sync:
                file.sync()
        rename_into_place(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return file.hexdigest()


def rename_into_place(src: Path, dst: Path) -> None:
    """The commit of a file written under a temporary name."""
    try:
        os.replace(src, dst)
    except OSError as exc:
        raise cannot_write(dst, exc) from exc


class Staging:
    """The names of the units' files inside an output or staging directory; the one place
    that spells them (picklable: Dask workers use it).  ``parts``: the stages/ parts of a unit, one
    per configuration of a sweep (README, Parameter sweeps)."""

    def __init__(self, root: Path, parts: int = 1):
        self.root = Path(root)
        self.parts = parts

    def stages_part(self, key: str) -> Path:
        """A unit's stages/ part (of a run of one configuration)."""
        return self.root / STAGES_DIR / f"part-{key}.parquet"

    def stages_parts(self, key: str) -> list[Path]:
        """A unit's stages/ parts: one, or a sweep's one per configuration, in configuration order."""
        if self.parts == 1:
            return [self.stages_part(key)]
        return [self.root / STAGES_DIR / f"part-{key}.c{j:02d}.parquet" for j in range(self.parts)]

    def rejected_part(self, key: str) -> Path:
        return self.root / INTERNAL_DIR / f"{key}.rejected.parquet"

    def aggregates(self, key: str) -> Path:
        """The unit's aggregates: present only once all its results are (the commit mark)."""
        return self.root / INTERNAL_DIR / f"{key}.npz"

    def unit_files(self, key: str) -> list[Path]:
        """A unit's files in the order they are committed, the commit mark last."""
        return [*self.stages_parts(key), self.rejected_part(key), self.aggregates(key)]

    def is_committed(self, key: str) -> bool:
        return all(path.exists() for path in self.unit_files(key))

    def any_committed(self) -> bool:
        return any((self.root / INTERNAL_DIR).glob("*.npz"))

    def files_by_unit(self) -> Iterator[tuple[str, Path]]:
        """(unit key, path) of every unit file present, temporary ones included."""
        for path in list((self.root / STAGES_DIR).glob("part-*")):
            yield path.name[len("part-"):].split(".")[0], path
        for path in list((self.root / INTERNAL_DIR).iterdir()):
            yield path.name.split(".")[0], path


class OutputDir:
    """The staging directory of a run, which becomes ``final`` on :meth:`commit`.

    The run holds an exclusive lock on ``.NAME.lock`` beside ``NAME`` from
    here until :meth:`commit` or :meth:`abort`.  The lock file is never
    removed: a lock file unlinked while held lets two later runs lock two
    different files.
    """

    def __init__(self, final: str | os.PathLike, resume: bool = False, parts: int = 1):
        self.final = Path(final).absolute()
        if self.final.is_symlink():  # -o names a link: the output is the directory it points to; the link stays
            self.final = Path(os.path.realpath(self.final))
        if self.final.exists() and not _is_previous_result(self.final):
            raise InputError(f"{self.final}: exists and is not a tf2eng output directory; choose another -o")
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.final.parent / f".{self.final.name}.lock", "a")  # noqa: SIM115
        except OSError as exc:
            raise _cannot_create(self.final, exc) from exc
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise InputError(f"{self.final}: another tf2eng run is writing this output") from None
        self.staging = self.final.parent / f".{self.final.name}.staging"
        self.units = Staging(self.staging, parts)
        try:
            if self.staging.exists() and not resume:
                shutil.rmtree(self.staging)
            (self.staging / STAGES_DIR).mkdir(parents=True, exist_ok=True)
            (self.staging / INTERNAL_DIR).mkdir(exist_ok=True)
            self._drop_temporaries()  # of a run killed while a unit was half written
        except OSError as exc:
            self.release()
            raise cannot_write(self.staging, exc) from exc

    def path(self, name: str) -> Path:
        return self.staging / name

    def _drop_temporaries(self) -> None:
        for leftover in list(self.staging.rglob("*.tmp")):
            leftover.unlink(missing_ok=True)

    # --- units' results --------------------------------------------------------------

    def reuse_from_final(self, key: str) -> bool:
        """Link a unit's results from the previous complete output, if it has them."""
        if not (self.final / SUMMARY).exists():
            return False
        sources = Staging(self.final, self.units.parts).unit_files(key)
        if not all(src.exists() for src in sources):
            return False
        for src, dst in zip(sources, self.units.unit_files(key)):  # the commit mark last
            dst.unlink(missing_ok=True)
            _link_or_copy(src, dst)
        return True

    def drop_stale(self, keys: set[str]) -> None:
        """Remove unit results that belong to no unit of this run."""
        for key, path in self.units.files_by_unit():
            if key not in keys:
                path.unlink()

    # --- whole-run files -------------------------------------------------------------

    def write_table(self, name: str, table: pa.Table) -> None:
        write_file(self.staging / name, lambda file: pq.write_table(table, file))

    def concatenate_rejected(self, keys: list[str], schema: pa.Schema) -> None:
        """rejected.parquet: every unit's rejected rows, in unit order."""

        def fill(file: OutputFile) -> None:
            with pq.ParquetWriter(file, schema) as writer:
                for key in keys:
                    path = self.units.rejected_part(key)
                    try:
                        part = pq.read_table(path)
                    except (pa.ArrowException, OSError) as exc:  # damaged after it was written
                        raise unreadable_unit_file(path, exc) from None
                    if part.num_rows:
                        writer.write_table(part.cast(schema))

        write_file(self.staging / REJECTED, fill)

    def commit(self, summary: dict) -> Path:
        """Write summary.json last, then put the staging directory in the output's place."""
        self._drop_temporaries()  # of attempts that died, say with their Dask worker
        text = json.dumps(summary, indent=2, default=str) + "\n"
        write_file(self.staging / SUMMARY, lambda file: file.write(text.encode()))
        try:
            self._swap_in()
        except OSError as exc:
            raise cannot_write(self.final, exc) from exc
        self.release()
        return self.final

    def _swap_in(self) -> None:
        if not self.final.exists():
            os.replace(self.staging, self.final)
        elif _exchange(self.staging, self.final):
            shutil.rmtree(self.staging)  # now the previous result
        else:
            previous = self.final.parent / f".{self.final.name}.previous"
            shutil.rmtree(previous, ignore_errors=True)
            os.replace(self.final, previous)
            try:
                os.replace(self.staging, self.final)
            except BaseException:
                os.replace(previous, self.final)
                raise
            shutil.rmtree(previous)

    def abort(self, keep_committed: bool = True) -> None:
        """After a failure: keep the staging directory if a unit is committed there
        (``--resume`` picks it up) and ``keep_committed``, else remove it."""
        if not (keep_committed and self.units.any_committed()):
            shutil.rmtree(self.staging, ignore_errors=True)
        self.release()

    def release(self) -> None:
        """Unlock (the lock file stays: see the class docstring)."""
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()


def unreadable_unit_file(path: Path, exc: BaseException) -> InputError:
    """The one line (exit 2) for a unit's stored results (aggregates or rejected rows) that were damaged
    after they were written: which file, why, and how to recompute them."""
    text = str(exc)
    return InputError(f"{path}: the stored results of a unit cannot be read ({type(exc).__name__}: "
                      f"{text.splitlines()[0] if text else ''}); run again with --full (or without --resume) "
                      "to recompute them")


def _cannot_create(final: Path, exc: OSError) -> OutputError:
    for parent in final.parents:
        if parent.exists():
            if not parent.is_dir():
                return OutputError(f"{final}: cannot create the output directory: {parent} is not a directory")
            break
    return cannot_write(final, exc)


def _is_previous_result(path: Path) -> bool:
    if path.is_dir():
        entries = list(path.iterdir())
        return not entries or (path / SUMMARY).exists()
    return False
