"""tf2eng.align: the same tables as tf2eng run on the same tracks, from every kind of input, with no file
written; the same exceptions for the same bad options."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import reference
import tf2eng
from conftest import INTEGER_TYPES, key_in_type
from tf2eng.engine import long as long_module
from tf2eng.engine import memory
from tf2eng.engine.errors import InputError, RejectedRowError

GOOD = st.floats(0.0, 1.0)
BAD = st.sampled_from([None, math.nan, math.inf, -0.25, 1.5])
FRAMES = ("stages", "stage_means", "curve", "rejected")


@st.composite
def track(draw):
    kind = draw(st.sampled_from(["good"] * 5 + ["bad", "null", "empty"]))
    if kind == "null":
        return None, draw(st.none() | st.integers(0, 3))
    if kind == "empty":
        return [], 0
    scores = draw(st.lists(GOOD, min_size=1, max_size=40))
    if kind == "bad":
        scores[draw(st.integers(0, len(scores) - 1))] = draw(BAD)
    key = draw(st.one_of(st.none(), st.integers(-1, len(scores)), st.integers(0, len(scores) - 1)))
    return scores, key


@st.composite
def datasets(draw):
    drawn = draw(st.lists(track(), min_size=0, max_size=14))
    n = len(drawn)
    key_type = draw(st.sampled_from(INTEGER_TYPES))
    columns = {
        "video_id": pa.array([None if draw(st.integers(0, 15)) == 0 else f"v{i:03d}" for i in range(n)], pa.string()),
        "exp_id": pa.array(np.arange(n) % 2, pa.int32()),
        "category": pa.array([draw(st.sampled_from(["a", "b", None])) for _ in range(n)], pa.string()),
        "scores": pa.array([s for s, _ in drawn], pa.list_(draw(st.sampled_from([pa.float32(), pa.float64()])))),
    }
    if draw(st.booleans()):
        columns["key_frame"] = pa.array([key_in_type(k, key_type) for _, k in drawn], key_type)
    options = dict(
        lam=draw(st.sampled_from([0.7, 1.0, 2.5])),
        stages=draw(st.integers(1, 12)),
        reduce=draw(st.sampled_from(["sum", "mean"])),
        grid_step=draw(st.sampled_from([0.01, 0.05, 0.25])),
        normalize=draw(st.sampled_from(["none", "minmax"])),
        by=draw(st.sampled_from([(), ("category",)])),
    )
    return pa.table(columns), options, draw(st.integers(1, 5))


def run_frames(path, out, **options) -> dict:
    """The four tables tf2eng run writes, read back; rejected without its source (the file)."""
    result = tf2eng.run(path, out, plot=False, **options)
    out = Path(out)
    stages = pl.read_parquet(out / "stages" / "*.parquet")
    rejected = pl.read_parquet(out / "rejected.parquet")
    return {"stages": stages, "stage_means": pl.read_parquet(out / "stage_means.parquet"),
            "curve": pl.read_parquet(out / "curve.parquet"), "rejected": rejected, "summary": result.summary}


def assert_same(alignment, want: dict) -> None:
    for name in FRAMES:
        got = getattr(alignment, name)
        expected = want[name]
        if name == "rejected":
            assert got["source"].null_count() == got.height
            got, expected = got.drop("source"), expected.drop("source")
        assert_frame_equal(got, expected, check_exact=True)
    assert alignment.summary["rows"] == want["summary"]["rows"]
    assert alignment.summary["parameters"] == want["summary"]["parameters"]
    assert alignment.summary["columns"] == want["summary"]["columns"]
    assert alignment.summary["groups"] == want["summary"]["groups"]


def as_kind(table: pa.Table, kind: str, pieces: int):
    """``table`` as an input of the given kind, cut into ``pieces`` batches where it has batches."""
    if kind == "table":
        size = max(1, math.ceil(table.num_rows / pieces))
        return pa.Table.from_batches(table.to_batches(max_chunksize=size), table.schema)
    if kind == "reader":
        size = max(1, math.ceil(table.num_rows / pieces))
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=size))
    if kind == "polars":
        return pl.from_arrow(table)
    if kind == "lazy":
        return pl.from_arrow(table).lazy()
    raise AssertionError(kind)


@settings(max_examples=25)
@given(datasets(), st.sampled_from(["table", "reader", "polars", "lazy"]))
def test_align_matches_run(tmp_path_factory, drawn, kind):
    table, options, pieces = drawn
    tmp = tmp_path_factory.mktemp("run")
    pq.write_table(table, tmp / "data.parquet")
    want = run_frames(tmp / "data.parquet", tmp / "out", **options)
    got = tf2eng.align(as_kind(table, kind, pieces), **options)
    assert_same(got, want)


def test_align_against_the_reference():
    """Independent of tf2eng run: the numpy reference's stage scores, reasons and mean curve."""
    rng = np.random.default_rng(7)
    scores = [rng.random(int(rng.integers(1, 50))).tolist() for _ in range(30)] + [[0.5, 1.5], None, []]
    got = tf2eng.align(pl.DataFrame({"video_id": [f"v{i}" for i in range(len(scores))],
                                     "scores": pl.Series(scores, dtype=pl.List(pl.Float64))}))
    reasons, tracks, aggs = reference.dataset(scores, [None] * len(scores), has_key=False)
    rejected = dict(zip(got.rejected["video_id"], got.rejected["reason"]))
    stages = {row["video_id"]: row for row in got.stages.iter_rows(named=True)}
    for i, (reason, expected) in enumerate(zip(reasons, tracks)):
        if reason is not None:
            assert rejected[f"v{i}"] == reason
            continue
        np.testing.assert_allclose(stages[f"v{i}"]["stage_scores"], expected["Y"], rtol=1e-12)
        assert stages[f"v{i}"]["key_frame"] == expected["key_frame"]
    assert got.rejected["row"].to_list() == [30, 31, 32]
    count, mean, _ = aggs[None]["curve"]
    assert got.curve["count"].to_list() == count.tolist()
    np.testing.assert_allclose(got.curve["mean"].fill_null(np.nan).to_numpy(), mean, rtol=1e-9)


