"""alignment.png: every aligned curve faint, the mean curve in red, the key frame at x = 0.

In the spirit of the paper's Fig. 3(b).  A group with few tracks shows each
curve as a faint line; a larger one shows the curves as a density shading
(per grid point, the share of tracks at each height).  One panel per --by
group, or one panel with a colour per group where there are many.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.dataset as ds

from ..kernels.density import curve_density, curves_on_grid
from ..kernels.grid import grid_points
from .groups import GroupIndex
from .options import Options

LINES_MAX = 400  # tracks per group drawn as lines; more become a density shading
PANELS_MAX = 12  # groups drawn as panels; more share one panel
MEANS_MAX = 40  # on that shared panel, the mean curves of the largest groups
DENSITY_BINS = 160
DRAWN_POINTS_MAX = 2_000  # grid points drawn per curve; a finer grid is drawn every n-th point


def _stage_matrix(batch, stages: int) -> np.ndarray:
    values = batch.column("stage_scores").flatten().to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(values, dtype=np.float64).reshape(-1, stages)


def render(stages_dir: Path, png: Path, curve: pl.DataFrame, groups: GroupIndex,
           group_tracks: np.ndarray, options: Options) -> None:
    # The object API without pyplot: no GUI backend, no global figure state,
    # and a quicker import.
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    K = options.stages
    full_grid = grid_points(K, options.grid_step)
    # A finer grid than the figure can show is drawn every stride-th point:
    # the track curves and their shading are computed on that coarser grid.
    stride = max(1, math.ceil(full_grid.size / DRAWN_POINTS_MAX))
    grid, step = full_grid[::stride], options.grid_step * stride
    M = grid.size
    order = groups.sorted_codes()
    G = order.size
    tracks = np.zeros(G, np.int64)
    tracks[: group_tracks.size] = group_tracks
    full_mean, full_std = _group_curves(curve, groups, G, full_grid.size)
    mean = full_mean[:, ::stride]
    with np.errstate(invalid="ignore"):
        top = np.nanmax(np.concatenate([(full_mean + 2.5 * np.nan_to_num(full_std)).ravel(), [0.0]]))
    y_max = float(top) * 1.1 if np.isfinite(top) and top > 0 else 1.0

    shared = G > PANELS_MAX  # one panel: every track in one shading
    as_lines = (tracks <= LINES_MAX) & (not shared)
    # The shading's slot of each group drawn as a density (all share slot 0 on the shared panel).
    slot = np.zeros(G, np.int64) if shared else np.maximum(np.cumsum(~as_lines) - 1, 0)
    lines: dict[int, list[np.ndarray]] = {int(c): [] for c in np.flatnonzero(as_lines)}
    hist = np.zeros((1 if shared else int((~as_lines).sum()), M, DENSITY_BINS), np.int64)
    dataset = ds.dataset(str(stages_dir), format="parquet") if tracks.sum() else None
    for batch in dataset.to_batches(columns=list(groups.by) + ["pos_key", "stage_scores"]) if dataset else ():
        if not batch.num_rows:
            continue
        Y = _stage_matrix(batch, K)
        pos_key = batch.column("pos_key").to_numpy()
        codes = groups.codes(batch)
        small = as_lines[codes]
        if small.any():
            out = np.empty((int(small.sum()), M))
            curves_on_grid(Y[small], pos_key[small], step, out)
            for code in np.unique(codes[small]):
                lines[int(code)].append(out[codes[small] == code])
        if (~small).any():
            curve_density(Y[~small], pos_key[~small], slot[codes[~small]], step, y_max, hist)

    def draw(ax, code: int, colour: str, label: str | None) -> None:
        if as_lines[code]:
            if lines[code]:
                ax.plot(grid, np.concatenate(lines[code]).T, color="0.35", alpha=0.25, lw=0.6)
        elif tracks[code]:
            ax.imshow(
                _shade(hist[slot[code]]).T,
                origin="lower",
                aspect="auto",
                extent=(grid[0] - step / 2, grid[-1] + step / 2, 0.0, y_max),
                cmap="Greys",
                vmin=0.0,
                vmax=1.0,
                alpha=0.85,
                interpolation="nearest",
            )
        if tracks[code]:
            ax.plot(grid, mean[code], color=colour, lw=2.0, label=label)
        else:
            ax.text(0.5, 0.5, "no accepted track", transform=ax.transAxes, ha="center", va="center",
                    fontsize=9, color="0.4")

    labels = _group_labels(groups)
    reduce_label = f"stage score $Y_k$ ({options.reduce} of $S^{{\\lambda}}$, $\\lambda$={options.lam:g})"
    x_label = "position relative to the key frame, $k/K - pos_{key}$"
    if not shared:
        cols = min(3, max(G, 1))
        rows = math.ceil(max(G, 1) / cols)
        size = (8.0, 5.0) if G <= 1 else (5.2 * cols, 3.8 * rows)
        fig = Figure(figsize=size)
        axes = fig.subplots(rows, cols, squeeze=False,
                                 sharex=True, sharey=True)
        for ax, code in zip(axes.ravel(), order):
            draw(ax, int(code), "red", "mean")
            title = f"{labels[int(code)]}, " if groups.by else ""
            ax.set_title(f"{title}{tracks[code]:,} tracks", fontsize=10)
        if G == 0:  # --by on an input without rows: no group at all
            axes[0, 0].text(0.5, 0.5, "no tracks", transform=axes[0, 0].transAxes, ha="center", va="center",
                            fontsize=9, color="0.4")
        for ax in axes.ravel()[max(G, 1):]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel(x_label)
        for ax in axes[:, 0]:
            ax.set_ylabel(reduce_label)
        axes_list = list(axes.ravel()[:max(G, 1)])
    else:
        fig = Figure(figsize=(9, 5.5))
        ax = fig.subplots()
        colours = colormaps["tab20"]
        with_tracks = order[tracks[order] > 0]
        largest = with_tracks[np.argsort(-tracks[with_tracks], kind="stable")][:MEANS_MAX]
        ax.imshow(_shade(hist[0]).T, origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=1,
                  extent=(grid[0] - step / 2, grid[-1] + step / 2, 0.0, y_max), alpha=0.6)
        for i, code in enumerate(largest):
            ax.plot(grid, mean[code], color=colours(i % 20), lw=1.0)
        shown = "each" if largest.size == with_tracks.size else f"the {largest.size} largest"
        ax.set_title(f"{G} groups by {', '.join(groups.by)}: mean curve of {shown}", fontsize=10)
        ax.set_xlabel(x_label)
        ax.set_ylabel(reduce_label)
        axes_list = [ax]
    for ax in axes_list:
        ax.axvline(0.0, color="black", lw=0.8, ls="--")
        ax.set_xlim(grid[0], grid[-1])
        ax.set_ylim(0.0, y_max)
    axes_list[0].text(0.0, 0.98, " key frame", transform=axes_list[0].get_xaxis_transform(), va="top", fontsize=8)
    if not shared and tracks.sum():
        first = next(ax for ax, code in zip(axes_list, order) if tracks[code])
        first.legend(loc="upper left", fontsize=8, frameon=False)
    fig.suptitle(f"Key-frame alignment of {int(tracks.sum()):,} tracks (K={K})", fontsize=12)
    # Fixed margins: tight_layout measures every text and costs a third of the plot.
    fig.subplots_adjust(left=0.08 if G <= 1 or shared else 0.06, right=0.98, bottom=0.1, top=0.88,
                        wspace=0.08, hspace=0.25)
    fig.savefig(png, dpi=110)


def _group_curves(curve: pl.DataFrame, groups: GroupIndex, n_groups: int, M: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std curves, (groups, M) in code order, from the curve table: M rows for each
    group it lists (a group whose every track was rejected has none), NaN for the others."""
    mean = np.full((n_groups, M), np.nan)
    std = np.full((n_groups, M), np.nan)
    if curve.height:
        if groups.by:
            codes = groups.codes(curve.select(list(groups.by)).to_arrow())[::M]
        else:
            codes = np.zeros(1, np.int64)
        mean[codes] = curve["mean"].fill_null(np.nan).to_numpy().reshape(-1, M)
        std[codes] = curve["std"].fill_null(np.nan).to_numpy().reshape(-1, M)
    return mean, std


def _shade(hist: np.ndarray) -> np.ndarray:
    """Track density in [0, 1], square-root scaled so that sparse curves stay visible."""
    return np.sqrt(hist / max(int(hist.max()), 1))


def _group_labels(groups: GroupIndex) -> dict[int, str]:
    if not groups.by:
        return {0: ""}
    labels = groups.labels()
    return {i: ", ".join(f"{c}={row[c]}" for c in groups.by) for i, row in enumerate(labels.iter_rows(named=True))}
