"""``tf2eng.align``: the analysis of tracks already in memory, with no file written (README, In memory).

The data goes through the engine's own pieces: its columns are resolved and
checked as a file's are (engine/source.py, the input named ``data`` in
messages), each batch is validated and scored by the unit's scorer
(engine/stream.py: BatchScorer, engine/batch.py), long-layout rows are
gathered into tracks by LongTracks with its hash partitions held in memory
instead of spill files (engine/long.py), and the aggregates are merged and
finalized by GroupMoments (engine/aggregate.py).  So the four tables are
those ``tf2eng run`` writes for the same tracks.

Inputs: a pyarrow Table, RecordBatch or RecordBatchReader, a polars
DataFrame or LazyFrame, a pandas DataFrame, any object that exports the
Arrow C stream (``__arrow_c_stream__``, e.g. a DuckDB relation), or a
mapping from track id to a 1-D array of scores.  A reader, a LazyFrame and
an Arrow stream are consumed batch by batch in the wide layout; in the long
layout every frame row is held, since a track's frames may come last.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

from .. import __version__
from .api import RunResult, _versions, check_threads, configurations
from .bands import with_bands_each
from .errors import InputError
from .groups import GroupIndex
from .long import LongTracks
from .options import Options
from .output import REJECTED, STAGES_DIR
from .source import BATCH_ROWS, Source, _first_line
from .sweep import LAM, STAGES, Sweep
from .stream import BatchScorer, UnitContext, joined, numba_threads

DATA = "data"  # how messages name the input: the argument's name


@dataclass(repr=False, eq=False)
class Alignment:
    """What :func:`align` computed: the tables ``tf2eng run`` writes, as polars DataFrames, and a summary."""

    stages: pl.DataFrame  # one row per accepted track (README, Output: stages/)
    stage_means: pl.DataFrame  # --by columns, stage, x, mean, std, count
    curve: pl.DataFrame  # --by columns, x, mean, std, count
    rejected: pl.DataFrame  # one row per rejected track, with its reason; source is null, row the input row
    summary: dict
    _groups: GroupIndex = field(default=None)
    _group_tracks: np.ndarray = field(default=None)
    _options: Options = field(default=None)
    _sweep: Sweep = field(default=None)
    _curves: list = field(default=None)  # a sweep's curve table of each configuration

    def plot(self, ax=None):
        """The alignment figure ``tf2eng run`` saves, drawn on a new matplotlib Figure (``ax`` None),
        on one Axes, or on one Axes per group; returns the Figure (README, In memory).  A sweep's
        figure (a panel per configuration) is drawn whole, on a new Figure."""
        columns = list(self._groups.by) + ["pos_key", "stage_scores"]
        if self._sweep is not None and self._sweep.is_sweep:
            if ax is not None:
                raise ValueError("ax: a sweep's figure has a panel per configuration and is drawn whole; "
                                 "call plot() without ax (README, Parameter sweeps)")
            from .sweep_plot import draw_sweep

            batches = self.stages.select([LAM, STAGES, *columns]).to_arrow().to_batches()
            return draw_sweep(batches, self._curves, self._groups, self._group_tracks, self._sweep)
        from .plot import draw

        batches = self.stages.select(columns).to_arrow().to_batches()
        return draw(batches, self.curve, self._groups, self._group_tracks, self._options, ax)

    def __repr__(self) -> str:
        rows = self.summary["rows"]
        what = (f"{len(self._sweep.configurations)} configurations" if self._sweep is not None and
                self._sweep.is_sweep else f"K={self._options.stages}")
        return (f"Alignment({rows['read']:,} tracks: {rows['written']:,} aligned, {rows['rejected']:,} rejected; "
                f"{self.summary['groups']:,} group(s); {what})")


def align(
    data,
    *,
    lam: float = 0.7,
    stages: int = 10,
    reduce: str = "sum",
    grid_step: float = 0.01,
    key: str = "column",
    key_col: str = "key_frame",
    scores_col: str | None = None,
    frame_col: str = "frame",
    id_cols: str | Iterable[str] | None = None,
    by: str | Iterable[str] = (),
    layout: str | None = None,
    normalize: str = "none",
    on_invalid: str = "quarantine",
    threads: int | None = None,
    device: str = "cpu",
    meta=None,
    ci: float | None = None,
    bootstrap: int | None = None,
    seed: int = 0,
) -> Alignment:
    """The alignment analysis of ``data`` in memory; parameters as in :func:`tf2eng.run`.

    ``data``: a pyarrow Table, RecordBatch or RecordBatchReader, a polars
    DataFrame or LazyFrame, a pandas DataFrame, an object exporting the
    Arrow C stream, or a mapping from track id to a 1-D array of scores
    (keys ``video_id``, or tuples ``(video_id, exp_id)``; ``id_cols``
    renames them).  Raises :class:`InputError` where ``tf2eng.run`` does
    (bad options, a missing column or a column of the wrong type, a rejected
    row under ``on_invalid="error"``), naming the input ``data``, and
    TypeError for an object of none of these kinds.
    """
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.timezone.utc)
    sweep = configurations(lam, stages, reduce=reduce, grid_step=grid_step, key=key, key_col=key_col,
                           scores_col=scores_col, frame_col=frame_col, id_cols=id_cols, by=by, layout=layout,
                           normalize=normalize, on_invalid=on_invalid, device=device, meta=meta, ci=ci,
                           bootstrap=bootstrap, seed=seed)
    options = sweep.options
    check_threads(threads)
    try:
        with numba_threads(threads) as used:
            source = _source(data, options)
            sweep.check_columns(source.columns.carried)
            result = _align(source, sweep)
    finally:
        if options.device == "cuda":  # the device and pinned memory kept between batches
            from ..kernels.cuda import release_buffers

            release_buffers()
    result.summary["timings_s"]["total"] = time.perf_counter() - started
    result.summary = _summary(source, sweep, result, used, started_at)
    return result


def _align(source: MemorySource, sweep: Sweep) -> Alignment:
    options = sweep.options
    ctx = UnitContext(source, options, staging=None, sweep=sweep)
    scorer = BatchScorer(ctx)
    state = scorer.state
    if options.by:  # the --by columns' types, even where no row comes (as a run's merge has them)
        state.groups.codes(ctx.by_schema.empty_table())
    stage_parts, rejected_parts = [], []
    timings = {"read": 0.0, "compute": 0.0}
    for batch, origin, pre_reason in _timed(_batches(source, state), timings):
        t = time.perf_counter()
        stage_rows, rejected = scorer.score(batch, origin, pre_reason)
        stage_parts.append(stage_rows)
        if rejected is not None:
            rejected_parts.append(rejected)
        timings["compute"] += time.perf_counter() - t
    t = time.perf_counter()
    # each configuration's tables (one, or a sweep's, README, Parameter sweeps), then stacked
    stage_means, curves = sweep.finalize(state.moments, state.groups)
    if options.ci is not None:  # README, Confidence bands
        replicates = state.replicates
        if replicates is not None:
            replicates.finish()
            replicates.grow(state.groups.size)
        stage_means, curves = with_bands_each(stage_means, curves, options.ci, replicates, state.moments,
                                              state.groups)
    stage_means, curve = sweep.tables(stage_means), sweep.tables(curves)
    group_tracks = np.zeros(state.groups.size, np.int64)
    group_tracks[: state.group_tracks.size] = state.group_tracks
    timings["aggregate"] = time.perf_counter() - t
    rejected = pa.concat_tables(rejected_parts) if rejected_parts else ctx.rejected_schema.empty_table()
    # One input, no file: where a row came from is its row number alone.
    rejected = rejected.set_column(rejected.schema.get_field_index("source"), "source",
                                   pa.nulls(rejected.num_rows, pa.string()))
    stage_table = pa.concat_tables(stage_parts) if stage_parts else ctx.stage_schema.empty_table()
    counts = {"read": state.read, "written": state.written, "frame_rows": state.frame_rows,
              "meta_matched": state.meta_matched,
              "rejected_by_reason": dict(sorted(state.reasons.items()))}
    return Alignment(_frame(stage_table), stage_means, curve, _frame(rejected),
                     {"rows": counts, "timings_s": timings}, state.groups, group_tracks, options, sweep, curves)


def _frame(table: pa.Table) -> pl.DataFrame:
    return cast(pl.DataFrame, pl.from_arrow(table))  # a Table gives a DataFrame


def _timed(items: Iterator, timings: dict) -> Iterator:
    """The items, with the time spent waiting for each added to ``timings["read"]``."""
    t = time.perf_counter()
    for item in items:
        timings["read"] += time.perf_counter() - t
        yield item
        t = time.perf_counter()


def _batches(source: MemorySource, state) -> Iterator[tuple]:
    """(record batch, its origin, pre-kernel reasons or None), as a unit's batches (engine/stream.py)."""
    if source.columns.layout == "long":
        with LongTracks(source, None) as tracks:
            for batch, pre_reason in tracks:
                yield batch, [(DATA, None, 0)], pre_reason
        state.frame_rows = tracks.rows
        return
    row = 0
    for batch in source.batches(0):
        yield batch, [(DATA, row, 0)], None
        row += batch.num_rows


