"""alignment.png: every aligned curve faint, the mean curve in red, the key frame at x = 0.

In the spirit of the paper's Fig. 3(b).  A group with few tracks shows each
curve as a faint line; a larger one shows the curves as a density shading
(per grid point, the share of tracks at each height).  One panel per --by
group, or one panel with a colour per group where there are many.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.dataset as ds

from ..kernels.density import curve_density, curves_on_grid
from ..kernels.grid import grid_points
from .errors import InputError
from .groups import GroupIndex
from .options import Options

LINES_MAX = 400  # tracks per group drawn as lines; more become a density shading
PANELS_MAX = 12  # groups drawn as panels; more share one panel
MEANS_MAX = 40  # on that shared panel, the mean curves of the largest groups
DENSITY_BINS = 160
DRAWN_POINTS_MAX = 2_000  # grid points drawn per curve; a finer grid is drawn every n-th point
PANEL_HEIGHT = 3.8  # inches per row of panels
ONE_ROW_HEIGHT = 4.6  # one row: a panel as tall as in two rows, with the same margins
BOTTOM_INCHES, TOP_INCHES = 0.76, 0.912  # below the panels (tick and axis labels), above (titles)
X_LABEL = "position relative to the key frame, $k/K - pos_{key}$"


@dataclass
class _Plot:
    """What the figure shows, in group-code order: the drawn grid, each group's
    accepted tracks and mean curve, and its tracks as lines or a shading."""

    grid: np.ndarray  # drawn grid positions: the run's grid, or every stride-th point of a fine one
    step: float  # the drawn grid's step
    order: np.ndarray  # group codes in output order
    tracks: np.ndarray  # (G,) accepted tracks per group
    mean: np.ndarray  # (G, M) mean curve on the drawn grid; NaN where no track covers a point
    y_max: float
    shared: bool  # one panel for every group
    as_lines: np.ndarray  # (G,) bool: the group's curves are drawn as lines, not a shading
    slot: np.ndarray  # (G,) the group's slot in ``shading`` (all share slot 0 on the shared panel)
    y_label: str
    band: np.ndarray | None = None  # (2, G, M) ci_low, ci_high on the drawn grid (README, Confidence bands)
    level: float | None = None
    lines: dict[int, list[np.ndarray]] = field(default_factory=dict)  # code -> (tracks, M) curves
    shading: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, DENSITY_BINS), np.int64))

    @property
    def size(self) -> int:
        return self.order.size


def render(stages_dir: Path, png: Path, curve: pl.DataFrame, groups: GroupIndex,
           group_tracks: np.ndarray, options: Options) -> None:
    """Draw alignment.png from the run's curve table and its stages/ rows."""
    Figure = matplotlib_figure()
    plot = _plan(curve, groups, group_tracks, options)
    if plot.tracks.sum():
        _read_track_curves(plot, stages_dir, groups, options.stages)
    fig = Figure(figsize=_figure_size(plot))
    axes = _draw_shared_panel(fig, plot, groups) if plot.shared else _draw_panels(fig, plot, groups)
    _label_axes(fig, axes, plot, options)
    fig.savefig(png, dpi=110)


def matplotlib_figure() -> type:
    """matplotlib's Figure: the object API without pyplot (no GUI backend, no global figure
    state, a quicker import).  matplotlib checks MPLBACKEND as it loads; the plot needs no
    backend, but a name matplotlib does not know stops the run (exit 2), saying so."""
    try:
        from matplotlib.figure import Figure
    except ValueError:
        backend = os.environ.get("MPLBACKEND")
        if backend is None:
            raise
        raise InputError(f"MPLBACKEND={backend!r} is not a matplotlib backend: unset it "
                         "(alignment.png needs none) or run with --no-plot") from None
    return Figure


def _plan(curve: pl.DataFrame, groups: GroupIndex, group_tracks: np.ndarray, options: Options) -> _Plot:
    """The drawn grid, the mean curves and the y range from the curve table; how each group is drawn."""
    full_grid = grid_points(options.stages, options.grid_step)
    # A finer grid than the figure can show is drawn every stride-th point:
    # the track curves and their shading are computed on that coarser grid.
    stride = max(1, math.ceil(full_grid.size / DRAWN_POINTS_MAX))
    grid = full_grid[::stride]
    order = groups.sorted_codes()
    G = order.size
    tracks = np.zeros(G, np.int64)
    tracks[: group_tracks.size] = group_tracks
    mean, std = _group_curves(curve, groups, G, full_grid.size)
    band = _group_band(curve, groups, G, full_grid.size)
    shared = G > PANELS_MAX  # one panel: every track in one shading
    as_lines = (tracks <= LINES_MAX) & (not shared)
    slot = np.zeros(G, np.int64) if shared else np.maximum(np.cumsum(~as_lines) - 1, 0)
    return _Plot(grid, options.grid_step * stride, order, tracks, mean[:, ::stride], _y_limit(mean, std),
                 shared, as_lines, slot, _y_label(options), None if band is None else band[:, :, ::stride], options.ci,
                 lines={int(c): [] for c in np.flatnonzero(as_lines)},
                 shading=np.zeros((1 if shared else int((~as_lines).sum()), grid.size, DENSITY_BINS), np.int64))


