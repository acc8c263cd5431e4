"""Hypothesis: the engine's batch path against the numpy reference, over the whole input space.

T from 1 (and T < K) up, lambda, K, key positions, float32/float64,
list/large_list, sliced arrays, batches split anywhere, nulls and bad
values, --by groups.
"""

import math

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

import reference
from conftest import wide_table
from tf2eng.engine.aggregate import Totals
from tf2eng.engine.batch import process_batch
from tf2eng.engine.groups import GroupIndex
from tf2eng.engine.options import Options
from tf2eng.engine.source import Columns

GOOD = st.floats(0.0, 1.0)
BAD = st.sampled_from([None, math.nan, math.inf, -math.inf, -0.25, 1.5])


@st.composite
def tracks(draw):
    n = draw(st.integers(1, 12))
    out, keys = [], []
    for _ in range(n):
        kind = draw(st.sampled_from(["good"] * 6 + ["bad", "null", "empty", "short"]))
        if kind == "null":
            scores = None
        elif kind == "empty":
            scores = []
        elif kind == "short":
            scores = draw(st.lists(GOOD, min_size=1, max_size=3))
        else:
            scores = draw(st.lists(GOOD, min_size=1, max_size=60))
            if kind == "bad":
                scores[draw(st.integers(0, len(scores) - 1))] = draw(BAD)
        T = len(scores or [])
        keys.append(draw(st.one_of(st.none(), st.integers(-2, T + 1), st.integers(0, max(T - 1, 0)))))
        out.append(scores)
    return out, keys


@st.composite
def setups(draw):
    return dict(
        lam=draw(st.one_of(st.just(0.7), st.floats(0.05, 4.0))),
        K=draw(st.integers(1, 16)),
        reduce=draw(st.sampled_from(["sum", "mean"])),
        h=draw(st.sampled_from([0.01, 0.025, 0.05, 0.1, 0.3])),
        minmax=draw(st.booleans()),
        has_key=draw(st.booleans()),
        float32=draw(st.booleans()),
        large=draw(st.booleans()),
        pad=draw(st.tuples(st.integers(0, 3), st.integers(0, 3))),
        split=draw(st.floats(0.0, 1.0)),
        by=draw(st.booleans()),
    )


def _as_float32(track):
    if track is None:
        return None
    return [None if s is None else float(np.float32(s)) for s in track]


@given(data=tracks(), setup=setups(), group_seed=st.integers(0, 3))
def test_batches_match_reference(data, setup, group_seed):
    scores, keys = data
    n = len(scores)
    if setup["float32"]:
        scores = [_as_float32(t) for t in scores]
    dtype = pa.float32() if setup["float32"] else pa.float64()
    groups = [["a", "b", None][(i * 7 + group_seed) % 3] for i in range(n)] if setup["by"] else None
    # Pad with filler rows and slice them away: arrays reach the engine with offsets.
    lo, hi = setup["pad"]
    filler = [[0.5, 0.5]]
    padded_scores = filler * lo + scores + filler * hi
    padded_keys = [0] * lo + keys + [0] * hi
    padded_groups = ["a"] * lo + (groups or ["a"] * n) + ["a"] * hi
    table = wide_table(
        padded_scores,
        padded_keys if setup["has_key"] else None,
        dtype=dtype,
        large=setup["large"],
        extra={"grp": padded_groups},
    ).slice(lo, n)

    options = Options(
        lam=setup["lam"],
        stages=setup["K"],
        reduce=setup["reduce"],
        grid_step=setup["h"],
        normalize="minmax" if setup["minmax"] else "none",
        by=("grp",) if setup["by"] else (),
    )
    columns = Columns("wide", "scores", "key_frame" if setup["has_key"] else None, ("video_id", "exp_id"), options.by)
    index = GroupIndex(options.by)
    totals = Totals(options.stages, options.grid_size)
    cut = int(round(setup["split"] * n))
    results = []
    for part in (table.slice(0, cut), table.slice(cut)):
        for batch in part.to_batches() or []:
            r = process_batch(batch, columns, options, index)
            totals.add(r.stage_partial, r.curve_partial)
            results.append(r)
    stage_means, curve = totals.finalize(index, options.stages, options.grid_step)

    ref_reasons, ref_tracks, ref_aggs = reference.dataset(
        scores, keys, groups, lam=setup["lam"], K=setup["K"], reduce=setup["reduce"], h=setup["h"],
        minmax=setup["minmax"], has_key=setup["has_key"],
    )
    stages = pa.concat_tables([r.stages for r in results]) if results else None
    rejected = pa.concat_tables([r.rejected for r in results]) if results else None
    got = {}
    if stages is not None:
        for row in stages.to_pylist():
            got[row["video_id"]] = row
    rejected_by_id = {} if rejected is None else dict(zip(rejected["video_id"].to_pylist(), rejected["reason"].to_pylist()))
    for i, (reason, expected) in enumerate(zip(ref_reasons, ref_tracks)):
        vid = f"v{lo + i:04d}"
        if reason is not None:
            assert rejected_by_id.get(vid) == reason, (vid, scores[i], keys[i])
            assert vid not in got
            continue
        assert vid in got, (vid, rejected_by_id.get(vid))
        row = got[vid]
        assert row["T"] == len(scores[i])
        assert row["key_frame"] == expected["key_frame"]
        assert row["pos_key"] == expected["pos_key"]
        assert row["stage_counts"] == expected["n"].tolist()
        Y = np.array([np.nan if v is None else v for v in row["stage_scores"]])
        np.testing.assert_allclose(Y, expected["Y"], rtol=1e-12, atol=1e-14)

    if not ref_aggs:
        assert stage_means.filter(stage_means["count"] > 0).height == 0
        return
    for g, agg in ref_aggs.items():
        for table_, (count, mean, std) in ((_group(stage_means, groups, g), agg["stage"]),
                                           (_group(curve, groups, g), agg["curve"])):
            assert table_["count"].to_list() == count.tolist()
            np.testing.assert_allclose(table_["mean"].fill_null(np.nan).to_numpy(), mean, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(table_["std"].fill_null(np.nan).to_numpy(), std, rtol=1e-7, atol=1e-9)


def _group(frame, groups, g):
    if not groups:
        return frame
    return frame.filter(frame["grp"].is_null() if g is None else frame["grp"] == g)
