"""alignment.png of a sweep (README, Parameter sweeps): one panel per configuration.

Without --by the panels form a grid with a row per λ and a column per K
(a sweep over one of them: up to three panels a row).  With --by, a row per
group and a column per configuration, as long as that makes at most
``GRID_PANELS_MAX`` panels and at most PANELS_MAX groups; beyond, one panel
per configuration with every group in it, as the single-run plot draws many
groups.  Each panel is drawn as in a single run (engine/plot.py) and has its
own y range: stage sums grow with T/K and shrink as λ grows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from .groups import GroupIndex
from .options import PLOT_DPI
from .plot import PANELS_MAX, X_LABEL, _add_track_curves, _draw_group, _draw_shared, _group_labels, _note, _plan, \
    matplotlib_figure, save, stage_batches
from .sweep import LAM, STAGES, Sweep

GRID_PANELS_MAX = 48  # panels of a groups x configurations grid; more: a panel per configuration
PANEL_W, PANEL_H = 3.6, 2.8  # inches
LEFT_IN, RIGHT_IN, BOTTOM_IN, TOP_IN = 0.75, 0.15, 0.7, 0.95  # margins, inches


def render_sweep(stages_dir: Path, png: Path, curves: list[pl.DataFrame], groups: GroupIndex,
                 group_tracks: np.ndarray, sweep: Sweep, plot_format: str = "png", plot_dpi: int = PLOT_DPI) -> None:
    """Draw alignment.png (.svg, .pdf) of a sweep from each configuration's curve table and the stages/ rows."""
    batches = stage_batches(stages_dir, groups, also=(LAM, STAGES))
    save(draw_sweep(batches, curves, groups, group_tracks, sweep), png, plot_format, plot_dpi)


def draw_sweep(track_batches: Iterable, curves: list[pl.DataFrame], groups: GroupIndex, group_tracks: np.ndarray,
               sweep: Sweep):
    """The figure of a sweep (a matplotlib Figure): a panel per configuration, as described above.
    ``track_batches``: the stages/ rows (record batches with the --by columns, lam, stages, pos_key
    and stage_scores)."""
    Figure = matplotlib_figure()
    configs = sweep.configurations
    n_groups = groups.sorted_codes().size
    by_grid = bool(groups.by) and n_groups <= PANELS_MAX and n_groups * len(configs) <= GRID_PANELS_MAX
    shared = bool(groups.by) and not by_grid
    plans = [_plan(curve, groups, group_tracks, options, shared=shared) for curve, options in zip(curves, configs)]
    if plans[0].tracks.sum():
        _read_sweep_curves(plans, track_batches, groups, sweep)
    if by_grid:  # a row per group, a column per configuration
        rows, cols = max(n_groups, 1), len(configs)
        cells = [(r, c, c, code) for r, code in enumerate(plans[0].order) for c in range(cols)]
    else:
        rows, cols, places = _config_grid(sweep)
        cells = [(r, c, i, None) for i, (r, c) in enumerate(places)]
    width, height = LEFT_IN + RIGHT_IN + PANEL_W * cols, BOTTOM_IN + TOP_IN + PANEL_H * rows
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_visible(False)
    labels = _group_labels(groups)
    occupied = {(r, c) for r, c, _, _ in cells}
    for r, c, i, code in cells:
        ax, plan, options = axes[r, c], plans[i], configs[i]
        ax.set_visible(True)
        if shared:
            _draw_shared(ax, plan, groups, title=f"{sweep.label(options)}\n")
        else:
            code = int(plan.order[0]) if code is None and plan.size else code
            if code is None:
                _note(ax, "no tracks")
                tracks = 0
            else:
                _draw_group(ax, plan, int(code))
                tracks = int(plan.tracks[code])
            group = f"{labels[int(code)]}\n" if groups.by and code is not None else ""
            # Titles hold the data's values and names: "$" in them is text, not TeX.
            ax.set_title(f"{group}{sweep.label(options)}, {tracks:,} tracks", fontsize=8, parse_math=False)
        ax.axvline(0.0, color="black", lw=0.8, ls="--")
        ax.set_xlim(plan.grid[0], plan.grid[-1])
        ax.set_ylim(0.0, plan.y_max)
        ax.tick_params(labelsize=7)
        ax.locator_params(axis="x", nbins=5)
        if (r + 1, c) not in occupied:  # the lowest panel of each column carries the x axis
            ax.set_xlabel(X_LABEL, fontsize=8)
        if c == 0:
            ax.set_ylabel(f"$Y_k$ ({options.reduce} of $S^{{\\lambda}}$)", fontsize=8)
    if not shared and plans[0].tracks.sum():  # on the first panel that draws tracks (a group may have none)
        r, c = next((r, c) for r, c, i, code in cells if code is None or plans[i].tracks[int(code)])
        axes[r, c].legend(loc="upper left", fontsize=7, frameon=False)
    tracks = int(plans[0].tracks.sum())
    fig.suptitle(f"Key-frame alignment of {tracks:,} tracks: {len(sweep.lams)} λ × {len(sweep.stages)} K "
                 f"= {len(configs)} configurations", fontsize=11)
    fig.subplots_adjust(left=LEFT_IN / width, right=1 - RIGHT_IN / width, bottom=BOTTOM_IN / height,
                        top=1 - TOP_IN / height, wspace=0.22, hspace=0.5 if by_grid else 0.35)
    return fig


def _config_grid(sweep: Sweep) -> tuple[int, int, list[tuple[int, int]]]:
    """(rows, columns, the (row, column) of each configuration): a row per λ and a column per K when
    both vary, else up to three panels a row."""
    lams, ks = sweep.lams, sweep.stages
    if len(lams) > 1 and len(ks) > 1:
        return len(lams), len(ks), [(lams.index(o.lam), ks.index(o.stages)) for o in sweep.configurations]
    n = len(sweep.configurations)
    cols = min(3, n)
    return math.ceil(n / cols), cols, [divmod(i, cols) for i in range(n)]


def _read_sweep_curves(plans: list, track_batches: Iterable, groups: GroupIndex, sweep: Sweep) -> None:
    """Every track's aligned curve of every configuration, in one pass over the stages/ rows."""
    for batch in track_batches:
        if not batch.num_rows:
            continue
        lam = batch.column(LAM).to_numpy()
        stages = batch.column(STAGES).to_numpy()
        for plan, options in zip(plans, sweep.configurations):
            mask = (lam == options.lam) & (stages == options.stages)
            if mask.any():
                _add_track_curves(plan, batch.filter(pa.array(mask)), groups, options.stages)
