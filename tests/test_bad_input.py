"""README "Bad input": every bad row ends in rejected.parquet with its reason, the rows around it untouched; bad files stop the run."""

import json
import math
from collections import Counter

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import reference
import tf2eng
from conftest import wide_table
from tf2eng.engine.errors import InputError
from tf2eng.kernels.reasons import NAMES

GOOD = [[0.1, 0.5, 0.9, 0.3], [0.2, 0.4, 0.6, 0.8, 1.0, 0.0], [0.7] * 11 + [0.75]]
GOOD_KEYS = [1, 2, 11]
GOOD_IDS = ["g0", "g1", "g2"]
BAD_ID = "bad"

# README "Bad input", row by row: (scores, key_frame, options, reason).
ROW_RULES = [
    (None, 0, {}, "null_scores"),
    ([], 0, {}, "empty_scores"),
    ([0.1, None, 0.3], 0, {}, "null_score"),
    ([0.1, math.nan, 0.3], 0, {}, "nonfinite_score"),
    ([0.1, math.inf, 0.3], 0, {}, "nonfinite_score"),
    ([0.1, -math.inf, 0.3], 0, {}, "nonfinite_score"),
    ([0.1, 1.0001, 0.3], 0, {}, "score_out_of_range"),
    ([0.1, -0.0001, 0.3], 0, {}, "score_out_of_range"),
    ([0.1, 1e300, 0.3], 0, {}, "score_out_of_range"),
    ([0.4, 0.4, 0.4], 0, {"normalize": "minmax"}, "constant_scores"),
    ([7.0], 0, {"normalize": "minmax"}, "constant_scores"),
    ([0.1, 0.2, 0.3], None, {}, "null_key_frame"),
    ([0.1, 0.2, 0.3], 3, {}, "key_frame_out_of_range"),
    ([0.1, 0.2, 0.3], -1, {}, "key_frame_out_of_range"),
    ([0.1, 0.2, 0.3], 2**63 - 1, {}, "key_frame_out_of_range"),
    ([0.1, 0.2, 0.3], -(2**63), {}, "key_frame_out_of_range"),
    # The first bad frame decides; score checks come before the key frame.
    ([0.1, None, math.nan, 2.0], 0, {}, "null_score"),
    ([0.1, math.nan, None, 2.0], 0, {}, "nonfinite_score"),
    ([0.1, 2.0, math.nan, None], 0, {}, "score_out_of_range"),
    ([0.1, 2.0, 0.3], None, {}, "score_out_of_range"),
    ([0.1, math.nan, 0.3], 99, {}, "nonfinite_score"),
    ([0.4, 0.4], None, {"normalize": "minmax"}, "constant_scores"),
    ([0.1, 1.0001, 0.3], None, {"normalize": "minmax"}, "null_key_frame"),  # no range check with minmax
]
LONG_RULES = ["bad_frame_index", "duplicate_frame", "inconsistent_key_frame"]
TEXT_RULES = ["bad_value", "bad_field_count"]  # rows of text files: tests/test_formats_quarantine.py


def _run(tmp_path, table, name, **options):
    """Write ``table``, run it, and read every output back from its file."""
    path = tmp_path / f"{name}.parquet"
    pq.write_table(table, path)
    result = tf2eng.run(path, tmp_path / f"{name}.out", plot=False, **options)
    return result, _outputs(result.out)


def _outputs(out):
    return {
        "stages": pl.read_parquet(out / "stages").sort(["video_id"], nulls_last=True),
        "stage_means": pl.read_parquet(out / "stage_means.parquet"),
        "curve": pl.read_parquet(out / "curve.parquet"),
        "rejected": pl.read_parquet(out / "rejected.parquet"),
        "rejected_schema": pq.read_schema(out / "rejected.parquet"),
        "summary": json.loads((out / "summary.json").read_text()),
    }


def _mixed_and_clean(bad, key, key_type=pa.int64(), dtype=pa.float64(), bad_id=BAD_ID):
    """The good rows with one bad row among them (row 1), and the good rows alone."""
    def table(tracks, keys, ids):
        return pa.table({
            "video_id": pa.array(ids, pa.string()),
            "exp_id": pa.array([0] * len(ids), pa.int32()),
            "scores": pa.array(tracks, pa.list_(dtype)),
            "key_frame": pa.array(keys, key_type),
        })

    mixed = table([GOOD[0], bad, GOOD[1], GOOD[2]], [GOOD_KEYS[0], key] + GOOD_KEYS[1:],
                  [GOOD_IDS[0], bad_id] + GOOD_IDS[1:])
    clean = table(GOOD, GOOD_KEYS, GOOD_IDS)
    return mixed, clean


