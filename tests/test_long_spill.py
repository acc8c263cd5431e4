"""Long layout larger than memory: frame rows grouped a hash partition at a time (engine/long.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tf2eng
from tf2eng.engine import long as long_module
from tf2eng.engine.errors import RejectedRowError
from tf2eng.engine.long import SPILL_PREFIX, partition_of, partitions_for

from test_long_labels import long_from_tracks, wide_from_tracks, write_split


def _dataset(n_tracks: int, seed: int, kind: str = "digits"):
    rng = np.random.default_rng(seed)
    tracks = [rng.random(int(rng.integers(1, 30))).tolist() for _ in range(n_tracks)]
    keys = [int(rng.integers(0, len(t))) for t in tracks]
    groups = [str(g) for g in rng.choice(["a", "b", "c"], n_tracks)]
    return tracks, keys, groups, long_from_tracks(tracks, keys, groups, kind, seed)


@pytest.fixture
def spill_dirs(monkeypatch):
    """The spill directories a run made, and the files in them when partitions were grouped."""
    seen = {"dirs": [], "files": []}
    spill, group = long_module.LongTracks._spill, long_module.group_tracks

    def recording_spill(self):
        paths = spill(self)
        seen["dirs"].append(self.spill_dir)
        return paths

    def recording_group(*args, **kwargs):
        if seen["dirs"]:
            seen["files"].append(sorted(p.name for p in seen["dirs"][-1].iterdir()))
        return group(*args, **kwargs)

    monkeypatch.setattr(long_module.LongTracks, "_spill", recording_spill)
    monkeypatch.setattr(long_module, "group_tracks", recording_group)
    return seen


def test_partitions_follow_the_budget(monkeypatch):
    assert partitions_for(0) == 1 and partitions_for(long_module.PARTITION_ROWS) == 1
    assert partitions_for(long_module.PARTITION_ROWS + 1) == 2
    assert partitions_for(50 * long_module.PARTITION_ROWS) == 50
    assert partitions_for(10**12) == long_module.MAX_PARTITIONS


def test_partition_of_is_stable():
    """The same ids land in the same partition in any batch, alone or among others."""
    ids = pa.record_batch({"video_id": ["a", "b", "c", "a"], "exp_id": pa.array([0, 1, 2, 0], pa.int32())})
    parts = partition_of(ids, ["video_id", "exp_id"], 7)
    assert parts[0] == parts[3] and (0 <= parts).all() and (parts < 7).all()
    assert partition_of(ids.slice(3), ["video_id", "exp_id"], 7)[0] == parts[0]


@given(n_tracks=st.integers(1, 40), seed=st.integers(0, 2**16), files=st.integers(1, 4),
       budget=st.integers(1, 60), kind=st.sampled_from(["int", "digits", "text"]))
def test_many_partitions_give_the_bytes_of_one(n_tracks, seed, files, budget, kind):
    tracks, keys, groups, (long, labels) = _dataset(n_tracks, seed, kind)
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        tmp = Path(tmp)
        write_split(long, tmp / "long", files, seed)
        one = tf2eng.run(tmp / "long", tmp / "one.out", by=["grp"], plot=False)
        mp.setattr(long_module, "PARTITION_ROWS", budget)
        many = tf2eng.run(tmp / "long", tmp / "many.out", by=["grp"], plot=False)
        pq.write_table(wide_from_tracks(tracks, keys, groups), tmp / "wide.parquet")
        wide = tf2eng.run(tmp / "wide.parquet", tmp / "wide.out", by=["grp"], plot=False)
        for name in ("stage_means.parquet", "curve.parquet"):
            assert one.summary["digests"][name] == many.summary["digests"][name] == wide.summary["digests"][name]
        a = one.stages().collect().sort("video_id")
        assert a.equals(many.stages().collect().sort("video_id"))
        assert a.drop("key_label").equals(wide.stages().collect().sort("video_id"))
        assert many.summary["rows"] == one.summary["rows"]


def test_row_order_and_split_do_not_change_any_output(tmp_path, monkeypatch):
    """With spilling, stages/ and rejected.parquet hold the same rows in the same order too, whatever
    the files (their bytes differ only by the input's path and the unit's key)."""
    *_, (long, _) = _dataset(60, 3)
    bad = pa.table({"video_id": ["dup", "dup", "nul"], "exp_id": pa.array([0, 0, 0], pa.int32()),
                    "frame": ["1", "1", None], "score": [0.5, 0.4, 0.3], "grp": ["a", "a", "b"],
                    "key_frame": ["1", "1", "1"]})
    long = pa.concat_tables([long, bad])
    monkeypatch.setattr(long_module, "PARTITION_ROWS", 97)
    outputs = []
    for files, seed in ((1, 0), (3, 1), (5, 2)):
        write_split(long, tmp_path / f"in{seed}", files, seed)
        result = tf2eng.run(tmp_path / f"in{seed}", tmp_path / f"out{seed}", plot=False)
        assert result.summary["rows"]["rejected_by_reason"] == {"bad_frame_index": 1, "duplicate_frame": 1}
        digests = result.summary["digests"]
        outputs.append((digests["stage_means.parquet"], digests["curve.parquet"],
                        pq.read_table(result.out / "stages"),
                        pq.read_table(result.out / "rejected.parquet").drop_columns(["source"])))
    for other in outputs[1:]:
        assert other[:2] == outputs[0][:2]
        assert other[2].equals(outputs[0][2]) and other[3].equals(outputs[0][3])


def test_spill_files_are_removed_after_success(tmp_path, monkeypatch, spill_dirs):
    *_, (long, _) = _dataset(50, 1)
    write_split(long, tmp_path / "long", 3, 1)
    monkeypatch.setattr(long_module, "PARTITION_ROWS", 100)
    result = tf2eng.run(tmp_path / "long", tmp_path / "out", plot=False)
    P = partitions_for(long.num_rows)
    assert P > 1
    assert len(spill_dirs["dirs"]) == 1
    spill_dir = spill_dirs["dirs"][0]
    assert spill_dir.name.startswith(SPILL_PREFIX) and spill_dir.parent.name == ".out.staging"
    # Each partition's file is removed as soon as it is read.
    assert [len(files) for files in spill_dirs["files"]][:2] == [P - 1, P - 2]
    assert not spill_dir.exists()
    assert not list(result.out.rglob(SPILL_PREFIX + "*"))
    assert result.summary["rows"]["input_frame_rows"] == long.num_rows


def test_spill_files_are_removed_after_a_failure(tmp_path, monkeypatch, spill_dirs):
    *_, (long, _) = _dataset(50, 2)
    long = pa.concat_tables([long, long.slice(0, 1)])  # a duplicate frame
    write_split(long, tmp_path / "long", 2, 2)
    monkeypatch.setattr(long_module, "PARTITION_ROWS", 100)
    with pytest.raises(RejectedRowError, match="duplicate_frame"):
        tf2eng.run(tmp_path / "long", tmp_path / "out", plot=False, on_invalid="error")
    assert spill_dirs["dirs"] and not spill_dirs["dirs"][0].exists()

    def broken(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(long_module, "group_tracks", broken)
    with pytest.raises(OSError, match="disk on fire"):
        tf2eng.run(tmp_path / "long", tmp_path / "out2", plot=False)
    assert len(spill_dirs["dirs"]) == 2 and not spill_dirs["dirs"][1].exists()
    assert not list(tmp_path.rglob(SPILL_PREFIX + "*"))


def test_leftover_spill_of_a_killed_run_is_removed_on_resume(tmp_path, monkeypatch):
    *_, (long, _) = _dataset(30, 4)
    write_split(long, tmp_path / "long", 2, 4)
    monkeypatch.setattr(long_module, "PARTITION_ROWS", 100)
    staging = tmp_path / ".out.staging"
    (staging / (SPILL_PREFIX + "killed")).mkdir(parents=True)
    (staging / (SPILL_PREFIX + "killed") / "part-0000.arrows").write_bytes(b"x")
    result = tf2eng.run(tmp_path / "long", tmp_path / "out", plot=False, resume=True)
    assert not list(result.out.rglob(SPILL_PREFIX + "*"))
    assert pl.read_parquet(result.out / "stage_means.parquet").height > 0


@pytest.mark.parametrize("kind", ["int", "digits", "text"])
def test_in_memory_and_spilled_agree_on_bad_tracks(tmp_path, monkeypatch, kind):
    """Tracks with a null label, a repeated label, keys that disagree or name no frame are grouped
    apart from the clean ones (engine/long.py _group_flagged); in memory or spilled, every output
    holds the same rows."""
    *_, (long, labels) = _dataset(40, 7, kind)
    frame_type = long.schema.field("frame").type
    label = (lambda i: i) if kind == "int" else (lambda i: f"{i:05d}" if kind == "digits" else f"f{i}")
    bad = pa.table({
        "video_id": ["dup", "dup", "dup", "nul", "nul", "inc", "inc", "out", "out", "tie", "tie"],
        "exp_id": pa.array([0] * 11, pa.int32()),
        "frame": pa.array([label(1), label(1), label(2), label(3), None, label(1), label(2), label(1), label(2),
                           label(4), label(4)], frame_type),
        "score": [0.5, 0.4, 0.3, 0.2, 0.1, 0.6, 0.7, 0.8, 0.9, 0.5, 0.5],
        "grp": ["a", "b", "a", "b", "a", "b", "a", "b", "a", "c", "c"],
        "key_frame": pa.array([label(1), label(1), label(1), label(3), label(3), label(1), label(2), label(9),
                               label(9), label(4), label(5)], frame_type),
    })
    long = pa.concat_tables([long, bad.select(long.column_names)])
    results = {}
    for name, budget in (("memory", 10**9), ("spilled", 13)):
        monkeypatch.setattr(long_module, "PARTITION_ROWS", budget)
        directory = write_split(long, tmp_path / f"in-{name}", 3, 11)
        results[name] = tf2eng.run(directory, tmp_path / f"out-{name}", by=["grp"], plot=False)
    memory, spilled = results["memory"], results["spilled"]
    assert memory.summary["rows"]["rejected_by_reason"] == {
        "duplicate_frame": 2, "bad_frame_index": 1, "inconsistent_key_frame": 1, "key_frame_out_of_range": 1}
    assert memory.summary["rows"] == spilled.summary["rows"]
    for name in ("stage_means.parquet", "curve.parquet"):
        assert memory.summary["digests"][name] == spilled.summary["digests"][name]
    a, b = (pl.read_parquet(r.out / "stages").sort("video_id") for r in (memory, spilled))
    assert a.equals(b)
    a, b = (pl.read_parquet(r.out / "rejected.parquet").drop("source").sort("video_id") for r in (memory, spilled))
    assert a.equals(b)
    dup = a.filter(pl.col("video_id") == "dup")  # ties in label order: by score
    assert dup["score"].to_list() == [[0.4, 0.5, 0.3]] and dup["frames"].to_list() == [[label(1), label(1), label(2)]]
