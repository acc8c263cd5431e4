"""``tf2eng bench --shape many-files|long``: whole runs of tf2eng, DuckDB, polars and a numpy script on
the same files, side by side.

Each run is a fresh process; its wall time and peak RSS (the process's own
maximum resident set, from ``wait4``) are reported, with the ratio to tf2eng's
run on the shape.  DuckDB runs in a child Python (``import duckdb`` happens
only there); without DuckDB installed its rows say so and the rest runs.
polars and the numpy script are the baselines of engine/tools/baselines.py,
each in a child Python too; ``skip`` leaves out any of the three.

Shapes (both made once from ``tf2eng synth`` tracks, under ``data_dir``):

* ``many-files``: the synthetic dataset split into ``files`` Parquet files of
  consecutive rows; tf2eng on the files and on the same rows as one file;
  DuckDB's stage sums (``unnest`` + ``GROUP BY``, the file name in the track
  key) over the files and over the one file.
* ``long``: the same tracks in the long layout (``video_id``, ``exp_id``,
  ``category``, ``frame``, ``score``, ``key_frame``; one row per frame), every
  row sent to a random one of ``files`` Parquet files and each file's rows
  permuted, so the frames of a track are spread over all files in random
  order; DuckDB's stage sums by window functions (``count(*) OVER
  (PARTITION BY ids)`` for T, ``row_number()`` over the ids ordered by frame
  for the frame's position, then ``GROUP BY`` stage).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from ..synth import _chunk, write_synthetic

SHAPES = ("many-files", "long")
DEFAULT_FILES = {"many-files": 2000, "long": 10}
CHUNK_TRACKS = 100_000

# Stage sums over wide files (engine/tools/benchmark.py duckdb_stage_sums, with the file in the key).
DUCKDB_WIDE = """
WITH frames AS (
    SELECT filename, file_row_number AS track, len(scores) AS T,
           unnest(scores) AS s, generate_subscripts(scores, 1) AS i
    FROM read_parquet(?, file_row_number = true, filename = true)
)
SELECT filename, track, (10 * i + T - 1) // T - 1 AS stage, sum(pow(s::DOUBLE, 0.7)) AS y
FROM frames GROUP BY ALL
"""

# Stage sums over long files: T and each frame's position by window functions over the ids.
DUCKDB_LONG = """
WITH f AS (
    SELECT video_id, exp_id, score,
           count(*) OVER (PARTITION BY video_id, exp_id) AS T,
           row_number() OVER (PARTITION BY video_id, exp_id ORDER BY frame) AS i
    FROM read_parquet(?)
)
SELECT video_id, exp_id, (10 * i + T - 1) // T - 1 AS stage, sum(pow(score::DOUBLE, 0.7)) AS y
FROM f GROUP BY ALL
"""


@dataclass
class Measured:
    name: str
    wall_s: float | None  # the best of the rounds
    peak_rss_bytes: int | None  # that of the best round
    note: str = ""
    walls_s: tuple[float, ...] = ()  # every round's, in order


# Starts the measured command and prints its wall time and peak RSS.  A process's peak RSS starts at
# that of the process it was forked from (Linux carries it over fork and exec), so the command is
# started from this small interpreter, not from the benchmark's own, larger process.
_LAUNCHER = (
    "import os, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.Popen(sys.argv[1:])\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "print(time.perf_counter() - t, usage.ru_maxrss, os.waitstatus_to_exitcode(status))\n"
)


def measured(cmd: list[str], cwd: str | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS in bytes) of one fresh process running ``cmd``."""
    out = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, *cmd], cwd=cwd, stdout=subprocess.PIPE,
                         text=True)
    wall, rss_kb, rc = out.stdout.split()[-3:]
    if out.returncode != 0 or int(rc) != 0:
        raise InputError(f"{cmd[0]}: exited with {rc} while benchmarking")
    return float(wall), int(rss_kb) * 1024


