"""compare.png (README, Comparing two runs): per --by group a column of two panels, the two runs' mean
curves with their bands above, the difference with its band below.  matplotlib is imported only here."""

from __future__ import annotations

import math

from .plot import DRAWN_POINTS_MAX, X_LABEL, matplotlib_figure

COLUMNS_MAX = 12  # groups drawn; beyond, the first ones in sorted order
COLOUR_A, COLOUR_B, COLOUR_DIFF = "red", "tab:blue", "black"


def render(file, data: dict) -> None:
    """Draw the comparison into ``file`` (a path or a binary file object) as PNG."""
    Figure = matplotlib_figure()
    x = data["x"]
    stride = max(1, math.ceil(x.size / DRAWN_POINTS_MAX))
    labels = data["labels"]
    shown = min(len(labels), COLUMNS_MAX)
    cols = max(shown, 1)
    fig = Figure(figsize=(4.6 * cols + 0.6, 7.2))
    axes = fig.subplots(2, cols, squeeze=False, sharex=True)
    level = f"{100 * data['level']:g} %"
    band = f"bootstrap ({data['bootstrap']} replicates)" if data["bootstrap"] else "t"
    kind = "paired" if data["paired"] else "unpaired"
    xs = x[::stride]
    for j in range(shown):
        top, bottom = axes[0, j], axes[1, j]
        for name, colour, mean, (low, high), n in (
                ("A", COLOUR_A, data["mean_a"][j], data["band_a"], data["n_a"]),
                ("B", COLOUR_B, data["mean_b"][j], data["band_b"], data["n_b"])):
            top.fill_between(xs, low[j][::stride], high[j][::stride], color=colour, alpha=0.2, lw=0)
            top.plot(xs, mean[::stride], color=colour, lw=1.8, label=f"{name} ({int(n[j]):,} track{'' if int(n[j]) == 1 else 's'})")
        bottom.fill_between(xs, data["ci"][0][j][::stride], data["ci"][1][j][::stride], color="0.6", alpha=0.5, lw=0)
        bottom.plot(xs, data["diff"][j][::stride], color=COLOUR_DIFF, lw=1.5, label="A − B")
        bottom.axhline(0.0, color="0.3", lw=0.8)
        for ax in (top, bottom):
            ax.axvline(0.0, color="black", lw=0.8, ls="--")
            ax.set_xlim(x[0], x[-1])
        top.set_title(labels[j] or "all tracks", fontsize=10, parse_math=False)
        top.legend(loc="upper left", fontsize=8, frameon=False)
        bottom.set_xlabel(X_LABEL)
    if not shown:
        axes[0, 0].text(0.5, 0.5, "no tracks", transform=axes[0, 0].transAxes, ha="center", va="center")
    axes[0, 0].set_ylabel(f"mean, {level} band")
    axes[1, 0].set_ylabel(f"A − B, {level} interval")
    more = f"; the first {shown} of {len(labels)} groups" if len(labels) > shown else ""
    fig.suptitle(f"A: {data['names'][0]}    B: {data['names'][1]}\n{kind} comparison, {band} intervals{more}",
                 fontsize=10, parse_math=False)
    fig.subplots_adjust(left=0.6 / fig.get_figwidth() + 0.02, right=0.98, bottom=0.09, top=0.88, wspace=0.18,
                        hspace=0.12)
    fig.savefig(file, dpi=100, format="png")
