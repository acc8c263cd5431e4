"""CUDA kernels (numba.cuda) for the same per-track work as the CPU batch kernel.

The per-track body is the one in track.py, power.py and moments.py: the
kernels below call those functions, which numba compiles for the GPU
(tests/test_ptx.py compiles them for sm_80 and sm_90).  A batch goes
through the GPU in passes of whole slabs of tracks, each pass sized to fit
a memory budget (see :func:`plan_passes`), with three kernels per pass:

1. ``track_kernel``: a grid-stride loop over tracks, one thread per track:
   validation, eq. (1)-(3) and the track's aligned curve, written to a
   (tracks x grid) array.
2. ``moments_kernel``: one thread per (slab of tracks, grid point or
   stage) reduces its slab's values into that slab's own accumulator, in
   track order: slab-level partial sums, no atomics.
3. ``merge_kernel``: one thread per (group, grid point or stage) adds the
   slabs, in order, into the batch's accumulators (moments.sum_slabs, as
   the host merges the CPU threads'), which leave the GPU once per batch.

Under numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) kernels run as
Python, and the shared functions run as compiled CPU code on the
simulator's arrays.
"""

import math
import threading
from typing import NamedTuple

import numpy as np
from numba import config, cuda

from . import reasons
from .layout import Tracks, batch_outputs
from .moments import CELL, add_moment, merge_cell
from .track import interpolate_track, stage_scores_direct, validate_track

SIMULATOR = bool(config.ENABLE_CUDASIM)
THREADS_PER_BLOCK = 128
TRACKS_PER_SLAB = 256  # tracks reduced by one thread of the moments kernel (see tracks_per_slab)


def _shared(fn):
    """A shared per-track function as kernels call it.

    On a GPU numba compiles the function for the device.  The simulator
    hands kernels wrapped arrays, which are unwrapped here so the compiled
    CPU version can run on them.
    """
    if not SIMULATOR:
        return fn

    def unwrap(a):
        inner = getattr(a, "_item", None)
        inner = getattr(inner, "_ary", inner)
        return inner if inner is not None else getattr(a, "_ary", a)

    def call(*args):
        return fn(*[unwrap(a) for a in args])

    return call


_validate_track = _shared(validate_track)
_stage_scores = _shared(stage_scores_direct)
_interpolate = _shared(interpolate_track)
_add_moment = _shared(add_moment)
_merge_cell = _shared(merge_cell)


@cuda.jit
def track_kernel(offsets, values, list_bits, list_bit_offset, value_bits, value_bit_offset,
                 key_frame, key_valid, lam, reduce_mean, minmax, step,
                 reason, out_key, pos_key, Y, n, curves):
    """Eq. (1)-(4) and the curve of every track (README, The method); curves[t] is NaN
    where track t does not reach."""
    first = cuda.grid(1)
    stride = cuda.gridsize(1)
    for t in range(first, offsets.shape[0] - 1, stride):
        for m in range(curves.shape[1]):
            curves[t, m] = np.nan
        if reason[t] != reasons.OK:
            continue
        bad, key, shift, scale = _validate_track(offsets, values, list_bits, list_bit_offset, value_bits,
                                                 value_bit_offset, key_frame, key_valid, t, minmax, False)
        if bad != reasons.OK:
            reason[t] = bad
            continue
        start = offsets[t]
        T = offsets[t + 1] - start
        _stage_scores(values, start, T, lam, shift, scale, reduce_mean, Y[t], n[t])
        out_key[t] = key
        pos_key[t] = (key + 1) / T  # eq. (3)
        _interpolate(Y[t], pos_key[t], step, curves[t])


@cuda.jit
def moments_kernel(rows, reason, group, tracks_per_slab, slabs):
    """slabs[b, g, :, w] = moments of rows[t, w] over the accepted tracks t of slab b in group g."""
    width = rows.shape[1]
    cell = cuda.grid(1)
    stride = cuda.gridsize(1)
    for c in range(cell, slabs.shape[0] * width, stride):
        b = c // width
        w = c - b * width
        stop = min((b + 1) * tracks_per_slab, rows.shape[0])
        for t in range(b * tracks_per_slab, stop):
            v = rows[t, w]
            if reason[t] == reasons.OK and not np.isnan(v):
                _add_moment(slabs[b, group[t]], w, v)


@cuda.jit
def merge_kernel(slabs, totals):
    """totals[g] += slabs[b, g] for b = 0, 1, ... in turn, one thread per cell (g, w)."""
    width = totals.shape[2]
    cell = cuda.grid(1)
    stride = cuda.gridsize(1)
    for c in range(cell, totals.shape[0] * width, stride):
        g = c // width
        w = c - g * width
        for b in range(slabs.shape[0]):
            _merge_cell(totals[g], slabs[b, g], w)


