"""The worked example of SPEC section 1, through the reference, the kernels and a full run."""

import numpy as np
import polars as pl
import pytest

import reference
import tf2eng
from conftest import wide_table

SCORES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.5, 0.2]
KEY = 9
Y_SUM = [0.199526, 0.324131, 0.430512, 0.526553, 1.314940, 0.779056, 0.855388, 0.928902, 1.000000, 0.939704]
COUNTS = [1, 1, 1, 1, 2, 1, 1, 1, 1, 2]


def test_reference_matches_spec():
    r = reference.track(SCORES, KEY)
    assert reference.stage_of_frames(12, 10).tolist() == [0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 9, 9]
    assert reference.stage_of_frames(5, 10).tolist() == [1, 3, 5, 7, 9]
    np.testing.assert_allclose(r["Y"], Y_SUM, atol=5e-7)
    assert r["n"].tolist() == COUNTS


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_run_matches_spec(write_parquet, tmp_path, reduce):
    path = write_parquet(wide_table([SCORES], [KEY]))
    result = tf2eng.run(path, tmp_path / "out", reduce=reduce, plot=False)
    stages = result.stages().collect()
    assert stages["T"].to_list() == [12]
    assert stages["key_frame"].to_list() == [9]
    assert stages["pos_key"][0] == pytest.approx(10 / 12, abs=1e-15)
    assert stages["stage_counts"][0].to_list() == COUNTS
    Y = np.array(stages["stage_scores"][0].to_list())
    expected = np.array(Y_SUM)
    if reduce == "mean":
        expected[4], expected[9] = 0.657470, 0.469852
    np.testing.assert_allclose(Y, expected, atol=5e-7)
    np.testing.assert_allclose(result.stage_means["x"].to_numpy(), np.arange(10) / 10)
    X = result.stage_means["x"].to_numpy() - 10 / 12
    assert X[0] == pytest.approx(-0.833333, abs=5e-7)
    assert X[9] == pytest.approx(0.066667, abs=5e-7)
    curve = result.curve
    assert curve.height == 191
    assert curve["x"][0] == pytest.approx(-1.0) and curve["x"][-1] == pytest.approx(0.9)
    covered = curve.filter(pl.col("count") > 0)
    assert covered["x"][0] == pytest.approx(-0.83) and covered["x"][-1] == pytest.approx(0.06)
    assert covered.height == 90
    at = dict(zip(np.round(curve["x"].to_numpy(), 2), curve["mean"].to_list()))
    if reduce == "sum":
        assert at[-0.83] == pytest.approx(0.203680, abs=5e-7)
        assert at[0.0] == pytest.approx(0.979901, abs=5e-7)
    assert covered["std"].null_count() == covered.height  # one track: std undefined
