"""tf2eng steps: the paper's Table 1 normalisation."""

import json
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from tf2eng.cli.app import app
from tf2eng.engine.errors import InputError
from tf2eng.engine.steps import parse_method, rational_lcm, steps_table

runner = CliRunner()
PAPER = ["ReferFormer:5", "OnlineRefer:2.5:sequential", "TF2:8"]


def test_paper_table():
    lcm, rows = steps_table([parse_method(m) for m in PAPER],
                            {"ReferFormer": 12060, "OnlineRefer": 20160, "TF2": 8800})
    assert lcm == 40
    assert [r.steps for r in rows] == [8, 40, 5]
    assert [round(r.ratio, 2) for r in rows] == [1.37, 2.29, 1.0]


def test_paper_table_cli():
    result = runner.invoke(app, ["steps", *PAPER, "--time", "ReferFormer=12060", "--time", "OnlineRefer=20160",
                                 "--time", "TF2=8800"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "LCM of frames per step: 40 frames"
    assert lines[2].split() == ["ReferFormer", "5", "parallel", "8", "12060", "1.37"]
    assert lines[3].split() == ["OnlineRefer", "2.5", "sequential", "40", "20160", "2.29"]
    assert lines[4].split() == ["TF2", "8", "parallel", "5", "8800", "1.00"]


def test_json():
    result = runner.invoke(app, ["steps", *PAPER, "--json"])
    data = json.loads(result.stdout)
    assert data["lcm_frames"] == 40
    assert [(m["name"], m["frames_per_step"], m["sequential"], m["steps"]) for m in data["methods"]] == [
        ("ReferFormer", 5, False, 8), ("OnlineRefer", 2.5, True, 40), ("TF2", 8, False, 5)]


@pytest.mark.parametrize("values, lcm", [
    (["4", "6"], 12), (["3"], 3), (["2.5", "1.5"], Fraction(15, 2)), (["1/3", "1/2"], 1),
    (["0.75", "2"], 6), (["7", "5", "3"], 105),
])
def test_rational_lcm(values, lcm):
    fractions = [Fraction(v) for v in values]
    got = rational_lcm(fractions)
    assert got == lcm
    assert all((got / f).denominator == 1 for f in fractions)


def test_fractional_output_is_exact():
    result = runner.invoke(app, ["steps", "A:1/3", "B:1/2"])
    assert result.exit_code == 0
    assert "LCM of frames per step: 1 frames" in result.output
    assert result.output.splitlines()[2].split() == ["A", "1/3", "parallel", "3"]


@pytest.mark.parametrize("args, message", [
    (["ReferFormer"], "expected NAME:FRAMES_PER_STEP"),
    (["A:x"], "is not a number"),
    (["A:0"], "must be positive"),
    (["A:-2"], "must be positive"),
    (["A:2:parallel"], "can only be 'sequential'"),
    ([":2"], "expected NAME:FRAMES_PER_STEP"),
    (["A:2", "A:3"], "named twice"),
    (["A:2", "--time", "B=3"], "unknown method: B"),
    (["A:2", "--time", "A=fast"], "positive number of seconds"),
    (["A:2", "--time", "A=0"], "positive number of seconds"),
])
def test_bad_specs(args, message):
    result = runner.invoke(app, ["steps", *args])
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_no_methods_is_a_usage_error():
    assert runner.invoke(app, ["steps"]).exit_code == 2
    with pytest.raises(InputError):
        steps_table([])
