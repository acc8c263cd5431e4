"""Units of work, each with a key and its aggregates persisted (README, Output: units sized by work; Scheduled runs:
keys, resume and incremental runs).

A unit is sized by work, not by file: consecutive small input files packed
together up to about ``UNIT_ROWS`` rows, or a run of whole row groups of a
large Parquet file, or (long layout) the whole dataset.  Its key digests
what its results depend on: its files (path, size, mtime and a hash of the
footer), their row groups, and every option that changes numbers.  Results
stored under that key are reused by ``--resume`` and by incremental runs; a
changed file or option gives a new key.

Where small files are cut into units is decided file by file (content-defined
chunking, :func:`pack_files`), so that adding, changing or removing one file
changes the key of its own unit and at most one neighbour's, never the rest.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from .. import __version__
from .errors import InputError
from .options import Options
from .output import write_file
from .source import fingerprint_line

# Options that change results (output layout and error handling do not; the
# device changes them in the last bits).
_RESULT_OPTIONS = ("lam", "stages", "reduce", "grid_step", "key", "key_col", "scores_col", "frame_col",
                   "id_cols", "by", "layout", "normalize", "device")


# The target size of a unit, in input rows (tracks, in the wide layout).  A
# large Parquet file's row groups are cut into units of about this many rows,
# so that one large file still spreads over several threads of work or Dask
# workers (a unit never splits a row group), and small files are packed into
# units of about this many rows, so that a unit's fixed costs (a stages/ part,
# its writers, its committed partials) are paid per million rows, not per
# file.  A million rows of ~100-frame tracks is a few hundred MB of scores
# streamed in batches, a few seconds of work: large enough that fixed costs
# vanish, small enough that a dataset of tens of millions of tracks still
# spreads over a cluster, and that an incremental run recomputes little.
# TF2ENG_UNIT_ROWS in the environment overrides it.
UNIT_ROWS = 1_000_000
UNIT_ROWS_ENV = "TF2ENG_UNIT_ROWS"
# A run of small files between two content-defined boundaries is cut again
# once it would exceed this many times the target (a rare, long run of files
# without a boundary).
UNIT_CAP = 4


def unit_rows() -> int:
    """The target rows per unit: TF2ENG_UNIT_ROWS where set, else UNIT_ROWS."""
    value = os.environ.get(UNIT_ROWS_ENV)
    if not value:
        return UNIT_ROWS
    try:
        return max(1, int(value))
    except ValueError:
        raise InputError(f"{UNIT_ROWS_ENV}={value!r}: expected a number of rows") from None


@dataclass(frozen=True)
class Part:
    """A file of a unit: all its rows, or a run of its row groups."""

    index: int  # into Source.fragments
    row_groups: tuple[int, ...] | None = None  # None: the whole file
    first_row: int = 0  # row number, within the file, of the part's first row


@dataclass(frozen=True)
class Unit:
    key: str
    fragments: tuple[Part, ...]  # the unit's files, in path order
    label: str  # the files (or dataset, for the long layout) it covers
    rows: int = 0


def is_boundary(path: str, rows: int, target: int) -> bool:
    """Whether a unit ends after this file: true with probability rows / target, decided by a hash of the
    path alone, so that units hold about ``target`` rows on average and the decision for one file never
    depends on the others."""
    h = int.from_bytes(hashlib.sha256(path.encode()).digest()[:8], "big")
    return h * target < rows * (1 << 64)


def relative_paths(paths: list[str], root: str) -> list[str]:
    """``os.path.relpath(path, root)`` of each path, where pack_files decides boundaries: a path that is
    ``root`` joined with a plain relative path (no "", "." or ".." part) needs no call (each call makes
    both paths absolute: thousands of files are packed)."""
    base = os.path.normpath(root)
    prefix = "" if base == "." else os.path.join(base, "")
    out = []
    for path in paths:
        rest = path[len(prefix):] if path.startswith(prefix) else None
        if rest and not rest.startswith("/") and not any(part in ("", ".", "..") for part in rest.split("/")):
            out.append(rest)
        else:
            out.append(os.path.relpath(path, root))
    return out


def pack_files(paths: list[str], rows: list[int], target: int | None = None) -> list[list[int]]:
    """Indices of the files, in path order, cut into consecutive groups: a file of ``target`` rows or
    more is a group of its own; other files join the current group, which ends after a file for
    which :func:`is_boundary` holds, or before a file that would take it beyond ``UNIT_CAP`` times
    the target.  Adding, changing or removing one file changes its own group and at most the next."""
    target = unit_rows() if target is None else target
    cap = UNIT_CAP * target
    groups: list[list[int]] = []
    current: list[int] = []
    current_rows = 0
    for i, (path, n) in enumerate(zip(paths, rows)):
        if n >= target:
            if current:
                groups.append(current)
                current, current_rows = [], 0
            groups.append([i])
            continue
        if current and current_rows + n > cap:
            groups.append(current)
            current, current_rows = [], 0
        current.append(i)
        current_rows += n
        if is_boundary(path, n, target):
            groups.append(current)
            current, current_rows = [], 0
    if current:
        groups.append(current)
    return groups


def row_group_runs(sizes: list[int], target: int | None = None) -> list[tuple[int, int]]:
    """Consecutive row groups [first, stop) of at least ``target`` rows each (the last may be short)."""
    target = unit_rows() if target is None else target
    runs, first, rows = [], 0, 0
    for i, size in enumerate(sizes):
        rows += size
        if rows >= target:
            runs.append((first, i + 1))
            first, rows = i + 1, 0
    if first < len(sizes) or not runs:
        runs.append((first, len(sizes)))
    return runs


def options_digest(options: Options, meta_sha256: str | None = None) -> str:
    """A digest of what changes results: the options, tf2eng and its kernels, and the contents of the
    --meta files (``meta_sha256``, engine/meta.py; their paths do not count)."""
    d = options.as_dict()
    chosen = {k: d[k] for k in _RESULT_OPTIONS}
    if meta_sha256 is not None:
        chosen["meta"] = meta_sha256
    if options.bootstrap is not None:  # the replicate sums; --ci only changes the final intervals
        chosen.update(bootstrap=options.bootstrap, seed=options.seed)
    chosen["tf2eng"] = __version__
    from ..kernels import cache  # numba loads with it: not at import, for `tf2eng --help`

    chosen["kernels"] = cache.kernel_sources_hash()  # an edited kernel does not reuse old results
    return hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()


def unit_key(file_entries: list[dict], digest: str) -> str:
    h = hashlib.sha256(digest.encode())
    for entry in file_entries:
        h.update(fingerprint_line(entry))
    return h.hexdigest()[:24]


@dataclass
class UnitAggregates:
    """A unit's aggregates (the mergeable moments of each of its groups) and counts, with its --by groups
    in local code order; what a unit hands to the merge, and what it keeps in ``_tf2eng/KEY.npz``."""

    stage: np.ndarray  # (groups, 5, K)
    curve: np.ndarray  # (groups, 5, M)
    group_keys: pa.Table  # the --by values of each local group (no columns without --by)
    group_tracks: np.ndarray  # accepted tracks per local group
    counts: dict  # rows read / written, rejected by reason, frame rows
    # SHA-256 of the unit's stages/ part, taken as it was written (a sweep: of each part, joined by ",")
    stages_sha256: str = ""
    replicate_hi: np.ndarray | None = None  # --bootstrap: the replicate sums (groups, rows, B), two limbs
    replicate_lo: np.ndarray | None = None  # (engine/replicates.py)

    def save(self, path: Path) -> None:
        """Write atomically, synced to the disk: the file's presence marks the unit as committed."""
        keys = io.BytesIO()
        with pa.ipc.new_stream(keys, self.group_keys.schema) as writer:
            writer.write_table(self.group_keys)
        npz = io.BytesIO()  # a zip file is written with seeks, which an OutputFile does not offer
        np.savez(
            npz,
            stage=self.stage,
            curve=self.curve,
            group_tracks=self.group_tracks,
            group_keys=np.frombuffer(keys.getvalue(), np.uint8),
            counts=np.frombuffer(json.dumps(self.counts).encode(), np.uint8),
            stages_sha256=np.frombuffer(self.stages_sha256.encode(), np.uint8),
            **({} if self.replicate_hi is None else {"replicate_hi": self.replicate_hi, "replicate_lo": self.replicate_lo}),
        )
        write_file(path, lambda file: file.write(npz.getbuffer()), sync=True)

    @classmethod
    def load(cls, path: Path) -> UnitAggregates:
        with np.load(path) as data:
            keys = pa.ipc.open_stream(pa.py_buffer(data["group_keys"].tobytes())).read_all()
            return cls(
                stage=data["stage"],
                curve=data["curve"],
                group_keys=keys,
                group_tracks=data["group_tracks"],
                counts=json.loads(data["counts"].tobytes()),
                stages_sha256=data["stages_sha256"].tobytes().decode() if "stages_sha256" in data else "",
                replicate_hi=data["replicate_hi"] if "replicate_hi" in data else None,
                replicate_lo=data["replicate_lo"] if "replicate_lo" in data else None,
            )
