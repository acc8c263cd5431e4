"""Long layout (one row per frame) against DuckDB: whole-process wall time and peak RSS of `tf2eng run`
and of DuckDB's stage-sums query on the same shuffled files, in one run (issue 12).

    python bench/long_layout.py --tracks 200000 [--files 10] [--dir /tmp/tf2eng-long] [--repeat 1]
                                [--tf2eng PATH] [--no-duckdb] [--keep]

The dataset is `tf2eng synth`'s tracks (seed --seed; videos of 20-180 frames, ~100 frames a track) in
the long layout: columns video_id, exp_id, category, frame (int32, 0-based), score (float32) and
key_frame (int32).  Its rows are shuffled over --files Parquet files (zstd): each row goes to a random
file, then each file's rows are permuted, so a track's frames sit in every file in random order.  It is
written once under --dir (reused when complete; removed at the end unless --keep).

Each tool runs in a fresh process; its wall time and peak RSS (the process's own maximum resident set,
from wait4) are printed as a Markdown table with the ratio tf2eng / DuckDB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK_TRACKS = 100_000

DUCKDB_QUERY = """
WITH f AS (
    SELECT video_id, exp_id, score,
           count(*) OVER (PARTITION BY video_id, exp_id) AS T,
           row_number() OVER (PARTITION BY video_id, exp_id ORDER BY frame) AS i
    FROM read_parquet(?)
)
SELECT video_id, exp_id, (10 * i + T - 1) // T - 1 AS stage, sum(pow(score::DOUBLE, 0.7)) AS y
FROM f GROUP BY ALL
"""


def long_chunk(rng: np.random.Generator, first_video: int, n_tracks: int) -> tuple[pa.Table, int]:
    """n_tracks synthetic tracks (engine/synth.py) as one row per frame; with the videos they used."""
    from tf2eng.engine.synth import _chunk

    wide = _chunk(rng, first_video, n_tracks)
    scores = wide.column("scores").combine_chunks()
    T = np.diff(scores.offsets.to_numpy())
    track = np.repeat(np.arange(wide.num_rows), T)
    starts = np.repeat(scores.offsets.to_numpy()[:-1], T)
    frame = (np.arange(track.size) - starts).astype(np.int32)
    idx = pa.array(track)
    table = pa.table({
        "video_id": wide.column("video_id").take(idx),
        "exp_id": wide.column("exp_id").take(idx),
        "category": wide.column("category").take(idx),
        "frame": pa.array(frame),
        "score": scores.values,
        "key_frame": wide.column("key_frame").take(idx),
    })
    return table, len(set(wide.column("video_id").to_pylist()))


def make_dataset(directory: Path, tracks: int, files: int, seed: int) -> int:
    """Write the shuffled long dataset once; returns its frame rows."""
    done = directory / "_done"
    if done.exists():
        return int(done.read_text())
    shutil.rmtree(directory, ignore_errors=True)
    scatter = directory / "_scatter"
    scatter.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    shuffle = np.random.default_rng(seed + 1)
    writers: list[pq.ParquetWriter | None] = [None] * files
    rows = videos = 0
    remaining = tracks
    while remaining > 0:  # pass 1: every row to a random file
        table, used = long_chunk(rng, videos, min(remaining, CHUNK_TRACKS))
        videos += used
        remaining -= min(remaining, CHUNK_TRACKS)
        rows += table.num_rows
        which = shuffle.integers(0, files, table.num_rows)
        for f in range(files):
            part = table.filter(pa.array(which == f))
            if writers[f] is None:
                writers[f] = pq.ParquetWriter(scatter / f"{f}.parquet", part.schema, compression="none")
            writers[f].write_table(part)
    for w in writers:
        w.close()
    for f in range(files):  # pass 2: each file's rows in random order
        table = pq.read_table(scatter / f"{f}.parquet")
        table = table.take(pa.array(shuffle.permutation(table.num_rows)))
        pq.write_table(table, directory / f"part-{f:03d}.parquet", compression="zstd", row_group_size=1 << 20)
        (scatter / f"{f}.parquet").unlink()
        del table
    scatter.rmdir()
    done.write_text(str(rows))
    return rows


def measured(cmd: list[str], cwd: str | None = None) -> tuple[float, int]:
    """(wall s, peak RSS bytes) of one fresh process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} exited {proc.returncode}")
    return wall, usage.ru_maxrss * 1024


def run_tf2eng(exe: str, directory: Path) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(dir=directory.parent) as tmp:
        return measured([exe, "run", str(directory), "-o", str(Path(tmp) / "out"), "--no-plot", "-q", "--full"])


def run_duckdb(directory: Path) -> tuple[float, int]:
    code = (
        "import duckdb, os\n"
        "con = duckdb.connect()\n"
        "con.execute('SET enable_progress_bar = false')\n"
        "con.execute(f'SET threads TO {os.cpu_count()}')\n"
        f"con.execute({DUCKDB_QUERY!r}, [{str(directory / '*.parquet')!r}]).fetchnumpy()\n"
    )
    with tempfile.TemporaryDirectory(dir=directory.parent) as tmp:  # DuckDB spills to ./.tmp
        return measured([sys.executable, "-c", code], cwd=tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=200_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=None, help="where the dataset is written (default: /tmp)")
    parser.add_argument("--tf2eng", action="append", default=None,
                        help="a tf2eng executable (repeat to compare builds; default: this environment's)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-duckdb", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the dataset for the next run")
    args = parser.parse_args()
    exes = args.tf2eng or [os.path.join(os.path.dirname(sys.executable), "tf2eng")]
    directory = args.dir or Path(tempfile.gettempdir()) / f"tf2eng-long-{args.tracks}-{args.files}-{args.seed}"
    t = time.perf_counter()
    rows = make_dataset(directory, args.tracks, args.files, args.seed)
    print(f"{args.tracks:,} tracks, {rows:,} frame rows shuffled over {args.files} files in {directory} "
          f"(ready in {time.perf_counter() - t:.0f} s); {os.cpu_count()} CPUs\n")
    print("| run | wall (s) | peak RSS (GiB) |")
    print("| --- | ---: | ---: |")
    results = {}
    try:
        for _ in range(args.repeat):
            for exe in exes:
                wall, rss = run_tf2eng(exe, directory)
                print(f"| tf2eng run ({exe}) | {wall:.2f} | {rss / 2**30:.2f} |", flush=True)
                results.setdefault(exe, []).append((wall, rss))
            if not args.no_duckdb:
                wall, rss = run_duckdb(directory)
                print(f"| DuckDB stage sums | {wall:.2f} | {rss / 2**30:.2f} |", flush=True)
                results.setdefault("duckdb", []).append((wall, rss))
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    if "duckdb" in results:
        duck = min(w for w, _ in results["duckdb"])
        for exe in exes:
            best = min(w for w, _ in results[exe])
            print(f"\n{exe}: best wall {best:.2f} s = {best / duck:.2f}x DuckDB's {duck:.2f} s")


if __name__ == "__main__":
    main()
