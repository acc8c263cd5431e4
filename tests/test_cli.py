"""The tf2eng command end to end: options, messages, exit codes."""

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer.main
from typer.testing import CliRunner

import tf2eng
from conftest import wide_table
from tf2eng.cli.app import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "synth.parquet"
    result = runner.invoke(app, ["synth", str(path), "--tracks", "400", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "400 tracks" in result.output
    return path


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"tf2eng {tf2eng.__version__}"


# --- every option of `tf2eng run`, each with an effect one can see -------------------------


def _run_options() -> set[str]:
    """Every option string of `tf2eng run` (both spellings of a flag pair, short forms too)."""
    command = typer.main.get_command(app).commands["run"]
    names = set()
    for param in command.params:
        if param.param_type_name == "option":
            names |= set(param.opts) | set(param.secondary_opts)
    return names - {"--help"}


def _ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, (args, result.output)
    return result


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def _stages(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "stages").sort("video_id")


@pytest.fixture
def small(tmp_path):
    """Two tracks of two frames, key frames given."""
    path = tmp_path / "small.parquet"
    pq.write_table(wide_table([[0.25, 0.64], [0.04, 0.81]], [1, 0]), path)
    return path


@pytest.fixture
def files(tmp_path):
    """A dataset directory of three files, one bad row among them."""
    d = tmp_path / "files"
    d.mkdir()
    for i in range(3):
        scores = [[0.1, 0.8, 0.3], [0.5, 0.2]] if i else [[0.1, 0.8, 0.3], [0.5, 1.5]]
        pq.write_table(wide_table(scores, [1, 0]), d / f"part-{i}.parquet")
    return d


def _check_out(small, tmp_path, flag):
    _ok("run", small, flag, tmp_path / "here", "--no-plot", "-q")
    assert _summary(tmp_path / "here")["status"] == "complete"
    assert not (tmp_path / "small.tf2eng").exists()
    _ok("run", small, "--no-plot", "-q")  # without it: beside the input
    assert _summary(tmp_path / "small.tf2eng")["status"] == "complete"


def check_out(small, tmp_path, **_):
    _check_out(small, tmp_path, "--out")


def check_o(small, tmp_path, **_):
    _check_out(small, tmp_path, "-o")


def check_lam(small, tmp_path, **_):
    _ok("run", small, "-o", tmp_path / "o", "--lam", "0.5", "--stages", "2", "--no-plot", "-q")
    stages = _stages(tmp_path / "o")
    np.testing.assert_allclose(stages["stage_scores"].to_list(), [[0.5, 0.8], [0.2, 0.9]], rtol=1e-14)
    assert _summary(tmp_path / "o")["parameters"]["lam"] == 0.5
    _ok("run", small, "-o", tmp_path / "sweep", "--lam", "1,0.5", "--stages", "2", "--no-plot", "-q")
    sweep = _stages(tmp_path / "sweep")
    assert sorted(sweep["lam"].to_list()) == [0.5, 0.5, 1.0, 1.0] and sweep["stages"].to_list() == [2] * 4
    half = sweep.filter(pl.col("lam") == 0.5)["stage_scores"].to_list()
    np.testing.assert_allclose(half, [[0.5, 0.8], [0.2, 0.9]], rtol=1e-14)
    assert _summary(tmp_path / "sweep")["parameters"]["lam"] == [0.5, 1.0]


def check_stages(small, tmp_path, **_):
    _ok("run", small, "-o", tmp_path / "o", "--stages", "4", "--no-plot", "-q")
    assert _stages(tmp_path / "o")["stage_counts"].to_list() == [[0, 1, 0, 1]] * 2
    assert pl.read_parquet(tmp_path / "o" / "stage_means.parquet")["stage"].to_list() == [0, 1, 2, 3]
    assert pl.read_parquet(tmp_path / "o" / "curve.parquet").height == round(7 / (4 * 0.01)) + 1
    _ok("run", small, "-o", tmp_path / "sweep", "--stages", "4,2", "--no-plot", "-q")
    means = pl.read_parquet(tmp_path / "sweep" / "stage_means.parquet")
    assert means.select("lam", "stages", "stage").rows() == [(0.7, 2, 0), (0.7, 2, 1)] + [(0.7, 4, k) for k in range(4)]


def check_reduce(small, tmp_path, **_):
    for reduce, want in (("sum", [1.3, 0.2 + 0.9]), ("mean", [0.65, 0.55])):
        _ok("run", small, "-o", tmp_path / reduce, "--reduce", reduce, "--lam", "0.5", "--stages", "1",
            "--no-plot", "-q")
        np.testing.assert_allclose(_stages(tmp_path / reduce)["stage_scores"].list.first().to_list(), want,
                                   rtol=1e-14)


def check_grid_step(small, tmp_path, **_):
    _ok("run", small, "-o", tmp_path / "o", "--grid-step", "0.1", "--no-plot", "-q")
    x = pl.read_parquet(tmp_path / "o" / "curve.parquet")["x"].to_numpy()
    np.testing.assert_allclose(x, -1.0 + np.arange(20) * 0.1, rtol=0, atol=1e-15)


def _named_columns(tmp_path):
    table = pa.table({"vid": ["a", "b"], "s": pa.array([[0.1, 0.9, 0.2], [0.8, 0.1, 0.1]]), "kf": [2, 2]})
    pq.write_table(table, tmp_path / "named.parquet")
    return tmp_path / "named.parquet", ("--scores-col", "s", "--id-cols", "vid", "--no-plot", "-q")


def check_key(tmp_path, **_):
    path, names = _named_columns(tmp_path)
    _ok("run", path, "-o", tmp_path / "col", *names, "--key-col", "kf", "--key", "column")
    assert pl.read_parquet(tmp_path / "col" / "stages")["key_frame"].to_list() == [2, 2]
    _ok("run", path, "-o", tmp_path / "auto", *names, "--key-col", "kf", "--key", "auto")
    assert pl.read_parquet(tmp_path / "auto" / "stages")["key_frame"].to_list() == [1, 0]


def check_key_col(tmp_path, **_):
    path, names = _named_columns(tmp_path)
    _ok("run", path, "-o", tmp_path / "kf", *names, "--key-col", "kf")
    assert pl.read_parquet(tmp_path / "kf" / "stages")["key_frame"].to_list() == [2, 2]
    _ok("run", path, "-o", tmp_path / "none", *names)  # no key_frame column: the arg-max
    assert pl.read_parquet(tmp_path / "none" / "stages")["key_frame"].to_list() == [1, 0]


def check_scores_col(tmp_path, **_):
    path, _ = _named_columns(tmp_path)
    result = invoke("run", path, "-o", tmp_path / "missing", "--id-cols", "vid")
    assert result.exit_code == 2 and "missing column 'scores'" in result.stderr
    _ok("run", path, "-o", tmp_path / "s", "--scores-col", "s", "--id-cols", "vid", "--no-plot", "-q")
    assert pl.read_parquet(tmp_path / "s" / "stages")["T"].to_list() == [3, 3]


def _long_table(tmp_path, frame="frame"):
    table = pa.table({"video_id": ["a", "a", "a", "b", "b"], frame: [2, 0, 1, 1, 0],
                      "score": [0.3, 0.1, 0.9, 0.2, 0.6]})
    pq.write_table(table, tmp_path / "long.parquet")
    return tmp_path / "long.parquet"


def check_frame_col(tmp_path, **_):
    path = _long_table(tmp_path, frame="f")
    result = invoke("run", path, "-o", tmp_path / "missing", "--layout", "long")
    assert result.exit_code == 2 and "missing column 'frame'" in result.stderr
    _ok("run", path, "-o", tmp_path / "o", "--layout", "long", "--frame-col", "f", "--no-plot", "-q")
    stages = _stages(tmp_path / "o")
    assert stages["T"].to_list() == [3, 2] and stages["key_frame"].to_list() == [1, 0]


def check_layout(tmp_path, **_):
    path = _long_table(tmp_path)
    result = invoke("run", path, "-o", tmp_path / "wide", "--layout", "wide")
    assert result.exit_code == 2 and "missing column 'scores'" in result.stderr
    _ok("run", path, "-o", tmp_path / "long", "--layout", "long", "--no-plot", "-q")
    assert _summary(tmp_path / "long")["input"]["layout"] == "long"
    assert _stages(tmp_path / "long")["T"].to_list() == [3, 2]


def check_format(tmp_path, **_):
    """Detected by the name; --format forces one (a misnamed file), or picks one kind in a directory."""
    lines = '{"video_id": "a", "scores": [0.2, 0.9, 0.1]}\n{"video_id": "b", "scores": [0.7, 0.3]}\n'
    (tmp_path / "d.jsonl").write_text(lines)
    _ok("run", tmp_path / "d.jsonl", "-o", tmp_path / "o", "--no-plot", "-q")
    assert _summary(tmp_path / "o")["input"]["format"] == "jsonl"
    assert _stages(tmp_path / "o")["key_frame"].to_list() == [1, 0]
    (tmp_path / "d.txt").write_text(lines)
    result = invoke("run", tmp_path / "d.txt", "-o", tmp_path / "t")
    assert result.exit_code == 2 and "give --format" in result.stderr
    _ok("run", tmp_path / "d.txt", "-o", tmp_path / "t", "--format", "jsonl", "--no-plot", "-q")
    assert _stages(tmp_path / "t")["T"].to_list() == [3, 2]
    result = invoke("run", tmp_path / "d.jsonl", "-o", tmp_path / "c", "--format", "csv")
    assert result.exit_code == 2 and "d.jsonl" in result.stderr
    assert invoke("run", tmp_path / "d.jsonl", "--format", "xml").exit_code == 2


def check_id_cols(tmp_path, **_):
    table = pa.table({"video_id": ["a", "a"], "take": [1, None], "scores": pa.array([[0.5, 0.1]] * 2)})
    pq.write_table(table, tmp_path / "ids.parquet")
    _ok("run", tmp_path / "ids.parquet", "-o", tmp_path / "o", "--id-cols", "video_id,take", "--no-plot", "-q")
    assert pl.read_parquet(tmp_path / "o" / "stages")["take"].to_list() == [1]
    assert pl.read_parquet(tmp_path / "o" / "rejected.parquet")["reason"].to_list() == ["null_id"]
    assert _summary(tmp_path / "o")["columns"]["ids"] == ["video_id", "take"]


def check_by(dataset, tmp_path, **_):
    _ok("run", dataset, "-o", tmp_path / "o", "--by", "category", "--no-plot", "-q")
    means = pl.read_parquet(tmp_path / "o" / "stage_means.parquet")
    categories = pl.read_parquet(dataset)["category"].unique().sort().to_list()
    assert means["category"].unique(maintain_order=True).to_list() == categories and len(categories) > 1
    assert means.height == 10 * len(categories)


def check_normalize(tmp_path, **_):
    pq.write_table(wide_table([[2.0, 4.0, 3.0]], [1]), tmp_path / "wide.parquet")
    _ok("run", tmp_path / "wide.parquet", "-o", tmp_path / "none", "--no-plot", "-q")
    assert pl.read_parquet(tmp_path / "none" / "rejected.parquet")["reason"].to_list() == ["score_out_of_range"]
    _ok("run", tmp_path / "wide.parquet", "-o", tmp_path / "mm", "--normalize", "minmax", "--stages", "3",
        "--lam", "1", "--no-plot", "-q")
    assert _stages(tmp_path / "mm")["stage_scores"].to_list() == [[0.0, 1.0, 0.5]]


def check_on_invalid(files, tmp_path, **_):
    _ok("run", files, "-o", tmp_path / "q", "--on-invalid", "quarantine", "--no-plot", "-q")
    assert _summary(tmp_path / "q")["rows"]["rejected"] == 1
    result = invoke("run", files, "-o", tmp_path / "e", "--on-invalid", "error", "--no-plot")
    assert result.exit_code == 2 and "part-0.parquet: row 1: score_out_of_range" in result.stderr
    assert not (tmp_path / "e").exists()


def check_threads(small, tmp_path, **_):
    before = numba.get_num_threads()
    try:
        _ok("run", small, "-o", tmp_path / "o", "--threads", "1", "--no-plot", "-q")
        assert _summary(tmp_path / "o")["threads"] == 1
    finally:
        numba.set_num_threads(before)
    result = invoke("run", small, "-o", tmp_path / "bad", "--threads", "0")
    assert result.exit_code == 2 and "--threads must be between 1 and" in result.stderr


def check_plot(small, tmp_path, **_):
    _ok("run", small, "-o", tmp_path / "o", "--plot", "-q")
    assert (tmp_path / "o" / "alignment.png").read_bytes()[:4] == b"\x89PNG"
    assert "alignment.png" in _summary(tmp_path / "o")["outputs"]


def check_no_plot(small, tmp_path, **_):
    _ok("run", small, "-o", tmp_path / "o", "--no-plot", "-q")
    assert not (tmp_path / "o" / "alignment.png").exists()
    assert "alignment.png" not in _summary(tmp_path / "o")["outputs"]


def check_plot_format(small, tmp_path, **_):
    _ok("run", small, "-o", tmp_path / "o", "--plot-format", "svg", "-q")
    assert (tmp_path / "o" / "alignment.svg").read_bytes().startswith(b"<?xml")
    assert not (tmp_path / "o" / "alignment.png").exists()
    assert "alignment.svg" in _summary(tmp_path / "o")["outputs"]
    result = invoke("run", small, "-o", tmp_path / "bad", "--plot-format", "jpg")
    assert result.exit_code == 2 and "--plot-format" in result.stderr


def check_plot_dpi(small, tmp_path, **_):
    _ok("run", small, "-o", tmp_path / "o", "--plot-dpi", "30", "-q")
    assert (tmp_path / "o" / "alignment.png").read_bytes()[16:24] == (240).to_bytes(4, "big") + (150).to_bytes(4, "big")
    result = invoke("run", small, "-o", tmp_path / "bad", "--plot-dpi", "0")
    assert result.exit_code == 2
    assert result.stderr.strip() == "tf2eng: error: --plot-dpi must be a whole number from 10 to 600, got 0"
    assert not (tmp_path / "bad").exists()


def check_device(small, tmp_path, **_):
    from tf2eng.kernels import cuda as cuda_kernels

    _ok("run", small, "-o", tmp_path / "cpu", "--device", "cpu", "--no-plot", "-q")
    assert _summary(tmp_path / "cpu")["device"] == "cpu"
    # auto takes a real GPU only: under the simulator of the tests it is the CPU.
    _ok("run", small, "-o", tmp_path / "auto", "--device", "auto", "--no-plot", "-q")
    assert _summary(tmp_path / "auto")["device"] == ("cuda" if cuda_kernels.usable() and not cuda_kernels.SIMULATOR
                                                      else "cpu")
    result = invoke("run", small, "-o", tmp_path / "cuda", "--device", "cuda", "--no-plot", "-q")
    if cuda_kernels.usable():
        assert result.exit_code == 0, result.output
        assert _summary(tmp_path / "cuda")["device"] == "cuda"
        np.testing.assert_allclose(_stages(tmp_path / "cuda")["stage_scores"].to_list(),
                                   _stages(tmp_path / "cpu")["stage_scores"].to_list(), rtol=1e-12)
    else:
        assert result.exit_code == 2 and "--device cuda" in result.stderr


@pytest.fixture
def in_process_cluster(monkeypatch):
    """Local Dask clusters of threads in this process (quick to start), recording how they were asked for."""
    distributed = pytest.importorskip("dask.distributed")
    started = []

    class ThreadCluster(distributed.LocalCluster):
        def __init__(self, n_workers=None, **kwargs):
            started.append(n_workers)
            kwargs["processes"] = False
            super().__init__(n_workers=n_workers, **kwargs)

    monkeypatch.setattr(distributed, "LocalCluster", ThreadCluster)
    return distributed, started


def _digests(out: Path) -> dict:
    return _summary(out)["digests"]


def check_engine(files, tmp_path, in_process_cluster, **_):
    _, started = in_process_cluster
    _ok("run", files, "-o", tmp_path / "local", "--engine", "local", "--no-plot", "-q")
    assert _summary(tmp_path / "local")["engine"] == "local" and started == []
    _ok("run", files, "-o", tmp_path / "dask", "--engine", "dask", "--no-plot", "-q")
    assert _summary(tmp_path / "dask")["engine"] == "dask" and len(started) == 1
    assert _digests(tmp_path / "dask") == _digests(tmp_path / "local")


def check_workers(files, tmp_path, in_process_cluster, **_):
    _, started = in_process_cluster
    _ok("run", files, "-o", tmp_path / "o", "--engine", "dask", "--workers", "3", "--no-plot", "-q")
    assert started == [3]
    assert _summary(tmp_path / "o")["rows"]["read"] == 6


def check_scheduler(files, tmp_path, in_process_cluster, **_):
    distributed, started = in_process_cluster
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        started.clear()
        _ok("run", files, "-o", tmp_path / "o", "--engine", "dask", "--scheduler", cluster.scheduler_address,
            "--no-plot", "-q")
        assert started == []  # no cluster of its own: the tasks ran on this scheduler
        assert any(prefix.startswith("tf2eng-unit") for prefix in cluster.scheduler.task_prefixes)
    assert _summary(tmp_path / "o")["engine"] == "dask"


class _Killed(BaseException):
    pass


def _killed_run(files, out):
    """What a run killed after its last unit commit leaves: its staging directory, units committed."""
    staging = out.parent / f".{out.name}.staging"
    snapshot = out.parent / "snapshot"
    units = len(list(files.glob("*.parquet")))
    seen = []

    def log(event):
        if event["event"] == "unit":
            seen.append(event)
            if len(seen) == units:
                shutil.copytree(staging, snapshot)
                raise _Killed

    with pytest.raises(_Killed):
        tf2eng.run(files, out, plot=False, log=log)
    shutil.rmtree(staging, ignore_errors=True)
    snapshot.rename(staging)


def check_resume(files, tmp_path, monkeypatch, **_):
    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "1")  # a unit per file
    out = tmp_path / "o"
    _killed_run(files, out)
    _ok("run", files, "-o", out, "--resume", "--no-plot", "-q")
    assert _summary(out)["units"] == {"total": 3, "processed": 0, "resumed": 3, "reused": 0}
    _killed_run(files, tmp_path / "again")
    _ok("run", files, "-o", tmp_path / "again", "--no-plot", "-q")  # without it: a fresh start
    assert _summary(tmp_path / "again")["units"]["processed"] == 3
    assert _digests(tmp_path / "again") == _digests(out)


def check_full(files, tmp_path, monkeypatch, **_):
    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "1")  # a unit per file
    out = tmp_path / "o"
    _ok("run", files, "-o", out, "--no-plot", "-q")
    _ok("run", files, "-o", out, "--no-plot", "-q")
    assert _summary(out)["units"] == {"total": 3, "processed": 0, "resumed": 0, "reused": 3}
    _ok("run", files, "-o", out, "--full", "--no-plot", "-q")
    assert _summary(out)["units"] == {"total": 3, "processed": 3, "resumed": 0, "reused": 0}


