"""How a batch is laid out for the kernels, on either backend (CPU or CUDA).

Inputs arrive in Arrow's ragged layout (offsets + flat values, validity
bitmaps as bytes); outputs are per-track arrays plus moment accumulator
slabs that the caller merges (see moments.py).
"""

from typing import NamedTuple

import numpy as np


class Scores(NamedTuple):
    """A list<float> column as Arrow stores it; bit offsets are Arrow's slice offsets."""

    offsets: np.ndarray  # int32 (list) or int64 (large_list), n + 1
    values: np.ndarray  # float32 or float64, the child array
    list_bits: np.ndarray  # uint8 validity bitmap of the lists, or empty
    list_bit_offset: int
    value_bits: np.ndarray  # uint8 validity bitmap of the values, or empty
    value_bit_offset: int


class KeyFrames(NamedTuple):
    """Given key frames (0-based); an empty ``frame`` means: use the arg-max."""

    frame: np.ndarray  # int64, n, or empty
    valid: np.ndarray  # bool, n, or empty


class Params(NamedTuple):
    lam: float  # lambda of eq. (1)
    reduce_mean: bool  # eq. (2) as a mean instead of a sum
    minmax: bool  # min-max normalise each track before eq. (1)
    step: float  # grid step h


class Tracks(NamedTuple):
    """Per-track outputs.  ``reason`` is also an input: non-zero rows are skipped."""

    reason: np.ndarray  # uint8, n
    key_frame: np.ndarray  # int64, n
    pos_key: np.ndarray  # float64, n
    stage_scores: np.ndarray  # float64, (n, K)
    stage_counts: np.ndarray  # int32, (n, K)


def batch_outputs(scores: Scores, keys: KeyFrames, group: np.ndarray, reason: np.ndarray, stages: int) -> Tracks:
    """Check a batch's inputs (the kernels trust them) and allocate its per-track outputs,
    zeroed, so that rejected rows read the same on every backend.  ``reason`` is used as is."""
    n = scores.offsets.size - 1
    if scores.offsets.dtype not in (np.int32, np.int64):
        raise TypeError("offsets must be int32 or int64")
    if scores.values.dtype not in (np.float32, np.float64):
        raise TypeError("scores must be float32 or float64")
    if group.shape != (n,) or reason.shape != (n,):
        raise ValueError("group and reason need one entry per track")
    if keys.frame.size and keys.frame.shape != (n,):
        raise ValueError("key frames need one entry per track")
    return Tracks(
        reason=reason,
        key_frame=np.zeros(n, np.int64),
        pos_key=np.zeros(n, np.float64),
        stage_scores=np.zeros((n, stages), np.float64),
        stage_counts=np.zeros((n, stages), np.int32),
    )


class MomentSlabs(NamedTuple):
    """Moment accumulators (see moments.py), one slab per chunk of tracks."""

    stage: np.ndarray  # float64, (chunks, groups, 5, K)
    curve: np.ndarray  # float64, (chunks, groups, 5, M)
