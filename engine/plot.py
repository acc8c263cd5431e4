"""The alignment figure: every aligned curve faint, the mean curve in red, the key frame at x = 0.

In the spirit of the paper's Fig. 3(b).  A group with few tracks shows each
curve as a faint line; a larger one shows the curves as a density shading
(per grid point, the share of tracks at each height).  One panel per --by
group, or one panel with a colour per group where there are many.

:func:`draw` makes the figure from a curve table and the per-track rows
(``stages/``, or their in-memory table), on a new figure or on given axes;
``tf2eng run`` saves it as alignment.png / .svg / .pdf (:func:`render`),
``RunResult.plot()`` and ``Alignment.plot()`` return it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from .errors import InputError
from .groups import GroupIndex
from .lazy import polars as pl
from .options import PLOT_DPI, Options

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


@dataclass
class GroupNames:
    """What painting needs of the groups: the --by columns and each group code's label."""

    by: tuple[str, ...]
    labels: dict[int, str]


@dataclass
class Painting:
    """A run's figure before matplotlib: the data of every panel (numbers and labels only, so
    that another process can paint it; engine/plot_worker.py)."""

    plot: _Plot
    groups: GroupNames
    options: Options


def render(stages_dir: Path, path: Path, curve, groups: GroupIndex,
           group_tracks: np.ndarray, options: Options, plot_format: str = "png", plot_dpi: int = PLOT_DPI) -> None:
    """Draw the figure of a run from its curve table (polars or Arrow) and its stages/ rows, and save it
    at ``path``."""
    paint(plan(stages_dir, curve, groups, group_tracks, options), path, plot_format, plot_dpi)


def plan(stages_dir: Path, curve, groups: GroupIndex, group_tracks: np.ndarray, options: Options) -> Painting:
    """The figure's data from the curve table (polars or Arrow) and the stages/ rows: the mean curves,
    each track's curve or the shading; everything but matplotlib."""
    plot = _plan(curve, groups, group_tracks, options)
    if plot.tracks.sum():
        _read_track_curves(plot, stage_batches(stages_dir, groups), groups, options.stages)
    return Painting(plot, GroupNames(groups.by, _group_labels(groups)), options)


def paint(painting: Painting, path: Path, plot_format: str = "png", plot_dpi: int = PLOT_DPI) -> None:
    """Paint a planned figure, as :func:`draw` does on a new figure, and save it at ``path``."""
    fig = _new_figure(matplotlib_figure(), painting.plot, painting.groups, painting.options)
    save(fig, path, plot_format, plot_dpi)


def stage_batches(stages_dir: Path, groups: GroupIndex, also: tuple[str, ...] = ()) -> Iterable:
    """The record batches of stages/ with the columns the figure needs (and ``also``: a sweep's lam and
    stages), in the parts' name order."""
    import pyarrow.dataset as ds

    dataset = ds.dataset(str(stages_dir), format="parquet")
    return dataset.to_batches(columns=list(groups.by) + list(also) + ["pos_key", "stage_scores"])


def draw(track_batches: Iterable, curve: pl.DataFrame, groups: GroupIndex, group_tracks: np.ndarray,
         options: Options, ax=None):
    """The alignment figure, from the curve table and the accepted tracks' rows (record batches
    with the --by columns, ``pos_key`` and ``stage_scores``); returns the matplotlib Figure.

    ``ax`` None: a new Figure, the one ``tf2eng run`` saves.  One Axes: one group is drawn
    as its panel, several groups together (every track in one shading, each group's mean
    curve in a colour of its own, named in a legend up to 12 groups).  A sequence of Axes
    (a list, or the array ``plt.subplots`` returns): one per group, in the output order
    of the groups.  Into given axes the panels are drawn as in the figure; the figure's
    title, size and margins stay the caller's.
    """
    Figure = matplotlib_figure()
    given = None if ax is None else _axes_list(ax)
    panels = max(groups.size, 1)
    if given is not None and len(given) not in (1, panels):
        raise ValueError(f"ax: give one Axes, or one per group ({panels}, in the output order of the "
                         f"groups), got {len(given)}")
    shared = None if given is None else (len(given) == 1 and groups.size > 1)
    plot = _plan(curve, groups, group_tracks, options, shared)
    if plot.tracks.sum():
        _read_track_curves(plot, track_batches, groups, options.stages)
    if given is None:
        return _new_figure(Figure, plot, groups, options)
    fig = given[0].figure
    if plot.shared:
        axes = _draw_shared_panel(given[0], plot, groups)
    else:
        axes = _draw_group_panels(given, plot, groups)
        for panel in axes:
            panel.set_xlabel(X_LABEL)
            panel.set_ylabel(plot.y_label)
    _label_axes(axes, plot)
    return fig