def check_strict(small, files, tmp_path, **_):
    result = invoke("run", files, "-o", tmp_path / "bad", "--strict", "--no-plot")
    assert result.exit_code == 3 and "1 rows rejected (--strict)" in result.stderr
    assert _summary(tmp_path / "bad")["status"] == "complete"  # the results are still committed
    assert invoke("run", files, "-o", tmp_path / "lax", "--no-plot", "-q").exit_code == 0
    assert invoke("run", small, "-o", tmp_path / "good", "--strict", "--no-plot", "-q").exit_code == 0


def check_log_format(files, tmp_path, **_):
    result = _ok("run", files, "-o", tmp_path / "o", "--log-format", "json", "--no-plot")
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert [e["event"] for e in events] == ["start", "unit", "complete"]  # three small files, one unit
    assert events[1]["file"].endswith("(3 files)") and events[1]["status"] == "processed"
    assert events[-1]["rows"]["rejected"] == 1
    result = invoke("run", files, "-o", tmp_path / "e", "--log-format", "json", "--on-invalid", "error")
    assert result.exit_code == 2
    error = json.loads(result.stderr.splitlines()[-1])
    assert error["event"] == "error" and error["exit_code"] == 2 and "score_out_of_range" in error["message"]
    plain = _ok("run", files, "-o", tmp_path / "t", "--log-format", "text", "--no-plot")
    assert plain.stderr == "" and "6 tracks read" in plain.stdout