def long_rows(table: pa.Table, seed: int) -> pl.DataFrame:
    """The wide table's tracks as one row per frame, in a shuffled order, with string frame labels."""
    df = pl.from_arrow(table).filter(pl.col("scores").list.len() > 0)
    df = df.with_columns(pl.int_ranges(0, pl.col("scores").list.len()).alias("frame"))
    df = df.explode(["scores", "frame"]).rename({"scores": "score"})
    df = df.with_columns(pl.format("{}", pl.col("frame").cast(pl.String).str.zfill(5)).alias("frame"))
    return df.sample(fraction=1.0, shuffle=True, seed=seed)


@settings(max_examples=15)
@given(datasets(), st.integers(0, 2**16), st.sampled_from(["polars", "lazy", "reader"]))
def test_align_matches_run_long(tmp_path_factory, drawn, seed, kind):
    """The long layout: the drawn tracks as shuffled frame rows, the key frame repeated on each."""
    table, options, pieces = drawn
    frames = long_rows(table, seed).to_arrow()
    tmp = tmp_path_factory.mktemp("run")
    pq.write_table(frames, tmp / "long.parquet")
    want = run_frames(tmp / "long.parquet", tmp / "out", **options)
    assert want["summary"]["input"]["layout"] == "long"
    assert_same(tf2eng.align(as_kind(frames, kind, pieces), **options), want)


@pytest.mark.parametrize("partition_rows", [None, 25])
def test_long_layout_matches_run(tmp_path, monkeypatch, partition_rows):
    """Long layout, grouped at once or (25 rows a partition) in hash partitions: spill files for the
    run, partitions in memory for align, the same tracks in the same order."""
    if partition_rows:
        monkeypatch.setattr(long_module, "PARTITION_ROWS", partition_rows)
    rng = np.random.default_rng(3)
    tracks = [rng.random(int(rng.integers(1, 12))).tolist() for _ in range(40)]
    tracks[5] = [0.2, 0.4, 1.5]  # score_out_of_range
    table = pa.table({"video_id": [f"v{i % 13}" for i in range(40)], "exp_id": np.arange(40) // 13,
                      "category": [["x", "y"][i % 2] for i in range(40)],
                      "scores": pa.array(tracks, pa.list_(pa.float64()))})
    frames = long_rows(table, seed=4)
    frames = frames.with_columns(pl.when(pl.col("video_id") == "v3").then(None).otherwise(pl.col("frame"))
                                 .alias("frame"))  # bad_frame_index for the tracks of v3
    frames = pl.concat([frames, frames.filter(pl.col("video_id") == "v4").head(1)])  # duplicate_frame
    frames.write_parquet(tmp_path / "long.parquet")
    want = run_frames(tmp_path / "long.parquet", tmp_path / "out", by="category")
    assert want["summary"]["rows"]["rejected_by_reason"].keys() == {"score_out_of_range", "bad_frame_index",
                                                                   "duplicate_frame"}
    got = tf2eng.align(frames.lazy(), by="category")
    assert_same(got, want)
    assert got.summary["input"]["layout"] == "long"
    assert got.summary["rows"]["input_frame_rows"] == frames.height


