"""Regressions found by reviewing the statistics features (confidence bands, sweeps, tf2eng compare, the
figure's options) against README."""

from __future__ import annotations

import warnings

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tf2eng
from conftest import wide_table
from tf2eng.engine.errors import InputError


def _groups_table() -> pa.Table:
    """Three groups; "a", first in sorted order, has only a rejected track (a NaN score)."""
    tracks = [[0.1, float("nan"), 0.3], [0.2, 0.9, 0.4, 0.1], [0.5, 0.6, 0.2], [0.3, 0.8, 0.7, 0.1, 0.2],
              [0.9, 0.1, 0.4]]
    return wide_table(tracks, [0, 1, 0, 2, 0], extra={"g": ["a", "b", "b", "c", "c"]})


def test_sweep_figure_puts_its_legend_on_a_panel_with_tracks_when_the_first_group_has_none():
    aligned = tf2eng.align(_groups_table(), by="g", lam=[0.5, 1.0], ci=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns of a legend() call on a panel without artists
        fig = aligned.plot()
    legends = [ax for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == 1
    assert legends[0].get_title().startswith("g=b\n")  # the first group with tracks


@pytest.mark.parametrize("lam", [0.7, [0.5, 1.0]])
def test_the_lowest_plot_dpi_draws_the_png(tmp_path, lam):
    from tf2eng.engine.options import MIN_PLOT_DPI

    pq.write_table(_groups_table(), tmp_path / "d.parquet")
    result = tf2eng.run(tmp_path / "d.parquet", tmp_path / "o", by="g", lam=lam, ci=0.9, plot_dpi=MIN_PLOT_DPI)
    assert (result.out / "alignment.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(InputError, match=f"from {MIN_PLOT_DPI} to 600, got {MIN_PLOT_DPI - 1}$"):
        tf2eng.run(tmp_path / "d.parquet", tmp_path / "p", plot_dpi=MIN_PLOT_DPI - 1)


def test_compare_takes_by_text_of_any_arrow_string_type(tmp_path):
    """One dataset written with the --by column as string, and again as large_string (as polars writes
    text): the two runs hold the same tracks and compare paired, as two runs of one file do."""
    table = _groups_table()
    large = table.set_column(table.schema.get_field_index("g"), "g", table["g"].cast(pa.large_string()))
    pq.write_table(table, tmp_path / "a.parquet")
    pq.write_table(large, tmp_path / "b.parquet")
    tf2eng.run(tmp_path / "a.parquet", tmp_path / "A", by="g", plot=False)
    tf2eng.run(tmp_path / "a.parquet", tmp_path / "A2", by="g", plot=False, lam=0.5)
    tf2eng.run(tmp_path / "b.parquet", tmp_path / "B", by="g", plot=False, lam=0.5)
    mixed = tf2eng.compare(tmp_path / "A", tmp_path / "B", tmp_path / "AB", plot=False)
    alike = tf2eng.compare(tmp_path / "A", tmp_path / "A2", tmp_path / "AA2", plot=False)
    assert mixed.summary["comparison"] == "paired"
    for name in ("compare", "compare_stages"):
        a, b = getattr(mixed, name), getattr(alike, name)
        assert a.columns == b.columns and a.rows() == b.rows()


def test_compare_names_a_modified_mean_as_a_plain_number(tmp_path):
    import polars as pl

    pq.write_table(_groups_table(), tmp_path / "d.parquet")
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "A", plot=False)
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "B", plot=False)
    means = pl.read_parquet(tmp_path / "B" / "stage_means.parquet")
    means.with_columns(pl.col("mean") + 0.25).write_parquet(tmp_path / "B" / "stage_means.parquet")
    with pytest.raises(InputError) as error:
        tf2eng.compare(tmp_path / "A", tmp_path / "B", tmp_path / "AB", plot=False)
    message = str(error.value)
    assert "stage_means.parquet: does not match its stages/ (row 0: count 4, mean " in message
    assert "np." not in message  # numpy's repr of its scalars, np.float64(...), is no message for a user


def _as_string_views(table: pa.Table, names) -> pa.Table:
    for name in names:
        table = table.set_column(table.schema.get_field_index(name), name, table[name].cast(pa.string_view()))
    return table


def test_string_view_id_and_by_columns_are_read_as_text(tmp_path):
    """README, Confidence bands: the weights do not depend on the Arrow string type of the ids; the wide
    layout took Arrow's take on a string_view column, which has no kernel for it (an internal error)."""
    import pyarrow.feather as feather

    table = _groups_table()
    views = _as_string_views(table, ["video_id", "g"])
    plain = tf2eng.align(table, by="g", bootstrap=5, seed=3)
    aligned = tf2eng.align(views, by="g", bootstrap=5, seed=3)
    for name in ("stage_means", "curve", "stages"):
        assert getattr(aligned, name).rows() == getattr(plain, name).rows()
    assert aligned.rejected["video_id"].to_list() == ["v0000"]
    feather.write_feather(views, tmp_path / "d.arrow", compression="uncompressed")
    result = tf2eng.run(tmp_path / "d.arrow", tmp_path / "o", by="g", bootstrap=5, seed=3, plot=False)
    assert result.stage_means.rows() == plain.stage_means.rows()
    assert result.stages().collect().rows() == plain.stages.rows()
    assert pq.read_table(result.out / "rejected.parquet")["video_id"].to_pylist() == ["v0000"]


def test_compare_takes_numpy_numbers_as_tf2eng_run_does(tmp_path):
    import numpy as np

    pq.write_table(_groups_table(), tmp_path / "d.parquet")
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "A", plot=False, bootstrap=np.int64(4), seed=np.uint64(7))
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "B", plot=False, lam=np.float64(0.5))
    numpy_options = tf2eng.compare(tmp_path / "A", tmp_path / "B", tmp_path / "np", plot=False, ci=np.float32(0.5),
                                   bootstrap=np.int64(4), seed=np.uint64(2**64 - 1), stages=np.int32(10))
    plain = tf2eng.compare(tmp_path / "A", tmp_path / "B", tmp_path / "py", plot=False, ci=float(np.float32(0.5)),
                           bootstrap=4, seed=2**64 - 1, stages=10)
    assert numpy_options.summary["options"] == plain.summary["options"]
    assert numpy_options.compare.rows() == plain.compare.rows()
    with pytest.raises(InputError, match="^--bootstrap must be a whole number from 2 to 100,000, got np.True_$"):
        tf2eng.compare(tmp_path / "A", tmp_path / "B", tmp_path / "x", plot=False, bootstrap=np.True_)