def check_json(small, tmp_path, **_):
    result = _ok("run", small, "-o", tmp_path / "o", "--json", "--no-plot")
    assert json.loads(result.stdout) == _summary(tmp_path / "o")


def _check_quiet(small, tmp_path, flag):
    result = _ok("run", small, "-o", tmp_path / "o", "--no-plot", flag)
    assert result.stdout == "" and result.stderr == ""
    loud = _ok("run", small, "-o", tmp_path / "o", "--no-plot")
    assert "2 tracks read, 2 written, 0 rejected" in loud.stdout


def check_quiet(small, tmp_path, **_):
    _check_quiet(small, tmp_path, "--quiet")


def check_q(small, tmp_path, **_):
    _check_quiet(small, tmp_path, "-q")


def check_ci(dataset, tmp_path, **_):
    _ok("run", dataset, "-o", tmp_path / "o", "--ci", "0.9", "--no-plot", "-q")
    curve = pl.read_parquet(tmp_path / "o" / "curve.parquet").drop_nulls("ci_low")
    assert curve.height and (curve["ci_low"] <= curve["mean"]).all() and (curve["mean"] <= curve["ci_high"]).all()
    assert _summary(tmp_path / "o")["parameters"]["ci"] == 0.9


def check_bootstrap(dataset, tmp_path, **_):
    _ok("run", dataset, "-o", tmp_path / "o", "--bootstrap", "30", "--no-plot", "-q")
    stage_means = pl.read_parquet(tmp_path / "o" / "stage_means.parquet")
    assert stage_means["ci_low"].null_count() == 0 and (stage_means["ci_low"] < stage_means["ci_high"]).all()
    assert _summary(tmp_path / "o")["parameters"]["ci"] == 0.95  # --bootstrap alone: level 0.95
    _ok("run", dataset, "-o", tmp_path / "n", "--ci", "0.95", "--no-plot", "-q")
    assert not pl.read_parquet(tmp_path / "n" / "stage_means.parquet").equals(stage_means)


