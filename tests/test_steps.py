"""tf2eng steps: the paper's Table 1 normalisation."""

import json
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from tf2eng.cli.app import app
from tf2eng.engine.errors import InputError
from tf2eng.engine.tools.steps import parse_method, rational_lcm, steps_table

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
    (["A:1e-400"], "at least 1e-09"),
    (["A:1/10000000000"], "at least 1e-09"),
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


@pytest.mark.parametrize("specs, lcm, steps", [
    (["A:2.5:sequential"], 5, [5]),  # a whole number of frames: a sequential step is one frame
    (["A:2.5:sequential", "B:2"], 10, [10, 5]),
    (["A:1/3:sequential"], 1, [1]),
    (["A:3:sequential", "B:1/2"], 3, [3, 6]),
])
def test_sequential_counts_whole_frames(specs, lcm, steps):
    got_lcm, rows = steps_table([parse_method(m) for m in specs])
    assert got_lcm == lcm
    assert [r.steps for r in rows] == steps
    result = runner.invoke(app, ["steps", *specs])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"LCM of frames per step: {lcm} frames"


@pytest.mark.parametrize("value", [
    "1e9999999",  # Fraction would spend seconds building 10**9999999
    "1e-99999999",
    "1" + "0" * 400 + ".5",  # exact, but no float can print it
    "1e10",
    "0x10",
    "1_000",
])
def test_unusable_numbers_are_one_line(value):
    result = runner.invoke(app, ["steps", f"A:{value}"])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_common_length_beyond_float_is_one_line():
    # Coprime numerators: the common length grows as their product.
    primes = ["999999937", "999999929", "999999893", "999999883", "999999797", "999999761", "999999757",
              "999999751", "999999739", "999999733", "999999677", "999999667", "999999613", "999999607",
              "999999599", "999999587", "999999541", "999999527", "999999503", "999999491", "999999487",
              "999999433", "999999391", "999999353", "999999337", "999999323", "999999229", "999999223",
              "999999197", "999999193", "999999191", "999999181", "999999163", "999999151", "999999137"]
    specs = [f"M{i}:{p}/2" for i, p in enumerate(primes)]
    result = runner.invoke(app, ["steps", *specs, "--json"])
    assert result.exit_code == 2, result.output
    assert "frames" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_times_too_far_apart_to_compare_are_one_line():
    result = runner.invoke(app, ["steps", "A:2", "B:3", "--time", "A=1e-320", "--time", "B=1e300", "--json"])
    assert result.exit_code == 2, result.output
    assert "--time" in result.stderr and len(result.stderr.strip().splitlines()) == 1