def _y_label(options: Options) -> str:
    return f"stage score $Y_k$ ({options.reduce} of $S^{{\\lambda}}$, $\\lambda$={options.lam:g})"


def _y_limit(mean: np.ndarray, std: np.ndarray) -> float:
    """Room for the mean curves and 2.5 standard deviations above them (1.0 where nothing is drawn)."""
    with np.errstate(invalid="ignore"):
        top = np.nanmax(np.concatenate([(mean + 2.5 * np.nan_to_num(std)).ravel(), [0.0]]))
    return float(top) * 1.1 if np.isfinite(top) and top > 0 else 1.0


def _read_track_curves(plot: _Plot, stages_dir: Path, groups: GroupIndex, stages: int) -> None:
    """Every accepted track's aligned curve from stages/: kept as a line for the groups drawn
    with lines, binned into the shading for the others."""
    dataset = ds.dataset(str(stages_dir), format="parquet")
    for batch in dataset.to_batches(columns=list(groups.by) + ["pos_key", "stage_scores"]):
        if not batch.num_rows:
            continue
        Y = _stage_matrix(batch, stages)
        pos_key = batch.column("pos_key").to_numpy()
        codes = groups.codes(batch)
        small = plot.as_lines[codes]
        if small.any():
            out = np.empty((int(small.sum()), plot.grid.size))
            curves_on_grid(Y[small], pos_key[small], plot.step, out)
            for code in np.unique(codes[small]):
                plot.lines[int(code)].append(out[codes[small] == code])
        if (~small).any():
            curve_density(Y[~small], pos_key[~small], plot.slot[codes[~small]], plot.step, plot.y_max,
                          plot.shading)


def _stage_matrix(batch, stages: int) -> np.ndarray:
    values = batch.column("stage_scores").flatten().to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(values, dtype=np.float64).reshape(-1, stages)


def _figure_size(plot: _Plot) -> tuple[float, float]:
    if plot.shared:
        return (9, 5.5)
    if plot.size <= 1:
        return (8.0, 5.0)
    cols, rows = _grid_shape(plot.size)
    return (5.2 * cols, PANEL_HEIGHT * rows if rows > 1 else ONE_ROW_HEIGHT)


def _grid_shape(panels: int) -> tuple[int, int]:
    """(columns, rows) of the panels: up to three a row."""
    cols = min(3, max(panels, 1))
    return cols, math.ceil(max(panels, 1) / cols)