def _new_figure(Figure: type, plot: _Plot, groups: GroupIndex | GroupNames, options: Options):
    """The planned figure on a new Figure: its panels, labels, title and margins."""
    fig = Figure(figsize=_figure_size(plot))
    axes = _draw_shared_panel(fig.subplots(), plot, groups) if plot.shared else _draw_panels(fig, plot, groups)
    _label_axes(axes, plot)
    _title_and_margins(fig, plot, options)
    return fig


def _axes_list(ax) -> list:
    """One Axes, or a sequence (any nesting, e.g. an array from plt.subplots), as a flat list."""
    if hasattr(ax, "plot") and hasattr(ax, "figure"):
        return [ax]
    return list(np.asarray(ax, dtype=object).ravel())


def save(fig, path, plot_format: str = "png", plot_dpi: int = PLOT_DPI) -> None:
    """Save the figure as PNG, SVG or PDF, with no creation date and fixed SVG ids, so that the
    same figure gives the same bytes."""
    import matplotlib

    metadata = {"png": {}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[plot_format]
    with matplotlib.rc_context({"svg.hashsalt": "tf2eng"}):
        fig.savefig(path, format=plot_format, dpi=plot_dpi, metadata=metadata)


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


def _plan(curve: pl.DataFrame, groups: GroupIndex, group_tracks: np.ndarray, options: Options,
          shared: bool | None = None) -> _Plot:
    """The drawn grid, the mean curves and the y range from the curve table; how each group is drawn
    (``shared``: every group in one panel; None: where there are more than PANELS_MAX groups)."""
    from ..kernels.grid import grid_points

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
    if shared is None:
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


def _read_track_curves(plot: _Plot, batches: Iterable, groups: GroupIndex, stages: int) -> None:
    """Every accepted track's aligned curve from its stage rows: kept as a line for the groups
    drawn with lines, binned into the shading for the others."""
    for batch in batches:
        _add_track_curves(plot, batch, groups, stages)


def _add_track_curves(plot: _Plot, batch, groups: GroupIndex, stages: int) -> None:
    """The curves of a batch of stages/ rows (of one configuration), into ``plot``."""
    if batch.num_rows:
        Y = _stage_matrix(batch, stages)
        pos_key = batch.column("pos_key").to_numpy()
        codes = groups.codes(batch)
        small = plot.as_lines[codes]
        from ..kernels import density

        if small.any():
            out = np.empty((int(small.sum()), plot.grid.size))
            density.curves_on_grid(Y[small], pos_key[small], plot.step, out)
            for code in np.unique(codes[small]):
                plot.lines[int(code)].append(out[codes[small] == code])
        if (~small).any():
            density.curve_density(Y[~small], pos_key[~small], plot.slot[codes[~small]], plot.step, plot.y_max,
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
    shown = max(plot.size, 1)
    _draw_group_panels(list(axes.ravel()[:shown]), plot, groups)
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


def _draw_group_panels(axes: list, plot: _Plot, groups: GroupIndex) -> list:
    """Each group in its panel, with its title; a "no tracks" panel where there is no group."""
    labels = _group_labels(groups)
    for ax, code in zip(axes, plot.order):
        _draw_group(ax, plot, int(code))
        title = f"{labels[int(code)]}, " if groups.by else ""
        # Titles hold the data's values and names: "$" in them is text, not TeX.
        ax.set_title(f"{title}{plot.tracks[code]:,} tracks", fontsize=10, parse_math=False)
    if plot.size == 0:  # --by on an input without rows: no group at all
        _note(axes[0], "no tracks")
    return axes


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


def _draw_shared_panel(ax, plot: _Plot, groups: GroupIndex) -> list:
    """Many groups in one panel: every track in one shading, and the mean curves of the largest
    groups, named in a legend where there are at most PANELS_MAX of them."""
    _draw_shared(ax, plot, groups)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(plot.y_label)
    return [ax]


def _draw_shared(ax, plot: _Plot, groups: GroupIndex, title: str = "") -> None:
    """Every track of every group in one shading, and the mean curves of the largest groups."""
    from matplotlib import colormaps

    colours = colormaps["tab20"]
    with_tracks = plot.order[plot.tracks[plot.order] > 0]
    largest = with_tracks[np.argsort(-plot.tracks[with_tracks], kind="stable")][:MEANS_MAX]
    _draw_shading(ax, plot, plot.shading[0], alpha=0.6)
    labels = _group_labels(groups)
    for i, code in enumerate(largest):
        _draw_band(ax, plot, code, colours(i % 20), 0.2)
        ax.plot(plot.grid, plot.mean[code], color=colours(i % 20), lw=1.0, label=labels[int(code)])
    if 0 < largest.size <= PANELS_MAX:
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    shown = "each" if largest.size == with_tracks.size else f"the {largest.size} largest"
    ax.set_title(f"{title}{plot.size} groups by {', '.join(groups.by)}: mean curve of {shown}", fontsize=10,
                 parse_math=False)


def _label_axes(axes: list, plot: _Plot) -> None:
    """The key frame at x = 0, the common limits and the legend."""
    for ax in axes:
        ax.axvline(0.0, color="black", lw=0.8, ls="--")
        ax.set_xlim(plot.grid[0], plot.grid[-1])
        ax.set_ylim(0.0, plot.y_max)
    axes[0].text(0.0, 0.98, " key frame", transform=axes[0].get_xaxis_transform(), va="top", fontsize=8)
    if not plot.shared and plot.tracks.sum():
        first = next(ax for ax, code in zip(axes, plot.order) if plot.tracks[code])
        first.legend(loc="upper left", fontsize=8, frameon=False)


def _title_and_margins(fig, plot: _Plot, options: Options) -> None:
    """The figure's title and margins."""
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
    if _rows(curve):
        codes = _curve_codes(curve, groups, M)
        mean[codes] = _values(curve, "mean").reshape(-1, M)
        std[codes] = _values(curve, "std").reshape(-1, M)
    return mean, std


def _rows(curve) -> int:
    return curve.num_rows if isinstance(curve, pa.Table) else curve.height


def _values(curve, name: str) -> np.ndarray:
    """A float column of the curve table (polars or Arrow) as float64, NaN where null."""
    if isinstance(curve, pa.Table):
        return np.asarray(curve.column(name).to_numpy(), dtype=np.float64)
    return curve[name].fill_null(np.nan).to_numpy()


def _curve_codes(curve, groups: GroupIndex, M: int) -> np.ndarray:
    """The group code of each group the curve table lists (M rows each)."""
    if not groups.by:
        return np.zeros(1, np.int64)
    keys = curve.select(list(groups.by))
    return groups.codes(keys if isinstance(keys, pa.Table) else keys.to_arrow())[::M]


def _group_band(curve: pl.DataFrame, groups: GroupIndex, n_groups: int, M: int) -> np.ndarray | None:
    """ci_low and ci_high, (2, groups, M) in code order, NaN where undefined; None without --ci."""
    if "ci_low" not in (curve.column_names if isinstance(curve, pa.Table) else curve.columns):
        return None
    band = np.full((2, n_groups, M), np.nan)
    if _rows(curve):
        codes = _curve_codes(curve, groups, M)
        for i, name in enumerate(("ci_low", "ci_high")):
            band[i, codes] = _values(curve, name).reshape(-1, M)
    return band


def _shade(hist: np.ndarray) -> np.ndarray:
    """Track density in [0, 1], square-root scaled so that sparse curves stay visible."""
    return np.sqrt(hist / max(int(hist.max()), 1))


def _group_labels(groups: GroupIndex | GroupNames) -> dict[int, str]:
    if isinstance(groups, GroupNames):
        return groups.labels
    if not groups.by:
        return {0: ""}
    labels = groups.labels()
    return {i: ", ".join(f"{c}={row[c]}" for c in groups.by) for i, row in enumerate(labels.iter_rows(named=True))}