def _summary(source: MemorySource, sweep: Sweep, result: Alignment, threads: int,
             started_at: dt.datetime) -> dict:
    """summary.json's entries that mean something without files: no status, fingerprint, units,
    outputs or digests."""
    options = sweep.options
    parameters = options.as_dict()
    if sweep.is_sweep:
        parameters["lam"], parameters["stages"] = sweep.lams, sweep.stages
    counts = result.summary["rows"]
    rows = {
        "read": counts["read"],
        "written": counts["written"],
        "rejected": sum(counts["rejected_by_reason"].values()),
        "rejected_by_reason": counts["rejected_by_reason"],
    }
    columns = source.columns
    if columns.layout == "long":
        rows["input_frame_rows"] = counts["frame_rows"]
    summary = {
        "tf2eng": __version__,
        "started": started_at.isoformat(),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
        "input": {"type": source.kind, "layout": columns.layout},
        "parameters": parameters,
        "configurations": sweep.summary(),
        "columns": {
            "ids": list(columns.ids),
            "by": list(columns.by),
            "scores": columns.scores,
            "key_frame": columns.key or "first arg-max of the scores",
        },
        "rows": rows,
        "groups": result._groups.size,
        "threads": threads,
        "device": options.device,
        "timings_s": {k: round(v, 4) for k, v in result.summary["timings_s"].items()},
        "versions": _versions(),
    }
    if source.meta is not None:  # README, Dataset metadata
        summary["meta"] = source.meta.summary(counts["read"], counts["meta_matched"])
    return summary