def _same_values(got, want):
    """Lists of floats equal value for value, NaN equal to NaN, None to None."""
    if want is None:
        return got is None
    return len(got) == len(want) and all(
        (g is None and w is None) or (g is not None and w is not None and (g == w or (math.isnan(g) and math.isnan(w))))
        for g, w in zip(got, want))


def _check_good_rows_untouched(mixed, clean):
    """The rows around a bad one: the same results as a run without it."""
    assert mixed["stages"].equals(clean["stages"])
    assert mixed["stage_means"].equals(clean["stage_means"])
    assert mixed["curve"].equals(clean["curve"])
    assert clean["rejected"].height == 0


def _check_reconciled(outputs, read):
    """summary.json: read = written + rejected, by reason, as in stages/ and rejected.parquet."""
    rows = outputs["summary"]["rows"]
    by_reason = dict(Counter(outputs["rejected"]["reason"].to_list()))
    assert rows == {"read": read, "written": outputs["stages"].height, "rejected": outputs["rejected"].height,
                    "rejected_by_reason": by_reason} | ({"input_frame_rows": rows["input_frame_rows"]}
                                                        if "input_frame_rows" in rows else {})
    assert rows["read"] == rows["written"] + rows["rejected"] == read
    assert sum(by_reason.values()) == rows["rejected"]


def test_every_reason_has_a_rule():
    assert {rule[-1] for rule in ROW_RULES} | {"null_id"} | set(LONG_RULES) | set(TEXT_RULES) == set(NAMES.values())


def _float32_too(rules):
    """Each rule with float64 scores, and with float32 scores where its values are float32 values."""
    for rule in rules:
        yield pytest.param(*rule, pa.float64(), id=f"{rule[-1]}-float64")
        if all(s is None or not math.isfinite(s) or abs(s) < 1e38 for s in rule[0] or []):
            yield pytest.param(*rule, pa.float32(), id=f"{rule[-1]}-float32")


@pytest.mark.parametrize("bad, key, options, reason, dtype", list(_float32_too(ROW_RULES)))
def test_row_rule(tmp_path, bad, key, options, reason, dtype):
    mixed_table, clean_table = _mixed_and_clean(bad, key, dtype=dtype)
    _, mixed = _run(tmp_path, mixed_table, "mixed", **options)
    _, clean = _run(tmp_path, clean_table, "clean", **options)

    rejected = mixed["rejected"]
    assert rejected["video_id"].to_list() == [BAD_ID]
    assert rejected["reason"].to_list() == [reason]
    assert rejected["row"].to_list() == [1]
    assert rejected["source"][0].endswith("mixed.parquet")
    assert rejected["key_frame"].to_list() == [key]
    # The scores as read, widened to float64, NaN and all, to repair the row; a null list stays null.
    assert mixed["rejected_schema"].field("scores").type.value_type == pa.float64()
    echoed = rejected["scores"].to_list()[0]
    as_read = None if bad is None else [None if s is None else float(np.asarray(s, dtype.to_pandas_dtype()))
                                        for s in bad]
    assert _same_values(echoed, as_read), (echoed, as_read)
    _check_reconciled(mixed, read=4)
    assert mixed["summary"]["rows"]["rejected_by_reason"] == {reason: 1}
    _check_good_rows_untouched(mixed, clean)


INTEGER_TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()]


def _bad_keys(key_type):
    """Key frames of this type outside 0 ... T-1 for a 3-frame track: the type's extremes, -1, T."""
    info = np.iinfo(key_type.to_pandas_dtype())
    keys = {3, int(info.max)}
    if info.min < 0:
        keys |= {-1, int(info.min)}
    if key_type == pa.uint64():
        keys |= {2**63, 2**63 + 5}
    return sorted(keys)


