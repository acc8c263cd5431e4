"""--meta: Ref-YouTube-VOS and MeViS metadata joined onto the tracks (README, Dataset metadata).

The fixtures are small files written in the datasets' published shapes: Ref-YouTube-VOS
``meta_expressions.json`` (train: ``obj_id`` a string; valid: no ``obj_id``) with ``meta.json``
(objects and their categories), and MeViS ``meta_expressions.json`` (``obj_id`` and ``anno_id``
lists of integers).  Expected values are worked out here from those dicts, not with the engine's code.
"""

import json
import random
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import reference
import tf2eng
from tf2eng.cli.app import app
from tf2eng.engine.errors import InputError
from tf2eng.engine.meta import load_metadata
from tf2eng.engine.source import Columns

runner = CliRunner()
CATEGORIES = ("person", "dog", "cat", "penguin", "truck")


# --- fixtures in the published shapes -------------------------------------------------------


def refytvos(seed: int = 0, videos: int = 12):
    """(meta_expressions.json, meta.json) of a Ref-YouTube-VOS train split: frames every 5th, named
    "00000", "00005", ...; objects "1", "2", ... with a category; expressions "0", "1", ... each of one
    object (some objects with two expressions)."""
    rng = random.Random(seed)
    expressions, meta = {}, {}
    for v in range(videos):
        vid = f"{rng.getrandbits(40):010x}"
        names = [f"{5 * i:05d}" for i in range(rng.randint(3, 36))]
        objects = {str(o): {"category": rng.choice(CATEGORIES), "frames": names[: rng.randint(1, len(names))]}
                   for o in range(1, rng.randint(2, 4))}
        exps, e = {}, 0
        for obj in objects:
            for _ in range(rng.randint(1, 2)):
                exps[str(e)] = {"exp": f"the {objects[obj]['category']} number {obj} in video {v}", "obj_id": obj}
                e += 1
        # Published lists are in order; one here is shuffled: its frames count in sorted order.
        listed = names if v % 4 else rng.sample(names, len(names))
        expressions[vid] = {"expressions": exps, "frames": listed}
        meta[vid] = {"objects": objects}
    return {"videos": expressions}, {"videos": meta}


def mevis():
    """A MeViS meta_expressions.json: obj_id and anno_id lists of integers, frames of every frame."""
    return {"videos": {
        "0a4e8e1c4b4d": {"expressions": {
            "0": {"exp": "two dogs playing together", "obj_id": [1, 0], "anno_id": [11, 10]},
            "1": {"exp": "the dog that jumps first", "obj_id": [0], "anno_id": [10]},
            "2": {"exp": "animals moving to the right", "obj_id": [10, 2, 1], "anno_id": [13, 12, 11]},
        }, "frames": [f"{i:05d}" for i in range(8)]},
        "1bd4d9a36b2c": {"expressions": {
            "0": {"exp": "the car turning left", "obj_id": [0], "anno_id": [20]},
        }, "frames": [f"{i:05d}" for i in range(6)]},
    }}


def refytvos_valid():
    """A Ref-YouTube-VOS validation meta_expressions.json: no obj_id."""
    return {"videos": {
        "0062f687f1": {"expressions": {"0": {"exp": "a dog on the left"}, "1": {"exp": "a cat on the sofa"}},
                       "frames": ["00000", "00005", "00010", "00015"]},
    }}


def write_json(path: Path, document) -> Path:
    path.write_text(json.dumps(document))
    return path


def tracks_for(expressions: dict, seed: int = 0, extra: int = 3, names: bool = True):
    """One track per expression (T = the video's frame count, key frame a frame name or its position),
    and ``extra`` tracks the metadata does not name.  Returns the table and, per track, the expected
    (video, exp, scores, 0-based key)."""
    rng = np.random.default_rng(seed)
    rows = []
    for vid, entry in expressions["videos"].items():
        frames = sorted(entry["frames"])
        for exp_id in entry["expressions"]:
            T = len(frames)
            key = int(rng.integers(0, T))
            rows.append((vid, int(exp_id), rng.uniform(0.01, 1.0, T).tolist(), frames[key] if names else key, key))
    for i in range(extra):
        T = 5 + i
        key = int(rng.integers(0, T))
        rows.append((f"unknown{i}", 0, rng.uniform(0.01, 1.0, T).tolist(), key if not names else None, key))
    table = pa.table({
        "video_id": [r[0] for r in rows],
        "exp_id": pa.array([r[1] for r in rows], pa.int32()),
        "scores": pa.array([r[2] for r in rows], pa.list_(pa.float32())),
        "key_frame": pa.array([r[3] for r in rows], pa.string() if names else pa.int64()),
    })
    return table, rows


