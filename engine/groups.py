"""Stable integer codes for the --by groups, shared by every batch of a run."""

from __future__ import annotations

from typing import cast

import numpy as np
import pyarrow as pa

from .errors import InputError
from .lazy import polars as pl

_CODE = "__tf2eng_group"

# Every group carries a (5, K + M) accumulator (8 KiB with the defaults) in
# every batch, file and worker: --by is meant for categories, not ids.
MAX_GROUPS = 10_000
# ... and the accumulators of all groups may take at most this much memory per copy: with a fine
# --grid-step (M up to a million points: 40 MB a group) fewer groups fit.
MOMENTS_BUDGET_BYTES = 2**30


class GroupIndex:
    """Assigns each distinct combination of the --by columns a code, 0, 1, 2, ...

    Codes follow first appearance; :meth:`labels` gives the key values per
    code, and :meth:`sorted_codes` the order in which outputs list groups.
    Without --by every track is in group 0.
    """

    def __init__(self, by: tuple[str, ...], width: int = 0):
        """``width``: the columns of each group's accumulator (stages and grid points, of every configuration
        of a sweep); they bound how many groups fit MOMENTS_BUDGET_BYTES."""
        from ..kernels.moments import CELL  # (here: numba loads with it)

        self.by = tuple(by)
        self._keys: pl.DataFrame | None = None
        self._group_bytes = CELL * 8 * width
        self.most = min(MAX_GROUPS, max(1, MOMENTS_BUDGET_BYTES // self._group_bytes)) if width else MAX_GROUPS

    @property
    def size(self) -> int:
        if not self.by:
            return 1
        return 0 if self._keys is None else self._keys.height

    def codes(self, table: pa.Table | pa.RecordBatch) -> np.ndarray:
        n = table.num_rows
        if not self.by:
            return np.zeros(n, np.int32)
        keys = cast(pl.DataFrame, pl.from_arrow(pa.table({c: table.column(c) for c in self.by})))
        if self._keys is None:
            self._keys = keys.head(0).with_columns(pl.lit(0, pl.Int32).alias(_CODE))
        new = keys.unique(maintain_order=True).join(self._keys, on=list(self.by), how="anti", nulls_equal=True)
        if new.height:
            start = self._keys.height
            if start + new.height > self.most:
                finer = "" if self.most == MAX_GROUPS else (
                    f" (each group's sums take {self._group_bytes / 2**20:.0f} MiB at this --grid-step, at most "
                    f"{MOMENTS_BUDGET_BYTES // 2**30} GiB in all), or take a coarser --grid-step")
                raise InputError(
                    f"--by {','.join(self.by)}: more than {self.most:,} groups; group by a coarser column{finer}"
                )
            new = new.with_columns(pl.int_range(start, start + new.height, dtype=pl.Int32).alias(_CODE))
            self._keys = pl.concat([self._keys, new.cast(self._keys.schema)])
        joined = keys.join(self._keys, on=list(self.by), how="left", nulls_equal=True, maintain_order="left")
        return joined[_CODE].to_numpy().astype(np.int32, copy=False)

    def labels(self) -> pl.DataFrame:
        """One row per code, in code order: the --by values (empty frame without --by)."""
        if not self.by:
            return pl.DataFrame({_CODE: [0]}, schema={_CODE: pl.Int32}).drop(_CODE)
        if self._keys is None:  # no row seen yet: the --by columns, without rows (and types)
            return pl.DataFrame({c: [] for c in self.by})
        return self._keys.drop(_CODE)

    def sorted_codes(self) -> np.ndarray:
        """Codes ordered by their key values (nulls first): outputs do not depend on input order."""
        if not self.by or self._keys is None:
            return np.arange(self.size, dtype=np.int64)
        order = self._keys.sort(list(self.by), nulls_last=False, maintain_order=True)
        return order[_CODE].to_numpy().astype(np.int64)
