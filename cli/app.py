"""The ``tf2eng`` command: parses options, shows progress, reports, sets the exit code.

It calls the engine and computes nothing itself.  Exit codes: 0 complete;
2 bad invocation or unreadable input (one line on stderr); 3 complete, but
rows were rejected and --strict was given; 1 internal error.
"""

from __future__ import annotations

import json
import os
import sys
import time
from enum import Enum
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import __version__
from . import coercion, startup
from ..engine.options import (DEVICES, ENGINES, FORMATS, KEY_MODES, LAYOUTS, MAX_PLOT_DPI, MIN_PLOT_DPI, NORMALIZATIONS,
                               ON_INVALID, PLOT_DPI, PLOT_FORMATS, REDUCTIONS)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Key-frame alignment analysis of per-frame text-frame similarity scores, in batch.",
)


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A str Enum of the allowed values of an option, for typer's parsing and --help."""
    return Enum(name, {v: v for v in values}, type=str)


# The allowed values live with the engine's options; the CLI only spells them.
Reduce = _choices("Reduce", REDUCTIONS)
KeyMode = _choices("KeyMode", KEY_MODES)
Layout = _choices("Layout", LAYOUTS)
Format = _choices("Format", FORMATS)
Normalize = _choices("Normalize", NORMALIZATIONS)
OnInvalid = _choices("OnInvalid", ON_INVALID)
Device = _choices("Device", DEVICES + ("auto",))
Engine = _choices("Engine", ENGINES)
LogFormat = _choices("LogFormat", ("text", "json"))
PlotFormat = _choices("PlotFormat", PLOT_FORMATS)

EXIT_COMPLETE, EXIT_INTERNAL, EXIT_INPUT, EXIT_REJECTED = 0, 1, 2, 3
_log_format = {"value": LogFormat.text}


def _json_event(event: dict) -> None:
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **event}
    typer.echo(json.dumps(record, default=str), err=True)


def _fail(message: str, code: int) -> typer.Exit:
    if _log_format["value"] is LogFormat.json:
        _json_event({"event": "error", "exit_code": code, "message": message})
    else:
        typer.echo(f"tf2eng: error: {message}", err=True)
    return typer.Exit(code)


def _guarded(fn):
    """Run a command body: input errors exit 2 with one line, anything unexpected exits 1."""
    from ..engine.errors import InputError

    try:
        return fn()
    except InputError as exc:
        raise _fail(str(exc), EXIT_INPUT) from None
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        raise _fail("interrupted; no output was committed", 130) from None
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - the one place that turns crashes into exit 1
        # BaseException: pyo3's PanicException (a panic in polars) is no Exception.
        if os.environ.get("TF2ENG_DEBUG"):
            raise
        raise _fail(f"internal error: {type(exc).__name__}: {exc} (set TF2ENG_DEBUG=1 for the traceback)",
                    EXIT_INTERNAL) from None


def _joined(values: Optional[list[str]]) -> Optional[str]:
    """The values of an option given once or more (``--by a --by b,c``) as one comma-separated list."""
    return None if not values else ",".join(values)


def _split(value: Optional[str], option: str = "--skip") -> Optional[tuple[str, ...]]:
    """A comma-separated list of names; an empty item (`--by ,`, `a,,b`, `a,`) is a bad option, not
    dropped (an empty value names none)."""
    if value is None:
        return None
    if not value.strip():
        return ()
    names = tuple(v.strip() for v in value.split(","))
    if not all(names):
        from ..engine.errors import InputError

        raise InputError(f"{option} has an empty item: {value!r}")
    return names