def category_of(expressions: dict, meta: dict | None, vid: str, exp_id: str):
    """The expected category: the expression's objects' categories in meta.json, distinct, sorted, joined."""
    entry = expressions["videos"].get(vid, {}).get("expressions", {}).get(exp_id)
    if entry is None or meta is None or "obj_id" not in entry:
        return None
    ids = entry["obj_id"] if isinstance(entry["obj_id"], list) else [entry["obj_id"]]
    objects = meta["videos"].get(vid, {}).get("objects", {})
    found = sorted({objects[str(o)]["category"] for o in ids if str(o) in objects})
    return ",".join(found) or None


def _by_group(frame: pl.DataFrame, column: str, value):
    return frame.filter(pl.col(column).is_null() if value is None else pl.col(column) == value)


def assert_matches_reference(result, tracks, keys, groups, by: str):
    """--by aggregates against tests/reference.py, group by group."""
    float32 = [np.asarray(t, np.float32).astype(np.float64).tolist() for t in tracks]
    _, _, aggs = reference.dataset(float32, keys, groups)
    assert result.stage_means[by].unique(maintain_order=True).to_list() == list(aggs)
    for group, agg in aggs.items():
        means, curve = _by_group(result.stage_means, by, group), _by_group(result.curve, by, group)
        (count, mean, std), (ccount, cmean, cstd) = agg["stage"], agg["curve"]
        assert means["count"].to_list() == count.tolist()
        np.testing.assert_allclose(means["mean"].to_numpy(), mean, rtol=1e-9)
        np.testing.assert_allclose(means["std"].fill_null(np.nan).to_numpy(), std, rtol=1e-7)
        assert curve["count"].to_list() == ccount.tolist()
        np.testing.assert_allclose(curve["mean"].fill_null(np.nan).to_numpy(), cmean, rtol=1e-9)


@pytest.fixture
def ytvos(tmp_path):
    expressions, meta = refytvos()
    table, rows = tracks_for(expressions)
    pq.write_table(table, tmp_path / "scores.parquet")
    return {
        "data": tmp_path / "scores.parquet",
        "expressions": write_json(tmp_path / "meta_expressions.json", expressions),
        "objects": write_json(tmp_path / "meta.json", meta),
        "doc": (expressions, meta),
        "rows": rows,
    }


# --- Ref-YouTube-VOS train: --by category on the real shapes ---------------------------------


def test_by_category_matches_reference(ytvos, tmp_path):
    expressions, meta = ytvos["doc"]
    result = tf2eng.run(ytvos["data"], tmp_path / "out", by="category", plot=False,
                        meta=[ytvos["expressions"], ytvos["objects"]])
    rows = ytvos["rows"]
    known = [r for r in rows if r[0] in expressions["videos"]]
    groups = [category_of(expressions, meta, r[0], str(r[1])) for r in known]
    assert len(set(groups)) > 2
    assert_matches_reference(result, [r[2] for r in known], [r[4] for r in known], groups, "category")
    # The unknown videos' key frames are names no file lists for them: rejected.
    rejected = pl.read_parquet(tmp_path / "out" / "rejected.parquet")
    assert sorted(rejected["video_id"]) == sorted(r[0] for r in rows if r[0] not in expressions["videos"])
    assert set(rejected["reason"]) == {"null_key_frame"}  # their keys are null here
    assert result.summary["meta"]["tracks_matched"] == len(known)
    assert result.summary["meta"]["tracks_unmatched"] == len(rows) - len(known)
    assert [f["kind"] for f in result.summary["meta"]["files"]] == ["expressions", "objects"]


def test_stages_carry_exp_obj_id_and_category(ytvos, tmp_path):
    expressions, meta = ytvos["doc"]
    result = tf2eng.run(ytvos["data"], tmp_path / "out", plot=False, meta=[ytvos["expressions"], ytvos["objects"]])
    stages = result.stages().collect().sort("video_id", "exp_id")
    assert stages.schema["exp"] == stages.schema["obj_id"] == stages.schema["category"] == pl.String
    for row in stages.iter_rows(named=True):
        entry = expressions["videos"][row["video_id"]]["expressions"][str(row["exp_id"])]
        assert row["exp"] == entry["exp"] and row["obj_id"] == entry["obj_id"]
        assert row["category"] == meta["videos"][row["video_id"]]["objects"][entry["obj_id"]]["category"]
        assert row["key_label"] == sorted(expressions["videos"][row["video_id"]]["frames"])[row["key_frame"]]


