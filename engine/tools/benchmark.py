"""``tf2eng bench``: tf2eng against what a researcher could write by hand, on the same data.

Every competitor computes the stage scores of eq. (2) (sum reduction) for
every track; each result is checked against tf2eng's before its time
counts.  Entries:

* ``pyarrow read (floor)``: reading the columns and nothing else;
* ``tf2eng kernels``: power + stage scores + curve accumulation, frames in memory;
* ``tf2eng run``: Parquet in, every output written (plot off);
* ``numpy vectorized``: np.repeat / np.bincount over all frames;
* ``numpy per-track loop``: one small numpy computation per track (timed on a sample);
* ``polars``: explode, row index, group_by;
* ``duckdb``: SQL with unnest and GROUP BY over the Parquet file (extra ``bench``).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numba
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ...kernels import reasons
from ...kernels.cpu import align_tracks
from ...kernels.grid import grid_size
from ...kernels.layout import Params
from ..batch import null_id_rows
from ..errors import InputError
from ..options import Options
from ..ragged import key_frames_of, scores_of
from ..source import Source
from ..synth import write_synthetic

LAM = 0.7
K = 10
STEP = 0.01
LOOP_SAMPLE_TRACKS = 20_000
COMPETITORS = ("numpy", "polars", "duckdb")  # what --skip may leave out


@dataclass
class Entry:
    name: str
    seconds: float | None
    frames: int
    checked: str  # "reference", "ok", "mismatch: ...", "skipped: ..."
    note: str = ""

    @property
    def frames_per_s(self) -> float | None:
        return self.frames / self.seconds if self.seconds else None


@dataclass
class Report:
    dataset: str
    tracks: int
    frames: int
    threads: int
    machine: dict
    entries: list[Entry] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = asdict(self)
        base = self.entry("tf2eng run")
        for e, raw in zip(self.entries, d["entries"]):
            raw["frames_per_s"] = e.frames_per_s
            raw["time_vs_tf2eng_run"] = (e.seconds / base.seconds) if (e.seconds and base and base.seconds) else None
        return d

    def entry(self, name: str) -> Entry | None:
        return next((e for e in self.entries if e.name == name), None)

    def table(self) -> str:
        base = self.entry("tf2eng run")
        lines = [f"{'':28} {'time s':>9} {'frames/s':>10} {'x tf2eng run':>13}  check",
                 "-" * 78]
        for e in self.entries:
            t = f"{e.seconds:9.3f}" if e.seconds is not None else f"{'-':>9}"
            fps = f"{e.frames_per_s / 1e9:8.3f} G" if e.frames_per_s else f"{'-':>10}"
            ratio = f"{e.seconds / base.seconds:13.2f}" if (e.seconds and base and base.seconds) else f"{'-':>13}"
            lines.append(f"{e.name:28} {t} {fps} {ratio}  {e.checked}{'; ' + e.note if e.note else ''}")
        return "\n".join(lines)


def best_of(fn, repeat: int) -> tuple[float, object]:
    """(the shortest of ``repeat`` timed calls of fn, its last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def _machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numba": numba.__version__, "numpy": np.__version__, "pyarrow": pa.__version__,
            "polars": pl.__version__}


# --- the competitors -------------------------------------------------------------------