def check_seed(dataset, tmp_path, **_):
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        _ok("run", dataset, "-o", tmp_path / name, "--bootstrap", "20", "--seed", seed, "--no-plot", "-q")
    digests = {name: _summary(tmp_path / name)["digests"]["curve.parquet"] for name in "abc"}
    assert digests["a"] == digests["b"] != digests["c"]


OPTION_CHECKS = {
    "--out": check_out, "-o": check_o, "--lam": check_lam, "--stages": check_stages, "--reduce": check_reduce,
    "--grid-step": check_grid_step, "--key": check_key, "--key-col": check_key_col,
    "--scores-col": check_scores_col, "--frame-col": check_frame_col, "--id-cols": check_id_cols,
    "--by": check_by, "--layout": check_layout, "--format": check_format,
    "--normalize": check_normalize, "--on-invalid": check_on_invalid,
    "--threads": check_threads, "--plot": check_plot, "--no-plot": check_no_plot, "--plot-format": check_plot_format,
    "--plot-dpi": check_plot_dpi, "--device": check_device,
    "--engine": check_engine, "--scheduler": check_scheduler, "--workers": check_workers,
    "--resume": check_resume, "--full": check_full, "--strict": check_strict, "--log-format": check_log_format,
    "--json": check_json, "--quiet": check_quiet, "-q": check_q,
    "--ci": check_ci, "--bootstrap": check_bootstrap, "--seed": check_seed,
}