def test_run_takes_numpy_numbers_for_every_number_option(tmp_path):
    """numpy float32 and int32 values of --lam, --grid-step and --stages run as the Python numbers they hold
    (summary.json and the unit keys hold them as JSON), not a TypeError after the run's work."""
    import numpy as np

    pq.write_table(_groups_table(), tmp_path / "d.parquet")
    got = tf2eng.run(tmp_path / "d.parquet", tmp_path / "np", plot=False, lam=np.float32(0.5),
                     grid_step=np.float32(0.05), stages=np.int32(8))
    plain = tf2eng.run(tmp_path / "d.parquet", tmp_path / "py", plot=False, lam=float(np.float32(0.5)),
                       grid_step=float(np.float32(0.05)), stages=8)
    assert got.summary["parameters"] == plain.summary["parameters"]
    assert got.curve.rows() == plain.curve.rows()


def test_a_comparison_inside_the_input_directory_is_not_read_as_input(tmp_path):
    """README, Input: tf2eng output directories inside an input directory are skipped; a comparison's
    output (compare.parquet, no _tf2eng/) is one too."""
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(_groups_table(), data / "d.parquet")
    tf2eng.run(data, tmp_path / "A", plot=False)
    tf2eng.run(data, tmp_path / "B", plot=False, lam=0.5)
    tf2eng.compare(tmp_path / "A", tmp_path / "B", data / "a_vs_b", plot=False)
    again = tf2eng.run(data, tmp_path / "A2", plot=False)
    assert again.summary["rows"] == tf2eng.run(data / "d.parquet", tmp_path / "A3", plot=False).summary["rows"]
    assert [f["path"] for f in again.summary["input"]["fingerprint"]["files"]] == [str(data / "d.parquet")]


