"""Parameter sweeps: whole-process wall time of a λ × K sweep of `tf2eng run` against one configuration,
and against running each configuration separately (issue 14, README, Parameter sweeps).

    python bench/sweep.py [--input bench/data/synth-1000000-0.parquet] [--lam 0.5,0.7,1.0]
                          [--stages 5,10,20] [--repeat 3] [--separate] [--threads N]

The input defaults to the 1 M-track reference dataset, made once with
`tf2eng synth bench/data/synth-1000000-0.parquet --tracks 1000000 -q` where missing.  Every run is
`--no-plot --full -q` into a fresh directory.  The one-configuration run and the sweep alternate, --repeat
times, so that both meet the same load on a shared machine; each wall and CPU (user + system) time is the
best of its runs, and the ratio column is the median of the paired runs' ratios.  --separate also times
each configuration of the sweep as a run of its own, once (their sum is what the sweep saves).  Prints a
Markdown table and the best runs' timings from summary.json (seconds summed over the run: read waits,
compute, writer busy time).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXE = str(Path(sys.executable).parent / "tf2eng")


def timed(path: Path, *args: str) -> tuple[float, float, dict]:
    """(wall s, CPU s of the process, its summary.json) of one run."""
    with tempfile.TemporaryDirectory(dir=HERE / "data") as tmp:
        out = Path(tmp) / "out"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([EXE, "run", str(path), "-o", str(out), "--no-plot", "-q", "--full", *args], check=True)
        elapsed = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        return elapsed, cpu, json.loads((out / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=HERE / "data" / "synth-1000000-0.parquet")
    parser.add_argument("--lam", default="0.5,0.7,1.0")
    parser.add_argument("--stages", default="5,10,20")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--separate", action="store_true")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if not args.input.exists():
        subprocess.run([EXE, "synth", str(args.input), "--tracks", "1000000", "--seed", "0", "-q"], check=True)
    extra = ["--threads", str(args.threads)] if args.threads else []
    timed(args.input, "--lam", args.lam, "--stages", args.stages, *extra)  # kernels compiled, file cached
    ones, sweeps = [], []
    for _ in range(args.repeat):
        ones.append(timed(args.input, *extra))
        sweeps.append(timed(args.input, "--lam", args.lam, "--stages", args.stages, *extra))
    one, swept = min(ones, key=lambda r: r[0]), min(sweeps, key=lambda r: r[0])
    summary = swept[2]
    n = len(summary["configurations"])
    wall_ratio = statistics.median(s[0] / o[0] for o, s in zip(ones, sweeps))
    cpu_ratio = statistics.median(s[1] / o[1] for o, s in zip(ones, sweeps))
    rows = [("one configuration (λ = 0.7, K = 10)", one[0], min(r[1] for r in ones), 1.0, 1.0),
            (f"sweep, {n} configurations", swept[0], min(r[1] for r in sweeps), wall_ratio, cpu_ratio)]
    if args.separate:
        runs = [timed(args.input, "--lam", str(c["lam"]), "--stages", str(c["stages"]), *extra)
                for c in summary["configurations"]]
        wall_sum, cpu_sum = sum(r[0] for r in runs), sum(r[1] for r in runs)
        rows.append((f"the {n} configurations as separate runs (sum)", wall_sum, cpu_sum, wall_sum / one[0],
                     cpu_sum / min(r[1] for r in ones)))
    print(f"input: {args.input} ({summary['rows']['read']:,} tracks), {args.repeat} alternating runs each")
    print("| run | wall s (best) | CPU s (best) | wall × one (median) | CPU × one (median) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, seconds, cpu, ratio, cratio in rows:
        print(f"| {name} | {seconds:.2f} | {cpu:.2f} | {ratio:.2f} | {cratio:.2f} |")
    print("one configuration's timings_s (best run):", one[2]["timings_s"])
    print("sweep's timings_s (best run):", summary["timings_s"])


if __name__ == "__main__":
    main()
