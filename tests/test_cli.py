"""The tf2eng command end to end: options, messages, exit codes."""

import json
import os
import subprocess
import sys

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
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


def test_help_lists_every_run_option():
    result = invoke("run", "--help")
    assert result.exit_code == 0
    for option in ("--lam", "--stages", "--reduce", "--grid-step", "--key", "--key-col", "--scores-col",
                   "--id-cols", "--by", "--layout", "--normalize", "--on-invalid", "--no-plot", "--json",
                   "--quiet", "--out", "--threads"):
        assert option in result.output


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