def check_meta(tmp_path, **_):
    """--meta, repeatable: Ref-YouTube-VOS meta_expressions.json and meta.json (README, Dataset metadata)."""
    expressions = {"videos": {"v1": {"expressions": {"0": {"exp": "a dog", "obj_id": "1"},
                                                     "1": {"exp": "a cat", "obj_id": "2"}},
                                     "frames": ["00000", "00005", "00010"]}}}
    objects = {"videos": {"v1": {"objects": {"1": {"category": "dog"}, "2": {"category": "cat"}}}}}
    (tmp_path / "meta_expressions.json").write_text(json.dumps(expressions))
    (tmp_path / "meta.json").write_text(json.dumps(objects))
    table = pa.table({"video_id": ["v1", "v1", "v2"], "exp_id": [0, 1, 0],
                      "scores": [[0.1, 0.9, 0.2], [0.3, 0.2, 0.8], [0.5, 0.6, 0.7]], "key_frame": ["00005", "00010", None]})
    pq.write_table(table, tmp_path / "d.parquet")
    result = _ok("run", tmp_path / "d.parquet", "-o", tmp_path / "o", "--meta", tmp_path / "meta_expressions.json",
                 "--meta", tmp_path / "meta.json", "--by", "category", "--no-plot")
    assert "metadata: 2 of 3 tracks matched" in result.stdout
    stages = _stages(tmp_path / "o").sort("exp_id")
    assert stages.select("category", "exp", "key_frame").rows() == [("dog", "a dog", 1), ("cat", "a cat", 2)]
    summary = _summary(tmp_path / "o")
    assert summary["meta"]["tracks_matched"] == 2 and summary["meta"]["tracks_unmatched"] == 1
    assert summary["parameters"]["meta"] == [str(tmp_path / "meta_expressions.json"), str(tmp_path / "meta.json")]


