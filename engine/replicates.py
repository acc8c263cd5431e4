"""Poisson-bootstrap replicates of the aggregates (README, Confidence bands): per-track keys from
the id columns, replicate sums per batch, merged exactly, and the replicate means at the end.

The sums themselves are kernels/bootstrap.py's: integers in two int64 limbs, (groups, rows, B),
which merge by addition in any grouping (batches, units, Dask tasks) to the same values.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..kernels import bootstrap as kb
from .errors import InputError

# The replicate sums of every group may take at most this much memory (per copy: the sums of a
# unit, of a batch, of the merge); --by with more groups than fit stops the run.
BUDGET_BYTES = 2**30
# Memory for the per-thread partials of one batch (a float64 accumulator and two limbs each).
PARTIALS_BYTES = 512 * 2**20
# Batches whose replicate sums may still be in the making while the next batch is scored.
IN_FLIGHT = 1


def bytes_per_group(replicates: int, stages: int, grid_size: int) -> int:
    """Memory of one group's replicate sums: two int64 limbs per row and replicate."""
    return 16 * replicates * kb.rows(stages, grid_size)


def check_budget(n_groups: int, replicates: int, stages: int, grid_size: int, by: tuple[str, ...]) -> None:
    """Stop (InputError) where ``n_groups`` groups' replicate sums exceed BUDGET_BYTES."""
    need = n_groups * bytes_per_group(replicates, stages, grid_size)
    if need > BUDGET_BYTES:
        most = BUDGET_BYTES // bytes_per_group(replicates, stages, grid_size)
        raise InputError(
            f"--bootstrap {replicates}: {n_groups:,} groups" + (f" of --by {','.join(by)}" if by else "")
            + f" need {need / 2**30:.1f} GiB of replicate sums, more than the {BUDGET_BYTES // 2**30} GiB budget "
            f"(at most {most:,} group{'' if most == 1 else 's'} with {replicates} replicates); use fewer replicates or a coarser --by")


def id_hashes(table: pa.Table | pa.RecordBatch, id_cols: tuple[str, ...]) -> np.ndarray:
    """The 64-bit hash of each row's id values (README, Confidence bands): FNV-1a over their
    canonical bytes, column by column; the same for a value whatever its Arrow type (integer
    width, string or large string or view, dictionary-encoded or not)."""
    n = table.num_rows
    h = np.full(n, kb.FNV_OFFSET, np.uint64)
    for name in id_cols:
        column = table.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if pa.types.is_integer(column.type):
            if pa.types.is_signed_integer(column.type):
                values = column.cast(pa.int64()).to_numpy(zero_copy_only=False)
                kb.hash_integers(h, values.view(np.uint64), values < 0)
            else:
                values = column.cast(pa.uint64()).to_numpy(zero_copy_only=False)
                kb.hash_integers(h, values, np.zeros(n, np.bool_))
            continue
        column = column.cast(pa.large_binary())
        offsets = np.frombuffer(column.buffers()[1], np.int64)[column.offset: column.offset + n + 1]
        data = column.buffers()[2]
        kb.hash_strings(h, offsets, np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8))
    return h


def track_keys(table: pa.Table | pa.RecordBatch, id_cols: tuple[str, ...], seed: int) -> np.ndarray:
    keys = np.empty(table.num_rows, np.uint64)
    kb.track_keys(id_hashes(table, id_cols), np.uint64(seed), keys)
    return keys


def weight_arrays(tracks: int, replicates: int) -> tuple[np.ndarray, np.ndarray]:
    """Room for the tracks' weights, (tracks, B + B % 2) uint8 (kernels/bootstrap.py weight_rows), and
    their largest, (tracks,)."""
    return np.empty((tracks, replicates + replicates % 2), np.uint8), np.empty(tracks)