@pytest.mark.parametrize("key_type", INTEGER_TYPES, ids=str)
def test_key_frame_of_every_integer_type(tmp_path, key_type):
    """Every integer type of key frame: good keys give int64 key frames; keys outside 0 ... T-1,
    up to the type's extremes (unsigned above the int64 maximum included), are rejected."""
    bad_keys = _bad_keys(key_type)
    good = [[0.1, 0.2, 0.3]] * 3
    table = pa.table({
        "video_id": pa.array([f"g{i}" for i in range(3)] + [f"bad{i}" for i in range(len(bad_keys) + 1)]),
        "scores": pa.array(good + [[0.1, 0.2, 0.3]] * (len(bad_keys) + 1), pa.list_(pa.float64())),
        "key_frame": pa.array([0, 1, 2] + bad_keys + [None], key_type),
    })
    result, got = _run(tmp_path, table, "typed")
    assert got["stages"]["video_id"].to_list() == ["g0", "g1", "g2"]
    assert got["stages"]["key_frame"].to_list() == [0, 1, 2]
    assert got["stages"].schema["key_frame"] == pl.Int64
    rejected = got["rejected"].sort("row")
    assert rejected["row"].to_list() == list(range(3, 3 + len(bad_keys) + 1))
    assert rejected["reason"].to_list() == ["key_frame_out_of_range"] * len(bad_keys) + ["null_key_frame"]
    echoed = rejected["key_frame"].to_list()
    for want, got_key in zip(bad_keys, echoed):  # a key beyond int64 cannot be echoed as int64: null then
        assert got_key == want or (want > 2**63 - 1 and got_key is None), (want, got_key)
    assert echoed[-1] is None
    _check_reconciled(got, read=3 + len(bad_keys) + 1)
    clean = _run(tmp_path, table.slice(0, 3).cast(table.schema.set(2, pa.field("key_frame", pa.int64()))),
                 "typed_clean")[1]
    _check_good_rows_untouched(got, clean)


@pytest.mark.parametrize("key_type", [pa.uint64(), pa.int8()], ids=str)
def test_on_invalid_error_names_an_out_of_range_key_frame(tmp_path, key_type):
    table = pa.table({"video_id": ["a", "b"], "scores": pa.array([[0.5, 0.2]] * 2),
                      "key_frame": pa.array([0, _bad_keys(key_type)[-1]], key_type)})
    with pytest.raises(InputError, match=r"ukey\.parquet: row 1: key_frame_out_of_range"):
        _run(tmp_path, table, "ukey", on_invalid="error")
    assert not (tmp_path / "ukey.out").exists() and not (tmp_path / ".ukey.out.staging").exists()


def test_null_id_is_rejected(tmp_path):
    mixed_table, clean_table = _mixed_and_clean([0.5, 0.25], 1, bad_id=None)
    _, mixed = _run(tmp_path, mixed_table, "ids")
    _, clean = _run(tmp_path, clean_table, "ids_clean")
    rejected = mixed["rejected"]
    assert rejected["reason"].to_list() == ["null_id"]
    assert rejected["video_id"].to_list() == [None] and rejected["row"].to_list() == [1]
    assert rejected["scores"].to_list() == [[0.5, 0.25]] and rejected["key_frame"].to_list() == [1]
    _check_reconciled(mixed, read=4)
    _check_good_rows_untouched(mixed, clean)


def _long(tracks):
    """Long layout rows of (video_id, frames, scores, key_frames)."""
    rows = {"video_id": [], "frame": [], "score": [], "key_frame": []}
    for vid, frames, scores, keys in tracks:
        rows["video_id"] += [vid] * len(frames)
        rows["frame"] += frames
        rows["score"] += scores
        rows["key_frame"] += keys
    return pa.table({"video_id": pa.array(rows["video_id"], pa.string()), "frame": pa.array(rows["frame"], pa.int64()),
                     "score": pa.array(rows["score"], pa.float64()), "key_frame": pa.array(rows["key_frame"], pa.int64())})


LONG_GOOD = [(vid, list(range(len(s))), s, [k] * len(s)) for vid, s, k in zip(GOOD_IDS, GOOD, GOOD_KEYS)]