# --- the input ----------------------------------------------------------------------------


class _Fragment:
    """What the column checks of engine/source.py read of a file, for data in memory."""

    def __init__(self, schema: pa.Schema, rows: int):
        self.path = DATA
        self.physical_schema = schema
        self.partition_expression = ds.scalar(True)  # no hive partition values
        self._rows = rows

    def count_rows(self) -> int:
        return self._rows


class MemorySource(Source):
    """A :class:`Source` over record batches in memory, read once: one "file" named ``data``, its
    columns resolved and checked by the Source's own rules (README, Input)."""

    format = "memory"

    def __init__(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch], rows: int | None, options: Options,
                 kind: str):
        self.path = DATA
        self.kind = kind
        self.schema = schema
        self.fragments = [_Fragment(schema, rows or 0)]
        self.columns = self._resolve(options)
        self.meta = None
        if options.meta:  # README, Dataset metadata
            from .meta import load_metadata

            self.meta = load_metadata(options.meta)
        self._physical = [self._check_fragment(self.fragments[0])]
        self._check_label_kinds()
        self._stream = iter(batches)
        if rows is None and self.columns.layout == "long":  # the spill partitions are sized by the rows
            held = list(self._stream)
            rows = sum(b.num_rows for b in held)
            self._stream = iter(held)
        self.rows_total = rows or 0

    def batches(self, index: int = 0, row_groups=None, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The data's batches in the checked columns and types, cut into batches of ``batch_rows`` rows
        (the last one shorter), as a file's are read; a second call yields nothing."""
        stream, self._stream = self._stream, iter(())
        return _rebatched((self._scanned(b) for b in stream), batch_rows)

    def _scanned(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        schema = self.scan_schema(0)
        try:
            columns = []
            for f in schema:
                column = batch.column(f.name)
                columns.append(column if column.type == f.type else column.cast(f.type))
        except (pa.ArrowException, KeyError) as exc:
            raise InputError(f"{DATA}: cannot read: {_first_line(exc)}") from None
        return pa.RecordBatch.from_arrays(columns, schema=schema)

    @property
    def fingerprint(self) -> dict:  # data in memory has no files to fingerprint
        return {"files": []}


def _rebatched(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """The rows of ``batches`` in order, in batches of ``rows`` rows (the last one shorter)."""
    pending: list[pa.RecordBatch] = []
    n = 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows - n, batch.num_rows)
            pending.append(batch.slice(0, take))
            n += take
            batch = batch.slice(take)
            if n == rows:
                yield joined(pending)
                pending, n = [], 0
    if pending:
        yield joined(pending)


def _source(data, options: Options) -> MemorySource:
    """``data`` as a MemorySource: its schema, its batches and (where known) its row count."""
    if isinstance(data, pl.DataFrame):
        return _table_source(_polars_arrow(data), options, "polars.DataFrame")
    if isinstance(data, pl.LazyFrame):
        return MemorySource(_polars_arrow(data.head(0).collect()).schema, _lazy_batches(data), None, options,
                            "polars.LazyFrame")
    if isinstance(data, pa.Table):
        return _table_source(data, options, "pyarrow.Table")
    if isinstance(data, pa.RecordBatch):
        return _table_source(pa.Table.from_batches([data]), options, "pyarrow.RecordBatch")
    if isinstance(data, pa.RecordBatchReader):
        return MemorySource(data.schema, iter(data), None, options, "pyarrow.RecordBatchReader")
    if _is_pandas(data):  # pandas is imported by pyarrow here, only when the data is pandas'
        try:
            table = pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowException, ValueError, TypeError) as exc:  # (a column of mixed objects, names twice)
            raise InputError(f"{DATA}: cannot be read as an Arrow table: {_first_line(exc)}") from None
        return _table_source(table, options, "pandas.DataFrame")
    if isinstance(data, Mapping):
        return _table_source(_mapping_table(data, options), options, "mapping")
    if hasattr(data, "__arrow_c_stream__"):
        reader = pa.RecordBatchReader.from_stream(data)
        return MemorySource(reader.schema, iter(reader), None, options, type(data).__qualname__)
    raise TypeError(f"tf2eng.align: data must be a pyarrow Table or RecordBatchReader, a polars DataFrame or "
                    f"LazyFrame, a pandas DataFrame or a mapping of track ids to score arrays, "
                    f"not {type(data).__qualname__}")


def _polars_arrow(frame: pl.DataFrame) -> pa.Table:
    """A polars DataFrame as an Arrow table; a column of a type Arrow has not (Int128) is an InputError
    naming it."""
    try:
        return frame.to_arrow()
    except (pa.ArrowException, pl.exceptions.PolarsError) as exc:
        for name in frame.columns:
            try:
                frame.select(name).to_arrow()
            except (pa.ArrowException, pl.exceptions.PolarsError):
                raise InputError(f"{DATA}: column '{name}' of type {frame.schema[name]} has no Arrow type: "
                                 f"{_first_line(exc)}") from None
        raise InputError(f"{DATA}: cannot be read as an Arrow table: {_first_line(exc)}") from None


def _table_source(table: pa.Table, options: Options, kind: str) -> MemorySource:
    return MemorySource(table.schema, iter(table.to_batches()), table.num_rows, options, kind)


def _is_pandas(data) -> bool:
    cls = type(data)
    return cls.__module__.split(".")[0] == "pandas" and cls.__name__ == "DataFrame"


def _lazy_batches(frame: pl.LazyFrame) -> Iterator[pa.RecordBatch]:
    """A LazyFrame's rows, from polars' streaming engine a chunk at a time where this polars has
    ``collect_batches``, else collected whole."""
    if hasattr(frame, "collect_batches"):
        chunks: Iterable[pl.DataFrame] = frame.collect_batches(chunk_size=BATCH_ROWS)
    else:
        chunks = [frame.collect()]
    for chunk in chunks:
        yield from chunk.to_arrow().to_batches()


def _mapping_table(data: Mapping, options: Options) -> pa.Table:
    """A mapping of track ids to 1-D score arrays as a wide-layout table: a key is the video_id, or a
    tuple (video_id, exp_id); ``id_cols`` names the key's parts otherwise."""
    keys = list(data.keys())
    tuples = [isinstance(k, tuple) for k in keys]
    if any(tuples) and not all(tuples):
        raise InputError(f"{DATA}: a mapping's keys must be all track ids or all tuples, not both")
    widths = {len(k) for k in keys} if keys and tuples[0] else {1}
    if len(widths) > 1:
        raise InputError(f"{DATA}: the mapping's tuple keys have different lengths ({sorted(widths)})")
    (width,) = widths
    names = options.id_cols
    if names is None:
        if width > 2:
            raise InputError(f"{DATA}: the mapping's keys have {width} parts; name them with id_cols")
        names = ("video_id", "exp_id")[:width]
    if len(names) != width:
        raise InputError(f"{DATA}: id_cols names {len(names)} columns, but the mapping's keys have {width} parts")
    scores_name = options.scores_col or "scores"
    if scores_name in names:
        raise InputError(f"{DATA}: id column '{scores_name}' clashes with the scores column")
    arrays = [_track_scores(k, v) for k, v in data.items()]
    columns = {}
    for j, name in enumerate(names):
        values = [k[j] if tuples[0] else k for k in keys] if keys else []
        try:
            columns[name] = pa.array(values, type=None if values else pa.string())
        except (pa.ArrowException, TypeError, OverflowError) as exc:  # (an integer beyond 64 bits)
            raise InputError(f"{DATA}: the mapping's ids ({name}) must be all strings or all integers: "
                             f"{_first_line(exc)}") from None
    dtype = np.float32 if arrays and all(a.dtype == np.float32 for a in arrays) else np.float64
    lengths = np.array([a.size for a in arrays], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    values = np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)
    columns[scores_name] = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values))
    return pa.table(columns)


