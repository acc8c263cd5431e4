"""The cost of confidence bands: `tf2eng.run` on the reference dataset without bands, with
normal-theory bands (--ci 0.95) and with --bootstrap B, in one process, runs interleaved so that the
shared machine's load falls on all of them alike.

    python bench/bootstrap.py [--input bench/data/synth-1000000-0.parquet] [--replicates 200] [--repeat 5]

Make the input once with `tf2eng synth bench/data/synth-1000000-0.parquet --tracks 1000000 --seed 0`.
Prints a Markdown table: best and median wall time of each setting, process CPU time, and the ratio
of the medians to the run without bands (plot off, every unit recomputed, kernels compiled first).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numba

import tf2eng

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=HERE / "data" / "synth-1000000-0.parquet")
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    settings = {
        "no bands": {},
        "--ci 0.95": {"ci": 0.95},
        f"--bootstrap {args.replicates}": {"bootstrap": args.replicates},
    }
    wall: dict[str, list[float]] = {name: [] for name in settings}
    cpu: dict[str, list[float]] = {name: [] for name in settings}
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in settings.items():  # warm-up: compile or load every kernel
            tf2eng.run(args.input, Path(tmp) / "warm", plot=False, full=True, **options)
        for _ in range(args.repeat):
            for name, options in settings.items():
                t, c = time.perf_counter(), time.process_time()
                tf2eng.run(args.input, Path(tmp) / "out", plot=False, full=True, **options)
                wall[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
    base = statistics.median(wall["no bands"])
    base_cpu = statistics.median(cpu["no bands"])
    print(f"{args.input.name}, {numba.get_num_threads()} threads, {args.repeat} interleaved repeats\n")
    print("| setting | best wall s | median wall s | median CPU s | × no bands (wall) | × no bands (CPU) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in settings:
        median = statistics.median(wall[name])
        median_cpu = statistics.median(cpu[name])
        print(f"| {name} | {min(wall[name]):.2f} | {median:.2f} | {median_cpu:.2f} | {median / base:.2f} | "
              f"{median_cpu / base_cpu:.2f} |")


if __name__ == "__main__":
    main()
