"""CUDA kernels (numba.cuda) for the same per-track work as the CPU batch kernel.

The per-track body is the one in track.py, power.py and moments.py: the
kernels below call those functions, which numba compiles for the GPU.
Two kernels per batch:

1. ``track_kernel``: a grid-stride loop over tracks, one thread per track:
   validation, eq. (1)-(3) and the track's aligned curve, written to a
   (tracks x grid) array.
2. ``moments_kernel``: one thread per (block of tracks, grid point or
   stage) reduces its block's values into that block's own accumulator
   slab, in track order: block-level partial sums, no atomics.  The host
   merges the slabs (moments.sum_slabs), as it merges the CPU threads'.

Under numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) kernels run as
Python, and the shared functions run as compiled CPU code on the
simulator's arrays.
"""

import numpy as np
from numba import config, cuda

from . import reasons
from .moments import CELL, add_moment, sum_slabs
from .track import (
    bit_is_set,
    first_bad_frame,
    given_key_frame,
    interpolate_track,
    minmax_scaling,
    stage_scores_direct,
)

SIMULATOR = bool(config.ENABLE_CUDASIM)
THREADS_PER_BLOCK = 128
TRACKS_PER_SLAB = 256  # tracks reduced by one thread of the moments kernel


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


_bit_is_set = _shared(bit_is_set)
_first_bad_frame = _shared(first_bad_frame)
_minmax_scaling = _shared(minmax_scaling)
_given_key_frame = _shared(given_key_frame)
_stage_scores = _shared(stage_scores_direct)
_interpolate = _shared(interpolate_track)
_add_moment = _shared(add_moment)


@cuda.jit
def track_kernel(offsets, values, list_bits, list_bit_offset, value_bits, value_bit_offset,
                 key_frame, key_valid, lam, reduce_mean, minmax, step,
                 reason, out_key, pos_key, Y, n, curves):
    """SPEC steps 1-6 for every track; curves[t] is NaN where track t does not reach."""
    first = cuda.grid(1)
    stride = cuda.gridsize(1)
    for t in range(first, offsets.shape[0] - 1, stride):
        for m in range(curves.shape[1]):
            curves[t, m] = np.nan
        if reason[t] != reasons.OK:
            continue
        if not _bit_is_set(list_bits, list_bit_offset, t):
            reason[t] = reasons.NULL_SCORES
            continue
        start = offsets[t]
        T = offsets[t + 1] - start
        if T == 0:
            reason[t] = reasons.EMPTY_SCORES
            continue
        bad, lo, hi, arg = _first_bad_frame(values, value_bits, value_bit_offset, start, T, not minmax)
        if bad != reasons.OK:
            reason[t] = bad
            continue
        bad, shift, scale = _minmax_scaling(minmax, lo, hi)
        if bad != reasons.OK:
            reason[t] = bad
            continue
        _stage_scores(values, start, T, lam, shift, scale, reduce_mean, Y[t], n[t])
        if key_frame.shape[0] > 0:
            bad = _given_key_frame(key_frame[t], key_valid[t], T)
            if bad != reasons.OK:
                reason[t] = bad
                continue
            arg = key_frame[t]
        out_key[t] = arg
        pos_key[t] = (arg + 1) / T  # eq. (3)
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


def usable() -> bool:
    """A GPU that numba can use (the simulator counts, for tests)."""
    try:
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken driver is "not usable"
        return False


def _blocks(items: int) -> int:
    return max(1, min(1024, -(-items // THREADS_PER_BLOCK)))


def align_tracks_cuda(scores, keys, params, group, n_groups, stages, grid_size, reason):
    """The CUDA counterpart of kernels.cpu.align_tracks: same inputs, same outputs."""
    from .layout import Tracks

    n = scores.offsets.size - 1
    stream = cuda.stream()
    # Scores go through a pinned host buffer so the copy can run asynchronously.
    pinned = cuda.pinned_array(scores.values.shape, scores.values.dtype)
    pinned[:] = scores.values
    d = {name: cuda.to_device(np.ascontiguousarray(a), stream=stream) for name, a in (
        ("offsets", scores.offsets.astype(np.int64)), ("list_bits", scores.list_bits),
        ("value_bits", scores.value_bits), ("key_frame", keys.frame), ("key_valid", keys.valid),
        ("reason", reason), ("group", group.astype(np.int32)),
    )}
    values = cuda.to_device(pinned, stream=stream)
    # Zeroed like the CPU kernel's outputs, so rejected rows read the same.
    out_key = cuda.to_device(np.zeros(n, np.int64), stream=stream)
    pos_key = cuda.to_device(np.zeros(n, np.float64), stream=stream)
    Y = cuda.to_device(np.zeros((n, stages)), stream=stream)
    counts = cuda.to_device(np.zeros((n, stages), np.int32), stream=stream)
    curves = cuda.device_array((max(n, 1), grid_size), np.float64, stream=stream)
    if n:
        track_kernel[_blocks(n), THREADS_PER_BLOCK, stream](
            d["offsets"], values, d["list_bits"], scores.list_bit_offset, d["value_bits"], scores.value_bit_offset,
            d["key_frame"], d["key_valid"], params.lam, params.reduce_mean, params.minmax, params.step,
            d["reason"], out_key, pos_key, Y, counts, curves,
        )
    n_slabs = max(1, -(-n // TRACKS_PER_SLAB))
    stage_slabs = cuda.to_device(np.zeros((n_slabs, n_groups, CELL, stages)), stream=stream)
    curve_slabs = cuda.to_device(np.zeros((n_slabs, n_groups, CELL, grid_size)), stream=stream)
    if n:
        moments_kernel[_blocks(n_slabs * stages), THREADS_PER_BLOCK, stream](
            Y, d["reason"], d["group"], TRACKS_PER_SLAB, stage_slabs)
        moments_kernel[_blocks(n_slabs * grid_size), THREADS_PER_BLOCK, stream](
            curves, d["reason"], d["group"], TRACKS_PER_SLAB, curve_slabs)
    tracks = Tracks(
        reason=d["reason"].copy_to_host(reason, stream=stream),
        key_frame=out_key.copy_to_host(stream=stream),
        pos_key=pos_key.copy_to_host(stream=stream),
        stage_scores=Y.copy_to_host(stream=stream),
        stage_counts=counts.copy_to_host(stream=stream),
    )
    stage_host = stage_slabs.copy_to_host(stream=stream)
    curve_host = curve_slabs.copy_to_host(stream=stream)
    stream.synchronize()
    stage = np.zeros((n_groups, CELL, stages))
    curve = np.zeros((n_groups, CELL, grid_size))
    sum_slabs(stage_host, stage)
    sum_slabs(curve_host, curve)
    return tracks, stage, curve