def test_frame_names_and_positions_give_the_same_results(ytvos, tmp_path):
    """A key frame given as a frame name is its position in the video's sorted frames list."""
    expressions, meta = ytvos["doc"]
    files = [ytvos["expressions"], ytvos["objects"]]
    named = tf2eng.run(ytvos["data"], tmp_path / "named", plot=False, by=["category"], meta=files)
    table, _ = tracks_for(expressions, names=False)
    pq.write_table(table, tmp_path / "positions.parquet")
    positions = tf2eng.run(tmp_path / "positions.parquet", tmp_path / "pos", plot=False, by=["category"], meta=files)
    a = named.stages().collect().drop("key_label").sort("video_id", "exp_id")
    b = positions.stages().collect().filter(pl.col("exp").is_not_null()).sort("video_id", "exp_id")
    assert a.equals(b)
    assert "key_label" not in positions.stages().collect_schema()
    known = positions.stage_means.filter(pl.col("category").is_not_null())
    assert named.stage_means.equals(known)


def test_key_frame_names_out_of_the_list_are_rejected(tmp_path):
    expressions = {"videos": {"v1": {"expressions": {"0": {"exp": "x", "obj_id": "1"}, "1": {"exp": "y", "obj_id": "1"},
                                                     "2": {"exp": "z", "obj_id": "1"}, "3": {"exp": "w", "obj_id": "1"}},
                                     "frames": ["00010", "00000", "00005"]},
                              "v2": {"expressions": {"0": {"exp": "no frames listed"}}}}}
    table = pa.table({
        "video_id": ["v1", "v1", "v1", "v1", "v2", "v3", "v1"],
        "exp_id": ["0", "1", "2", "3", "0", "0", "0"],
        "scores": [[0.1, 0.9, 0.2]] * 5 + [[0.5, 0.5], [0.1, 0.9, 0.2]],
        "key_frame": pa.array(["00005", "00015", None, "5", "00000", "00000", "00010"]).dictionary_encode(),
    })
    pq.write_table(table, tmp_path / "keys.parquet")
    result = tf2eng.run(tmp_path / "keys.parquet", tmp_path / "out", plot=False,
                        meta=write_json(tmp_path / "m.json", expressions))
    stages = result.stages().collect().sort("key_frame")
    assert stages["key_frame"].to_list() == [1, 2] and stages["key_label"].to_list() == ["00005", "00010"]
    rejected = pl.read_parquet(tmp_path / "out" / "rejected.parquet").sort("video_id", "exp_id")
    assert rejected.schema["key_frame"] == pl.String  # as read
    assert rejected.select("video_id", "exp_id", "key_frame", "reason").rows() == [
        ("v1", "1", "00015", "key_frame_out_of_range"),  # not in the list
        ("v1", "2", None, "null_key_frame"),
        ("v1", "3", "5", "key_frame_out_of_range"),  # names compare as text
        ("v2", "0", "00000", "key_frame_out_of_range"),  # the file lists no frames for v2
        ("v3", "0", "00000", "key_frame_out_of_range"),  # no metadata for v3
    ]
    assert result.summary["meta"]["tracks_matched"] == 6 and result.summary["meta"]["tracks_unmatched"] == 1


def test_integer_key_frames_keep_meaning_positions(tmp_path):
    table = pa.table({"video_id": ["v1"], "exp_id": [0], "scores": [[0.1, 0.9, 0.2]], "key_frame": [2]})
    pq.write_table(table, tmp_path / "d.parquet")
    m = write_json(tmp_path / "m.json", {"videos": {"v1": {"expressions": {"0": {"exp": "x"}}, "frames": ["7", "8", "9"]}}})
    result = tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", plot=False, meta=m)
    stages = result.stages().collect()
    assert stages["key_frame"].to_list() == [2] and stages["exp"].to_list() == ["x"]
    assert "key_label" not in stages.columns