@pytest.mark.parametrize("frames, scores, keys, reason", [
    ([0, 1, 1], [0.5, 0.7, 0.1], [0, 0, 0], "duplicate_frame"),  # a frame label twice
    ([0, None], [0.5, 0.7], [0, 0], "bad_frame_index"),  # a null frame label
    ([3, 5], [0.5, 0.7], [4, 4], "key_frame_out_of_range"),  # a key label that is no frame's
    ([1, 0, 2], [0.5, 0.7, 0.1], [1, 1, 2], "inconsistent_key_frame"),
    ([1, 0], [0.5, 0.7], [None, 1], "inconsistent_key_frame"),
])
def test_long_layout_rule(tmp_path, frames, scores, keys, reason):
    bad = [(BAD_ID, frames, scores, keys)]
    _, mixed = _run(tmp_path, _long(LONG_GOOD[:1] + bad + LONG_GOOD[1:]), "long")
    _, clean = _run(tmp_path, _long(LONG_GOOD), "long_clean")
    rejected = mixed["rejected"]
    assert rejected["video_id"].to_list() == [BAD_ID] and rejected["reason"].to_list() == [reason]
    assert rejected["row"].to_list() == [None]  # a track of several input rows
    assert rejected["rows"].to_list() == [len(frames)]
    # Frames in label order, nulls last; rows with the same label by score.
    order = sorted(range(len(frames)), key=lambda i: (frames[i] is None, frames[i] or 0, scores[i]))
    assert rejected["frames"].to_list() == [[frames[i] for i in order]]
    assert rejected["score"].to_list() == [[scores[i] for i in order]]
    _check_reconciled(mixed, read=4)
    assert mixed["summary"]["rows"]["input_frame_rows"] == sum(len(f) for _, f, _, _ in LONG_GOOD) + len(frames)
    _check_good_rows_untouched(mixed, clean)


def test_minmax_accepts_scores_outside_unit_interval(tmp_path):
    tracks = [[2.0, 4.0, 3.0], [-1.0, 1.0]]
    _, got = _run(tmp_path, wide_table(tracks, [None, None]), "mm", normalize="minmax", key="auto")
    stages = got["stages"]
    assert stages["key_frame"].to_list() == [1, 1] and got["rejected"].height == 0
    for i, scores in enumerate(tracks):
        want = reference.track(scores, None, minmax=True)["Y"]
        np.testing.assert_allclose(stages["stage_scores"][i].to_list(), want, rtol=1e-12, atol=1e-14)


def test_on_invalid_error_stops_at_first_rejected_row(tmp_path):
    table = wide_table([GOOD[0], [0.1, 2.0], GOOD[1], None], [0, 0, 0, 0])
    with pytest.raises(InputError, match=r"bad\.parquet: row 1: score_out_of_range"):
        _run(tmp_path, table, "bad", on_invalid="error")
    assert not (tmp_path / "bad.out").exists()
    assert not (tmp_path / ".bad.out.staging").exists()


def test_every_row_accounted_for(tmp_path):
    """Three files of mixed rows: each row in stages/ or in rejected.parquet with the reference's
    reason, and summary.json reconciled by reason."""
    rng = np.random.default_rng(3)
    tracks, keys = [], []
    for i in range(300):
        t = rng.random(rng.integers(1, 30)).tolist()
        kind = i % 9
        if kind == 1:
            t[rng.integers(len(t))] = math.nan
        elif kind == 2:
            t = None
        elif kind == 3:
            t[-1] = 1.5
        elif kind == 4:
            t = []
        elif kind == 5:
            t[rng.integers(len(t))] = None
        tracks.append(t)
        keys.append(None if i % 11 == 0 else int(rng.integers(-2, 40)))
    table = wide_table(tracks, keys)
    data = tmp_path / "many"
    data.mkdir()
    for part in range(3):
        pq.write_table(table.slice(part * 100, 100), data / f"part-{part}.parquet")
    result = tf2eng.run(data, tmp_path / "many.out", plot=False)
    got = _outputs(result.out)
    _check_reconciled(got, read=300)
    want = {f"v{i:04d}": reference.rejection(t, k, minmax=False, has_key=True)
            for i, (t, k) in enumerate(zip(tracks, keys))}
    rejected = dict(zip(got["rejected"]["video_id"].to_list(), got["rejected"]["reason"].to_list()))
    assert rejected == {vid: reason for vid, reason in want.items() if reason is not None}
    assert got["stages"]["video_id"].to_list() == sorted(vid for vid, reason in want.items() if reason is None)
    assert len(set(got["summary"]["rows"]["rejected_by_reason"])) >= 6
    sources = got["rejected"].select(pl.col("source").str.extract(r"(part-\d)\.parquet$"), "row", "video_id")
    for source, row, vid in sources.iter_rows():
        assert vid == f"v{int(source[-1]) * 100 + row:04d}"


# --- files and columns that stop the run ----------------------------------------------


def test_missing_column(tmp_path):
    path = tmp_path / "nocol.parquet"
    pq.write_table(pa.table({"video_id": ["a"], "key_frame": [0]}), path)
    with pytest.raises(InputError, match=r"nocol\.parquet: missing column 'scores'"):
        tf2eng.run(path, tmp_path / "o")


