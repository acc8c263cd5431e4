"""kernels/group.py against plain numpy: dense codes, rows grouped by track and label, key positions,
row hashes and partitions; and the engine's id coding (engine/long.py track_codes), collisions included."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tf2eng.engine import long as long_module
from tf2eng.kernels import group as G

NO_NULLS = np.zeros(0, np.bool_)


def _check_dense(codes, first, keys):
    """codes: equal keys <-> equal codes, numbered in order of first appearance; first: each code's first row."""
    seen = {}
    for i, k in enumerate(keys):
        seen.setdefault(k, len(seen))
        assert codes[i] == seen[k]
    assert len(first) == len(seen)
    assert [keys[f] for f in first] == list(seen)
    assert all(keys.index(keys[f]) == f for f in first)


@given(st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, 1, -1, 7])),
                max_size=3000))
def test_dense_codes_int(values):
    valid = np.array([v is not None for v in values], np.bool_)
    arr = np.array([0 if v is None else v for v in values], np.int64)
    codes, first = G.dense_codes_int(arr, valid if not valid.all() else NO_NULLS)
    _check_dense(codes, first, values)


@given(st.lists(st.one_of(st.none(), st.text(max_size=6), st.sampled_from(["", "a", "ab", "v0001"])), max_size=3000))
def test_dense_codes_bytes(values):
    arr = pa.array(values, pa.large_string())
    codes, first = G.dense_codes_bytes(*long_module._bytes_view(arr))
    _check_dense(codes, first, values)


def test_dense_codes_grow_past_the_first_table():
    values = np.arange(100_000, dtype=np.int64) * 7919 % 50_021  # 50,021 distinct values, repeated
    codes, first = G.dense_codes_int(values, NO_NULLS)
    _, expected_first, expected_codes = np.unique(values, return_index=True, return_inverse=True)
    assert first.size == 50_021
    # same partition of the rows as numpy's, numbered by first appearance
    assert (np.sort(first) == np.sort(expected_first)).all()
    assert (first[codes] == expected_first[expected_codes]).all()


def _reference_groups(codes, groups, order, valid):
    """Plain numpy: rows of each group sorted by order; flagged where a key is invalid or repeated."""
    perm = np.lexsort((order, codes))
    starts = np.searchsorted(codes[perm], np.arange(groups + 1))
    flagged = np.zeros(groups, np.bool_)
    for g in range(groups):
        rows = perm[starts[g] : starts[g + 1]]
        flagged[g] = (valid.size and not valid[rows].all()) or len(np.unique(order[rows])) < len(rows)
    return perm, starts, flagged


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), groups=st.integers(1, 60), kind=st.sampled_from(["narrow", "wide", "dups"]),
       nulls=st.booleans())