def long_chunk(rng: np.random.Generator, first_video: int, n_tracks: int) -> tuple[pa.Table, int]:
    """n_tracks synthetic tracks (engine/synth.py) as one row per frame; and how many videos they used."""
    wide = _chunk(rng, first_video, n_tracks)
    scores = wide.column("scores").combine_chunks()
    offsets = scores.offsets.to_numpy()
    T = np.diff(offsets)
    track = pa.array(np.repeat(np.arange(wide.num_rows), T))
    frame = (np.arange(int(offsets[-1])) - np.repeat(offsets[:-1], T)).astype(np.int32)
    table = pa.table({
        "video_id": wide.column("video_id").take(track),
        "exp_id": wide.column("exp_id").take(track),
        "category": wide.column("category").take(track),
        "frame": pa.array(frame),
        "score": scores.values,
        "key_frame": wide.column("key_frame").take(track),
    })
    return table, len(set(wide.column("video_id").to_pylist()))


def long_dataset(directory: Path, tracks: int, files: int, seed: int) -> int:
    """The shuffled long dataset, written once into ``directory``; returns its frame rows."""
    done = directory / "_done"
    if done.exists():
        return int(done.read_text())
    shutil.rmtree(directory, ignore_errors=True)
    scatter = directory / "_scatter"
    scatter.mkdir(parents=True)
    rng, shuffle = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    writers: list = [None] * files
    rows = videos = 0
    remaining = tracks
    while remaining > 0:  # every row to a random file
        n = min(remaining, CHUNK_TRACKS)
        table, used = long_chunk(rng, videos, n)
        videos, remaining, rows = videos + used, remaining - n, rows + table.num_rows
        which = shuffle.integers(0, files, table.num_rows)
        for f in range(files):
            part = table.filter(pa.array(which == f))
            if writers[f] is None:
                writers[f] = pq.ParquetWriter(scatter / f"{f}.parquet", part.schema, compression="none")
            writers[f].write_table(part)
    for writer in writers:
        if writer is not None:
            writer.close()
    for f in range(files):  # each file's rows in random order
        path = scatter / f"{f}.parquet"
        if not path.exists():
            continue
        table = pq.read_table(path)
        table = table.take(pa.array(shuffle.permutation(table.num_rows)))
        pq.write_table(table, directory / f"part-{f:05d}.parquet", compression="zstd", row_group_size=1 << 20)
        path.unlink()
        del table
    scatter.rmdir()
    done.write_text(str(rows))
    return rows


