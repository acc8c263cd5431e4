"""Soak run: 10 million tracks (about 1 G frames) streamed from a dataset directory.

Makes the directory once (one synthetic file per million tracks), then runs
`tf2eng run` on it in a fresh process and records wall time and peak RSS.

    .venv/bin/python bench/soak.py --tracks 10000000 --files 10
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from tf2eng.engine.synth import write_synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--data", type=Path, default=Path("bench/data/soak"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/soak-out"))
    parser.add_argument("--json-out", type=Path, default=Path("bench/results/soak.json"))
    args = parser.parse_args()

    args.data.mkdir(parents=True, exist_ok=True)
    per_file = -(-args.tracks // args.files)
    for i in range(args.files):
        path = args.data / f"part-{i:03d}.parquet"
        if not path.exists():
            write_synthetic(path, min(per_file, args.tracks - i * per_file), seed=1000 + i)
    exe = Path(sys.executable).with_name("tf2eng")
    start = time.perf_counter()
    proc = subprocess.run([str(exe), "run", str(args.data), "-o", str(args.out), "--no-plot", "--full", "--json"],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(proc.stderr)
    summary = json.loads(proc.stdout)
    record = {
        "tracks": summary["rows"]["read"],
        "files": args.files,
        "wall_s": round(wall, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "timings_s": summary["timings_s"],
        "threads": summary["threads"],
    }
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
