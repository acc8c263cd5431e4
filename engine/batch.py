"""One record batch through validation and the kernels: stage rows, rejected rows, partials."""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa

from ..kernels import reasons
from ..kernels.cpu import align_tracks
from ..kernels.layout import Params
from .groups import GroupIndex
from .options import Options
from .ragged import int64_or_null, key_frames_of, scores_of, track_lengths
from .source import Columns

# Chunks per thread in the batch kernel: a few, so that threads that finish
# early pick up more work when track lengths vary.
CHUNKS_PER_THREAD = 4

REASON_NAMES = pa.array([reasons.NAMES.get(code, "") for code in range(256)], pa.string())


@dataclass
class BatchResult:
    stages: pa.Table  # one row per accepted track (README, Output: stages/)
    rejected: pa.Table  # one row per rejected track, with its reason
    stage_partial: np.ndarray  # (groups, 5, K) moments of the stage scores
    curve_partial: np.ndarray  # (groups, 5, M) moments of the aligned curves
    reason_codes: np.ndarray  # uint8 per track, 0 where accepted
    group: np.ndarray  # int32 per track, its --by group code


def kernel_params(options: Options) -> Params:
    return Params(
        lam=float(options.lam),
        reduce_mean=options.reduce == "mean",
        minmax=options.normalize == "minmax",
        step=float(options.grid_step),
    )


def without_string_views(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with its string_view columns as large_string (Arrow's take, which picks the accepted and
    the rejected rows, has no kernel for string_view)."""
    views = [i for i, field in enumerate(batch.schema) if pa.types.is_string_view(field.type)]
    for i in views:
        batch = batch.set_column(i, batch.schema.field(i).with_type(pa.large_string()),
                                 batch.column(i).cast(pa.large_string()))
    return batch


def null_id_rows(batch: pa.RecordBatch, ids: tuple[str, ...]) -> np.ndarray:
    mask = np.zeros(batch.num_rows, np.bool_)
    for c in ids:
        col = batch.column(c)
        if col.null_count:
            mask |= col.is_null().to_numpy(zero_copy_only=False)
    return mask


def process_batch(
    batch: pa.RecordBatch,
    columns: Columns,
    options: Options,
    groups: GroupIndex,
    reason: np.ndarray | None = None,
    group: np.ndarray | None = None,
) -> BatchResult:
    """Validate and score every track of ``batch``.

    ``reason`` may carry rejections found before the kernel (long layout);
    rows with a null id are rejected here.  ``group``: the rows' --by group
    codes where already known (another configuration of a sweep).
    """
    reason, scores, keys, group = _prepared(batch, columns, groups, reason, group)
    if options.device == "cuda":
        from ..kernels.cuda import align_tracks_cuda

        tracks, stage_partial, curve_partial = align_tracks_cuda(
            scores, keys, kernel_params(options), group, groups.size, options.stages, options.grid_size, reason
        )
    else:
        tracks, stage_partial, curve_partial = align_tracks(
            scores,
            keys,
            kernel_params(options),
            group,
            groups.size,
            options.stages,
            options.grid_size,
            reason,
            CHUNKS_PER_THREAD * numba.get_num_threads(),
        )
    return _result(batch, columns, options, scores, tracks, stage_partial, curve_partial, group)


def process_batch_ks(
    batch: pa.RecordBatch,
    columns: Columns,
    configurations: list[Options],
    groups: GroupIndex,
    reason: np.ndarray | None = None,
    group: np.ndarray | None = None,
) -> list[BatchResult]:
    """:func:`process_batch` for configurations that differ in λ and K only (a sweep's, on the CPU,
    those of one λ next to each other), in one kernel pass (kernels/sweep.py); one BatchResult per
    configuration, each equal to what :func:`process_batch` gives for it."""
    from ..kernels.sweep import align_tracks_sweep

    reason, scores, keys, group = _prepared(batch, columns, groups, reason, group)
    per_k = align_tracks_sweep(
        scores, keys, kernel_params(configurations[0]), group, groups.size, [float(o.lam) for o in configurations],
        [o.stages for o in configurations], [o.grid_size for o in configurations], reason,
        CHUNKS_PER_THREAD * numba.get_num_threads(),
    )
    return [_result(batch, columns, options, scores, tracks, stage_partial, curve_partial, group)
            for options, (tracks, stage_partial, curve_partial) in zip(configurations, per_k)]


def _prepared(batch: pa.RecordBatch, columns: Columns, groups: GroupIndex, reason, group) -> tuple:
    """(reason codes with null ids rejected, scores, key frames, group codes) of a batch."""
    n = batch.num_rows
    reason = np.zeros(n, np.uint8) if reason is None else np.ascontiguousarray(reason, np.uint8)
    reason[(reason == reasons.OK) & null_id_rows(batch, columns.ids)] = reasons.NULL_ID
    scores_col = batch.column(columns.scores)
    scores = scores_of(scores_col)
    keys = key_frames_of(batch.column(columns.key) if columns.key else None)
    group = groups.codes(batch) if group is None else group
    return reason, scores, keys, group


def _result(batch: pa.RecordBatch, columns: Columns, options: Options, scores, tracks, stage_partial,
            curve_partial, group) -> BatchResult:
    """A batch's stage rows and rejected rows from the kernel's per-track outputs."""
    n = batch.num_rows
    ok = tracks.reason == reasons.OK
    n_ok = int(ok.sum())
    carried = batch.select(list(columns.carried))
    if n_ok == n:  # the common case: no copies of the carried columns
        take = slice(None)
        rejected = pa.Table.from_batches([batch.slice(0, 0)])
    else:
        take = ok
        carried = carried.take(pa.array(np.flatnonzero(ok)))
        rejected = pa.Table.from_batches([batch.take(pa.array(np.flatnonzero(~ok)))])
    carried = pa.Table.from_batches([carried])
    K = options.stages
    scores_flat = tracks.stage_scores[take].ravel()
    list_offsets = pa.array(np.arange(0, n_ok * K + 1, K, dtype=np.int32))
    stage_scores = pa.ListArray.from_arrays(
        list_offsets, pa.array(scores_flat, mask=np.isnan(scores_flat) if options.reduce == "mean" else None)
    )
    stages = carried.append_column("T", pa.array(track_lengths(scores)[take]))
    stages = stages.append_column("key_frame", pa.array(tracks.key_frame[take]))
    stages = stages.append_column("pos_key", pa.array(tracks.pos_key[take]))
    stages = stages.append_column("stage_scores", stage_scores)
    stages = stages.append_column("stage_counts", pa.ListArray.from_arrays(list_offsets, pa.array(tracks.stage_counts[take].ravel())))
    if columns.key is not None:  # echoed as int64, as written out; null for a key beyond int64
        index = rejected.schema.get_field_index(columns.key)
        rejected = rejected.set_column(index, columns.key, int64_or_null(rejected.column(index)))
    rejected = rejected.append_column("reason", REASON_NAMES.take(pa.array(tracks.reason[~ok])))
    return BatchResult(stages, rejected, stage_partial, curve_partial, tracks.reason, group)