def test_streams_are_read_batch_by_batch(monkeypatch):
    """A reader's first batch is scored before its second is read."""
    pulled = []
    scored_after = []

    def batches():
        for i in range(3):
            pulled.append(i)
            yield pa.record_batch({"video_id": [f"v{i}-{j}" for j in range(70_000)],
                                   "scores": pa.array([[0.5, 0.25]] * 70_000, pa.list_(pa.float32()))})

    schema = pa.schema({"video_id": pa.string(), "scores": pa.list_(pa.float32())})
    score = memory.BatchScorer.score

    def spy(self, batch, origin, pre_reason):
        scored_after.append(len(pulled))
        return score(self, batch, origin, pre_reason)

    monkeypatch.setattr(memory.BatchScorer, "score", spy)
    got = tf2eng.align(pa.RecordBatchReader.from_batches(schema, batches()))
    assert got.summary["rows"]["written"] == 210_000
    assert scored_after[0] == 1  # the first batch of 65,536 rows, before the second was asked for
    assert len(scored_after) == 4  # 210,000 rows in batches of 65,536, as a file's are read


def test_mapping_input(tmp_path):
    """A mapping of (video_id, exp_id) to arrays is the wide table of the same tracks."""
    rng = np.random.default_rng(1)
    data = {("v1", 0): rng.random(20), ("v1", 1): rng.random(7).astype(np.float32), ("v2", 0): np.array([0.2, 1.2]),
            ("v3", 0): np.array([], np.float64)}
    table = pa.table({"video_id": ["v1", "v1", "v2", "v3"], "exp_id": pa.array([0, 1, 0, 0], pa.int64()),
                      "scores": pa.array([a.astype(np.float64).tolist() for a in data.values()],
                                         pa.large_list(pa.float64()))})
    pq.write_table(table, tmp_path / "data.parquet")
    want = run_frames(tmp_path / "data.parquet", tmp_path / "out")
    assert_same(tf2eng.align(data), want)
    named = tf2eng.align({"a": np.array([0.1, 0.9]), "b": np.array([0.3, 0.4], np.float16)}, id_cols="clip")
    assert named.stages["clip"].to_list() == ["a", "b"]
    assert tf2eng.align({7: [0.1, 0.2]}).stages["video_id"].to_list() == [7]


@pytest.mark.parametrize("data, message", [
    ({"a": np.zeros((2, 3))}, "data['a']: scores must be a 1-D array"),
    ({"a": np.array([1, 2])}, "data['a']: scores must be floating-point numbers"),
    ({"a": [0.5], ("b", 1): [0.5]}, "all track ids or all tuples"),
    ({("a", 0): [0.5], ("b", 1, 2): [0.5]}, "different lengths"),
    ({("a", 0, 1): [0.5]}, "name them with id_cols"),
    ({"a": [0.5], 3: [0.5]}, "must be all strings or all integers"),
])
def test_mapping_errors(data, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("(", r"\(")):
        tf2eng.align(data)


def test_pandas_and_arrow_streams(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"video_id": ["a", "b"], "scores": [[0.1, 0.5, 0.2], [0.3, 0.3]]})
    got = tf2eng.align(frame)
    want = tf2eng.align(pa.table({"video_id": ["a", "b"], "scores": [[0.1, 0.5, 0.2], [0.3, 0.3]]}))
    assert_frame_equal(got.stages, want.stages)
    assert got.summary["input"]["type"] == "pandas.DataFrame"


