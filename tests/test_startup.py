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

    sigs = list(sweep.align_batch_ks.overloads)  # a sweep's kernel (several K at one λ) too
    kinds = {(str(sig[0].types[0].dtype), str(sig[0].types[1].dtype)) for sig in sigs}
    assert kinds == {(o, v) for o in ("int32", "int64") for v in ("float32", "float64")}
    assert all(compiling.is_ready(sweep.align_batch_ks, sig) for sig in sigs)


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
    assert not any(isinstance(f, startup._Unavailable) for f in sys.meta_path)
    assert gc.get_freeze_count() == frozen and gc.isenabled()
    assert not compiling.LOGGER.handlers and compiling.LOGGER.level == logging.NOTSET