def test_group_rows(seed, groups, kind, nulls):
    """Every path of the per-group sort (insertion, slots for narrow labels, merge sort for wide ones)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 80, groups)
    codes = rng.permutation(np.repeat(np.arange(groups), lengths))
    n = codes.size
    if kind == "narrow":  # distinct labels with small gaps, any start
        order = np.empty(n, np.int64)
        for g in range(groups):
            rows = np.flatnonzero(codes == g)
            order[rows] = rng.permutation(rng.integers(-1000, 1000) + np.cumsum(rng.integers(1, 4, rows.size)))
    elif kind == "wide":
        order = rng.integers(-(2**62), 2**62, n)
    else:
        order = rng.integers(0, 40, n)
    valid = (rng.random(n) > 0.01) if nulls else NO_NULLS
    perm, starts, flagged = G.group_rows(codes, groups, order, valid, int(rng.integers(1, 9)))
    ref_perm, ref_starts, ref_flagged = _reference_groups(codes, groups, order, valid)
    assert (starts == ref_starts).all()
    assert (flagged == ref_flagged).all()
    assert (np.sort(perm) == np.arange(n)).all()
    for g in np.flatnonzero(~flagged):
        s, e = starts[g], starts[g + 1]
        assert (perm[s:e] == ref_perm[s:e]).all()
    for g in np.flatnonzero(flagged):  # the group's rows, in some order
        s, e = starts[g], starts[g + 1]
        assert set(perm[s:e]) == set(ref_perm[s:e])


def test_group_rows_labels_at_the_ends_of_int64():
    order = np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).min] + list(range(30)), np.int64)
    codes = np.zeros(order.size, np.int64)
    perm, starts, flagged = G.group_rows(codes, 1, order, NO_NULLS, 1)
    assert not flagged[0] and (order[perm] == np.sort(order)).all()


def test_same_as_first_and_key_positions():
    perm = np.array([2, 0, 1, 3, 4, 5], np.int64)
    starts = np.array([0, 3, 6], np.int64)
    values = np.array([5, 5, 5, 1, 1, 2], np.int64)
    assert G.same_as_first_int(perm, starts, values, NO_NULLS).tolist() == [True, False]
    valid = np.array([True, False, True, True, True, True])
    assert G.same_as_first_int(perm, starts, values, valid).tolist() == [False, False]
    strings = pa.array(["x", "x", "x", "a", "a", "a"], pa.large_string())
    assert G.same_as_first_bytes(perm, starts, *long_module._bytes_view(strings)).tolist() == [True, True]
    order = np.array([20, 10, 15, 1, 2, 3], np.int64)  # sorted within groups: 10 15 20 | 1 2 3
    positions = G.key_positions(np.array([1, 2, 0, 3, 4, 5], np.int64), starts, order, np.array([15, 4], np.int64),
                                np.array([True, True]))
    assert positions.tolist() == [1, -1]
    assert G.key_positions(perm, starts, order, np.array([15, 3], np.int64),
                           np.array([False, True])).tolist() == [-1, 2]


def test_row_hashes_depend_on_values_only():
    a = pa.table({"v": pa.array(["a", "b", None, "a"], pa.string()), "e": pa.array([1, 2, 3, 1], pa.int32())})
    b = pa.table({"v": pa.array(["a", "b", None, "a"], pa.large_string()), "e": pa.array([1, 2, 3, 1], pa.int64())})
    ha, hb = long_module.row_hashes(a, ["v", "e"]), long_module.row_hashes(b, ["v", "e"])
    assert (ha == hb).all() and ha[0] == ha[3] and len(set(ha[:3])) == 3
    # null and empty string, 0 and null differ
    c = pa.table({"v": pa.array(["", None]), "e": pa.array([None, 0], pa.int64())})
    hc = long_module.row_hashes(c, ["v", "e"])
    assert hc[0] != hc[1]
    perm, counts = G.partition_rows(ha, 3)
    assert counts.sum() == 4 and ((ha[perm] % 3)[:-1] <= (ha[perm] % 3)[1:]).all()


def _id_table(rng, n):
    video = rng.choice(np.array(["v1", "v10", "v2", "", "w"], dtype=object), n).tolist()
    video = [None if rng.random() < 0.05 else v for v in video]
    exp = [None if rng.random() < 0.05 else int(x) for x in rng.integers(-2, 3, n)]
    return pa.table({"video_id": pa.array(video, pa.string()), "exp_id": pa.array(exp, pa.int32())})


def _reference_codes(table):
    """Dense codes in id order (nulls first), with Python sorting."""
    rows = list(zip(*(table.column(c).to_pylist() for c in table.column_names)))
    key = lambda r: tuple((v is not None, v if v is not None else 0) for v in r)  # noqa: E731
    distinct = sorted(set(rows), key=key)
    return np.array([distinct.index(r) for r in rows]), len(distinct)


@pytest.mark.parametrize("collide", [False, True])
def test_track_codes_are_exact_even_when_hashes_collide(monkeypatch, collide):
    rng = np.random.default_rng(5)
    table = _id_table(rng, 500)
    if collide:  # every row the same hash: the column-by-column coding takes over
        monkeypatch.setattr(long_module, "row_hashes", lambda rows, ids: np.zeros(rows.num_rows, np.uint64))
    codes, n = long_module.track_codes(table, ["video_id", "exp_id"])
    expected, m = _reference_codes(table)
    assert n == m and (codes == expected).all()