def test_arrow_c_stream_and_wrong_kinds():
    class Stream:  # anything exporting the Arrow C stream, as a DuckDB relation does
        def __arrow_c_stream__(self, requested_schema=None):
            return pa.table({"video_id": ["a"], "scores": [[0.2, 0.8]]}).__arrow_c_stream__(requested_schema)

    assert tf2eng.align(Stream()).stages["key_frame"].to_list() == [1]
    with pytest.raises(TypeError, match="data must be"):
        tf2eng.align([[0.1, 0.2]])


BAD_OPTIONS = [
    dict(lam=-1), dict(lam="x"), dict(stages=0), dict(stages=2.5), dict(reduce="median"), dict(grid_step=0),
    dict(key="first"), dict(normalize="z"), dict(on_invalid="skip"), dict(layout="tall"), dict(by=["category", "category"]),
    dict(id_cols=["video_id", "video_id"]), dict(by="nope"), dict(id_cols="nope"), dict(scores_col="category"),
    dict(key_col="missing"), dict(key_col="category"), dict(by="scores"), dict(id_cols=()), dict(threads=0),
    dict(device="tpu"), dict(layout="long"),
]


@pytest.mark.parametrize("options", BAD_OPTIONS, ids=[str(o) for o in BAD_OPTIONS])
def test_bad_options_raise_as_run_does(tmp_path, options):
    table = pa.table({"video_id": ["a", "b"], "category": ["x", "y"], "scores": [[0.1, 0.5], [0.3, 0.2]]})
    path = tmp_path / "data.parquet"
    pq.write_table(table, path)
    with pytest.raises(Exception) as from_run:
        tf2eng.run(path, tmp_path / "out", plot=False, **options)
    with pytest.raises(Exception) as from_align:
        tf2eng.align(table, **options)
    assert from_align.type is from_run.type
    assert str(from_align.value) == str(from_run.value).replace(str(path), "data")


def test_on_invalid_error_names_the_row():
    table = pa.table({"video_id": ["a", "b", "c"], "scores": [[0.1], [0.3, 7.0], None]})
    with pytest.raises(RejectedRowError, match=r"^data: row 1: score_out_of_range$"):
        tf2eng.align(table, on_invalid="error")
    long = pl.DataFrame({"video_id": ["a", "a"], "frame": [0, 0], "score": [0.1, 0.2]})
    with pytest.raises(RejectedRowError, match=r"^data: track video_id='a': duplicate_frame$"):
        tf2eng.align(long, on_invalid="error")


def _writes(monkeypatch, tmp_path, fn) -> tuple[list, list]:
    """Files opened for writing (Python's audit events) and entries left in a fresh cwd and temp dir."""
    cwd, tmp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    tmp.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    opened = []
    active = [True]

    def hook(event, args):
        if active[0] and event == "open" and len(args) > 1 and isinstance(args[1], str) and any(
                c in args[1] for c in "wax+"):
            opened.append(args[0])

    sys.addaudithook(hook)
    try:
        fn()
    finally:
        active[0] = False
    return opened, sorted(os.listdir(cwd)) + sorted(os.listdir(tmp))


def test_no_file_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(long_module, "PARTITION_ROWS", 10)  # the long layout in several partitions
    wide = pl.DataFrame({"video_id": ["a", "b", "c"], "category": ["x", "y", "x"],
                         "scores": [[0.1, 0.5], [0.3, 2.0], [0.9, 0.1, 0.4]]})
    long = pl.DataFrame({"video_id": ["a"] * 30 + ["b"] * 20, "frame": list(range(30)) + list(range(20)),
                         "score": np.linspace(0, 1, 50)})
    # Kernels compiled, or loaded from numba's cache (which opens a file to see that it may write there), before.
    warm = [tf2eng.align(wide, by="category").plot(), tf2eng.align(long.lazy()).plot()]

    def work():
        tf2eng.align(wide, by="category").plot()
        tf2eng.align(long.lazy()).plot()

    opened, left = _writes(monkeypatch, tmp_path, work)
    assert warm and opened == [] and left == []


# --- the figure -----------------------------------------------------------------------------


def _values(array) -> list:
    """An array as a list that compares equal where the array is (NaN included)."""
    array = np.asarray(array, dtype=np.float64)
    return np.where(np.isnan(array), -1e300, array).tolist()