def _draw_panels(fig, plot: _Plot, groups: GroupIndex) -> list:
    """One panel per group (one empty panel where there is no group): its tracks and its mean in red."""
    cols, rows = _grid_shape(plot.size)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    labels = _group_labels(groups)
    for ax, code in zip(axes.ravel(), plot.order):
        _draw_group(ax, plot, int(code))
        title = f"{labels[int(code)]}, " if groups.by else ""
        # Titles hold the data's values and names: "$" in them is text, not TeX.
        ax.set_title(f"{title}{plot.tracks[code]:,} tracks", fontsize=10, parse_math=False)
    if plot.size == 0:  # --by on an input without rows: no group at all
        _note(axes[0, 0], "no tracks")
    shown = max(plot.size, 1)
    for ax in axes.ravel()[shown:]:
        ax.set_visible(False)
    for col in range(cols):  # the lowest panel of each column carries the x axis
        ax = axes[(shown - 1 - col) // cols, col] if col < shown else None
        if ax is not None:
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel(X_LABEL)
    for ax in axes[:, 0]:
        ax.set_ylabel(plot.y_label)
    return list(axes.ravel()[:shown])


def _draw_group(ax, plot: _Plot, code: int) -> None:
    """One group's track curves, as faint lines or a density shading, and its mean curve."""
    if plot.as_lines[code]:
        if plot.lines[code]:
            ax.plot(plot.grid, np.concatenate(plot.lines[code]).T, color="0.35", alpha=0.25, lw=0.6)
    elif plot.tracks[code]:
        _draw_shading(ax, plot, plot.shading[plot.slot[code]], alpha=0.85, interpolation="nearest")
    if plot.tracks[code]:
        _draw_band(ax, plot, code, "red", 0.25)
        ax.plot(plot.grid, plot.mean[code], color="red", lw=2.0, label="mean")
    else:
        _note(ax, "no accepted track")


def _draw_band(ax, plot: _Plot, code: int, colour, alpha: float) -> None:
    """The group's confidence band (--ci) around its mean curve, where the run has one."""
    if plot.band is None:
        return
    label = f"{plot.level:.4g} confidence band" if colour == "red" else None
    ax.fill_between(plot.grid, plot.band[0, code], plot.band[1, code], color=colour, alpha=alpha, lw=0, label=label)


def _draw_shading(ax, plot: _Plot, hist: np.ndarray, **style) -> None:
    step = plot.step
    ax.imshow(_shade(hist).T, origin="lower", aspect="auto", cmap="Greys", vmin=0.0, vmax=1.0,
              extent=(plot.grid[0] - step / 2, plot.grid[-1] + step / 2, 0.0, plot.y_max), **style)


def _draw_shared_panel(fig, plot: _Plot, groups: GroupIndex) -> list:
    """Many groups in one panel: every track in one shading, and the mean curves of the largest groups."""
    from matplotlib import colormaps

    ax = fig.subplots()
    colours = colormaps["tab20"]
    with_tracks = plot.order[plot.tracks[plot.order] > 0]
    largest = with_tracks[np.argsort(-plot.tracks[with_tracks], kind="stable")][:MEANS_MAX]
    _draw_shading(ax, plot, plot.shading[0], alpha=0.6)
    for i, code in enumerate(largest):
        _draw_band(ax, plot, code, colours(i % 20), 0.2)
        ax.plot(plot.grid, plot.mean[code], color=colours(i % 20), lw=1.0)
    shown = "each" if largest.size == with_tracks.size else f"the {largest.size} largest"
    ax.set_title(f"{plot.size} groups by {', '.join(groups.by)}: mean curve of {shown}", fontsize=10,
                 parse_math=False)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(plot.y_label)
    return [ax]


def _label_axes(fig, axes: list, plot: _Plot, options: Options) -> None:
    """The key frame at x = 0, the common limits, the legend, the title and the margins."""
    for ax in axes:
        ax.axvline(0.0, color="black", lw=0.8, ls="--")
        ax.set_xlim(plot.grid[0], plot.grid[-1])
        ax.set_ylim(0.0, plot.y_max)
    axes[0].text(0.0, 0.98, " key frame", transform=axes[0].get_xaxis_transform(), va="top", fontsize=8)
    if not plot.shared and plot.tracks.sum():
        first = next(ax for ax, code in zip(axes, plot.order) if plot.tracks[code])
        first.legend(loc="upper left", fontsize=8, frameon=False)
    fig.suptitle(f"Key-frame alignment of {int(plot.tracks.sum()):,} tracks (K={options.stages})", fontsize=12)
    # Fixed margins: tight_layout measures every text and costs a third of the plot.
    if plot.size <= 1 or plot.shared:
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.1, top=0.88)
    else:  # the axis labels below and the titles above take the same inches however many rows there are
        height = fig.get_figheight()
        fig.subplots_adjust(left=0.06, right=0.98, bottom=BOTTOM_INCHES / height, top=1 - TOP_INCHES / height,
                            wspace=0.08, hspace=0.25)


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9, color="0.4")


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


def _group_band(curve: pl.DataFrame, groups: GroupIndex, n_groups: int, M: int) -> np.ndarray | None:
    """ci_low and ci_high, (2, groups, M) in code order, NaN where undefined; None without --ci."""
    if "ci_low" not in curve.columns:
        return None
    band = np.full((2, n_groups, M), np.nan)
    if curve.height:
        codes = groups.codes(curve.select(list(groups.by)).to_arrow())[::M] if groups.by else np.zeros(1, np.int64)
        for i, name in enumerate(("ci_low", "ci_high")):
            band[i, codes] = curve[name].fill_null(np.nan).to_numpy().reshape(-1, M)
    return band


def _shade(hist: np.ndarray) -> np.ndarray:
    """Track density in [0, 1], square-root scaled so that sparse curves stay visible."""
    return np.sqrt(hist / max(int(hist.max()), 1))


def _group_labels(groups: GroupIndex) -> dict[int, str]:
    if not groups.by:
        return {0: ""}
    labels = groups.labels()
    return {i: ", ".join(f"{c}={row[c]}" for c in groups.by) for i, row in enumerate(labels.iter_rows(named=True))}
