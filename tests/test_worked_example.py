"""The worked example of README "The method", number by number: by hand, through the reference,
and through a whole run of the engine (the output files read back).

The expected values are computed here from the formulas, in plain Python, and checked against
the rounded numbers the README prints; the engine's output is then held to them.
"""

import json
import math

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import reference
import tf2eng
from conftest import wide_table

SCORES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.5, 0.2]
KEY = 9  # 0-based: sigma = 10
T, K, LAM, H = 12, 10, 0.7, 0.01

# The README's numbers (6 decimals).
STAGES = [0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 9, 9]
COUNTS = [1, 1, 1, 1, 2, 1, 1, 1, 1, 2]
Y_SUM = [0.199526, 0.324131, 0.430512, 0.526553, 1.314940, 0.779056, 0.855388, 0.928902, 1.000000, 0.939704]
Y_MEAN = Y_SUM[:4] + [0.657470] + Y_SUM[5:9] + [0.469852]
POS_KEY = 10 / 12
X_FIRST, X_LAST = -0.833333, 0.066667
COVERED = (-0.83, 0.06)  # the first and last grid points the track covers
CURVE_AT = {"sum": {-0.83: 0.203680, 0.0: 0.979901}, "mean": {-0.83: 0.203680, 0.0: 0.823284}}
ROUNDED = 5e-7  # the README rounds to 6 decimals
ACCURATE = 1e-12  # README "Accuracy": stage scores within 1e-12 relative