def test_a_track_key_shorter_than_the_list_is_out_of_range(tmp_path):
    """A frame name found at a position beyond the track's length is out of range, as a position would be."""
    table = pa.table({"video_id": ["v"], "exp_id": [0], "scores": [[0.1, 0.9]], "key_frame": ["c"]})
    pq.write_table(table, tmp_path / "d.parquet")
    m = write_json(tmp_path / "m.json", {"videos": {"v": {"expressions": {"0": {"exp": "x"}}, "frames": ["a", "b", "c"]}}})
    result = tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", plot=False, meta=m)
    assert result.summary["rows"]["rejected_by_reason"] == {"key_frame_out_of_range": 1}


# --- MeViS and validation files ---------------------------------------------------------------


def test_mevis_object_lists(tmp_path):
    expressions = mevis()
    table, rows = tracks_for(expressions, extra=1)
    pq.write_table(table, tmp_path / "d.parquet")
    # MeViS ships no meta.json; one in Ref-YouTube-VOS's shape names the first video's objects.
    objects = {"videos": {"0a4e8e1c4b4d": {"objects": {"0": {"category": "dog"}, "1": {"category": "dog"},
                                                       "2": {"category": "cat"}, "10": {"category": "bird"}}}}}
    files = [write_json(tmp_path / "meta_expressions.json", expressions), write_json(tmp_path / "meta.json", objects)]
    result = tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", plot=False, by="category", meta=files)
    stages = result.stages().collect().sort("video_id", "exp_id")
    assert stages.select("video_id", "exp_id", "obj_id", "category").rows() == [
        ("0a4e8e1c4b4d", 0, "0,1", "dog"),  # two dogs: the category once
        ("0a4e8e1c4b4d", 1, "0", "dog"),
        ("0a4e8e1c4b4d", 2, "1,2,10", "bird,cat,dog"),  # ids by value, categories sorted
        ("1bd4d9a36b2c", 0, "0", None),  # no object entry: no category
    ]
    groups = [category_of(expressions, objects, r[0], str(r[1])) for r in rows[:-1]]
    assert_matches_reference(result, [r[2] for r in rows[:-1]], [r[4] for r in rows[:-1]], groups, "category")


def test_validation_files_have_no_obj_id(tmp_path):
    table = pa.table({"video_id": ["0062f687f1"] * 3, "exp_id": [0, 1, 2],
                      "scores": [[0.2, 0.4, 0.9, 0.1]] * 3, "key_frame": ["00010", "00015", "00000"]})
    pq.write_table(table, tmp_path / "d.parquet")
    result = tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", plot=False,
                        meta=write_json(tmp_path / "valid.json", refytvos_valid()))
    stages = result.stages().collect().sort("exp_id")
    assert stages.select("exp", "obj_id", "category", "key_frame").rows() == [
        ("a dog on the left", None, None, 2), ("a cat on the sofa", None, None, 3), (None, None, None, 0)]
    assert result.summary["meta"]["tracks_matched"] == 2 and result.summary["meta"]["tracks_unmatched"] == 1


def test_kind_is_read_from_the_content_not_the_name(ytvos, tmp_path):
    expressions, meta = ytvos["doc"]
    swapped = [write_json(tmp_path / "meta.json.bak", expressions), write_json(tmp_path / "meta_expressions.json.x", meta)]
    a = tf2eng.run(ytvos["data"], tmp_path / "a", plot=False, by="category", meta=swapped)
    b = tf2eng.run(ytvos["data"], tmp_path / "b", plot=False, by="category", meta=[ytvos["objects"], ytvos["expressions"]])
    assert [f["kind"] for f in a.summary["meta"]["files"]] == ["expressions", "objects"]
    assert a.summary["digests"] == b.summary["digests"]


def test_no_meta_no_columns(ytvos, tmp_path):
    table, _ = tracks_for(ytvos["doc"][0], names=False)
    pq.write_table(table, tmp_path / "d.parquet")
    result = tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", plot=False)
    assert "meta" not in result.summary
    assert not {"exp", "obj_id", "category"} & set(result.stages().collect_schema().names())


# --- the long layout ---------------------------------------------------------------------------


