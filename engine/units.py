"""Units of work, each with a key and its aggregates persisted (README, Scheduled runs).

A unit is an input file, or a run of whole row groups of a large Parquet
file, or (long layout) the whole dataset.  Its key digests what its
results depend on: the file (path, size, mtime and a hash of its footer),
the row groups, and every option that changes numbers.  Results stored
under that key are reused by ``--resume`` and by incremental runs; a
changed file or option gives a new key.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from .. import __version__
from .options import Options
from .output import write_file

# Options that change results (output layout and error handling do not; the
# device changes them in the last bits).
_RESULT_OPTIONS = ("lam", "stages", "reduce", "grid_step", "key", "key_col", "scores_col", "frame_col",
                   "id_cols", "by", "layout", "normalize", "device")


# A Parquet file's row groups are cut into units of about this many rows, so
# that one large file still spreads over several threads of work or Dask
# workers; a unit never splits a row group.
UNIT_ROWS = 1_000_000


@dataclass(frozen=True)
class Unit:
    key: str
    fragments: tuple[int, ...]  # indices into Source.fragments
    label: str  # the file (or dataset, for the long layout) it covers
    row_groups: tuple[int, ...] | None = None  # of its one fragment; None: all
    first_row: int = 0  # row number, within the file, of the unit's first row
    rows: int = 0


def row_group_runs(sizes: list[int], target: int | None = None) -> list[tuple[int, int]]:
    """Consecutive row groups [first, stop) of at least ``target`` rows each (the last may be short)."""
    target = UNIT_ROWS if target is None else target
    runs, first, rows = [], 0, 0
    for i, size in enumerate(sizes):
        rows += size
        if rows >= target:
            runs.append((first, i + 1))
            first, rows = i + 1, 0
    if first < len(sizes) or not runs:
        runs.append((first, len(sizes)))
    return runs


def options_digest(options: Options) -> str:
    d = options.as_dict()
    chosen = {k: d[k] for k in _RESULT_OPTIONS}
    chosen["tf2eng"] = __version__
    from ..kernels import cache  # numba loads with it: not at import, for `tf2eng --help`

    chosen["kernels"] = cache.kernel_sources_hash()  # an edited kernel does not reuse old results
    return hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()


def unit_key(file_entries: list[dict], digest: str) -> str:
    h = hashlib.sha256(digest.encode())
    for entry in file_entries:
        h.update(f"{entry['path']}\0{entry['size']}\0{entry['mtime_ns']}\0{entry['tail_sha256']}\n".encode())
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
    stages_sha256: str = ""  # SHA-256 of the unit's stages/ part, taken as it was written

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
            )