def test_missing_id_column(tmp_path):
    path = tmp_path / "noid.parquet"
    pq.write_table(pa.table({"scores": pa.array([[0.5]])}), path)
    with pytest.raises(InputError, match=r"noid\.parquet: missing column 'video_id'"):
        tf2eng.run(path, tmp_path / "o")


@pytest.mark.parametrize(
    "column, values, message",
    [
        ("scores", pa.array([[1, 2]], pa.list_(pa.int64())), r"column 'scores' has type list<element: int64>"),
        ("scores", pa.array(["0.5"]), r"column 'scores' has type string"),
        ("key_frame", pa.array([0.0]), r"column 'key_frame' has type double"),
        ("video_id", pa.array([1.5]), r"column 'video_id' has type double"),
    ],
)
def test_wrong_column_type(tmp_path, column, values, message):
    columns = {"video_id": pa.array(["a"]), "scores": pa.array([[0.5, 0.2]]), "key_frame": pa.array([0])}
    columns[column] = values
    path = tmp_path / "typed.parquet"
    pq.write_table(pa.table(columns), path)
    with pytest.raises(InputError, match=r"typed\.parquet: " + message):
        tf2eng.run(path, tmp_path / "o")


@pytest.mark.parametrize("encoded_first", [True, False])
def test_dictionary_and_plain_strings_mix_across_files_in_either_order(tmp_path, encoded_first):
    """An id or --by column dictionary-encoded in one file and plain in another is the same kind."""
    data = tmp_path / "data"
    data.mkdir()
    for i, name in enumerate("ab"):
        encode = (i == 0) == encoded_first
        ids, cats = pa.array([f"{name}0", f"{name}1"]), pa.array(["x", "y"])
        if encode:
            ids, cats = ids.dictionary_encode(), cats.dictionary_encode()
        pq.write_table(pa.table({"video_id": ids, "scores": pa.array([[0.1, 0.9, 0.2], [0.3, 0.8, 0.1]]),
                                 "category": cats}), data / f"{i}.parquet")
    result = tf2eng.run(data, tmp_path / "o", plot=False, by=["category"])
    assert result.summary["rows"]["written"] == 4
    assert sorted(result.stages().collect()["video_id"].to_list()) == ["a0", "a1", "b0", "b1"]


def test_by_column_missing(write_parquet, tmp_path):
    path = write_parquet(wide_table([GOOD[0]], [0]))
    with pytest.raises(InputError, match="missing column 'nope'"):
        tf2eng.run(path, tmp_path / "o", by=["nope"])


def test_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.parquet"
    path.write_bytes(b"PAR1 this is not a parquet file at all PAR1")
    with pytest.raises(InputError, match=r"corrupt\.parquet: cannot read"):
        tf2eng.run(path, tmp_path / "o")


def test_truncated_file(tmp_path, write_parquet):
    good = write_parquet(wide_table([GOOD[0]] * 50, [0] * 50))
    data = open(good, "rb").read()
    path = tmp_path / "truncated.parquet"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"truncated\.parquet: "):
        tf2eng.run(path, tmp_path / "o")


def test_corrupt_file_inside_dataset_is_named(tmp_path):
    d = tmp_path / "ds"
    d.mkdir()
    pq.write_table(wide_table([GOOD[0]], [0]), d / "a.parquet")
    (d / "b.parquet").write_bytes(b"PAR1garbagegarbagePAR1")
    with pytest.raises(InputError, match=r"b\.parquet: cannot read"):
        tf2eng.run(d, tmp_path / "o")


