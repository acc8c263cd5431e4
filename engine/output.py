"""The output directory (SPEC section 3), written in a staging place and committed at the end.

Everything goes into a hidden sibling directory first; ``summary.json``
is written last, and only then does the staging directory take the
output's name.  A run that fails or is killed leaves the previous result
(or nothing) under that name, never a half-written one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InputError

SUMMARY = "summary.json"
STAGES_DIR = "stages"
REJECTED = "rejected.parquet"
STAGE_MEANS = "stage_means.parquet"
CURVE = "curve.parquet"
PLOT = "alignment.png"


def default_output(path: str) -> Path:
    """Beside the input: ``data.parquet`` -> ``data.tf2eng``; a glob -> its directory's ``tf2eng-out``."""
    if any(ch in path for ch in "*?["):
        base = os.path.dirname(path[: min(path.index(ch) for ch in "*?[" if ch in path)]) or "."
        return Path(base) / "tf2eng-out"
    p = Path(path.rstrip("/\\") or ".")
    name = p.name.split(".")[0] if p.is_file() else p.name
    return p.parent / f"{name}.tf2eng"


class OutputDir:
    """A staging directory that becomes ``final`` on :meth:`commit`."""

    def __init__(self, final: str | os.PathLike):
        self.final = Path(final).absolute()
        if self.final.exists() and not _is_previous_result(self.final):
            raise InputError(f"{self.final}: exists and is not a tf2eng output directory; choose another -o")
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.staging = self.final.parent / f".{self.final.name}.staging-{os.getpid()}"
        if self.staging.exists():
            shutil.rmtree(self.staging)
        (self.staging / STAGES_DIR).mkdir(parents=True)
        self._rejected: pq.ParquetWriter | None = None

    def path(self, name: str) -> Path:
        return self.staging / name

    def _stages_part(self, part: int) -> Path:
        return self.staging / STAGES_DIR / f"part-{part:05d}.parquet"

    def stages_writer(self, part: int, schema: pa.Schema, dictionary_columns=()) -> pq.ParquetWriter:
        """A writer for ``stages/part-NNNNN.parquet``.  Only the id and --by columns
        are dictionary-encoded: trying it on the float lists costs time and saves nothing."""
        return pq.ParquetWriter(self._stages_part(part), schema, use_dictionary=list(dictionary_columns),
                                compression="snappy")

    def has_stages_part(self, part: int) -> bool:
        return self._stages_part(part).exists()

    def write_rejected(self, table: pa.Table) -> None:
        if self._rejected is None:
            self._rejected = pq.ParquetWriter(self.staging / REJECTED, table.schema)
        self._rejected.write_table(table)

    def close_rejected(self, empty_schema: pa.Schema) -> None:
        if self._rejected is None:
            pq.write_table(empty_schema.empty_table(), self.staging / REJECTED)
        else:
            self._rejected.close()
            self._rejected = None

    def write_table(self, name: str, table) -> None:
        pq.write_table(table, self.staging / name)

    def commit(self, summary: dict) -> Path:
        """Write summary.json last, then move the staging directory into place."""
        text = json.dumps(summary, indent=2, sort_keys=False, default=str)
        tmp = self.staging / (SUMMARY + ".tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, self.staging / SUMMARY)
        previous = None
        if self.final.exists():
            previous = self.final.parent / f".{self.final.name}.previous-{os.getpid()}"
            os.replace(self.final, previous)
        os.replace(self.staging, self.final)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        return self.final

    def abort(self) -> None:
        if self._rejected is not None:
            try:
                self._rejected.close()
            except Exception:  # noqa: BLE001 - cleaning up after a failure already reported
                pass
        shutil.rmtree(self.staging, ignore_errors=True)


def _is_previous_result(path: Path) -> bool:
    if path.is_dir():
        entries = list(path.iterdir())
        return not entries or (path / SUMMARY).exists()
    return False
