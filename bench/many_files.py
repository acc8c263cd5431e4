"""Many small files: whole-process wall time of `tf2eng run` on a dataset split into N Parquet files,
against the same rows as one file and against DuckDB's stage sums over the same N files (issue 12).

    python bench/many_files.py [--input bench/data/demo.parquet] [--files 2000] [--tf2eng PATH] [--repeat 3]

The split dataset is written once under bench/data/many-files/ (gitignored).  --tf2eng names another
build's executable to compare (default: the one beside this Python).  Prints a Markdown table; each
time is the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from tf2eng.engine.tools.shapes import DUCKDB_WIDE, duckdb_run, split_dataset

HERE = Path(__file__).resolve().parent


def split(source: Path, files: int) -> Path:
    """source's rows cut into ``files`` Parquet files of consecutive rows, written once."""
    return split_dataset(source, HERE / "data" / "many-files" / f"{source.stem}-{files}", files)


def tf2eng_wall(exe: str, path: Path, repeat: int) -> tuple[float, dict]:
    best = float("inf")
    summary = {}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out"
            t = time.perf_counter()
            subprocess.run([exe, "run", str(path), "-o", str(out), "--no-plot", "-q", "--full"], check=True)
            best = min(best, time.perf_counter() - t)
            import json

            summary = json.loads((out / "summary.json").read_text())
            summary["_files"] = {d: len(list((out / d).iterdir())) for d in ("stages", "_tf2eng")}
    return best, summary


def duckdb_wall(pattern: str, repeat: int) -> float:
    """DuckDB's stage sums over the files ``pattern`` (engine/tools/shapes.py), in a fresh process each time."""
    scratch = HERE / "data"
    return min(duckdb_run(DUCKDB_WIDE, pattern, scratch)[0] for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=HERE / "data" / "demo.parquet")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--tf2eng", action="append", default=None,
                        help="a tf2eng executable (repeat to compare builds; default: this environment's)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    exes = args.tf2eng or [os.path.join(os.path.dirname(sys.executable), "tf2eng")]
    directory = split(args.input, args.files)
    rows = pq.read_metadata(args.input).num_rows
    print(f"{rows:,} tracks of {args.input.name}; {args.files:,} files in {directory}; "
          f"{os.cpu_count()} CPUs; best of {args.repeat}\n")
    print("| what | wall (s) | units | stages/ parts | _tf2eng/ files |")
    print("| --- | --- | --- | --- | --- |")
    for exe in exes:
        for label, path in ((f"one file ({exe})", args.input), (f"{args.files:,} files ({exe})", directory)):
            wall, summary = tf2eng_wall(exe, path, args.repeat)
            files = summary["_files"]
            print(f"| tf2eng, {label} | {wall:.2f} | {summary['units']['total']} | {files['stages']} | "
                  f"{files['_tf2eng']} |", flush=True)
    try:
        import duckdb  # noqa: F401
    except ImportError:
        print("| DuckDB | not installed | | | |")
        return
    print(f"| DuckDB stage sums, {args.files:,} files | {duckdb_wall(str(directory / '*.parquet'), args.repeat):.2f} "
          "| | | |")
    print(f"| DuckDB stage sums, one file | {duckdb_wall(str(args.input), args.repeat):.2f} | | | |")


if __name__ == "__main__":
    main()