@pytest.mark.parametrize("empty_first", [False, True])
def test_a_damaged_first_file_of_a_directory_is_named(tmp_path, empty_first):
    """Arrow's dataset reads the first file's schema (the first with rows, after files without rows are left
    out): where that file is damaged, the message names it, not the directory."""
    d = tmp_path / "ds"
    d.mkdir()
    if empty_first:
        pq.write_table(wide_table([], []), d / "a.parquet")
    pq.write_table(wide_table([GOOD[0]], [0]), d / "b.parquet")
    data = (d / "b.parquet").read_bytes()
    (d / "b.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"^\S*ds/b\.parquet: cannot read"):
        tf2eng.run(d, tmp_path / "o")


def test_no_such_input(tmp_path):
    with pytest.raises(InputError, match="no such file or directory"):
        tf2eng.run(tmp_path / "missing.parquet", tmp_path / "o")


def test_not_a_data_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(InputError, match="not a format tf2eng reads by its name .*give --format"):
        tf2eng.run(path, tmp_path / "o")


@pytest.mark.parametrize("options, message", [
    ({"lam": 0.0}, "--lam"), ({"stages": 0}, "--stages"), ({"grid_step": 0.0}, "--grid-step"),
    ({"reduce": "median"}, "--reduce"), ({"normalize": "zscore"}, "--normalize"),
    # an empty column name is no column, not the default (--scores-col "" read the default column before)
    ({"scores_col": ""}, "^--scores-col names no column"), ({"key_col": ""}, "^--key-col names no column"),
    ({"frame_col": "", "layout": "long"}, "^--frame-col names no column"),
])
def test_bad_options(write_parquet, tmp_path, options, message):
    path = write_parquet(wide_table([GOOD[0]], [0]))
    with pytest.raises(InputError, match=message):
        tf2eng.run(path, tmp_path / "o", **options)


def test_output_over_foreign_directory_is_refused(write_parquet, tmp_path):
    path = write_parquet(wide_table([GOOD[0]], [0]))
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    with pytest.raises(InputError, match="not a tf2eng output directory"):
        tf2eng.run(path, foreign)
    assert (foreign / "thesis.tex").read_text() == "keep me"


def test_too_many_groups(tmp_path, monkeypatch):
    import tf2eng.engine.groups as groups

    monkeypatch.setattr(groups, "MAX_GROUPS", 5)
    table = wide_table([GOOD[0]] * 8, [0] * 8, extra={"vid": [f"g{i}" for i in range(8)]})
    pq.write_table(table, tmp_path / "g.parquet")
    with pytest.raises(InputError, match="--by vid: more than 5 groups"):
        tf2eng.run(tmp_path / "g.parquet", tmp_path / "o", by=["vid"])


def test_groups_whose_sums_exceed_the_memory_budget_stop_the_run(tmp_path, monkeypatch):
    """A fine --grid-step makes each group's sums large (40 MB at a million grid points): fewer groups than
    10,000 fit the budget, and the run stops with one line saying so, instead of running out of memory."""
    import tf2eng.engine.groups as groups

    monkeypatch.setattr(groups, "MOMENTS_BUDGET_BYTES", 5 * 5 * 8 * (10 + 191))  # five groups' sums at 0.01
    table = wide_table([GOOD[0]] * 8, [0] * 8, extra={"vid": [f"g{i % 6}" for i in range(8)]})
    pq.write_table(table, tmp_path / "g.parquet")
    assert tf2eng.run(tmp_path / "g.parquet", tmp_path / "ok", by=["vid"], plot=False, grid_step=0.02) is not None
    with pytest.raises(InputError, match=r"^--by vid: more than 5 groups; .* or take a coarser --grid-step$"):
        tf2eng.run(tmp_path / "g.parquet", tmp_path / "o", by=["vid"], plot=False)


def test_a_missing_column_names_the_option_and_the_files_columns(tmp_path):
    """The one line of a missing column says which option named it and which columns the file has; a
    CSV whose first line holds numbers is told it needs a header line."""
    from typer.testing import CliRunner

    from tf2eng.cli.app import app

    runner = CliRunner()
    path = tmp_path / "t.csv"
    path.write_text("video_id,exp_id,frame,score\nv,0,0,0.5\nv,0,1,0.7\n")
    result = runner.invoke(app, ["run", str(path), "-o", str(tmp_path / "o"), "--by", "category", "-q"])
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(
        "t.csv: missing column 'category' (named by --by); its columns: video_id, exp_id, frame, score")
    bare = tmp_path / "bare.csv"
    bare.write_text("0,0,3\n0.3,0.4,5\n")
    result = runner.invoke(app, ["run", str(bare), "-o", str(tmp_path / "o2"), "-q"])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "it holds numbers, not names: the file needs a first line naming its columns" in result.stderr


def test_a_parquet_file_forced_to_a_text_format_is_named_as_such(tmp_path):
    """--format csv (or another text format) on a Parquet file: one line saying what the file is,
    not a parse error quoting its bytes."""
    from typer.testing import CliRunner

    from tf2eng.cli.app import app

    path = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"video_id": ["a"], "scores": [[0.5, 0.7]]}), path)
    for fmt, name in (("csv", "CSV"), ("jsonl", "JSON Lines"), ("npy", "NumPy")):
        result = CliRunner().invoke(app, ["run", str(path), "-o", str(tmp_path / fmt), "--format", fmt, "-q"])
        assert result.exit_code == 2
        assert result.stderr.strip() == (f"tf2eng: error: {path}: is a Parquet file (its first bytes), not {name}; "
                                         "leave out --format, or give --format parquet")
