"""Start-up and compilation (README, "Start-up and compilation"): what a run loads, the note before
a compile, and `tf2eng warmup`."""

from __future__ import annotations

import logging
import subprocess
import sys

import numba
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from numba import njit
from typer.testing import CliRunner

from tf2eng.cli.app import app
from tf2eng.engine.lazy import Unavailable
from tf2eng.engine.tools import warmup as warm
from tf2eng.kernels import compiling, cpu


def _wide(path, tracks=20, values=pa.float32()):
    rng = np.random.default_rng(1)
    scores = [list(rng.random(int(n))) for n in rng.integers(2, 30, tracks)]
    pq.write_table(pa.table({"video_id": [f"v{i}" for i in range(tracks)],
                             "scores": pa.array(scores, pa.list_(values))}), path)
    return path


def test_a_run_without_plot_or_by_loads_no_polars_pandas_or_matplotlib(tmp_path):
    data = _wide(tmp_path / "a.parquet")
    code = ("import sys; from tf2eng.cli.app import main\n"
            f"sys.argv = ['tf2eng', 'run', {str(data)!r}, '-o', {str(tmp_path / 'out')!r}, '-q', '--no-plot']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print(sorted(m for m in ('polars', 'pandas', 'matplotlib', 'tf2eng.kernels.bootstrap',"
            " 'tf2eng.engine.bands', 'pyarrow.json', 'pyarrow.csv') if sys.modules.get(m)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
    assert (tmp_path / "out" / "stage_means.parquet").exists()


def test_the_api_still_gives_polars_tables(tmp_path):
    import polars as pl

    from tf2eng import run

    result = run(_wide(tmp_path / "a.parquet"), tmp_path / "out", plot=False)
    assert isinstance(result.stage_means, pl.DataFrame) and isinstance(result.curve, pl.DataFrame)
    assert result.stage_means.equals(pl.read_parquet(tmp_path / "out" / "stage_means.parquet"))
    assert result.curve.equals(pl.read_parquet(tmp_path / "out" / "curve.parquet"))


def _add_one(x):
    return x + 1


def test_a_compile_is_announced_once_and_a_cached_one_not(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", str(tmp_path))  # an empty cache
    caplog.set_level(logging.INFO, logger=compiling.LOGGER.name)
    fresh = njit(cache=True)(_add_one)
    compiling.announce(fresh, (1.0,), "add_one for floats")
    assert [r.getMessage().startswith("compiling add_one for floats") for r in caplog.records] == [True]
    fresh(1.0)
    compiling.announce(fresh, (1.0,), "add_one for floats")  # loaded now
    assert len(caplog.records) == 1
    again = njit(cache=True)(_add_one)  # as in the next process: the code is in the cache
    compiling.announce(again, (2.0,), "add_one for floats")
    assert len(caplog.records) == 1
    compiling.announce(again, (np.int32(2),), "add_one for int32")  # another type: not cached
    assert len(caplog.records) == 2 and "int32" in caplog.records[1].getMessage()


def test_no_note_when_nobody_listens(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", str(tmp_path))
    caplog.set_level(logging.WARNING, logger=compiling.LOGGER.name)
    compiling.announce(njit(cache=True)(_add_one), (1.0,), "add_one")
    assert not caplog.records


@pytest.fixture(scope="module")
def warmed():
    return warm.warmup()


def test_warmup_leaves_every_batch_kernel_variant_ready(warmed):
    """After warmup, the batch kernel runs without compiling for float32/float64 scores in
    list/large_list columns: loaded here, and in numba's cache for the next process."""
    assert [w.variant for w in warmed] == list(warm.VARIANTS)
    sigs = list(cpu.align_batch.overloads)
    kinds = {(str(sig[0].types[0].dtype), str(sig[0].types[1].dtype)) for sig in sigs}
    assert kinds == {(o, v) for o in ("int32", "int64") for v in ("float32", "float64")}
    for sig in sigs:
        assert compiling.is_ready(cpu.align_batch, sig)
        cache = cpu.align_batch._cache
        assert cache._index_key(sig, cpu.align_batch.targetctx.codegen()) in cache._cache_file._load_index()
    from tf2eng.kernels import sweep

    sigs = list(sweep.align_batch_sweep.overloads)  # a sweep's kernel too
    kinds = {(str(sig[0].types[0].dtype), str(sig[0].types[1].dtype)) for sig in sigs}
    assert kinds == {(o, v) for o in ("int32", "int64") for v in ("float32", "float64")}
    assert all(compiling.is_ready(sweep.align_batch_sweep, sig) for sig in sigs)


def test_a_second_warmup_compiles_nothing(warmed):
    assert all(not w.compiled for w in warm.warmup())


def test_warmup_datasets_are_the_types_they_name():
    for variant in warm.VARIANTS:
        table = warm._dataset(variant, 40)
        if variant.layout == "long":
            assert table.schema.field("score").type == variant.values
            continue
        t = table.schema.field("scores").type
        assert pa.types.is_large_list(t) == variant.large and t.value_type == variant.values
        assert (table.column("scores").null_count > 0) == variant.nulls


def test_warmup_command_reports_each_input_type(warmed):
    result = CliRunner().invoke(app, ["warmup", "--device", "cuda"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split(":")[0] for line in lines[: len(warm.VARIANTS)]] == [v.name for v in warm.VARIANTS]
    assert all(line.endswith("s)") and ": cached (" in line for line in lines[: len(warm.VARIANTS)])
    assert lines[len(warm.VARIANTS)].startswith(f"{len(warm.VARIANTS)} input types, 0 compiled")
    assert "CUDA kernels" in lines[-1]


def test_cached_cli_run_prints_no_compile_note(tmp_path, warmed):
    data = _wide(tmp_path / "a.parquet", values=pa.float64())
    result = CliRunner().invoke(app, ["run", str(data), "-o", str(tmp_path / "out"), "--no-plot"])
    assert result.exit_code == 0, result.output
    assert "compiling" not in result.output


def test_the_cli_called_from_python_leaves_the_process_as_it_was(tmp_path):
    """Hiding pandas and freezing objects for the collector are for the command's own process."""
    import gc

    from tf2eng.cli import startup

    frozen = gc.get_freeze_count()
    data = _wide(tmp_path / "a.parquet")
    result = CliRunner().invoke(app, ["run", str(data), "-o", str(tmp_path / "out"), "--no-plot", "-q"])
    assert result.exit_code == 0, result.output
    assert not any(isinstance(f, Unavailable) for f in sys.meta_path)
    assert gc.get_freeze_count() == frozen and gc.isenabled()
    assert not compiling.LOGGER.handlers and compiling.LOGGER.level == logging.NOTSET


# --- the figure painted in a second process (engine/plot_worker.py) --------------------------------


def _wide_by(path, tracks=500):
    """Two groups: one drawn as lines, one (over LINES_MAX tracks) as a shading."""
    rng = np.random.default_rng(2)
    scores = [list(rng.random(int(n))) for n in rng.integers(2, 30, tracks)]
    pq.write_table(pa.table({"video_id": [f"v{i}" for i in range(tracks)],
                             "model": ["a" if i < 20 else "b" for i in range(tracks)],
                             "scores": pa.array(scores, pa.list_(pa.float64()))}), path)
    return path


def _command(tmp_path, args, setup="") -> subprocess.CompletedProcess:
    """tf2eng's main() in a fresh Python; prints which of matplotlib and polars it loaded."""
    code = (f"import sys; from tf2eng.cli.app import main\n{setup}\n"
            f"sys.argv = ['tf2eng', *{[str(a) for a in args]!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print(sorted(m for m in ('matplotlib', 'polars', 'pydantic') if m in sys.modules))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("extra", [[], ["--plot-format", "svg", "--by", "model", "--ci", "0.9"]])
def test_the_command_paints_the_figure_in_another_process_with_the_same_bytes(tmp_path, extra):
    from tf2eng import run

    data = _wide_by(tmp_path / "a.parquet")
    done = _command(tmp_path, ["run", data, "-o", tmp_path / "cli", "-q", *extra])
    assert done.returncode == 0, done.stderr
    loaded = eval(done.stdout.strip().splitlines()[-1])
    assert "matplotlib" not in loaded, loaded
    assert ("pydantic" in loaded) == ("--ci" in extra), loaded  # a number given as text: typer's validator
    assert ("polars" in loaded) == ("--by" in extra), loaded  # the figure is planned from Arrow tables
    kwargs = dict(by="model", ci=0.9, plot_format="svg") if extra else {}
    run(data, tmp_path / "api", **kwargs)  # painted in this process
    name = "alignment.svg" if extra else "alignment.png"
    assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "api" / name).read_bytes()


@pytest.mark.parametrize("executable", ["/nonexistent/python", "/bin/false"])
def test_without_the_painting_process_the_command_paints_the_same_figure_itself(tmp_path, executable):
    """It cannot start, or ends at once: the figure is painted in the command's process."""
    data = _wide_by(tmp_path / "a.parquet", tracks=30)
    done = _command(tmp_path, ["run", data, "-o", tmp_path / "cli", "-q"],
                    setup=f"sys.executable = {executable!r}")
    assert done.returncode == 0, done.stderr
    assert "matplotlib" in eval(done.stdout.strip().splitlines()[-1])
    from tf2eng import run

    run(data, tmp_path / "api")
    assert (tmp_path / "cli" / "alignment.png").read_bytes() == (tmp_path / "api" / "alignment.png").read_bytes()


def test_a_figure_the_painting_process_fails_to_save_is_painted_by_the_command(tmp_path):
    """The plan reaches the other process, which fails to write its file: the command paints the
    figure itself."""
    data = _wide_by(tmp_path / "a.parquet", tracks=30)
    setup = ("from tf2eng.engine import plot_worker\n"
             "real = plot_worker._paint_elsewhere\n"
             "def unwritable(job):\n"
             "    painting, path, fmt, dpi = job\n"
             "    return real((painting, '/nonexistent/dir/x.png', fmt, dpi))\n"
             "plot_worker._paint_elsewhere = unwritable\n")
    done = _command(tmp_path, ["run", data, "-o", tmp_path / "cli", "-q"], setup=setup)
    assert done.returncode == 0, done.stderr  # painted again here, at the right place
    assert (tmp_path / "cli" / "alignment.png").exists()


def test_the_painting_process_ends_with_the_command(tmp_path):
    """A run that fails before its figure leaves no painting process behind."""
    done = _command(tmp_path, ["run", tmp_path / "missing.parquet", "-o", tmp_path / "out"],
                    setup="import atexit, tf2eng.engine.plot_worker as w\n"
                          "atexit.register(lambda: print('left', len(w._worker)))")
    assert done.returncode == 1 and "AssertionError: 2" in done.stderr, done.stderr
    assert "left 0" in done.stdout


def test_the_plan_from_an_arrow_curve_table_is_the_plan_from_polars(tmp_path):
    """The command plans its figure from the Arrow curve table; RunResult.plot() from polars."""
    import polars as pl

    from tf2eng import run
    from tf2eng.engine.api import configurations
    from tf2eng.engine.groups import GroupIndex
    from tf2eng.engine.plot import plan

    data = _wide_by(tmp_path / "a.parquet")
    for by, ci in (((), None), (("model",), 0.9)):
        result = run(data, tmp_path / f"out{len(by)}", plot=False, by=by, ci=ci)
        options = configurations(0.7, 10, id_cols=None, by=by, device="cpu", meta=None, ci=ci).options
        groups = GroupIndex(options.by)
        if by:
            groups.codes(pa.table({"model": ["a", "b"]}))
        tracks = np.array([20, 480]) if by else np.array([result.summary["rows"]["written"]])
        arrow = plan(result.out / "stages", result.curve_arrow, groups, tracks, options)
        polars = plan(result.out / "stages", pl.from_arrow(result.curve_arrow), groups, tracks, options)
        assert arrow.groups == polars.groups
        for name in ("grid", "mean", "shading", "as_lines", "tracks"):
            np.testing.assert_array_equal(getattr(arrow.plot, name), getattr(polars.plot, name))
        assert arrow.plot.shading.sum() > 0 and np.isfinite(arrow.plot.mean).any()
        if ci is not None:
            assert np.isfinite(arrow.plot.band).any()
            np.testing.assert_array_equal(arrow.plot.band, polars.plot.band)
        else:
            assert arrow.plot.band is None and polars.plot.band is None


# --- option values checked without typer's pydantic validators (cli/coercion.py) ----------------


PARSED = [
    ["run", "x.parquet"],
    ["run", "x.parquet", "-o", "out", "--reduce", "mean", "--key", "AUTO", "--layout", "long", "--format", "csv"],
    ["run", "x", "--reduce", "bogus"], ["run", "x", "--grid-step", "abc"], ["run", "x", "--workers", "0"],
    ["run", "x", "--meta", "a", "--meta", "b"], ["run", "x", "-o", ""], ["run", "x", "--seed", "-1"],
    ["run", "x", "--plot-dpi", "1e3"], ["run", "x", "--device", "CUDA"], ["run", "x", "--ci", "0.9", "--threads", "2"],
    ["run", "x", "--log-format", "json", "--plot-format", "pdf", "--engine", "dask", "--scheduler", "tcp://a:1"],
    ["synth", "o.parquet", "--tracks", "-1"], ["compare", "a", "b", "-o", "c", "--pairing", "paired"],
    ["compare", "a", "b", "-o", "c", "--pairing", "both"], ["bench", "--data-dir", "/nonexistent", "--repeat", "0"],
    ["steps", "A:5", "--time", "A=3"], ["warmup", "--device", "auto"],
]


def _parsed(args):
    """What typer makes of ``args``: each option's value and its type, or the error's message."""
    import typer.main
    from typer import _click

    command = typer.main.get_command(app)
    try:
        parent = command.make_context("tf2eng", list(args))
        ctx = command.commands[args[0]].make_context(args[0], list(args[1:]), parent=parent)
    except _click.exceptions.ClickException as exc:
        return type(exc).__name__, exc.format_message()
    return {name: (type(value), value) for name, value in ctx.params.items()}


def test_option_values_are_what_typer_makes_of_them(tmp_path, monkeypatch):
    from typer.core import _TyperParameter

    from tf2eng.cli import coercion

    typer_made = [_parsed(args) for args in PARSED]
    monkeypatch.setattr(_TyperParameter, "get_runtime_param", _TyperParameter.get_runtime_param)
    assert coercion.install()
    assert getattr(_TyperParameter.get_runtime_param, "_tf2eng", False)
    assert [_parsed(args) for args in PARSED] == typer_made


def test_the_commands_usual_options_need_no_pydantic():
    code = ("import sys, typer.main; from tf2eng.cli import coercion; from tf2eng.cli.app import app\n"
            "coercion.install(); command = typer.main.get_command(app)\n"
            "parent = command.make_context('tf2eng', ['run', 'x'])\n"
            "ctx = command.commands['run'].make_context('run', ['x', '-o', 'o', '--reduce', 'mean', '--no-plot', "
            "'--full', '-q', '--by', 'g', '--by', 'h', '--lam', '0.5'], parent=parent)\n"
            "print('pydantic' in sys.modules, repr(ctx.params['out']), ctx.params['reduce'].value, "
            "'|'.join(ctx.params['by']), '|'.join(ctx.params['lam']), '|'.join(ctx.params['stages']), ctx.params['id_cols'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "PosixPath('o')", "mean", "g|h", "0.5", "10", "()"], done.stderr
