"""No input or option makes tf2eng exit 1 (internal error): odd inputs through the CLI, each once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _package_sources() -> list[Path]:
    files = [ROOT / "__init__.py"]
    for folder in ("engine", "kernels", "cli"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


@pytest.mark.parametrize("path", _package_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_assert_in_the_package(path):
    """An assert vanishes under python -O: checks of input or state must raise."""
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert not lines, f"{path.relative_to(ROOT)}: assert at line(s) {lines}"


# --- the plot: groups without accepted tracks, single tracks, fine grids ------------------------

import json  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import tf2eng  # noqa: E402
from tf2eng.cli.app import app  # noqa: E402

runner = CliRunner()
GOOD = [0.1, 0.5, 0.9, 0.3]
BAD = [0.2, 1.5, 0.4]  # a score above 1: score_out_of_range


def _table(tracks, models=None, **extra) -> pa.Table:
    columns = {
        "video_id": pa.array([f"v{i}" for i in range(len(tracks))], pa.string()),
        "scores": pa.array(tracks, pa.list_(pa.float64())),
    }
    if models is not None:
        columns["model"] = pa.array(models, pa.string())
    columns.update(extra)
    return pa.table(columns)


def _cli(*args) -> "Result":  # noqa: F821
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code in (0, 2), f"exit {result.exit_code}: {result.output}"
    return result


def _png_ok(out: Path) -> None:
    png = out / "alignment.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not any(p.name.endswith(".staging") for p in out.parent.iterdir())


@pytest.mark.parametrize("tracks, models, by", [
    ([GOOD, BAD, GOOD], ["m1", "m2", "m1"], ["model"]),  # one group all rejected
    ([BAD, BAD], ["m1", "m2"], ["model"]),  # every group all rejected
    ([BAD, BAD], None, []),  # every track rejected, no --by
    ([GOOD, GOOD, GOOD], ["m1", "m2", "m1"], ["model"]),  # a group of one track: std is null
    ([GOOD], None, []),
    ([], ["m1"][:0], ["model"]),  # no rows at all: no group
    ([], None, []),
])
def test_plot_of_groups_without_tracks(tmp_path, tracks, models, by):
    pq.write_table(_table(tracks, models), tmp_path / "d.parquet")
    result = tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", by=by)
    _png_ok(tmp_path / "out")
    accepted = {m for t, m in zip(tracks, models or [None] * len(tracks)) if t is GOOD}
    if by:
        assert set(result.curve["model"].to_list()) == accepted
    cli = _cli("run", tmp_path / "d.parquet", "-o", tmp_path / "cli", *(["--by", "model"] if by else []), "-q")
    assert cli.exit_code == 0


def test_plot_of_many_small_groups_shades_every_track(tmp_path, monkeypatch):
    """Beyond PANELS_MAX groups the panel is one shading of every track, small groups' too."""
    from tf2eng.engine import plot

    shaded = []
    density = plot.curve_density

    def spy(stage_scores, *args):
        shaded.append(stage_scores.shape[0])
        return density(stage_scores, *args)

    monkeypatch.setattr(plot, "curve_density", spy)
    n_groups = plot.PANELS_MAX + 1
    tracks = [GOOD] * (2 * n_groups)
    models = [f"m{i % n_groups:02d}" for i in range(len(tracks))]
    pq.write_table(_table(tracks, models), tmp_path / "d.parquet")
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", by=["model"])
    _png_ok(tmp_path / "out")
    assert sum(shaded) == len(tracks)


def test_plot_memory_is_bounded_on_a_fine_grid(tmp_path):
    """A grid of 10**6 points: the plot draws a coarser sample of it, not a (groups, M, bins) histogram."""
    tracks = [GOOD] * 3 + [[0.5] * 50] * 500  # few tracks drawn as lines, many as a density
    pq.write_table(_table(tracks, ["a"] * 3 + ["b"] * 500), tmp_path / "d.parquet")
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "warm", by=["model"], plot=False)
    tracemalloc.start()
    try:
        tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", by=["model"], stages=1, grid_step=1e-6)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _png_ok(tmp_path / "out")
    assert peak < 400 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_every_panel_column_has_its_x_axis_labelled(tmp_path, monkeypatch):
    """Four groups in rows of three: the two top-row panels with nothing below them keep their x axis."""
    from matplotlib.figure import Figure

    figures = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (figures.append(self), save(self, *a, **k)))
    tracks = [GOOD] * 4
    pq.write_table(_table(tracks, ["a", "b", "c", "d"]), tmp_path / "d.parquet")
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", by=["model"])
    visible = [ax for ax in figures[0].axes if ax.get_visible()]
    assert len(visible) == 4
    for ax in visible:
        box = ax.get_position()
        below = [o for o in visible if o is not ax and abs(o.get_position().x0 - box.x0) < 1e-6
                 and o.get_position().y0 < box.y0]
        if not below:
            assert ax.get_xlabel(), ax.get_title()
            assert any(label.get_visible() for label in ax.get_xticklabels()), ax.get_title()
