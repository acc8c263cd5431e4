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


class MomentSlabs(NamedTuple):
    """Moment accumulators (see moments.py), one slab per chunk of tracks."""

    stage: np.ndarray  # float64, (chunks, groups, 5, K)
    curve: np.ndarray  # float64, (chunks, groups, 5, M)