def split_dataset(source: Path, directory: Path, files: int) -> Path:
    """``source``'s rows cut into ``files`` Parquet files of consecutive rows, written once."""
    done = directory / "_done"
    if done.exists():
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    table = pq.read_table(source)
    step = -(-table.num_rows // files)
    for i in range(files):
        pq.write_table(table.slice(i * step, step), directory / f"part-{i:05d}.parquet")
    done.touch()
    return directory


def write_bytecode() -> None:
    """Write tf2eng's modules' bytecode, as an install does, before its runs are timed: where
    PYTHONDONTWRITEBYTECODE is set and the package is installed editable, every run would compile its
    modules from source again (about 0.1 s of each run), which no installed tf2eng does."""
    import compileall

    import tf2eng

    root = Path(tf2eng.__file__).parent
    for sub in ("engine", "kernels", "cli"):
        compileall.compile_dir(str(root / sub), quiet=2)
    compileall.compile_file(str(root / "__init__.py"), quiet=2)


def tf2eng_run(path: Path, scratch: Path, threads: int | None = None, exe: str | None = None) -> tuple[float, int]:
    """(wall s, peak RSS bytes) of `tf2eng run PATH --no-plot -q --full` in a fresh process (``exe``:
    another build's executable; default this one's)."""
    exe = exe or shutil.which("tf2eng") or os.path.join(os.path.dirname(sys.executable), "tf2eng")
    more = ["--threads", str(threads)] if threads else []
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        return measured([exe, "run", str(path), "-o", str(Path(tmp) / "out"), "--no-plot", "-q", "--full", *more])


def duckdb_run(query: str, pattern: str, scratch: Path) -> tuple[float, int]:
    """(wall s, peak RSS bytes) of DuckDB's ``query`` over the files ``pattern`` in a fresh process."""
    code = (
        "import duckdb, os, sys\n"
        "con = duckdb.connect()\n"
        "con.execute('SET enable_progress_bar = false')\n"
        "con.execute(f'SET threads TO {os.cpu_count()}')\n"
        "con.execute(sys.argv[1], [sys.argv[2]]).fetchnumpy()\n"
    )
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:  # DuckDB spills into its working directory
        return measured([sys.executable, "-c", code, query, pattern], cwd=tmp)


def baseline_run(name: str, pattern: str, scratch: Path) -> tuple[float, int]:
    """(wall s, peak RSS bytes) of baseline ``name`` (engine/tools/baselines.py) over the files ``pattern``
    in a fresh process."""
    code = "import sys; from tf2eng.engine.tools.baselines import run; run(sys.argv[1], sys.argv[2])"
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        return measured([sys.executable, "-c", code, name, pattern], cwd=tmp)


def duckdb_available() -> bool:
    return importlib.util.find_spec("duckdb") is not None


def run_shape(shape: str, tracks: int, seed: int = 0, files: int | None = None, repeat: int = 1,
              data_dir: str | Path = "bench/data", threads: int | None = None, log=print,
              skip: tuple[str, ...] = ()) -> tuple[str, list[Measured]]:
    """Make the shape's dataset (once) and time each tool on it, but those in ``skip`` (numpy, polars,
    duckdb); (a description, the rows)."""
    if shape not in SHAPES:
        raise InputError(f"--shape: unknown {shape!r}; the shapes are wide, {', '.join(SHAPES)}")
    from .benchmark import COMPETITORS

    unknown = sorted(set(skip) - set(COMPETITORS))
    if unknown:
        raise InputError(f"--skip: unknown {', '.join(unknown)}; the competitors are {', '.join(COMPETITORS)}")
    files = files or DEFAULT_FILES[shape]
    if files < 1:
        raise InputError("--files: must be at least 1")
    data_dir = Path(data_dir).absolute()  # DuckDB runs in a directory of its own
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        if shape == "long":
            directory = data_dir / f"long-{tracks}-{seed}-{files}"
            rows = long_dataset(directory, tracks, files, seed)
            what = f"{tracks:,} tracks, {rows:,} frame rows in the long layout, shuffled over {files:,} files"
            runs = [(f"tf2eng run, {files:,} files", lambda: tf2eng_run(directory, data_dir, threads))]
            duck = [(f"DuckDB stage sums, {files:,} files",
                     lambda: duckdb_run(DUCKDB_LONG, str(directory / "*.parquet"), data_dir))]
            others = [(tool, f"{label} stage sums, {files:,} files",
                       lambda tool=tool: baseline_run(f"{tool}-long", str(directory / "*.parquet"), data_dir))
                      for tool, label in (("polars", "polars"), ("numpy", "numpy script"))]
        else:
            one = data_dir / f"synth-{tracks}-{seed}.parquet"
            if not one.exists():
                write_synthetic(one, tracks, seed)
            directory = split_dataset(one, data_dir / "many-files" / f"{one.stem}-{files}", files)
            what = f"{tracks:,} tracks (tf2eng synth), in {files:,} files and as one file"
            runs = [(f"tf2eng run, {files:,} files", lambda: tf2eng_run(directory, data_dir, threads)),
                    ("tf2eng run, one file", lambda: tf2eng_run(one, data_dir, threads))]
            duck = [(f"DuckDB stage sums, {files:,} files",
                     lambda: duckdb_run(DUCKDB_WIDE, str(directory / "*.parquet"), data_dir)),
                    ("DuckDB stage sums, one file", lambda: duckdb_run(DUCKDB_WIDE, str(one), data_dir))]
            others = [(tool, f"{label} stage sums, {files:,} files",
                       lambda tool=tool: baseline_run(f"{tool}-wide", str(directory / "*.parquet"), data_dir))
                      for tool, label in (("polars", "polars"), ("numpy", "numpy script"))]
    except OSError as exc:
        raise InputError(f"{data_dir}: cannot write the benchmark dataset: {exc.strerror or exc}") from None
    log(f"{what}; {os.cpu_count()} CPUs; {repeat} rounds, each tool once a round; the best of them")
    write_bytecode()
    rows_out = []
    if "duckdb" in skip:
        duck = []
    elif not duckdb_available():
        log("DuckDB is not installed (pip install 'tf2eng[bench]'): its rows are skipped")
        rows_out = [Measured(name, None, None, "skipped: DuckDB not installed") for name, _ in duck]
        duck = []
    others = [(name, fn) for tool, name, fn in others if tool not in skip]
    entries = runs + duck + others
    measured: dict[str, list[tuple[float, int]]] = {name: [] for name, _ in entries}
    # In rounds, every entry once a round: a change in the shared machine's load falls on all of them
    # alike, and each round gives its own ratios (shape_table: their median beside the best times').
    for round_ in range(repeat):
        for name, fn in entries:
            wall, rss = fn()
            log(f"{name}: {wall:.2f} s, peak RSS {rss / 2**30:.2f} GiB (round {round_ + 1})")
            measured[name].append((wall, rss))
    results = [Measured(name, *min(measured[name]), walls_s=tuple(w for w, _ in measured[name]))
               for name, _ in entries]
    return what, results + rows_out


def paired_ratio(row: Measured, first: Measured) -> float | None:
    """The median over the rounds of ``row``'s time ÷ ``first``'s in the same round."""
    if not row.walls_s or len(row.walls_s) != len(first.walls_s):
        return None
    return statistics.median(w / f for w, f in zip(row.walls_s, first.walls_s))


def shape_table(rows: list[Measured]) -> str:
    """The rows as a table: the best time, its peak RSS and its multiple of the first row's best (tf2eng on
    the shape), and the median over the rounds of the row's time ÷ the first row's in the same round."""
    first = rows[0]
    lines = [f"{'':36} {'wall s':>8} {'peak RSS GiB':>13} {'x tf2eng':>9} {'x, median of rounds':>20}", "-" * 90]
    for r in rows:
        if r.wall_s is None:
            lines.append(f"{r.name:36} {'-':>8} {'-':>13} {'-':>9} {'-':>20}  {r.note}")
            continue
        ratio = f"{r.wall_s / first.wall_s:9.2f}" if first.wall_s else f"{'-':>9}"
        paired = paired_ratio(r, first)
        paired_text = f"{paired:20.2f}" if paired is not None else f"{'-':>20}"
        lines.append(f"{r.name:36} {r.wall_s:8.2f} {r.peak_rss_bytes / 2**30:13.2f} {ratio} {paired_text}")
    return "\n".join(lines)


def write_shape_report(shape: str, what: str, rows: list[Measured], json_path: str | Path) -> None:
    import json
    import platform

    report = {"shape": shape, "dataset": what, "cores": os.cpu_count(), "python": platform.python_version(),
              "runs": [{"name": r.name, "wall_s": r.wall_s, "peak_rss_bytes": r.peak_rss_bytes, "note": r.note,
                        "time_vs_first": (r.wall_s / rows[0].wall_s) if r.wall_s and rows[0].wall_s else None,
                        "walls_s": list(r.walls_s), "time_vs_first_median_of_rounds": paired_ratio(r, rows[0])}
                       for r in rows]}
    try:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
    except OSError as exc:
        raise InputError(f"{json_path}: cannot write the results: {exc.strerror or exc}") from None