def _track_scores(key, value) -> np.ndarray:
    """One track's scores: a 1-D array of floats (float16 widened to float32)."""
    array = np.asarray(value)
    if array.ndim != 1:
        raise InputError(f"{DATA}[{key!r}]: scores must be a 1-D array, got shape {array.shape}")
    if array.dtype.kind != "f":
        raise InputError(f"{DATA}[{key!r}]: scores must be floating-point numbers, got {array.dtype}")
    return array.astype(np.float32) if array.dtype.itemsize < 4 else array


# --- RunResult.plot -----------------------------------------------------------------------


def plot_run(result: RunResult, ax=None):
    """The figure of a tf2eng run, from its summary, curve table, stages/ and rejected.parquet: the
    groups are those of the accepted and the rejected tracks, as the run saw them."""
    from .plot import draw, stage_batches

    params = dict(result.summary["parameters"])
    lams, ks = params["lam"], params["stages"]
    sweep = isinstance(lams, list) or isinstance(ks, list)
    if sweep:
        if ax is not None:
            raise ValueError("ax: a sweep's figure has a panel per configuration and is drawn whole; "
                             "call plot() without ax (README, Parameter sweeps)")
        params["lam"], params["stages"] = lams[0], ks[0]
    params["by"] = tuple(params["by"])
    params["id_cols"] = tuple(params["id_cols"]) if params["id_cols"] is not None else None
    options = Options(**params)
    groups = GroupIndex(options.by)
    stages_dir = result.out / STAGES_DIR
    if options.by:
        by = list(options.by)
        accepted = ds.dataset(str(stages_dir), format="parquet")
        if sweep:  # stages/ holds each track once per configuration: count those of the first
            accepted = accepted.filter((ds.field(LAM) == lams[0]) & (ds.field(STAGES) == ks[0]))
        accepted = groups.codes(accepted.to_table(columns=by))
        groups.codes(ds.dataset(str(result.out / REJECTED), format="parquet").to_table(columns=by))
        tracks = np.bincount(accepted, minlength=groups.size).astype(np.int64)
    else:
        tracks = np.array([result.summary["rows"]["written"]], np.int64)
    if sweep:
        from .sweep_plot import draw_sweep

        configs = Sweep.of(options, lams, ks)
        curves = [result.curve.filter((pl.col(LAM) == o.lam) & (pl.col(STAGES) == o.stages)).drop(LAM, STAGES)
                  for o in configs.configurations]
        return draw_sweep(stage_batches(stages_dir, groups, also=(LAM, STAGES)), curves, groups, tracks, configs)
    return draw(stage_batches(stages_dir, groups), result.curve, groups, tracks, options, ax)