def _drawn(fig) -> list:
    """What the figure's axes show: lines (data, colour), images, titles, texts, limits."""
    shown = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        shown.append((
            [(_values(line.get_xydata()), line.get_color(), line.get_label()) for line in ax.lines],
            [_values(image.get_array()) for image in ax.images],
            ax.get_title(), [t.get_text() for t in ax.texts], ax.get_xlim(), ax.get_ylim(),
            ax.get_xlabel(), ax.get_ylabel(),
        ))
    return shown


def _figure_data(n_tracks: int, groups: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    tracks = [rng.random(int(rng.integers(2, 30))).tolist() for _ in range(n_tracks)]
    category = [f"c{i % groups}" for i in range(n_tracks)] + ["all-rejected"]
    return pa.table({"video_id": [f"v{i}" for i in range(n_tracks + 1)], "category": category,
                     "scores": pa.array(tracks + [[2.0]], pa.list_(pa.float64()))})


@pytest.mark.parametrize("n_tracks, groups", [(30, 3), (450, 1), (40, 14)], ids=["panels", "shading", "shared"])
def test_same_figure_from_run_result_and_alignment(tmp_path, n_tracks, groups):
    """tf2eng run's alignment.svg, RunResult.plot() and Alignment.plot(): the same drawing, the same bytes."""
    from tf2eng.engine.plot import save

    table = _figure_data(n_tracks, groups, seed=n_tracks)
    pq.write_table(table, tmp_path / "data.parquet")
    result = tf2eng.run(tmp_path / "data.parquet", tmp_path / "out", by="category", plot_format="svg")
    assert result.summary["outputs"][-1] == "alignment.svg"
    from_result = result.plot()
    from_memory = tf2eng.align(pl.from_arrow(table), by="category").plot()
    assert _drawn(from_result) == _drawn(from_memory)
    assert any(lines for lines, *_ in _drawn(from_memory))
    for i, fig in enumerate((from_result, from_memory)):
        save(fig, tmp_path / f"{i}.svg", "svg")
        assert (tmp_path / f"{i}.svg").read_bytes() == (tmp_path / "out" / "alignment.svg").read_bytes()


@pytest.mark.parametrize("plot_format", ["png", "svg", "pdf"])
def test_figures_are_reproducible(tmp_path, plot_format):
    pq.write_table(_figure_data(30, 2, seed=1), tmp_path / "data.parquet")
    outs = []
    for name in ("a", "b"):
        tf2eng.run(tmp_path / "data.parquet", tmp_path / name, by="category", plot_format=plot_format)
        outs.append((tmp_path / name / f"alignment.{plot_format}").read_bytes())
    assert outs[0] == outs[1]
    assert not (tmp_path / "a" / "alignment.png").exists() or plot_format == "png"
    assert outs[0].startswith({"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}[plot_format])


def test_plot_dpi_sets_the_png_size(tmp_path):
    pq.write_table(_figure_data(5, 1, seed=2), tmp_path / "data.parquet")
    sizes = []
    for dpi in (50, 110):
        tf2eng.run(tmp_path / "data.parquet", tmp_path / str(dpi), plot_dpi=dpi)
        head = (tmp_path / str(dpi) / "alignment.png").read_bytes()[16:24]
        sizes.append((int.from_bytes(head[:4], "big"), int.from_bytes(head[4:], "big")))
    assert sizes == [(400, 250), (880, 550)]  # 8 x 5 inches


@pytest.mark.parametrize("options, message", [
    (dict(plot_format="jpg"), "--plot-format must be one of png, svg, pdf, got 'jpg'"),
    (dict(plot_dpi=0), "--plot-dpi must be a whole number from 10 to 600, got 0"),
    (dict(plot_dpi=601), "--plot-dpi must be a whole number from 10 to 600, got 601"),
    (dict(plot_dpi=72.0), "--plot-dpi must be a whole number from 10 to 600, got 72.0"),
])
def test_bad_plot_options(tmp_path, options, message):
    pq.write_table(_figure_data(2, 1, seed=2), tmp_path / "data.parquet")
    with pytest.raises(InputError, match=f"^{message}$"):
        tf2eng.run(tmp_path / "data.parquet", tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


def test_plot_on_given_axes():
    from matplotlib.figure import Figure

    got = tf2eng.align(_figure_data(12, 3, seed=5), by="category")  # 4 groups, one all rejected
    fig = Figure()
    axes = fig.subplots(2, 2)
    assert got.plot(axes) is fig
    assert [ax.get_title() for ax in axes.ravel()] == ["category=all-rejected, 0 tracks", "category=c0, 4 tracks",
                                                       "category=c1, 4 tracks", "category=c2, 4 tracks"]
    new = _drawn(got.plot())  # the same panels as on a new figure (where only the lowest carry an x label)
    assert [(lines, images, title) for lines, images, title, *_ in _drawn(fig)] == \
        [(lines, images, title) for lines, images, title, *_ in new]
    one = Figure().subplots()
    got.plot(one)  # several groups on one Axes: their means in colours, named in the legend
    assert [t.get_text() for t in one.get_legend().get_texts()] == ["category=c0", "category=c1", "category=c2"]
    assert len(one.images) == 1
    with pytest.raises(ValueError, match="one per group"):
        got.plot(list(axes.ravel()[:3]))
    single = tf2eng.align(_figure_data(5, 1, seed=5).slice(0, 5))
    ax = Figure().subplots()
    single.plot(ax)
    assert len(ax.lines) == 5 + 2 and ax.get_title() == "5 tracks"  # the tracks, the mean, the key frame


def test_alignment_without_plot_imports_no_matplotlib():
    code = ("import sys, tf2eng; a = tf2eng.align({'a': [0.2, 0.9]}); "
            "assert a.summary['rows']['written'] == 1; print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_align_on_cuda_matches_run_on_cuda(tmp_path):
    """--device cuda (numba's simulator in the tests): the run's tables."""
    table = _figure_data(12, 2, seed=9)
    pq.write_table(table, tmp_path / "data.parquet")
    want = run_frames(tmp_path / "data.parquet", tmp_path / "out", by="category", device="cuda")
    got = tf2eng.align(table, by="category", device="cuda")
    assert got.summary["device"] == "cuda"
    assert_same(got, want)


def test_align_joins_metadata_like_run(tmp_path):
    """meta= in tf2eng.align joins the same columns and counts as tf2eng.run (README, Dataset metadata)."""
    import json

    meta = tmp_path / "meta_expressions.json"
    meta.write_text(json.dumps({"videos": {"v0": {"expressions": {"0": {"exp": "a cat", "obj_id": "1"}},
                                                  "frames": ["00000", "00005", "00010"]}}}))
    table = pa.table({"video_id": ["v0", "v1"], "exp_id": [0, 0],
                      "scores": pa.array([[0.1, 0.9, 0.3], [0.2, 0.4]], pa.list_(pa.float32()))})
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    run = tf2eng.run(str(path), str(tmp_path / "out"), meta=str(meta), plot=False)
    aligned = tf2eng.align(table, meta=str(meta))
    assert aligned.stages["exp"].to_list() == ["a cat", None]
    assert aligned.stages.equals(pl.read_parquet(tmp_path / "out" / "stages").sort("video_id"))
    assert aligned.summary["meta"]["tracks_matched"] == 1
    assert run.summary["meta"]["tracks_unmatched"] == aligned.summary["meta"]["tracks_unmatched"] == 1


@pytest.mark.parametrize("bands", [{"ci": 0.9}, {"bootstrap": 50, "seed": 3}])
def test_align_bands_are_the_runs(tmp_path, bands):
    """ci=, bootstrap=, seed= give tf2eng.align the bands tf2eng run writes (README, Confidence bands)."""
    rng = np.random.default_rng(5)
    table = pa.table({"video_id": [f"v{i % 7}" for i in range(60)], "exp_id": list(range(60)),
                      "category": ["a", "b", "c"] * 20,
                      "scores": pa.array([rng.random(int(rng.integers(3, 30))) for _ in range(60)],
                                         pa.list_(pa.float64()))})
    pq.write_table(table, tmp_path / "in.parquet")
    run = tf2eng.run(tmp_path / "in.parquet", tmp_path / "out", by="category", plot=False, **bands)
    aligned = tf2eng.align(table, by="category", **bands)
    assert "ci_low" in aligned.curve.columns
    assert_frame_equal(aligned.curve, run.curve)
    assert_frame_equal(aligned.stage_means, run.stage_means)