def test_long_layout_joins_the_same(ytvos, tmp_path):
    files = [ytvos["expressions"], ytvos["objects"]]
    expressions, _ = ytvos["doc"]
    table, rows = tracks_for(expressions, names=False, extra=2)
    pq.write_table(table, tmp_path / "wide.parquet")
    long = pl.from_arrow(table).with_columns(pl.int_ranges(0, pl.col("scores").list.len()).alias("frame"))
    long = long.explode("scores", "frame").rename({"scores": "score"}).sample(fraction=1.0, shuffle=True, seed=3)
    long.write_parquet(tmp_path / "long.parquet")
    wide = tf2eng.run(tmp_path / "wide.parquet", tmp_path / "w", plot=False, by="category", meta=files)
    lng = tf2eng.run(tmp_path / "long.parquet", tmp_path / "l", plot=False, by="category", meta=files)
    assert lng.summary["input"]["layout"] == "long"
    w = wide.stages().collect().sort("video_id", "exp_id")
    l_ = lng.stages().collect().sort("video_id", "exp_id")
    assert l_.select(w.columns).equals(w)
    assert lng.stage_means.equals(wide.stage_means)
    assert lng.summary["meta"]["tracks_matched"] == wide.summary["meta"]["tracks_matched"] == len(rows) - 2


# --- bad metadata and clashes: one line, exit 2 -------------------------------------------------