@cuda.jit
def zero_kernel(words):
    """words[:] = 0: clears device memory of any dtype, viewed as 32-bit words."""
    first = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(first, words.shape[0], stride):
        words[i] = 0


def usable() -> bool:
    """A GPU that numba can use (the simulator counts, for tests)."""
    try:
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken driver is "not usable"
        return False


def _blocks(items: int) -> int:
    return max(1, min(1024, -(-items // THREADS_PER_BLOCK)))


# Device memory of one batch: its accumulators plus the arrays of one pass.
# A pass holds at least one slab of tracks, so a batch uses more only where a
# single slab (its tracks, their scores and one accumulator per group) does.
DEVICE_BUDGET_BYTES = 2**30
# With many groups a slab (an accumulator per group) is large: more tracks
# then share one, so that slabs cost at most this much device memory per track.
SLAB_BYTES_PER_TRACK = 8 * 2**10
# With a fine grid a track's curve is large: fewer tracks then share a slab,
# so that one slab's curves fit in this.
SLAB_CURVE_BYTES = 64 * 2**20
ALIGN = 256  # bytes: every device array of a pass starts at a multiple of it
WORDS_PER_THREAD = 64  # zero_kernel: at least this many 32-bit words per thread


def tracks_per_slab(n_groups: int, stages: int, grid_size: int) -> int:
    """Tracks per slab for a batch's shape.  It depends on the shape only, never on
    the budget, so that any budget gives the same slabs and the same bits."""
    slab_bytes = n_groups * CELL * (stages + grid_size) * 8
    shared = max(TRACKS_PER_SLAB, -(-slab_bytes // SLAB_BYTES_PER_TRACK))
    return max(1, min(shared, SLAB_CURVE_BYTES // (grid_size * 8)))


class Dims(NamedTuple):
    """What sizes a batch's device arrays, besides its tracks and scores."""

    groups: int
    stages: int
    grid: int
    values: np.dtype  # float32 or float64
    keys: bool  # given key frames
    list_bits: bool  # a validity bitmap of the score lists
    value_bits: bool  # a validity bitmap of the scores


class PassArrays(NamedTuple):
    """The device arrays of one pass, laid out in this order; the first ZEROED start at zero."""

    key_frame_out: object  # int64 (tracks,)
    pos_key: object  # float64 (tracks,)
    stage_scores: object  # float64 (tracks, K)
    stage_counts: object  # int32 (tracks, K)
    stage_slabs: object  # float64 (slabs, groups, 5, K)
    curve_slabs: object  # float64 (slabs, groups, 5, M)
    curves: object  # float64 (tracks, M), every entry written by the track kernel
    offsets: object  # int64 (tracks + 1,), from 0
    values: object  # float32 or float64 (frames,)
    list_bits: object  # uint8, empty when the lists have no bitmap
    value_bits: object  # uint8, empty when the scores have no bitmap
    key_frame: object  # int64 (tracks,), empty without given key frames
    key_valid: object  # bool (tracks,), likewise
    reason: object  # uint8 (tracks,)
    group: object  # int32 (tracks,)


ZEROED = 6


def _bitmap_bytes(bits: int, present: bool) -> int:
    return (bits + 7) // 8 + 1 if present else 0  # + 1: the slice may start mid-byte


def _pass_arrays(dims: Dims, tracks: int, frames: int, slabs: int) -> PassArrays:
    """(shape, dtype) of every device array of a pass."""
    keyed = tracks if dims.keys else 0
    return PassArrays(
        ((tracks,), np.int64), ((tracks,), np.float64),
        ((tracks, dims.stages), np.float64), ((tracks, dims.stages), np.int32),
        ((slabs, dims.groups, CELL, dims.stages), np.float64), ((slabs, dims.groups, CELL, dims.grid), np.float64),
        ((tracks, dims.grid), np.float64),
        ((tracks + 1,), np.int64), ((frames,), dims.values),
        ((_bitmap_bytes(tracks, dims.list_bits),), np.uint8), ((_bitmap_bytes(frames, dims.value_bits),), np.uint8),
        ((keyed,), np.int64), ((keyed,), np.bool_),
        ((tracks,), np.uint8), ((tracks,), np.int32),
    )


def _totals(dims: Dims):
    """(shape, dtype) of the batch's accumulators, stages and curve, zeroed before its first pass."""
    return (((dims.groups, CELL, dims.stages), np.float64), ((dims.groups, CELL, dims.grid), np.float64))


def _aligned(nbytes: int) -> int:
    return -(-nbytes // ALIGN) * ALIGN


def _bytes(specs) -> int:
    return sum(_aligned(math.prod(shape) * np.dtype(dtype).itemsize) for shape, dtype in specs)


def pass_bytes(dims: Dims, offsets: np.ndarray, first: int, stop: int, per_slab: int) -> int:
    """Device memory of a batch whose passes include tracks [first, stop): that pass and the accumulators."""
    frames = int(offsets[stop]) - int(offsets[first])
    return _bytes(_totals(dims)) + _bytes(_pass_arrays(dims, stop - first, frames, -(-(stop - first) // per_slab)))


def plan_passes(offsets: np.ndarray, dims: Dims, per_slab: int, budget: int) -> list[int]:
    """Track bounds of the passes over a batch: each as many whole slabs as fit
    ``budget`` bytes (see :func:`pass_bytes`), at least one.

    Slabs are the same whatever the budget and are merged in the same order,
    so a batch gives the same bits in one pass or in many.
    """
    n = offsets.size - 1
    bounds = [0]
    while bounds[-1] < n:
        first = bounds[-1]
        stop = min(first + per_slab, n)
        while stop < n and pass_bytes(dims, offsets, first, min(stop + per_slab, n), per_slab) <= budget:
            stop = min(stop + per_slab, n)
        bounds.append(stop)
    return bounds


class _Arena:
    """Carves device arrays, one after the other, out of one allocation."""

    def __init__(self, memory):
        self.memory = memory
        self.used = 0

    def take(self, shape, dtype):
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        if nbytes == 0:
            return cuda.device_array(shape, dtype)  # nothing to allocate
        view = self.memory[self.used : self.used + nbytes].view(dtype)
        self.used += _aligned(nbytes)
        return view.reshape(shape) if len(shape) > 1 else view

    def zero(self, start: int, stop: int, stream) -> None:
        words = self.memory[start:stop].view(np.uint32)
        if words.shape[0]:
            zero_kernel[_blocks(-(-words.shape[0] // WORDS_PER_THREAD)), THREADS_PER_BLOCK, stream](words)


class DeviceBuffers:
    """One device allocation and one pinned host buffer (for the scores on
    their way to the GPU), reused by every batch and grown when one needs more."""

    def __init__(self):
        self.device = None
        self.pinned = None
        self.stream = None

    def arena(self, nbytes: int) -> _Arena:
        if self.device is None or self.device.shape[0] < nbytes:
            self.device = None  # freed before the larger one is allocated
            self.device = cuda.device_array(max(nbytes, ALIGN), np.uint8)
        if self.stream is None:
            self.stream = cuda.stream()
        return _Arena(self.device)

    def staging(self, values: np.ndarray) -> np.ndarray:
        """``values`` copied into the pinned buffer, which the GPU reads asynchronously."""
        if self.pinned is None or self.pinned.shape[0] < values.nbytes:
            self.pinned = None
            self.pinned = cuda.pinned_array(max(values.nbytes, ALIGN), np.uint8)
        staged = self.pinned[: values.nbytes].view(values.dtype)
        staged[:] = values
        return staged


_BUFFERS = DeviceBuffers()
_BUFFERS_LOCK = threading.Lock()  # one batch at a time uses them


def release_buffers() -> None:
    """Free the device and pinned memory kept for the next batch."""
    global _BUFFERS
    with _BUFFERS_LOCK:
        _BUFFERS = DeviceBuffers()


def _carve(arena: _Arena, dims: Dims, tracks: int, frames: int, slabs: int, zero_from: int, stream) -> PassArrays:
    """A pass's arrays out of the arena; clears the arena from ``zero_from`` up to
    the end of the arrays that start at zero (one launch for whatever precedes them)."""
    specs = _pass_arrays(dims, tracks, frames, slabs)
    arrays = []
    for i, spec in enumerate(specs):
        arrays.append(arena.take(*spec))
        if i == ZEROED - 1:
            arena.zero(zero_from, arena.used, stream)
    return PassArrays(*arrays)


def _bits_from(bits: np.ndarray, bit_offset: int, count: int):
    """The bytes of a validity bitmap that hold bits [bit_offset, bit_offset + count), and
    the first one's position in them; an empty bitmap stays empty (all valid)."""
    if bits.size == 0:
        return bits, 0
    return bits[bit_offset >> 3 : (bit_offset + count + 7) >> 3], bit_offset & 7


def _copy(device, host: np.ndarray, stream) -> None:
    if host.size:  # an empty array has nothing to copy (and the simulator rejects its strides)
        device.copy_to_device(host, stream=stream)


def _upload(buffers: DeviceBuffers, d: PassArrays, scores, keys, reason, group, first: int, stop: int, stream):
    """Copy the inputs of tracks [first, stop) to ``d``; returns the bit offsets of the two bitmaps."""
    start, end = int(scores.offsets[first]), int(scores.offsets[stop])
    _copy(d.offsets, scores.offsets[first : stop + 1].astype(np.int64) - start, stream)
    if end > start:
        _copy(d.values, buffers.staging(scores.values[start:end]), stream)
    list_bits, list_bit_offset = _bits_from(scores.list_bits, scores.list_bit_offset + first, stop - first)
    value_bits, value_bit_offset = _bits_from(scores.value_bits, scores.value_bit_offset + start, end - start)
    for device, host in ((d.list_bits, list_bits), (d.value_bits, value_bits)):
        if host.size:
            _copy(device[: host.size], host, stream)
    if keys.frame.size:
        _copy(d.key_frame, keys.frame[first:stop], stream)
        _copy(d.key_valid, keys.valid[first:stop], stream)
    _copy(d.reason, reason[first:stop], stream)
    _copy(d.group, np.ascontiguousarray(group[first:stop], dtype=np.int32), stream)
    return list_bit_offset, value_bit_offset


def _launch(d: PassArrays, params, list_bit_offset: int, value_bit_offset: int, per_slab: int,
            stage_total, curve_total, stream) -> None:
    """The three kernels on a pass whose inputs are on the device."""
    tracks = d.reason.shape[0]
    track_kernel[_blocks(tracks), THREADS_PER_BLOCK, stream](
        d.offsets, d.values, d.list_bits, int(list_bit_offset), d.value_bits, int(value_bit_offset),
        d.key_frame, d.key_valid, float(params.lam), bool(params.reduce_mean), bool(params.minmax),
        float(params.step), d.reason, d.key_frame_out, d.pos_key, d.stage_scores, d.stage_counts, d.curves,
    )
    for rows, slabs, total in ((d.stage_scores, d.stage_slabs, stage_total), (d.curves, d.curve_slabs, curve_total)):
        width = rows.shape[1]
        moments_kernel[_blocks(slabs.shape[0] * width), THREADS_PER_BLOCK, stream](
            rows, d.reason, d.group, int(per_slab), slabs)
        merge_kernel[_blocks(total.shape[0] * width), THREADS_PER_BLOCK, stream](slabs, total)


def _download(d: PassArrays, tracks: Tracks, first: int, stop: int, stream) -> None:
    d.reason.copy_to_host(tracks.reason[first:stop], stream=stream)
    d.key_frame_out.copy_to_host(tracks.key_frame[first:stop], stream=stream)
    d.pos_key.copy_to_host(tracks.pos_key[first:stop], stream=stream)
    d.stage_scores.copy_to_host(tracks.stage_scores[first:stop], stream=stream)
    d.stage_counts.copy_to_host(tracks.stage_counts[first:stop], stream=stream)


def align_tracks_cuda(scores, keys, params, group, n_groups, stages, grid_size, reason,
                      budget: int = DEVICE_BUDGET_BYTES):
    """The CUDA counterpart of kernels.cpu.align_tracks: same inputs, same outputs.

    The tracks go through the GPU in passes of whole slabs (:func:`plan_passes`),
    so that the batch needs about ``budget`` bytes of device memory however
    many tracks and groups it has; the device memory and the pinned buffer are
    kept for the next batch (:func:`release_buffers` frees them).
    """
    n = scores.offsets.size - 1
    tracks = batch_outputs(scores, keys, group, reason, stages)
    stage = np.zeros((n_groups, CELL, stages))
    curve = np.zeros((n_groups, CELL, grid_size))
    if n == 0:
        return tracks, stage, curve
    dims = Dims(n_groups, stages, grid_size, scores.values.dtype, keys.frame.size > 0,
                scores.list_bits.size > 0, scores.value_bits.size > 0)
    per_slab = tracks_per_slab(n_groups, stages, grid_size)
    bounds = plan_passes(scores.offsets, dims, per_slab, budget)
    passes = list(zip(bounds[:-1], bounds[1:]))
    with _BUFFERS_LOCK:
        buffers = _BUFFERS
        arena = buffers.arena(max(pass_bytes(dims, scores.offsets, a, b, per_slab) for a, b in passes))
        stream = buffers.stream
        stage_total, curve_total = (arena.take(*spec) for spec in _totals(dims))
        after_totals = arena.used
        for first, stop in passes:
            zero_from = 0 if first == 0 else after_totals  # the totals start at zero too
            arena.used = after_totals
            frames = int(scores.offsets[stop]) - int(scores.offsets[first])
            d = _carve(arena, dims, stop - first, frames, -(-(stop - first) // per_slab), zero_from, stream)
            bit_offsets = _upload(buffers, d, scores, keys, reason, group, first, stop, stream)
            _launch(d, params, *bit_offsets, per_slab, stage_total, curve_total, stream)
            _download(d, tracks, first, stop, stream)
            stream.synchronize()  # before the next pass reuses the pinned buffer and the arena
        stage_total.copy_to_host(stage, stream=stream)
        curve_total.copy_to_host(curve, stream=stream)
        stream.synchronize()
    return tracks, stage, curve