def _by_hand(scores, key, reduce):
    """Y, counts, X and the curve on the grid, in plain Python from the formulas of README "The method"."""
    n = len(scores)
    P = [math.pow(s, LAM) for s in scores]  # eq. (1)
    stage = [(K * i + n - 1) // n - 1 for i in range(1, n + 1)]  # k(i) = ceil(K i / T) - 1
    counts = [stage.count(k) for k in range(K)]
    sums = [sum(p for p, k in zip(P, stage) if k == j) for j in range(K)]  # eq. (2)
    if reduce == "sum":
        Y = sums
    else:
        Y = [s / c if c else None for s, c in zip(sums, counts)]
    pos_key = (key + 1) / n  # eq. (3)
    X = [k / K - pos_key for k in range(K)]  # eq. (4)
    points = [(x, y) for x, y in zip(X, Y) if y is not None]
    grid = [-1 + m * H for m in range(round((2 * K - 1) / (K * H)) + 1)]
    eps = 1e-9 * H  # README "The method", conventions: points within 1e-9 h of either end are covered
    curve = []
    for g in grid:
        value = None
        if points[0][0] - eps <= g <= points[-1][0] + eps:
            for (x0, y0), (x1, y1) in zip(points, points[1:]):
                if g <= x1 + eps:
                    value = y0 + (y1 - y0) * (g - x0) / (x1 - x0)
                    break
            else:  # a single point
                value = points[0][1]
        curve.append(value)
    return {"stage": stage, "counts": counts, "Y": Y, "pos_key": pos_key, "X": X, "grid": grid, "curve": curve}


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_hand_computation_gives_the_readme_numbers(reduce):
    hand = _by_hand(SCORES, KEY, reduce)
    assert hand["stage"] == STAGES
    assert hand["counts"] == COUNTS
    np.testing.assert_allclose(hand["Y"], Y_SUM if reduce == "sum" else Y_MEAN, rtol=0, atol=ROUNDED)
    assert hand["pos_key"] == POS_KEY
    assert abs(hand["X"][0] - X_FIRST) < ROUNDED and abs(hand["X"][-1] - X_LAST) < ROUNDED
    covered = [g for g, v in zip(hand["grid"], hand["curve"]) if v is not None]
    assert (round(covered[0], 2), round(covered[-1], 2)) == COVERED and len(covered) == 90
    at = {round(g, 2): v for g, v in zip(hand["grid"], hand["curve"])}
    for x, value in CURVE_AT[reduce].items():
        assert abs(at[x] - value) < ROUNDED, (x, at[x], value)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_reference_agrees_with_the_hand_computation(reduce):
    hand = _by_hand(SCORES, KEY, reduce)
    r = reference.track(SCORES, KEY, reduce=reduce)
    assert reference.stage_of_frames(T, K).tolist() == STAGES
    assert r["n"].tolist() == COUNTS
    np.testing.assert_allclose(r["Y"], hand["Y"], rtol=ACCURATE)
    assert r["pos_key"] == hand["pos_key"] and r["key_frame"] == KEY
    expected = np.array([np.nan if v is None else v for v in hand["curve"]])
    np.testing.assert_allclose(r["curve"], expected, rtol=ACCURATE, atol=0)


def _run(tmp_path, scores, key, reduce, **options):
    """A whole run of one track; the outputs as read back from the files."""
    path = tmp_path / "example.parquet"
    pq.write_table(wide_table([scores], [key]), path)
    result = tf2eng.run(path, tmp_path / f"out-{reduce}", reduce=reduce, **options)
    out = result.out
    return {
        "stages": pl.read_parquet(out / "stages"),
        "stage_means": pl.read_parquet(out / "stage_means.parquet"),
        "curve": pl.read_parquet(out / "curve.parquet"),
        "rejected": pl.read_parquet(out / "rejected.parquet"),
        "summary": json.loads((out / "summary.json").read_text()),
        "out": out,
    }


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_run_gives_every_number_of_the_example(tmp_path, reduce):
    hand = _by_hand(SCORES, KEY, reduce)
    got = _run(tmp_path, SCORES, KEY, reduce)  # the plot on, as by default
    assert (got["out"] / "alignment.png").read_bytes()[:4] == b"\x89PNG"
    assert got["summary"]["rows"] == {"read": 1, "written": 1, "rejected": 0, "rejected_by_reason": {}}
    assert got["rejected"].height == 0

    # Per track: T, key frame, pos_key, stage counts, stage scores.
    stages = got["stages"]
    assert stages.height == 1
    assert stages["T"].to_list() == [T] and stages["key_frame"].to_list() == [KEY]
    pos_key = stages["pos_key"][0]
    assert pos_key == POS_KEY
    assert stages["stage_counts"][0].to_list() == COUNTS
    Y = np.array(stages["stage_scores"][0].to_list())
    np.testing.assert_allclose(Y, Y_SUM if reduce == "sum" else Y_MEAN, rtol=0, atol=ROUNDED)
    np.testing.assert_allclose(Y, hand["Y"], rtol=ACCURATE, atol=0)

    # Stage means of one track: the track's own Y_k, count 1, no std; at x = k/K.
    means = got["stage_means"]
    assert means["stage"].to_list() == list(range(K))
    assert means["x"].to_list() == [k / K for k in range(K)]
    np.testing.assert_allclose(means["mean"].to_numpy(), hand["Y"], rtol=ACCURATE, atol=0)
    assert means["count"].to_list() == [1] * K and means["std"].null_count() == K

    # X_k = k/K - pos_key from the engine's own x and pos_key.
    X = means["x"].to_numpy() - pos_key
    assert abs(X[0] - X_FIRST) < ROUNDED and abs(X[-1] - X_LAST) < ROUNDED
    np.testing.assert_allclose(X, hand["X"], rtol=0, atol=1e-15)

    # The curve: the grid -1 ... 0.9, covered from X_0 to X_9, the hand interpolation there.
    curve = got["curve"]
    grid = curve["x"].to_numpy()
    assert curve.height == 191 == len(hand["grid"])
    np.testing.assert_array_equal(grid, -1.0 + np.arange(191) * H)
    covered = curve.filter(pl.col("count") > 0)
    assert (round(covered["x"][0], 2), round(covered["x"][-1], 2)) == COVERED and covered.height == 90
    inside = (grid >= X[0]) & (grid <= X[-1])
    assert curve["count"].to_list() == inside.astype(int).tolist()
    assert curve.filter(pl.col("count") == 0)["mean"].null_count() == 191 - 90  # nothing there: null
    assert curve["std"].null_count() == 191  # one track: std undefined
    expected = np.array([np.nan if v is None else v for v in hand["curve"]])
    np.testing.assert_allclose(curve["mean"].fill_null(np.nan).to_numpy(), expected, rtol=ACCURATE, atol=0)
    at = dict(zip(np.round(grid, 2), curve["mean"].to_list()))
    for x, value in CURVE_AT[reduce].items():
        assert abs(at[x] - value) < ROUNDED, (reduce, x, at[x], value)


# README "The method", conventions: for T = 5, K = 10 the frames fall in stages 1, 3, 5, 7, 9; an empty
# stage is 0 with --reduce sum and null with --reduce mean, and null stages are left out.
SHORT = [0.2, 0.4, 0.6, 0.8, 1.0]


def test_short_track_stages_by_hand():
    assert _by_hand(SHORT, 4, "sum")["stage"] == [1, 3, 5, 7, 9]
    assert reference.stage_of_frames(5, K).tolist() == [1, 3, 5, 7, 9]


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_run_short_track_with_empty_stages(tmp_path, reduce):
    hand = _by_hand(SHORT, 4, reduce)
    got = _run(tmp_path, SHORT, 4, reduce, plot=False)
    stages = got["stages"]
    assert stages["stage_counts"][0].to_list() == [0, 1] * 5
    Y = stages["stage_scores"][0].to_list()
    if reduce == "sum":
        assert Y[0::2] == [0.0] * 5
    else:
        assert Y[0::2] == [None] * 5
    np.testing.assert_allclose([y for y in Y[1::2]], [math.pow(s, LAM) for s in SHORT], rtol=ACCURATE)
    means = got["stage_means"]
    assert means["count"].to_list() == ([1] * 10 if reduce == "sum" else [0, 1] * 5)
    # pos_key = 1: X_k = k/10 - 1, covered from X_0 = -1 (sum) or X_1 = -0.9 (mean) to X_9 = -0.1,
    # the ends equal to grid points in exact arithmetic.
    curve = got["curve"]
    covered = curve.filter(pl.col("count") > 0)
    first = -1.0 if reduce == "sum" else -0.9
    assert (round(covered["x"][0], 2), round(covered["x"][-1], 2)) == (first, -0.1)
    assert covered.height == (91 if reduce == "sum" else 81)
    expected = np.array([np.nan if v is None else v for v in hand["curve"]])
    np.testing.assert_allclose(curve["mean"].fill_null(np.nan).to_numpy(), expected, rtol=ACCURATE, atol=1e-15)
    # Between X_1 = -0.9 and the next present stage: halfway to an empty stage's 0 (sum),
    # or a quarter of the way to stage 3's score (mean).
    at = dict(zip(np.round(curve["x"].to_numpy(), 2), curve["mean"].to_list()))
    p1, p3 = math.pow(0.2, LAM), math.pow(0.4, LAM)
    want = p1 / 2 if reduce == "sum" else p1 + (p3 - p1) / 4
    assert at[-0.85] == pytest.approx(want, rel=ACCURATE)


def test_float32_scores_are_widened_first(tmp_path):
    """README "Accuracy": float32 input is widened to float64 before the power."""
    path = tmp_path / "f32.parquet"
    pq.write_table(wide_table([SCORES], [KEY], dtype=pa.float32()), path)
    result = tf2eng.run(path, tmp_path / "out", plot=False)
    widened = [float(np.float32(s)) for s in SCORES]
    hand = _by_hand(widened, KEY, "sum")
    Y = pl.read_parquet(result.out / "stages")["stage_scores"][0].to_list()
    np.testing.assert_allclose(Y, hand["Y"], rtol=ACCURATE, atol=0)