class SharedWeights:
    """A batch's Poisson weights for several configurations that add the same tracks (a sweep's): each
    track's weights, (tracks, B + B % 2) uint8, and their largest (tracks,), drawn once on ``pool``'s
    threads, a run of tracks per task; the configurations' tasks wait for them (:meth:`wait`)."""

    def __init__(self, stages: pa.Table, id_cols: tuple[str, ...], seed: int, replicates: int,
                 pool: ThreadPoolExecutor, tasks: int):
        keys = track_keys(stages, id_cols, seed)
        self.table, self.tops = weight_arrays(keys.size, replicates)
        bounds = np.linspace(0, keys.size, max(1, min(tasks, keys.size)) + 1).astype(np.int64)
        self._drawn = [pool.submit(kb.weight_rows, keys, bounds[i], bounds[i + 1], self.table, self.tops)
                       for i in range(bounds.size - 1)]

    def wait(self) -> None:
        for task in self._drawn:
            task.result()


def stage_matrix(stages: pa.Table, K: int) -> np.ndarray:
    """The stage_scores column of a stages/ table as (tracks, K) float64, NaN for a null."""
    column = stages.column("stage_scores")
    values = column.combine_chunks().flatten() if isinstance(column, pa.ChunkedArray) else column.flatten()
    values = pc.fill_null(values.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(values, np.float64).reshape(-1, K)


class ReplicateSums:
    """The replicate sums of every group, two limbs (groups, rows, B) each (kernels/bootstrap.py)."""

    def __init__(self, replicates: int, seed: int, stages: int, grid_size: int, by: tuple[str, ...] = ()):
        self.replicates = replicates
        self.seed = seed
        self.stages = stages
        self.grid_size = grid_size
        self.by = by
        shape = (0, kb.rows(stages, grid_size), replicates)
        self._hi = np.zeros(shape, np.int64)
        self._lo = np.zeros(shape, np.int64)
        # Batches are added on threads of their own (the kernel releases the GIL), while the caller
        # goes on with the next batch; at most IN_FLIGHT batches wait to be merged.
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque = deque()

    @property
    def groups(self) -> int:
        """How many groups the sums have room for."""
        return self._hi.shape[0]

    @property
    def hi(self) -> np.ndarray:
        """The high limbs (groups, rows, B), every batch added so far included."""
        self.finish()
        return self._hi

    @property
    def lo(self) -> np.ndarray:
        self.finish()
        return self._lo

    def grow(self, n_groups: int) -> None:
        extra = n_groups - self._hi.shape[0]
        if extra > 0:
            check_budget(n_groups, self.replicates, self.stages, self.grid_size, self.by)
            pad = np.zeros((extra,) + self._hi.shape[1:], np.int64)
            self._hi = np.concatenate([self._hi, pad])
            self._lo = np.concatenate([self._lo, pad])

    def add(self, hi: np.ndarray, lo: np.ndarray, codes: np.ndarray | None = None) -> None:
        """Merge sums shaped (groups, rows, B); local group g is group codes[g] here (identity without)."""
        if codes is None:
            codes = np.arange(hi.shape[0])
        self.grow(int(codes.max()) + 1 if codes.size else 0)
        for local, code in enumerate(codes):
            kb.merge(self._hi[code], self._lo[code], hi[local], lo[local])

    def add_tracks(self, stages: pa.Table, group: np.ndarray, n_groups: int, id_cols: tuple[str, ...],
                   step: float, weights: SharedWeights | None = None) -> None:
        """Add the accepted tracks of a batch (its stages/ rows, their group codes).  ``weights``: the
        tracks' weights, drawn for several configurations at once (:class:`SharedWeights`); without,
        each task draws those of its own tracks."""
        self.grow(n_groups)
        if not stages.num_rows:
            return
        K = self.stages
        Y = stage_matrix(stages, K)
        if np.nanmax(np.abs(Y), initial=0.0) >= kb.VALUE_LIMIT:
            raise InputError(f"--bootstrap: a stage score of {np.nanmax(np.abs(Y)):.6g} is beyond the "
                             f"fixed-point range of the replicate sums (below {kb.VALUE_LIMIT:.0f})")
        pos_key = stages.column("pos_key").to_numpy().astype(np.float64, copy=False)
        if weights is None:  # each task draws its own tracks' weights
            keys = track_keys(stages, id_cols, self.seed)
            table, tops = weight_arrays(Y.shape[0], self.replicates)
        else:
            keys, table, tops = None, weights.table, weights.tops
        present, local = np.unique(group, return_inverse=True)  # the batch's own groups only
        R, B = self._hi.shape[1], self.replicates
        threads = numba.get_num_threads()
        n_chunks = max(1, min(threads, Y.shape[0], PARTIALS_BYTES // (24 * present.size * R * B)))
        chunks = np.linspace(0, Y.shape[0], n_chunks + 1).astype(np.int64)
        hi = np.zeros((n_chunks, present.size, R, B), np.int64)
        lo = np.zeros((n_chunks, present.size, R, B), np.int64)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(threads, thread_name_prefix="tf2eng-bootstrap")
        args = (Y, np.ascontiguousarray(pos_key), local.astype(np.int32), table, tops, float(step))

        def add_chunk(c: int) -> None:
            if weights is None:
                kb.weight_rows(keys, chunks[c], chunks[c + 1], table, tops)
            else:
                weights.wait()
            kb.replicate_sums_serial(*args, chunks[c: c + 2], hi[c: c + 1], lo[c: c + 1])

        futures = [self._pool.submit(add_chunk, c) for c in range(n_chunks)]
        self._pending.append((present, hi, lo, futures))
        while len(self._pending) > IN_FLIGHT:
            self._merge_oldest()

    def _merge_oldest(self) -> None:
        present, hi, lo, futures = self._pending.popleft()
        for future in futures:
            future.result()
        for c in range(hi.shape[0]):
            for i, code in enumerate(present):
                kb.merge(self._hi[code], self._lo[code], hi[c, i], lo[c, i])

    def finish(self) -> None:
        """Wait for the batches still being added, merge them, and let the threads go."""
        while self._pending:
            self._merge_oldest()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def means(self, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Replicate means of the groups ``order``: stage (G, K, B) and curve (G, M, B), NaN where a
        replicate has no weight; and the replicate counts alike (int64)."""
        self.finish()
        self.grow(int(order.max()) + 1 if order.size else 0)
        K, M = self.stages, self.grid_size
        hi, lo = self._hi[order], self._lo[order]
        stage_sum = (hi[:, :K], lo[:, :K])
        stage_count = kb.prefix_sums(hi[:, K: 2 * K + 1], lo[:, K: 2 * K + 1], axis=1)
        D = 2 * K + 1
        curve_sum = kb.prefix_sums(*kb.prefix_sums(hi[:, D: D + M + 2], lo[:, D: D + M + 2], axis=1), axis=1)
        E = D + M + 2
        curve_count = kb.prefix_sums(hi[:, E: E + M + 1], lo[:, E: E + M + 1], axis=1)
        stage_mean, stage_n = _ratio(stage_sum, stage_count, K)
        curve_mean, curve_n = _ratio(curve_sum, curve_count, M)
        return stage_mean, curve_mean, stage_n, curve_n


def _ratio(sums: tuple[np.ndarray, np.ndarray], counts: tuple[np.ndarray, np.ndarray], width: int):
    """sum / (count * 2**32) from two-limb integers: the sum converted to float64 with one rounding
    (hi * 2**32 is exact), then one division; NaN where the count is 0."""
    hi, lo = sums[0][:, :width], sums[1][:, :width]
    total = hi.astype(np.float64) * kb.SCALE + lo.astype(np.float64)
    count = counts[0][:, :width] * (1 << 32) + counts[1][:, :width]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count.astype(np.float64) / kb.SCALE, np.nan)
    return mean, count