OPTION_CHECKS["--meta"] = check_meta


def test_every_run_option_has_a_check():
    """A new option of `tf2eng run` needs an entry in OPTION_CHECKS; each is listed in --help."""
    assert _run_options() == set(OPTION_CHECKS)
    help_text = invoke("run", "--help").output
    for option in OPTION_CHECKS:
        assert re.search(rf"(^|[\s,/]){re.escape(option)}\b", help_text), option


@pytest.mark.parametrize("option", list(OPTION_CHECKS))
def test_run_option(option, request):
    """The option's check, given the fixtures it names."""
    check = OPTION_CHECKS[option]
    named = [p.name for p in inspect.signature(check).parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    check(**{name: request.getfixturevalue(name) for name in named})


def test_run_json(dataset, tmp_path):
    result = invoke("run", dataset, "-o", tmp_path / "out", "--json", "--no-plot", "--by", "category",
                    "--reduce", "mean", "--stages", "8", "--lam", "0.5")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "complete"
    assert summary["parameters"]["stages"] == 8 and summary["parameters"]["reduce"] == "mean"
    assert summary["columns"]["by"] == ["category"]
    assert summary == json.loads((tmp_path / "out" / "summary.json").read_text())
    assert pl.read_parquet(tmp_path / "out" / "stage_means.parquet").height == 4 * 8


def test_run_report(dataset, tmp_path):
    result = invoke("run", dataset, "-o", tmp_path / "out", "--no-plot")
    assert result.exit_code == 0, result.output
    assert "400 tracks read, 400 written, 0 rejected" in result.output
    assert str(tmp_path / "out") in result.output


def test_quiet_prints_nothing(dataset, tmp_path):
    result = invoke("run", dataset, "-o", tmp_path / "out", "--no-plot", "--quiet")
    assert result.exit_code == 0 and result.output == ""


def test_key_auto_and_column_names(tmp_path):
    table = pa.table({"vid": ["a", "b"], "s": pa.array([[0.1, 0.9, 0.2], [0.8, 0.1, 0.1]]), "kf": [2, 2]})
    pq.write_table(table, tmp_path / "d.parquet")
    out = tmp_path / "out"
    assert invoke("run", tmp_path / "d.parquet", "-o", out, "--scores-col", "s", "--id-cols", "vid",
                  "--key-col", "kf", "--no-plot", "-q").exit_code == 0
    assert pl.read_parquet(out / "stages")["key_frame"].to_list() == [2, 2]
    assert invoke("run", tmp_path / "d.parquet", "-o", out, "--scores-col", "s", "--id-cols", "vid",
                  "--key", "auto", "--no-plot", "-q").exit_code == 0
    assert pl.read_parquet(out / "stages")["key_frame"].to_list() == [1, 0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lam", "-1"], "--lam must be a positive number"),
        (["--by", "missing"], "missing column 'missing'"),
        (["--key-col", "kf"], "missing column 'kf'"),
        (["--layout", "long"], "missing column 'score'"),
        (["--threads", "999"], "--threads must be between 1 and"),
        (["--ci", "1"], "--ci must be a number strictly between 0 and 1"),
        (["--ci", "0"], "--ci must be a number strictly between 0 and 1"),
        (["--bootstrap", "0"], "--bootstrap must be a whole number of replicates from 2 to"),
        (["--bootstrap", "1"], "--bootstrap must be a whole number of replicates from 2 to"),
        (["--bootstrap", "-1"], "--bootstrap must be a whole number of replicates from 2 to"),
        (["--bootstrap", "10000", "--by", "video_id"], "groups of --by video_id need"),
        (["--seed", "-1"], "--seed must be a whole number from 0 to 2**64 - 1"),
    ],
)
def test_bad_invocation_exits_2_with_one_line(dataset, tmp_path, args, message):
    result = invoke("run", dataset, "-o", tmp_path / "out", *args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tf2eng: error: ") and message in lines[0]
    assert not (tmp_path / "out").exists()


def test_on_invalid_error_exit_2(tmp_path):
    pq.write_table(wide_table([[0.5, 0.2], [0.5, 7.0]], [0, 0]), tmp_path / "d.parquet")
    result = invoke("run", tmp_path / "d.parquet", "-o", tmp_path / "out", "--on-invalid", "error")
    assert result.exit_code == 2
    assert "d.parquet: row 1: score_out_of_range" in result.stderr


def test_internal_error_exits_1(dataset, tmp_path, monkeypatch):
    import tf2eng.engine.api as api

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(api, "run", boom)
    result = invoke("run", dataset, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "internal error: RuntimeError: disk on fire" in result.stderr
    assert "Traceback" not in result.output


def test_console_script_corrupt_file(tmp_path):
    """The installed command: exit 2, one line naming the file, no traceback."""
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")
    exe = os.path.join(os.path.dirname(sys.executable), "tf2eng")
    proc = subprocess.run([exe, "run", str(path), "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "broken.parquet: cannot read" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_python_dash_m(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tf2eng", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("tf2eng ")


def test_synth_is_reproducible(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert invoke("synth", a, "--tracks", "50", "--seed", "3", "-q").exit_code == 0
    assert invoke("synth", b, "--tracks", "50", "--seed", "3", "-q").exit_code == 0
    ta, tb = pq.read_table(a), pq.read_table(b)
    assert ta.equals(tb)
    lengths = pl.from_arrow(ta)["scores"].list.len()
    assert lengths.min() >= 20 and lengths.max() <= 180
    assert ta.schema.names == ["video_id", "exp_id", "category", "scores", "key_frame"]