BAD_FILES = {
    "malformed.json": ('{"videos": {"a": ', "not valid JSON"),
    "list.json": ("[1, 2]", "expected Ref-YouTube-VOS or MeViS metadata"),
    "novideos.json": ('{"frames": []}', "expected Ref-YouTube-VOS or MeViS metadata"),
    "neither.json": ('{"videos": {"a": {"frames": []}}}', 'video "a" has neither'),
    "mixed.json": ('{"videos": {"a": {"expressions": {}}, "b": {"objects": {}}}}', 'video "b" has "objects"'),
    "exp.json": ('{"videos": {"a": {"expressions": {"0": {"exp": 3}}}}}', 'video "a" expression "0"'),
    "objid.json": ('{"videos": {"a": {"expressions": {"0": {"exp": "x", "obj_id": 1.5}}}}}', '"obj_id" must be'),
    "frames.json": ('{"videos": {"a": {"expressions": {}, "frames": "00000"}}}', '"frames" must be a list'),
    "twice.json": ('{"videos": {"a": {"expressions": {}, "frames": ["1", "1"]}}}', 'lists frame "1" twice'),
    "category.json": ('{"videos": {"a": {"objects": {"1": {"category": 7}}}}}', 'video "a" object "1"'),
    "binary.json": (b"\xff\xfe\x00garbage", "not valid JSON"),
    "deep.json": ("[" * 100_000, "not valid JSON"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_metadata_stops_with_one_line(tmp_path, name):
    content, message = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    pq.write_table(pa.table({"video_id": ["a"], "exp_id": [0], "scores": [[0.5]]}), tmp_path / "d.parquet")
    result = runner.invoke(app, ["run", str(tmp_path / "d.parquet"), "-o", str(tmp_path / "out"), "--no-plot",
                                 "-q", "--meta", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tf2eng: error: {path}: ") and message in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_missing_file_and_conflicts(tmp_path):
    pq.write_table(pa.table({"video_id": ["a"], "exp_id": [0], "scores": [[0.5]]}), tmp_path / "d.parquet")
    with pytest.raises(InputError, match=r"nothing\.json: cannot read"):
        tf2eng.run(tmp_path / "d.parquet", tmp_path / "o", meta=tmp_path / "nothing.json")
    with pytest.raises(InputError, match=r"cannot read"):
        tf2eng.run(tmp_path / "d.parquet", tmp_path / "o", meta=tmp_path)  # a directory
    one = write_json(tmp_path / "one.json", {"videos": {"a": {"expressions": {"0": {"exp": "x"}}}}})
    two = write_json(tmp_path / "two.json", {"videos": {"a": {"expressions": {"0": {"exp": "y"}}}}})
    with pytest.raises(InputError, match=r'two\.json: video "a" expression "0" differs from its entry in .*one\.json'):
        tf2eng.run(tmp_path / "d.parquet", tmp_path / "o", meta=[one, two])
    same = write_json(tmp_path / "same.json", {"videos": {"a": {"expressions": {"0": {"exp": "x"}}}}})
    result = tf2eng.run(tmp_path / "d.parquet", tmp_path / "o", plot=False, meta=[one, same])
    assert result.summary["meta"]["tracks_matched"] == 1
    empty = write_json(tmp_path / "empty.json", {"videos": {}})  # the published shape, of no video
    result = tf2eng.run(tmp_path / "d.parquet", tmp_path / "o", plot=False, meta=empty)
    assert result.summary["meta"]["tracks_unmatched"] == 1 and result.summary["meta"]["files"][0]["kind"] == "empty"


def test_input_column_of_the_same_name_stops_the_run(tmp_path):
    table = pa.table({"video_id": ["a"], "exp_id": [0], "scores": [[0.5]], "category": ["dog"]})
    pq.write_table(table, tmp_path / "d.parquet")
    m = write_json(tmp_path / "m.json", refytvos_valid())
    with pytest.raises(InputError, match=r"d\.parquet: column 'category' is in the input and would also come from --meta"):
        tf2eng.run(tmp_path / "d.parquet", tmp_path / "o", meta=m)


def test_meta_needs_two_id_columns(tmp_path):
    pq.write_table(pa.table({"video_id": ["a"], "scores": [[0.5]]}), tmp_path / "d.parquet")
    m = write_json(tmp_path / "m.json", refytvos_valid())
    with pytest.raises(InputError, match=r"--meta joins tracks by video and expression: give two id columns"):
        tf2eng.run(tmp_path / "d.parquet", tmp_path / "o", meta=m)


def test_string_key_frames_without_meta_still_stop_the_run(tmp_path):
    pq.write_table(pa.table({"video_id": ["a"], "exp_id": [0], "scores": [[0.5]], "key_frame": ["00000"]}),
                   tmp_path / "d.parquet")
    with pytest.raises(InputError, match=r"column 'key_frame' has type string, expected an integer type"):
        tf2eng.run(tmp_path / "d.parquet", tmp_path / "o")


# --- incremental runs ---------------------------------------------------------------------------


def test_a_changed_meta_file_recomputes(ytvos, tmp_path):
    expressions, meta = ytvos["doc"]
    out = tmp_path / "out"
    files = [ytvos["expressions"], ytvos["objects"]]
    first = tf2eng.run(ytvos["data"], out, plot=False, by="category", meta=files)
    again = tf2eng.run(ytvos["data"], out, plot=False, by="category", meta=files)
    assert again.summary["units"]["reused"] == 1 and again.summary["units"]["processed"] == 0
    assert again.summary["meta"] == first.summary["meta"]  # counts of reused units are kept
    # Every object becomes a "person": a new meta.json content, new unit keys.
    for video in meta["videos"].values():
        for obj in video["objects"].values():
            obj["category"] = "person"
    write_json(ytvos["objects"], meta)
    changed = tf2eng.run(ytvos["data"], out, plot=False, by="category", meta=files)
    assert changed.summary["units"]["processed"] == 1 and changed.summary["units"]["reused"] == 0
    assert set(changed.stage_means["category"].drop_nulls()) == {"person"}
    # Moved, same content: still reused.
    moved = write_json(tmp_path / "elsewhere.json", meta)
    reused = tf2eng.run(ytvos["data"], out, plot=False, by="category", meta=[files[0], moved])
    assert reused.summary["units"]["reused"] == 1


# --- engines and devices ---------------------------------------------------------------------------


def test_dask_gives_the_local_bytes(ytvos, tmp_path):
    pytest.importorskip("dask.distributed")
    files = [ytvos["expressions"], ytvos["objects"]]
    local = tf2eng.run(ytvos["data"], tmp_path / "local", plot=False, by="category", meta=files)
    dask = tf2eng.run(ytvos["data"], tmp_path / "dask", plot=False, by="category", meta=files, engine="dask", workers=1)
    assert dask.summary["digests"] == local.summary["digests"]
    assert dask.summary["meta"] == local.summary["meta"]


def test_cuda_joins_before_the_kernel(ytvos, tmp_path):
    from tf2eng.kernels import cuda as cuda_kernels

    if not cuda_kernels.usable():
        pytest.skip("neither a GPU nor the CUDA simulator")
    files = [ytvos["expressions"], ytvos["objects"]]
    cpu = tf2eng.run(ytvos["data"], tmp_path / "cpu", plot=False, by="category", meta=files)
    gpu = tf2eng.run(ytvos["data"], tmp_path / "gpu", plot=False, by="category", meta=files, device="cuda")
    a, b = cpu.stages().collect(), gpu.stages().collect()
    assert a.drop("stage_scores").equals(b.drop("stage_scores"))
    np.testing.assert_allclose(np.concatenate(a["stage_scores"].to_list()), np.concatenate(b["stage_scores"].to_list()),
                               rtol=1e-12)
    assert gpu.stage_means.select("category", "stage", "count").equals(cpu.stage_means.select("category", "stage", "count"))


# --- the join, against a plain dictionary lookup ---------------------------------------------------


NAME = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6)
OBJ = st.one_of(st.none(), st.text("0123ab", min_size=1, max_size=3), st.integers(0, 20),
                st.lists(st.integers(0, 20), max_size=3))


@settings(max_examples=60)
@given(
    entries=st.dictionaries(st.tuples(NAME, st.integers(0, 5)), st.tuples(NAME, OBJ), max_size=8),
    categories=st.dictionaries(st.tuples(NAME, st.text("0123ab", min_size=1, max_size=3)), NAME, max_size=8),
    extra=st.lists(st.tuples(NAME, st.integers(0, 5)), max_size=4),
    id_kind=st.sampled_from(["string", "large_string", "dictionary", "integer"]),
)
def test_join_matches_a_dictionary_lookup(entries, categories, extra, id_kind):
    expressions, objects = {"videos": {}}, {"videos": {}}
    for (vid, exp_id), (text, obj) in entries.items():
        item = {"exp": text} if obj is None else {"exp": text, "obj_id": obj}
        expressions["videos"].setdefault(vid, {"expressions": {}})["expressions"][str(exp_id)] = item
    for (vid, obj), category in categories.items():
        objects["videos"].setdefault(vid, {"objects": {}})["objects"][obj] = {"category": category}
    tracks = list(entries) + extra
    with tempfile.TemporaryDirectory() as d:
        paths = [write_json(Path(d) / "e.json", expressions), write_json(Path(d) / "o.json", objects)]
        metadata = load_metadata(paths)
    videos = pa.array([v for v, _ in tracks], pa.string())
    if id_kind == "large_string":
        videos = videos.cast(pa.large_string())
    elif id_kind == "dictionary":
        videos = videos.dictionary_encode()
    exp_ids = pa.array([e for _, e in tracks], pa.int16()) if id_kind == "integer" else \
        pa.array([str(e) for _, e in tracks], pa.string())
    batch = pa.RecordBatch.from_pydict({"video_id": videos, "exp_id": exp_ids})
    joined = metadata.join(batch, Columns("wide", "scores", None, ("video_id", "exp_id"), ()))
    got = joined.batch.select(["exp", "obj_id", "category"]).to_pylist()
    want = []
    for vid, exp_id in tracks:
        item = expressions["videos"].get(vid, {}).get("expressions", {}).get(str(exp_id))
        if item is None:
            want.append({"exp": None, "obj_id": None, "category": None})
            continue
        obj = item.get("obj_id")
        ids = [] if obj is None else [str(o) for o in (obj if isinstance(obj, list) else [obj])]
        ids = sorted(set(ids), key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
        cats = sorted({categories[(vid, o)] for o in ids if (vid, o) in categories})
        want.append({"exp": item["exp"], "obj_id": ",".join(ids) or None, "category": ",".join(cats) if cats else None})
    assert got == want
    assert joined.matched == sum(w["exp"] is not None for w in want)


@pytest.mark.parametrize("kind", ["no columns", "untyped", "empty jsonl"])
def test_an_input_without_rows_runs_with_meta(tmp_path, kind):
    """A day without data with --meta (README, Input: No rows): the ids the join needs (video_id, exp_id) and
    --by columns of the metadata come out of an input that has no rows, whatever its files' columns."""
    expressions, _ = refytvos()
    meta = write_json(tmp_path / "meta_expressions.json", expressions)
    (tmp_path / "d").mkdir()
    if kind == "empty jsonl":
        (tmp_path / "d" / "a.jsonl").write_text("")
    else:
        table = pa.table({}) if kind == "no columns" else \
            pa.table({name: pa.array([], pa.null()) for name in ("video_id", "exp_id", "scores", "key_frame")})
        pq.write_table(table, tmp_path / "d" / "a.parquet")
    result = runner.invoke(app, ["run", str(tmp_path / "d"), "-o", str(tmp_path / "out"), "--no-plot", "-q",
                                 "--meta", str(meta), "--by", "category"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rows"]["read"] == 0 and summary["columns"]["ids"] == ["video_id", "exp_id"]
    assert pq.read_table(tmp_path / "out" / "stage_means.parquet").num_rows == 0
