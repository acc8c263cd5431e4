"""Long layout (one row per frame) against DuckDB: whole-process wall time and peak RSS of `tf2eng run`
and of DuckDB's stage-sums query on the same shuffled files, in one run (issue 12).

    python bench/long_layout.py --tracks 200000 [--files 10] [--dir /tmp/tf2eng-long] [--repeat 1]
                                [--tf2eng PATH] [--no-duckdb] [--keep]

The same runs as `tf2eng bench --shape long` (engine/tools/shapes.py), with the dataset where --dir
says and several tf2eng builds side by side.  The dataset is `tf2eng synth`'s tracks (seed --seed;
videos of 20-180 frames, ~100 frames a track) in the long layout: columns video_id, exp_id, category, frame (int32, 0-based), score (float32) and
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
import sys
import tempfile
import time
from pathlib import Path

from tf2eng.engine.tools.shapes import DUCKDB_LONG, duckdb_run, long_dataset, tf2eng_run


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
    rows = long_dataset(directory, args.tracks, args.files, args.seed)
    print(f"{args.tracks:,} tracks, {rows:,} frame rows shuffled over {args.files} files in {directory} "
          f"(ready in {time.perf_counter() - t:.0f} s); {os.cpu_count()} CPUs\n")
    print("| run | wall (s) | peak RSS (GiB) |")
    print("| --- | ---: | ---: |")
    results = {}
    try:
        for _ in range(args.repeat):
            for exe in exes:
                wall, rss = tf2eng_run(directory, directory.parent, exe=exe)
                print(f"| tf2eng run ({exe}) | {wall:.2f} | {rss / 2**30:.2f} |", flush=True)
                results.setdefault(exe, []).append((wall, rss))
            if not args.no_duckdb:
                wall, rss = duckdb_run(DUCKDB_LONG, str(directory / "*.parquet"), directory.parent)
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
