"""What --meta costs: the same tracks with and without Ref-YouTube-VOS-sized metadata.

Writes, once, a metadata pair the size of the Ref-YouTube-VOS train split (3,471 videos, 12,913
expressions, a frame name every 5th frame, up to 36 per video) and a wide-layout dataset of
``--tracks`` tracks: every expression scored by several checkpoints (a third id column), one
frame per listed frame name.  Two copies of the scores: key frames as frame names (run with
--meta) and as positions (run without).  Each run is a fresh `tf2eng run --no-plot --full`
process; the best of ``--repeat`` wall and CPU times is kept.

    .venv/bin/python bench/meta.py --tracks 1000000
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

VIDEOS, EXPRESSIONS = 3471, 12913
CATEGORIES = ["person", "dog", "cat", "horse", "car", "bird", "giraffe", "zebra", "truck", "duck"]


def write_inputs(data: Path, tracks: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    frames = rng.integers(3, 37, VIDEOS)
    per_video = np.bincount(rng.integers(0, VIDEOS, EXPRESSIONS - VIDEOS), minlength=VIDEOS) + 1
    expressions, objects = {}, {}
    exp_video, exp_id = [], []
    for v in range(VIDEOS):
        vid = f"{v:06x}{rng.integers(0, 16**4):04x}"
        names = [f"{5 * i:05d}" for i in range(frames[v])]
        n_obj = int(rng.integers(1, 4))
        objects[vid] = {"objects": {str(o): {"category": CATEGORIES[int(rng.integers(0, len(CATEGORIES)))],
                                             "frames": names} for o in range(1, n_obj + 1)}}
        expressions[vid] = {"expressions": {str(e): {"exp": f"expression {e} of {vid}",
                                                     "obj_id": str(int(rng.integers(1, n_obj + 1)))}
                                            for e in range(per_video[v])}, "frames": names}
        exp_video += [v] * int(per_video[v])
        exp_id += list(range(per_video[v]))
    (data / "meta_expressions.json").write_text(json.dumps({"videos": expressions}))
    (data / "meta.json").write_text(json.dumps({"videos": objects}))
    video_ids = np.array(list(expressions))
    picks = np.arange(tracks) % EXPRESSIONS
    checkpoint = np.arange(tracks) // EXPRESSIONS
    videos = np.array(exp_video)[picks]
    T = frames[videos]
    offsets = np.concatenate([[0], np.cumsum(T)]).astype(np.int64)
    scores = pa.LargeListArray.from_arrays(offsets, rng.uniform(0.01, 1.0, int(offsets[-1])).astype(np.float32))
    keys = rng.integers(0, T)
    base = {"video_id": pa.array(video_ids[videos]), "exp_id": pa.array(np.array(exp_id)[picks], pa.int32()),
            "checkpoint": pa.array(checkpoint, pa.int32()), "scores": scores}
    pq.write_table(pa.table({**base, "key_frame": pa.array(keys)}), data / "positions.parquet", row_group_size=100_000)
    names = pa.array([f"{5 * int(k):05d}" for k in keys])
    pq.write_table(pa.table({**base, "key_frame": names}), data / "names.parquet", row_group_size=100_000)


def timed(args: list[str], repeat: int) -> tuple[dict, dict]:
    """Best wall time and best CPU time (user + system, of the process and its children) of ``repeat``
    runs: on a shared machine the CPU time says more about the work than the wall time."""
    wall, cpu, summary = float("inf"), float("inf"), {}
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            sys.exit(proc.stderr)
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        wall, cpu, summary = min(wall, elapsed), min(cpu, used), json.loads(proc.stdout)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}, summary


def join_times(data: Path, repeat: int) -> tuple[float, dict]:
    """Seconds to read the two files, and microseconds a track the join takes over the dataset's
    batches in this process (best of ``repeat``), with frame-name keys and without a key column."""
    from tf2eng.engine.meta import META_COLUMNS, load_metadata
    from tf2eng.engine.source import BATCH_ROWS, Columns

    start = time.perf_counter()
    metadata = load_metadata([data / "meta_expressions.json", data / "meta.json"])
    load = time.perf_counter() - start
    batches = pq.read_table(data / "names.parquet", columns=["video_id", "exp_id", "key_frame"]).to_batches(BATCH_ROWS)
    rows = sum(b.num_rows for b in batches)
    ids = ("video_id", "exp_id", "checkpoint")
    result = {}
    for name, key in (("frame_names", "key_frame"), ("no_key", None)):
        columns = Columns("wide", "scores", key, ids, (), None, META_COLUMNS)
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            for batch in batches:
                metadata.join(batch, columns)
            best = min(best, time.perf_counter() - start)
        result[name] = round(best / rows * 1e6, 3)
    return load, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("bench/data/meta"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/meta-out"))
    args = parser.parse_args()
    data = args.data / str(args.tracks)
    if not (data / "names.parquet").exists():
        data.mkdir(parents=True, exist_ok=True)
        write_inputs(data, args.tracks)
    exe = str(Path(sys.executable).with_name("tf2eng"))
    common = ["--no-plot", "--full", "--json", "--id-cols", "video_id,exp_id,checkpoint"]
    plain, _ = timed([exe, "run", str(data / "positions.parquet"), "-o", str(args.out), *common], args.repeat)
    with_meta = [exe, "run", str(data / "names.parquet"), "-o", str(args.out), *common,
                 "--meta", str(data / "meta_expressions.json"), "--meta", str(data / "meta.json")]
    meta, _ = timed(with_meta, args.repeat)
    meta_by, summary = timed(with_meta + ["--by", "category"], args.repeat)
    load, join = join_times(data, args.repeat)
    print(json.dumps({"tracks": args.tracks, "without_meta": plain, "with_meta": meta,
                      "with_meta_by_category": meta_by, "load_metadata_s": round(load, 3),
                      "join_us_per_track": join, "meta": {k: summary["meta"][k] for k in
                                                                  ("tracks_matched", "tracks_unmatched")},
                      "rejected": summary["rows"]["rejected"]}, indent=2))


if __name__ == "__main__":
    main()
