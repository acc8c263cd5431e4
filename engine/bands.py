"""ci_low and ci_high of the aggregate tables (README, Confidence bands).

Without --bootstrap: mean ± t·std/√n, the Student t interval with n − 1
degrees of freedom.  With it: the percentile interval of the B replicate
means (engine/replicates.py).  Both are null where fewer than two tracks
make the mean (count < 2).
"""

from __future__ import annotations

import numpy as np
from .lazy import polars as pl

from .intervals import normal_interval, percentile_interval
from .replicates import ReplicateSums


def with_bands(stage_means: pl.DataFrame, curve: pl.DataFrame, level: float, replicates: ReplicateSums | None,
               order: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The tables with ``ci_low``, ``ci_high`` added; ``order``: the group codes of their rows, in order
    (GroupMoments.output_order), each group's stages or grid points in turn."""
    if replicates is None:
        return _normal(stage_means, level), _normal(curve, level)
    stage_reps, curve_reps, _, _ = replicates.means(order)
    return (_bootstrap(stage_means, stage_reps, level), _bootstrap(curve, curve_reps, level))


def with_bands_each(stage_means: list, curves: list, level: float, replicates, moments, groups) -> tuple[list, list]:
    """:func:`with_bands` for each configuration's tables (one, or a sweep's, README, Parameter sweeps):
    ``replicates`` is None, a ReplicateSums, or a sweep's (engine/sweep_replicates.py), which holds the
    replicate sums of each configuration in ``parts``; ``moments`` and ``groups`` give the rows' order."""
    order = moments.output_order(groups) if replicates is not None else None
    parts = getattr(replicates, "parts", [replicates] * len(stage_means))
    banded = [with_bands(s, c, level, r, order) for s, c, r in zip(stage_means, curves, parts)]
    return [s for s, _ in banded], [c for _, c in banded]


def _columns(table: pl.DataFrame, low: np.ndarray, high: np.ndarray) -> pl.DataFrame:
    few = table["count"].to_numpy() < 2
    low, high = np.where(few, np.nan, low), np.where(few, np.nan, high)
    return table.with_columns(pl.Series("ci_low", low, pl.Float64).fill_nan(None),
                              pl.Series("ci_high", high, pl.Float64).fill_nan(None))


def _normal(table: pl.DataFrame, level: float) -> pl.DataFrame:
    mean = table["mean"].fill_null(np.nan).to_numpy()
    std = table["std"].fill_null(np.nan).to_numpy()
    low, high = normal_interval(mean, std, table["count"].to_numpy(), level)
    return _columns(table, low, high)


def _bootstrap(table: pl.DataFrame, replicates: np.ndarray, level: float) -> pl.DataFrame:
    """replicates: (groups, width, B) replicate means, NaN where a replicate has no weight."""
    if replicates.size == 0:
        low = high = np.zeros(table.height)
    else:
        low, high = percentile_interval(replicates.reshape(-1, replicates.shape[-1]), level)
    return _columns(table, low, high)
