"""Start-up: whole-process wall time of short tf2eng commands against importing numba and pyarrow.parquet
(issue 13, "Waiting less").

    python bench/startup.py [--repeat 15] [--input bench/data/demo.parquet] [--tf2eng PATH ...]

Each command runs as its own process, --repeat times, the commands interleaved round by round so that
a busy spell of the machine hits them all alike.  Before timing, every command runs once untimed, so
numba's cache holds the compiled kernels (the targets are for that second run) and Python's cache the
modules' bytecode (that round writes it even where PYTHONDONTWRITEBYTECODE is set).  Prints the median and
the spread (min-max) of each command, and its ratio to the median of the reference,
``python -c "import numba, pyarrow.parquet"`` (this Python).  The "floor" row is a process that imports
numba and pyarrow.parquet and calls one tiny kernel cached by numba (bench/startup_floor.py): numba loads
its typing and lowering registries at the first call of any cached function, so no run of tf2eng, which
calls cached kernels, can take less.  --tf2eng names another build's executable to compare (repeatable;
default: the one beside this Python).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE = "import numba, pyarrow.parquet"
FLOOR = f"import sys; sys.path.insert(0, {str(HERE)!r}); import numba, pyarrow.parquet, startup_floor; startup_floor.call()"


def commands(exe: str, data: Path, out: Path) -> list[tuple[str, list[str]]]:
    run = [exe, "run", str(data), "-o", str(out), "--full", "-q"]
    return [
        ("tf2eng --help", [exe, "--help"]),
        ("tf2eng run --help", [exe, "run", "--help"]),
        ("tf2eng run --full --no-plot", run + ["--no-plot"]),
        ("tf2eng run --full (plot)", run),
    ]


def wall(argv: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=HERE / "data" / "demo.parquet")
    parser.add_argument("--tf2eng", action="append", default=None,
                        help="a tf2eng executable (repeat to compare builds; default: this environment's)")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    exes = args.tf2eng or [os.path.join(os.path.dirname(sys.executable), "tf2eng")]
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("reference: python -c " + repr(REFERENCE), [sys.executable, "-c", REFERENCE]),
                ("floor: the reference and one cached numba kernel called", [sys.executable, "-c", FLOOR])]
        for i, exe in enumerate(exes):
            label = "" if len(exes) == 1 else f" [{exe}]"
            runs += [(name + label, argv) for name, argv in commands(exe, args.input, Path(tmp) / f"out{i}")]
        # Compiled kernels cached, output directory present, and the modules' bytecode written (as an
        # install writes it) even where PYTHONDONTWRITEBYTECODE is set: else every timed run of a
        # source checkout compiles tf2eng's modules again, and the reference's are compiled already.
        writing = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        for _, argv in runs:
            wall(argv, writing)
        times: dict[str, list[float]] = {name: [] for name, _ in runs}
        for _ in range(args.repeat):
            for name, argv in runs:
                times[name].append(wall(argv))
    reference = statistics.median(times[runs[0][0]])
    print(f"{args.input.name}; {os.cpu_count()} CPUs; {args.repeat} runs each, interleaved; "
          f"Python {sys.version.split()[0]}\n")
    print("| command | median wall (s) | min-max (s) | × reference |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} | {min(values):.3f}-{max(values):.3f} | {median / reference:.2f} |")


if __name__ == "__main__":
    main()
