"""Dataset aggregates (README, The method and Accuracy): moments merged across batches, then finalized.

The moments are (count, sum, sum of squares) per group and stage or grid
point; combining them is addition (kernels/moments.py), so batches, units
and workers merge in any grouping.  Means and stds appear only in
:meth:`GroupMoments.finalize`, which also lays the results out as Arrow
tables (polars lays out the --by columns, and only with --by is it loaded).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..kernels.grid import grid_points
from ..kernels.moments import CELL, COUNT, finalize, merge_into
from .groups import GroupIndex
from .lazy import polars as pl


class GroupMoments:
    """Running moments of the stage scores and of the aligned curves, per group."""

    def __init__(self, stages: int, grid_size: int):
        self.stage = np.zeros((0, CELL, stages))
        self.curve = np.zeros((0, CELL, grid_size))

    def grow(self, n_groups: int) -> None:
        extra = n_groups - self.stage.shape[0]
        if extra > 0:
            self.stage = np.concatenate([self.stage, np.zeros((extra,) + self.stage.shape[1:])])
            self.curve = np.concatenate([self.curve, np.zeros((extra,) + self.curve.shape[1:])])

    def add(self, stage: np.ndarray, curve: np.ndarray, codes: np.ndarray | None = None) -> None:
        """Merge moments shaped (groups, 5, K) and (groups, 5, M); local group g is
        group codes[g] here (the identity without ``codes``)."""
        if codes is None:
            self.grow(stage.shape[0])
            merge_into(self.stage[: stage.shape[0]], stage)
            merge_into(self.curve[: curve.shape[0]], curve)
            return
        self.grow(int(codes.max()) + 1 if codes.size else 0)
        for local, code in enumerate(codes):
            merge_into(self.stage[code], stage[local])
            merge_into(self.curve[code], curve[local])

    def output_order(self, groups: GroupIndex) -> np.ndarray:
        """The group codes in the order the tables list them: by --by value, and without a group
        whose every track was rejected (it has no aggregate)."""
        self.grow(groups.size)
        order = groups.sorted_codes()
        if groups.by:
            order = order[self.stage[order, COUNT, :].sum(axis=1) > 0]
        return order

    def finalize(self, groups: GroupIndex, stages: int, grid_step: float) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(stage_means, curve) tables as polars DataFrames (see :meth:`finalize_arrow`)."""
        stage_means, curve = self.finalize_arrow(groups, stages, grid_step)
        return pl.from_arrow(stage_means), pl.from_arrow(curve)

    def finalize_arrow(self, groups: GroupIndex, stages: int, grid_step: float) -> tuple[pa.Table, pa.Table]:
        """(stage_means, curve) tables: --by columns, position, mean, std, count."""
        order = self.output_order(groups)
        stage_x = np.arange(stages, dtype=np.float64) / stages
        stage_means = _table(
            self.stage[order], groups, order, {"stage": np.arange(stages, dtype=np.int32), "x": stage_x}
        )
        curve = _table(self.curve[order], groups, order, {"x": grid_points(stages, grid_step)})
        return stage_means, curve


def _table(acc: np.ndarray, groups: GroupIndex, order: np.ndarray, position: dict) -> pa.Table:
    """The --by columns, ``position``'s columns, then mean and std (null where NaN) and count."""
    n_groups, width = acc.shape[0], acc.shape[2]
    count = np.zeros(n_groups * width, np.int64)
    mean = np.zeros(n_groups * width)
    std = np.zeros(n_groups * width)
    finalize(acc, count, mean, std)
    if groups.by:
        labels = groups.labels()[order.tolist()]
        repeat = pl.Series(np.repeat(np.arange(n_groups), width))
        columns = {c: labels[c].gather(repeat) for c in groups.by}
        for name, values in position.items():
            columns[name] = np.tile(values, n_groups)
        frame = pl.DataFrame(columns)
        return frame.with_columns(
            pl.Series("mean", mean).fill_nan(None),
            pl.Series("std", std).fill_nan(None),
            pl.Series("count", count),
        ).to_arrow()
    # Without --by: the same table (types, nulls, and so the same Parquet bytes) without polars.
    columns = {name: pa.array(np.tile(values, n_groups)) for name, values in position.items()}
    columns["mean"] = pa.array(mean, mask=np.isnan(mean))
    columns["std"] = pa.array(std, mask=np.isnan(std))
    columns["count"] = pa.array(count)
    return pa.table(columns)