class _Progress:
    """A rich progress bar on stderr that appears only when a run takes more than a moment."""

    DELAY_S = 0.75

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.started = time.monotonic()
        self.bar = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.started < self.DELAY_S:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("rows", total=total)
        self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tf2eng {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Key-frame alignment analysis of per-frame text-frame similarity scores, in batch."""
    _log_format["value"] = LogFormat.text


@app.command()
def run(
    path: Annotated[str, typer.Argument(help="Input file (Parquet, Arrow IPC, JSON Lines, CSV/TSV, nested JSON, .npy/.npz), directory, or glob.")],
    out: Annotated[Optional[Path], typer.Option("-o", "--out", help="Output directory [default: beside the input, NAME.tf2eng].")] = None,
    lam: Annotated[list[str], typer.Option(metavar="<float,...>", help="Power transform exponent: P_i = S_i ** lam (eq. 1); a comma-separated list (0.5,0.7,1), or the option repeated, sweeps it.")] = ["0.7"],
    stages: Annotated[list[str], typer.Option(metavar="<int,...>", help="Number of stages K, 1 to 10000; a comma-separated list (5,10,20), or the option repeated, sweeps it, every combination with --lam in one read.")] = ["10"],
    reduce: Annotated[Reduce, typer.Option(help="Stage score: sum (eq. 2) or mean of P_i in the stage.")] = Reduce.sum,
    grid_step: Annotated[float, typer.Option(help="Step h of the common grid of aligned positions.")] = 0.01,
    key: Annotated[KeyMode, typer.Option(help="column: use the key-frame column where present, else the first arg-max; auto: always the arg-max.")] = KeyMode.column,
    key_col: Annotated[str, typer.Option(help="Column with the key frame: its 0-based position (wide; with --meta also a frame name), its label (long).")] = "key_frame",
    scores_col: Annotated[Optional[str], typer.Option(help="Score column [default: scores (wide), score (long)].")] = None,
    frame_col: Annotated[str, typer.Option(help="Long layout: column with the frame labels (integers or text, e.g. file stems).")] = "frame",
    id_cols: Annotated[Optional[list[str]], typer.Option(metavar="COLUMNS", help="Comma-separated id columns (or the option repeated) [default: video_id, and exp_id where present].")] = None,
    by: Annotated[Optional[list[str]], typer.Option(metavar="COLUMNS", help="Comma-separated columns to group the aggregates by (or the option repeated).")] = None,
    meta: Annotated[Optional[list[Path]], typer.Option("--meta", metavar="FILE", help="Ref-YouTube-VOS or MeViS metadata (meta_expressions.json, meta.json; repeatable): adds exp, obj_id and category to each track by its video and expression id, for --by; a text key frame names a frame of the video's frames list.")] = None,
    layout: Annotated[Optional[Layout], typer.Option(help="Input layout [default: detected from the columns].")] = None,
    format: Annotated[Format, typer.Option("--format", help="Input format: auto (by each file's name: .parquet, .arrow/.feather, .jsonl/.ndjson, .csv, .tsv, .json, .npy/.npz; text formats may end in .gz, .bz2, .zst, .lz4) or one to force.")] = Format.auto,
    normalize: Annotated[Normalize, typer.Option(help="minmax: rescale each track to [0, 1] first.")] = Normalize.none,
    on_invalid: Annotated[OnInvalid, typer.Option(help="quarantine: bad rows go to rejected.parquet; error: stop at the first.")] = OnInvalid.quarantine,
    ci: Annotated[Optional[float], typer.Option(help="Add ci_low, ci_high at this confidence level (0 < LEVEL < 1, e.g. 0.95): mean ± t·std/√n, or with --bootstrap percentile intervals; the plot draws the band.")] = None,
    bootstrap: Annotated[Optional[int], typer.Option(help="Percentile intervals over B Poisson-bootstrap replicates (weights from the track's ids and --seed); without --ci, level 0.95.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the --bootstrap weights (0 to 2**64 - 1).")] = 0,
    threads: Annotated[Optional[int], typer.Option(help="Kernel threads [default: NUMBA_NUM_THREADS, all cores].")] = None,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Write the alignment figure, alignment.png (or --plot-format).")] = True,
    plot_format: Annotated[PlotFormat, typer.Option(help="The figure's format: alignment.png, .svg or .pdf (vector lines; the same bytes on every run).")] = PlotFormat.png,
    plot_dpi: Annotated[int, typer.Option(help=f"The figure's resolution in dots per inch, {MIN_PLOT_DPI} to {MAX_PLOT_DPI} (SVG, PDF: of the density shading only).")] = PLOT_DPI,
    device: Annotated[Device, typer.Option(help="cpu; cuda (a usable GPU, else exit 2); auto: the GPU where one is usable.")] = Device.cpu,
    engine: Annotated[Engine, typer.Option(help="local, or dask: one task per unit (about a million rows: small files packed together, or a run of row groups of a large one) on a Dask cluster.")] = Engine.local,
    scheduler: Annotated[Optional[str], typer.Option(help="--engine dask: address of a running scheduler, tcp://HOST:PORT.")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="--engine dask without --scheduler: start a local cluster of N worker processes [default: 2].")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Reuse the units (packed small files, or runs of row groups) a killed run had finished.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Recompute every unit, even those the previous output has.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit with code 3 when any row was rejected.")] = False,
    log_format: Annotated[LogFormat, typer.Option(help="json: one JSON object per event on stderr.")] = LogFormat.text,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no report.")] = False,
) -> None:
    """Run the alignment analysis of a dataset and write the output directory.

    Exit codes: 0 complete; 2 bad invocation or unreadable input; 3 complete
    but rows were rejected and --strict was given; 1 internal error.
    """
    _log_format["value"] = log_format

    def body():
        if engine is Engine.local:
            startup.without_pandas()
        from ..engine.sweep import parse_list

        lams, ks = list(parse_list("--lam", _joined(lam), float)), list(parse_list("--stages", _joined(stages), int))
        painter = plot and len(lams) == len(ks) == 1 and startup.plot_elsewhere()  # first: it loads meanwhile
        from ..engine.api import run as run_engine

        if plot and not painter:  # before the work, not after it
            from ..engine.plot import matplotlib_figure

            matplotlib_figure()
        startup.loaded()
        startup.report_compiles(_compile_reporter(log_format, quiet))
        progress = _Progress(enabled=not quiet and log_format is LogFormat.text)
        try:
            result = run_engine(
                path,
                out,
                lam=lams,
                stages=ks,
                reduce=reduce.value,
                grid_step=grid_step,
                key=key.value,
                key_col=key_col,
                scores_col=scores_col,
                frame_col=frame_col,
                id_cols=_split(_joined(id_cols), "--id-cols"),
                by=_split(_joined(by), "--by") or (),
                layout=layout.value if layout else None,
                format=format.value,
                normalize=normalize.value,
                on_invalid=on_invalid.value,
                ci=ci,
                bootstrap=bootstrap,
                seed=seed,
                plot=plot,
                plot_format=plot_format.value,
                plot_dpi=plot_dpi,
                threads=threads,
                device=device.value,
                engine=engine.value,
                scheduler=scheduler,
                workers=workers,
                resume=resume,
                full=full,
                meta=meta or None,
                progress=progress,
                log=_json_event if log_format is LogFormat.json else None,
            )
        finally:
            progress.close()
            startup.report_compiles(None)
            if painter:
                from ..engine.plot_worker import stop

                stop()
        if as_json:
            typer.echo(json.dumps(result.summary, indent=2, default=str))
        elif not quiet:
            rows = result.summary["rows"]
            reasons = ", ".join(f"{k}: {v}" for k, v in rows["rejected_by_reason"].items())
            typer.echo(f"{rows['read']:,} tracks read, {rows['written']:,} written, {rows['rejected']:,} rejected"
                       + (f" ({reasons})" if reasons else ""))
            units = result.summary["units"]
            reused = units["reused"] + units["resumed"]
            if reused:
                typer.echo(f"{units['processed']} of {units['total']} units (input files or runs of their row groups) processed, "
                           f"{reused} reused from earlier results")
            if "meta" in result.summary:
                matched = result.summary["meta"]["tracks_matched"]
                typer.echo(f"metadata: {matched:,} of {rows['read']:,} tracks matched")
            typer.echo(f"outputs in {result.out} ({result.summary['timings_s']['total']:.2f} s)")
        if strict and result.summary["rows"]["rejected"]:
            raise _fail(f"{result.summary['rows']['rejected']:,} rows rejected (--strict); "
                        f"see {result.out / 'rejected.parquet'}", EXIT_REJECTED)

    _guarded(body)


Pairing = _choices("Pairing", ("auto", "paired", "unpaired"))


@app.command()
def compare(
    out_a: Annotated[Path, typer.Argument(metavar="OUT_A", help="A tf2eng run output directory.")],
    out_b: Annotated[Path, typer.Argument(metavar="OUT_B", help="Another, made with the same --stages, --grid-step and --by.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Directory to write the comparison into.")],
    ci: Annotated[float, typer.Option(help="Confidence level of the intervals, strictly between 0 and 1.")] = 0.95,
    bootstrap: Annotated[Optional[int], typer.Option(help="B Poisson-bootstrap replicates: percentile intervals instead of t intervals.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap weights (with the track's ids).")] = 0,
    pairing: Annotated[Pairing, typer.Option(help="auto: paired when both outputs hold the same tracks, else unpaired; paired: over the tracks in both; unpaired: Welch / independent bootstrap.")] = Pairing.auto,
    threads: Annotated[Optional[int], typer.Option(help="Kernel threads [default: NUMBA_NUM_THREADS, all cores].")] = None,
    lam: Annotated[Optional[float], typer.Option(help="Of a sweep output: the configuration's λ to compare (OUT_B's too, unless --lam-b).")] = None,
    stages: Annotated[Optional[int], typer.Option(help="Of a sweep output: the configuration's K to compare (OUT_B's too, unless --stages-b).")] = None,
    lam_b: Annotated[Optional[float], typer.Option(help="OUT_B's λ, where it differs from --lam (e.g. two λ of one sweep).")] = None,
    stages_b: Annotated[Optional[int], typer.Option(help="OUT_B's K, where it differs from --stages.")] = None,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Write compare.png.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No report.")] = False,
) -> None:
    """Compare two runs: the difference of their means (A - B) per stage and grid point, with its interval.

    Of a sweep output (--lam/--stages lists), one configuration is compared: --lam and --stages
    pick it; OUT_A and OUT_B may be the same sweep, with --lam-b or --stages-b.

    Exit codes: 0 complete; 2 outputs that cannot be compared (one line says what differs), bad
    options or an output that cannot be written; 1 internal error.
    """

    def body():
        from ..engine.compare import compare as compare_outputs

        result = compare_outputs(out_a, out_b, out, ci=ci, bootstrap=bootstrap, seed=seed,
                                 pairing=pairing.value, plot=plot, threads=threads,
                                 lam=lam, stages=stages, lam_b=lam_b, stages_b=stages_b)
        if as_json:
            typer.echo(json.dumps(result.summary, indent=2, default=str))
        elif not quiet:
            s = result.summary
            tracks = s["tracks"]
            typer.echo(f"{s['comparison']} comparison ({s['reason']}): {tracks['a']:,} tracks in OUT_A, "
                       f"{tracks['b']:,} in OUT_B, {tracks['common']:,} in both")
            typer.echo(f"{s['interval']['method']}, level {s['interval']['level']:g}")
            typer.echo(f"outputs in {result.out} ({s['timings_s']['total']:.2f} s)")

    _guarded(body)


def _compile_reporter(log_format, quiet: bool):
    """Where the kernels' "compiling ..." notes go: a JSON event, a line on stderr, or (-q) nowhere."""
    if log_format is LogFormat.json:
        return lambda message: _json_event({"event": "compile", "message": message})
    if quiet:
        return None
    return lambda message: typer.echo(f"tf2eng: {message}", err=True)


@app.command()
def synth(
    out: Annotated[str, typer.Argument(help="Parquet file to write.")],
    tracks: Annotated[int, typer.Option(min=0, help="Number of tracks (score sequences).")] = 3471,
    seed: Annotated[int, typer.Option(min=0, help="Random seed; the same seed gives the same file.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Write a realistic synthetic dataset: scores peaked around a key frame, with noise."""

    def body():
        import signal

        from ..engine.synth import write_synthetic

        def terminated(signum, frame):  # (as Ctrl-C does: the partly written file is removed on the way out)
            raise _fail("terminated; nothing was written", 128 + signum)

        previous = signal.signal(signal.SIGTERM, terminated)  # what timeout, systemd and schedulers send
        try:
            try:
                counts = write_synthetic(out, tracks, seed)
            finally:
                signal.signal(signal.SIGTERM, previous)
        except OSError as exc:
            from ..engine.errors import InputError

            raise InputError(f"{out}: cannot write: {exc.strerror}") from None
        if not quiet:
            typer.echo(f"wrote {out}: {counts['tracks']:,} tracks, {counts['videos']:,} videos, {counts['frames']:,} frames")

    _guarded(body)


def _number(x) -> str:
    """A rational for people: 40, 2.5, or 1/3 where no short decimal is exact."""
    if x.denominator == 1:
        return str(x.numerator)
    text = f"{float(x):g}"
    return text if Fraction(text) == x else f"{x.numerator}/{x.denominator}"


def _json_number(x):
    return x.numerator if x.denominator == 1 else float(x)


@app.command()
def steps(
    methods: Annotated[list[str], typer.Argument(help="NAME:FRAMES_PER_STEP[:sequential], e.g. ReferFormer:5 OnlineRefer:2.5:sequential TF2:8")],
    time_: Annotated[Optional[list[str]], typer.Option("--time", help="NAME=SECONDS: measured time per epoch, shown as a ratio to the fastest.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Processing steps for the same number of frames (the paper's Table 1)."""

    def body():
        from ..engine.tools.steps import parse_method, parse_time, steps_table

        parsed = [parse_method(m) for m in methods]
        times = dict(parse_time(t) for t in (time_ or []))
        lcm, rows = steps_table(parsed, times)
        if as_json:
            typer.echo(json.dumps({
                "lcm_frames": _json_number(lcm),
                "methods": [{
                    "name": r.method.name,
                    "frames_per_step": _json_number(r.method.frames_per_step),
                    "sequential": r.method.sequential,
                    "steps": r.steps,
                    "seconds_per_epoch": r.seconds,
                    "time_ratio": r.ratio,
                } for r in rows],
            }, indent=2))
            return
        typer.echo(f"LCM of frames per step: {_number(lcm)} frames")
        header = ["method", "frames/step", "mode", "steps"] + (["time/epoch s", "vs fastest"] if times else [])
        table = [header]
        for r in rows:
            line = [r.method.name, _number(r.method.frames_per_step),
                    "sequential" if r.method.sequential else "parallel", str(r.steps)]
            if times:
                line += [f"{r.seconds:g}" if r.seconds is not None else "-",
                         f"{r.ratio:.2f}" if r.ratio is not None else "-"]
            table.append(line)
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            typer.echo("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))

    _guarded(body)


@app.command()
def bench(
    path: Annotated[Optional[str], typer.Argument(help="Parquet file to use [default: a synthetic one, made once].")] = None,
    tracks: Annotated[int, typer.Option(min=1, help="Tracks in the synthetic dataset.")] = 100_000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the synthetic dataset.")] = 0,
    repeat: Annotated[int, typer.Option(min=1, help="Timed repetitions of the fast entries (best is kept); with --shape, rounds of every tool in turn (the best and the median of the rounds' ratios are shown).")] = 3,
    data_dir: Annotated[Path, typer.Option(help="Where synthetic datasets are kept.")] = Path("bench/data"),
    json_out: Annotated[Optional[Path], typer.Option("--json-out", help="Write the results here [default: bench/results/bench-TIME.json].")] = None,
    skip: Annotated[Optional[str], typer.Option(help="Comma-separated competitors to leave out: numpy, polars, duckdb.")] = None,
    threads: Annotated[Optional[int], typer.Option(help="Kernel threads [default: all cores].")] = None,
    shape: Annotated[str, typer.Option(help="wide: tf2eng, numpy, polars, DuckDB and a pyarrow read on one wide file. many-files: "
                                       "the synthetic tracks in --files files (default 2,000) and as one file; "
                                       "long: the same tracks as one row per frame, shuffled over --files files "
                                       "(default 10). The last two time whole runs of tf2eng, DuckDB, polars and a "
                                       "numpy script in fresh processes: wall time and peak RSS, side by side.")] = "wide",
    files: Annotated[Optional[int], typer.Option(min=1, help="Files of --shape many-files or long.")] = None,
) -> None:
    """Time tf2eng against numpy, polars, DuckDB and a bare pyarrow read, on the same data; or (--shape
    many-files|long) whole runs of tf2eng, DuckDB, polars and a numpy script on many files or on the long
    layout."""

    def body():
        from ..engine.api import check_threads
        from ..engine.stream import numba_threads
        from ..engine.tools.benchmark import check_writable, run_benchmark, write_report

        target = json_out or Path("bench/results") / time.strftime("bench-%Y%m%d-%H%M%S.json")
        check_writable(target)
        check_threads(threads)
        if shape != "wide":
            from ..engine.errors import InputError
            from ..engine.tools.shapes import run_shape, shape_table, write_shape_report

            if path is not None:
                raise InputError(f"--shape {shape}: makes its own dataset; leave out PATH")
            what, rows = run_shape(shape, tracks, seed, files, repeat, data_dir, threads,
                                   log=lambda m: typer.echo(m, err=True), skip=_split(skip) or ())
            typer.echo(shape_table(rows))
            write_shape_report(shape, what, rows, target)
            typer.echo(f"results in {target}")
            return
        if files is not None:
            from ..engine.errors import InputError

            raise InputError("--files: only with --shape many-files or long")
        with numba_threads(threads):
            report = run_benchmark(path, tracks, seed, repeat, data_dir, _split(skip) or (),
                                   log=lambda m: typer.echo(m, err=True))
        typer.echo(report.table())
        write_report(report, target)
        typer.echo(f"results in {target}")

    _guarded(body)


@app.command()
def warmup(
    device: Annotated[Device, typer.Option(help="cpu; cuda or auto: the CPU kernels, and a note that the CUDA kernels are compiled in each process.")] = Device.cpu,
    threads: Annotated[Optional[int], typer.Option(help="Kernel threads [default: NUMBA_NUM_THREADS, all cores].")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No report.")] = False,
) -> None:
    """Compile every CPU kernel variant ahead into numba's cache (e.g. in a container build), so that no
    run waits for it; fast when they are cached already."""

    def body():
        startup.without_pandas()
        from ..engine.tools.warmup import warmup as warm_all
        from ..kernels.cache import writable

        startup.loaded()
        if not writable():
            raise _fail("no folder for numba's cache can be written here (NUMBA_CACHE_DIR, __pycache__ beside "
                        "the package, the user's cache folder): every run compiles; nothing to warm up", EXIT_INPUT)
        say = (lambda m: None) if quiet else typer.echo
        total = time.perf_counter()

        def report(w) -> None:
            what = f"compiled {', '.join(w.compiled)}" if w.compiled else "cached"
            say(f"{w.variant.name}: {what} ({w.seconds:.2f} s)")

        results = warm_all(threads, report)
        compiled = sum(bool(w.compiled) for w in results)
        say(f"{len(results)} input types, {compiled} compiled, {len(results) - compiled} cached "
            f"({time.perf_counter() - total:.1f} s)")
        if device is not Device.cpu:
            say("CUDA kernels: not kept in numba's cache; each --device cuda run compiles them (a few seconds)")

    _guarded(body)


NUMBA_LAYERS = ("default", "safe", "forksafe", "threadsafe", "tbb", "omp", "workqueue")


def _environment_problem() -> str | None:
    """What in the environment numba or polars cannot work with, checked before numba loads (it fails
    as it loads, or at the first kernel, with a traceback); None where all is well."""
    threads = os.environ.get("NUMBA_NUM_THREADS")
    if threads is not None and not (threads.strip().isdecimal() and int(threads) > 0):
        # (numba warns with a traceback of its own at a value it cannot read, and takes its default)
        return f"NUMBA_NUM_THREADS={threads}: the kernel threads must be a positive number, or unset"
    polars_threads = os.environ.get("POLARS_MAX_THREADS")
    if polars_threads is not None and not (polars_threads.strip().isdecimal() and int(polars_threads) > 0):
        return f"POLARS_MAX_THREADS={polars_threads}: polars' threads must be a positive integer, or unset"
    if os.environ.get("NUMBA_DISABLE_JIT", "").strip() not in ("", "0"):
        return "NUMBA_DISABLE_JIT is set: tf2eng's kernels need numba's compiler; unset it"
    layer = os.environ.get("NUMBA_THREADING_LAYER", "").strip().lower()
    if layer and layer not in NUMBA_LAYERS:
        return f"NUMBA_THREADING_LAYER={layer}: not a numba threading layer ({', '.join(NUMBA_LAYERS)})"
    if layer and layer != "default":
        from numba.np.ufunc import parallel

        try:
            parallel._launch_threads()  # loads the layer, as the first parallel kernel would
        except (ValueError, ImportError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return f"NUMBA_THREADING_LAYER={layer}: cannot be loaded here ({reason}); unset it"
    return None


def _usage_errors_in_one_line() -> None:
    """A bad option value, an unknown option or a missing argument, which click finds before a command runs, as
    one line (exit 2, click's code), as every other error of the command, instead of click's usage block; a JSON
    error event where the arguments ask for --log-format json (click stops before the option is read)."""
    import importlib

    def show(self, file=None) -> None:
        message = self.format_message().rstrip(".")
        args = sys.argv[1:]
        if any(a == "--log-format=json" or a == "--log-format" and b == "json" for a, b in zip(args, args[1:] + [""])):
            _json_event({"event": "error", "exit_code": self.exit_code, "message": message})
            return
        where = f"; see '{self.ctx.command_path} --help'" if self.ctx is not None else ""
        typer.echo(f"tf2eng: error: {message}{where}", err=True)

    # typer 0.2x carries a click of its own; another typer uses click (imported only where it is the one)
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            importlib.import_module(module).UsageError.show = show
            return
        except (ImportError, AttributeError):
            pass


def main() -> None:
    """Console-script entry point."""
    startup.loading()
    coercion.install()  # the command's own process only: its option values without pydantic where they need none
    _usage_errors_in_one_line()
    # OpenMP threads sleep between kernels, leaving the cores to the readers and writers (a value the user set wins).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # tf2eng calls no BLAS routine, but numpy's OpenBLAS starts a thread per core as numpy loads, and they spin
    # before they sleep: 0.1-0.2 s of CPU a process (this one, the plot painter's, Dask workers'), taken from
    # the start-up on a small machine.  One BLAS thread starts none (a value the user set wins).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    problem = _environment_problem()
    if problem is not None:
        typer.echo(f"tf2eng: error: {problem}", err=True)
        sys.exit(EXIT_INPUT)
    try:
        app(prog_name="tf2eng")
    finally:
        startup.exiting()


if __name__ == "__main__":
    main()
