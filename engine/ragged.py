"""Arrow list columns to the kernels' ragged layout, without copying the scores."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..kernels.layout import KeyFrames, Scores

def _readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view: every input array reaches the kernels with the same
    numba type (writable and read-only arrays would compile twice)."""
    view = a.view()
    view.flags.writeable = False
    return view


_NO_BITS = _readonly(np.empty(0, np.uint8))
_INT64_MAX = np.iinfo(np.int64).max
_FLOATS = {pa.float32(): np.float32, pa.float64(): np.float64}


def _bitmap(buf: pa.Buffer | None) -> np.ndarray:
    return _NO_BITS if buf is None else _readonly(np.frombuffer(buf, dtype=np.uint8))


def scores_of(arr: pa.Array) -> Scores:
    """View a list or large_list array of float32/float64 as offsets + values.

    Arrow's slice offsets are honoured: the parent's offset selects the
    offsets and the list validity bits, the child's offset is folded into
    the values view, so offsets index the values directly.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = pa.concat_arrays(arr.chunks) if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_list(arr.type):
        offset_dtype = np.int32
    elif pa.types.is_large_list(arr.type):
        offset_dtype = np.int64
    else:
        raise TypeError(f"expected list or large_list, got {arr.type}")
    value_dtype = _FLOATS.get(arr.type.value_type)
    if value_dtype is None:
        raise TypeError(f"expected float32 or float64 scores, got {arr.type.value_type}")
    n = len(arr)
    buffers = arr.buffers()
    if buffers[1] is None:  # an empty array may come without an offsets buffer
        offsets = np.zeros(n + 1, offset_dtype)
    else:
        offsets = np.frombuffer(buffers[1], dtype=offset_dtype, count=arr.offset + n + 1)[arr.offset :]
    child = arr.values
    child_buffers = child.buffers()
    if child_buffers[1] is None:
        values = np.empty(0, value_dtype)
    else:
        values = np.frombuffer(child_buffers[1], dtype=value_dtype, count=child.offset + len(child))[child.offset :]
    list_bits = _bitmap(buffers[0]) if arr.null_count else _NO_BITS
    value_bits = _bitmap(child_buffers[0]) if child.null_count else _NO_BITS
    return Scores(_readonly(offsets), _readonly(values), list_bits, arr.offset, value_bits, child.offset)


def key_frames_of(arr: pa.Array | pa.ChunkedArray | None) -> KeyFrames:
    """Given key frames as int64 with a validity mask; None: use the arg-max.

    Any integer type is taken.  A value beyond the int64 maximum (uint64)
    becomes -1: outside 0 ... T-1, so its row is rejected as
    key_frame_out_of_range, as any other key frame outside the track.
    """
    if arr is None:
        return KeyFrames(_readonly(np.empty(0, np.int64)), _readonly(np.empty(0, np.bool_)))
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
    values = arr.fill_null(0).to_numpy(zero_copy_only=False)
    frames = values.astype(np.int64)
    if values.dtype == np.uint64:
        frames[values > _INT64_MAX] = -1
    return KeyFrames(_readonly(np.ascontiguousarray(frames, dtype=np.int64)), _readonly(valid))


def int64_or_null(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """An integer column as int64, null where a value does not fit (uint64 beyond the int64
    maximum): how key frames and frame numbers are written out and grouped."""
    if arr.type == pa.uint64():
        fits = pc.less_equal(arr, pa.scalar(_INT64_MAX, pa.uint64()))
        arr = pc.if_else(fits, arr, pa.scalar(None, pa.uint64()))
    return arr.cast(pa.int64())


def track_lengths(scores: Scores) -> np.ndarray:
    return np.diff(scores.offsets).astype(np.int32)