def test_the_last_level_below_one_gives_finite_t_intervals(tmp_path):
    """--ci 0.9999999999999999 (1 - 2**-53) is below 1, but (1 + level)/2 rounds to 1: the multiplier comes
    from the tail (1 - level)/2 instead.  Closed forms: cot(pi a) for 1 degree of freedom, (1 - 2a) /
    sqrt(2a(1 - a)) for 2, with a = 2**-54."""
    import math

    import numpy as np
    from tf2eng.engine.intervals import t_critical

    level, a = 1 - 2**-53, 2.0**-54
    assert (1 + level) / 2 == 1.0
    assert t_critical(level, 1.0) == pytest.approx(1 / math.tan(math.pi * a), rel=1e-12)
    assert t_critical(level, 2.0) == pytest.approx((1 - 2 * a) / math.sqrt(2 * a * (1 - a)), rel=1e-12)
    table = _groups_table()
    aligned = tf2eng.align(table, by="g", ci=level)
    b = aligned.stage_means.filter(aligned.stage_means["count"] >= 2)
    assert b.height and np.isfinite(b["ci_low"].to_numpy()).all() and np.isfinite(b["ci_high"].to_numpy()).all()
    pq.write_table(table, tmp_path / "d.parquet")
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "A", plot=False)
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "B", plot=False, lam=0.5)
    pq.write_table(table.slice(0, 4), tmp_path / "c.parquet")  # one accepted track fewer
    tf2eng.run(tmp_path / "c.parquet", tmp_path / "C", plot=False, lam=0.5)
    for other, comparison in (("B", "paired"), ("C", "unpaired")):
        result = tf2eng.compare(tmp_path / "A", tmp_path / other, tmp_path / f"A{other}", plot=False, ci=level)
        assert result.summary["comparison"] == comparison
        assert result.compare_stages["ci_high"].drop_nulls().len() > 0


@pytest.mark.parametrize("bootstrap", [None, 4])
def test_compare_runs_grouped_by_an_id_column(tmp_path, bootstrap):
    """--by video_id names an id column: the comparison read the column twice (an internal error)."""
    pq.write_table(_groups_table(), tmp_path / "d.parquet")
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "A", by="video_id", plot=False)
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "B", by="video_id", plot=False, reduce="mean")
    result = tf2eng.compare(tmp_path / "A", tmp_path / "B", tmp_path / "AB", bootstrap=bootstrap)
    assert result.summary["comparison"] == "paired"
    assert result.compare_stages.columns[:2] == ["video_id", "stage"]
    assert sorted(set(result.compare_stages["video_id"])) == ["v0001", "v0002", "v0003", "v0004"]


def test_compare_never_writes_over_an_input_spelled_another_way(tmp_path):
    """README, Comparing two runs: DIR may not be one of the inputs or a directory above one; "A/../A"
    and a symbolic link to A name A (the first replaced OUT_A with the comparison)."""
    pq.write_table(_groups_table(), tmp_path / "d.parquet")
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "A", plot=False)
    tf2eng.run(tmp_path / "d.parquet", tmp_path / "B", plot=False, lam=0.5)
    (tmp_path / "link").symlink_to(tmp_path / "A")
    before = sorted(p.name for p in (tmp_path / "A").iterdir())
    for out in (tmp_path / "A" / ".." / "A", tmp_path / "link", tmp_path / "B" / "..", tmp_path / "link" / ".."):
        with pytest.raises(InputError, match="would replace OUT_[AB]"):
            tf2eng.compare(tmp_path / "A", tmp_path / "B", out, plot=False)
    assert sorted(p.name for p in (tmp_path / "A").iterdir()) == before
    # nor inside one: the next run into A replaces A whole, the comparison with it
    for out in (tmp_path / "A" / "cmp", tmp_path / "link" / "x" / "cmp"):
        with pytest.raises(InputError, match="lies inside OUT_A"):
            tf2eng.compare(tmp_path / "A", tmp_path / "B", out, plot=False)
    assert sorted(p.name for p in (tmp_path / "A").iterdir()) == before
    assert tf2eng.compare(tmp_path / "A", tmp_path / "B", tmp_path / "AB", plot=False).summary["comparison"] == "paired"