def numpy_vectorized(offsets: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Stage sums the way a careful researcher writes them with numpy: one pass, no loops,
    32-bit indices, and numpy's SIMD power on the float32 scores."""
    n = offsets.size - 1
    T = np.diff(offsets).astype(np.int32)
    track = np.repeat(np.arange(n, dtype=np.int32), T)
    i = np.arange(1, values.size + 1, dtype=np.int32) - np.repeat(offsets[:-1].astype(np.int32), T)
    T_frame = np.repeat(T, T)
    stage = (K * i + T_frame - 1) // T_frame - 1
    P = np.power(values, np.float32(LAM)) if values.dtype == np.float32 else values**LAM
    return np.bincount(track.astype(np.int64) * K + stage, weights=P, minlength=n * K).reshape(n, K)


def numpy_per_track(offsets: np.ndarray, values: np.ndarray, tracks: int) -> np.ndarray:
    """The loop a researcher writes first: one numpy computation per track."""
    out = np.zeros((tracks, K))
    for t in range(tracks):
        s = values[offsets[t] : offsets[t + 1]].astype(np.float64)
        T = s.size
        stage = (K * np.arange(1, T + 1) + T - 1) // T - 1
        out[t] = np.bincount(stage, weights=s**LAM, minlength=K)
    return out


def polars_stage_sums(table: pa.Table) -> np.ndarray:
    """Explode, number the frames, group by track and stage."""
    df = pl.from_arrow(table.select(["scores"])).with_row_index("track")
    y = (
        df.with_columns(pl.col("scores").list.len().alias("T"))
        .explode("scores")
        .with_columns((pl.int_range(pl.len()).over("track") + 1).alias("i"))
        .with_columns(((K * pl.col("i") + pl.col("T") - 1) // pl.col("T") - 1).alias("stage"))
        .group_by("track", "stage")
        .agg(pl.col("scores").cast(pl.Float64).pow(LAM).sum().alias("y"))
    )
    out = np.zeros((table.num_rows, K))
    out[y["track"].to_numpy(), y["stage"].to_numpy()] = y["y"].to_numpy()
    return out


def duckdb_stage_sums(path: str, n: int) -> np.ndarray:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads TO {os.cpu_count()}")
    rows = con.execute(
        """
        WITH frames AS (
            SELECT file_row_number AS track, len(scores) AS T,
                   unnest(scores) AS s, generate_subscripts(scores, 1) AS i
            FROM read_parquet(?, file_row_number = true)
        )
        SELECT track, (10 * i + T - 1) // T - 1 AS stage, sum(pow(s::DOUBLE, 0.7)) AS y
        FROM frames GROUP BY ALL
        """,
        [path],
    ).fetchnumpy()
    out = np.zeros((n, K))
    out[rows["track"].astype(np.int64), rows["stage"].astype(np.int64)] = rows["y"]
    return out


def _check(got: np.ndarray, want: np.ndarray, rtol: float = 1e-9) -> str:
    """"ok" where got matches tf2eng's stage scores within rtol."""
    if got.shape != want.shape:
        return f"mismatch: shape {got.shape} != {want.shape}"
    if np.allclose(got, want, rtol=rtol, atol=1e-12):
        return "ok" if rtol == 1e-9 else f"ok to {rtol:g}"
    bad = np.argwhere(~np.isclose(got, want, rtol=rtol, atol=1e-12))[0]
    return f"mismatch at track {bad[0]} stage {bad[1]}: {got[tuple(bad)]} != {want[tuple(bad)]}"


# --- the run ---------------------------------------------------------------------------


def dataset_for(tracks: int, seed: int, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"synth-{tracks}-{seed}.parquet"
    if not path.exists():
        write_synthetic(path, tracks, seed)
    return path


def _kernels(table: pa.Table) -> tuple[np.ndarray, int]:
    """tf2eng's kernels over every record batch already in memory: (stage scores in input
    order, tracks tf2eng run would reject)."""
    params = Params(lam=LAM, reduce_mean=False, minmax=False, step=STEP)
    parts = []
    rejected = 0
    M = grid_size(K, STEP)
    ids = tuple(c for c in ("video_id", "exp_id") if c in table.schema.names)
    for batch in table.to_batches(max_chunksize=65_536):
        scores = scores_of(batch.column("scores"))
        keys = key_frames_of(batch.column("key_frame") if "key_frame" in batch.schema.names else None)
        n = batch.num_rows
        reason = np.where(null_id_rows(batch, ids), reasons.NULL_ID, reasons.OK).astype(np.uint8)
        tracks, _, _ = align_tracks(scores, keys, params, np.zeros(n, np.int32), 1, K, M,
                                    reason, 4 * numba.get_num_threads())
        parts.append(tracks.stage_scores)
        rejected += int(np.count_nonzero(tracks.reason))
    return (np.concatenate(parts) if parts else np.zeros((0, K))), rejected


def _run_subprocess(args: list[str]) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in bytes and exit code of a tf2eng command in a fresh process."""
    exe = shutil.which("tf2eng") or os.path.join(os.path.dirname(sys.executable), "tf2eng")
    code = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "rc = subprocess.run(sys.argv[1:]).returncode; w = time.perf_counter() - t; "
        "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)"
    )
    out = subprocess.run([sys.executable, "-c", code, exe, *args], capture_output=True, text=True, check=True)
    wall, rss_kb, rc = out.stdout.split()
    return float(wall), int(rss_kb) * 1024, int(rc)


def _columns_of(path: str) -> list[str]:
    """What tf2eng run reads of a benchmark dataset: one Parquet file of the wide layout,
    as tf2eng synth writes it (key_frame and exp_id optional)."""
    if os.path.exists(path) and not os.path.isfile(path):
        raise InputError(f"{path}: not a file; tf2eng bench takes one Parquet file")
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file; tf2eng bench takes one Parquet file")
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file: {str(exc).strip().splitlines()[0]}") from None
    Source(path, Options(layout="wide"))  # a missing or mistyped column: one line naming it
    return [c for c in ("video_id", "exp_id", "scores", "key_frame") if c in names]


def run_benchmark(path: str | None = None, tracks: int = 100_000, seed: int = 0, repeat: int = 3,
                  data_dir: str | Path = "bench/data", skip: tuple[str, ...] = (), log=print) -> Report:
    unknown = sorted(set(skip) - set(COMPETITORS))
    if unknown:
        raise InputError(f"--skip: unknown {', '.join(unknown)}; the competitors are {', '.join(COMPETITORS)}")
    if path is None:
        try:
            path = str(dataset_for(tracks, seed, Path(data_dir)))
        except OSError as exc:
            raise InputError(f"{data_dir}: cannot write the synthetic dataset: {exc.strerror or exc}") from None
    columns = _columns_of(path)
    # Warm the file cache and the kernels.
    pq.read_table(path, columns=columns)
    _kernels(pq.read_table(path, columns=columns).slice(0, 1000))
    t_read, table = best_of(lambda: pq.read_table(path, columns=columns), repeat)
    scores = table.column("scores").combine_chunks()
    frames = len(scores.values)
    report = Report(path, table.num_rows, frames, numba.get_num_threads(), _machine())
    log(f"dataset {path}: {table.num_rows:,} tracks, {frames:,} frames, {numba.get_num_threads()} threads")
    report.entries.append(Entry("pyarrow read (floor)", t_read, frames, "-"))

    t_kernel, (want, rejected) = best_of(lambda: _kernels(table), repeat)
    if rejected:  # the competitors would score rows that tf2eng leaves out
        raise InputError(f"{path}: {rejected:,} rows that tf2eng run rejects; tf2eng bench needs clean data "
                         "(tf2eng run lists them in rejected.parquet)")
    report.entries.append(Entry("tf2eng kernels", t_kernel, frames, "reference", "frames in memory"))
    log(f"tf2eng kernels: {t_kernel:.3f} s")

    with tempfile.TemporaryDirectory() as tmp:
        from ..api import run

        def end_to_end():
            return run(path, Path(tmp) / "out", plot=False, full=True)

        t_run, result = best_of(end_to_end, repeat)
        got = np.array(result.stages().select("stage_scores").collect()["stage_scores"].to_list()).reshape(-1, K)
        report.entries.append(Entry("tf2eng run", t_run, frames, _check(got, want), "all outputs, plot off"))
        log(f"tf2eng run: {t_run:.3f} s")
        wall, rss, rc = _run_subprocess(["run", path, "-o", str(Path(tmp) / "out2"), "--no-plot", "-q"])
        report.extra["tf2eng_run_subprocess"] = {"wall_s": wall, "peak_rss_bytes": rss, "exit_code": rc}
        log(f"tf2eng run in a fresh process: {wall:.2f} s wall, peak RSS {rss / 2**20:.0f} MiB")
        demo = Path(data_dir) / "demo.parquet"
        if demo.exists():  # start-up: a second run of the demo, compiled kernels cached
            runs = [_run_subprocess(["run", str(demo), "-o", str(Path(tmp) / "demo"), "-q"])[0] for _ in range(2)]
            report.extra["demo_second_run_wall_s"] = runs[1]
            log(f"second tf2eng run on the demo data: {runs[1]:.2f} s wall")

    ragged = scores_of(scores)
    offsets, values = ragged.offsets.astype(np.int64), ragged.values
    if "numpy" not in skip:
        t_np, got = best_of(lambda: numpy_vectorized(offsets, values), repeat)
        report.entries.append(Entry("numpy vectorized", t_np, frames, _check(got, want, 1e-5),
                                    "np.repeat + np.bincount, float32 powers"))
        log(f"numpy vectorized: {t_np:.3f} s")
        sample = min(LOOP_SAMPLE_TRACKS, table.num_rows)
        sample_frames = int(offsets[sample] - offsets[0])
        t_loop, got = best_of(lambda: numpy_per_track(offsets, values, sample), 1)
        report.entries.append(Entry("numpy per-track loop", t_loop, sample_frames, _check(got, want[:sample]),
                                    f"timed on the first {sample:,} tracks"))
        log(f"numpy per-track loop: {t_loop:.3f} s on {sample:,} tracks")
    if "polars" not in skip:
        t_pl, got = best_of(lambda: polars_stage_sums(table), 1)
        report.entries.append(Entry("polars", t_pl, frames, _check(got, want), "explode + group_by"))
        log(f"polars: {t_pl:.3f} s")
    if "duckdb" not in skip:
        import importlib.util

        if importlib.util.find_spec("duckdb") is None:
            report.entries.append(Entry("duckdb", None, frames, "skipped: pip install 'tf2eng[bench]'"))
        else:
            duckdb_stage_sums(path, table.num_rows)  # warm-up
            t_db, got = best_of(lambda: duckdb_stage_sums(path, table.num_rows), 1)
            report.entries.append(Entry("duckdb", t_db, frames, _check(got, want), "SQL over the Parquet file"))
            log(f"duckdb: {t_db:.3f} s")
    return report


def check_writable(json_path: str | Path) -> None:
    """Stop before the benchmark, not after it, where its results could not be written."""
    if os.path.isdir(json_path):
        raise InputError(f"{json_path}: is a directory; --json-out names the file to write")
    if os.path.lexists(json_path) and not os.path.isfile(json_path):
        raise InputError(f"{json_path}: not a regular file; --json-out names the file to write")
    existing = Path(json_path).absolute().parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{json_path}: cannot write the results there ({existing} is not a writable directory)")


def write_report(report: Report, json_path: str | Path) -> None:
    try:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    except OSError as exc:
        raise InputError(f"{json_path}: cannot write the results: {exc.strerror or exc}") from None
