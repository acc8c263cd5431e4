"""The common grid of aligned positions (README, The method: curve): g_m = -1 + m*h."""

import numpy as np

# A grid point within this fraction of a step of a track's first or last
# aligned point counts as covered: k/K - sigma/T and -1 + m*h can be equal
# in exact arithmetic yet differ in the last bit as floats.
COVER_TOLERANCE = 1e-9


def grid_size(stages: int, step: float) -> int:
    """Number of grid points, m = 0 ... round((2K - 1) / (K h))."""
    return int(round((2 * stages - 1) / (stages * step))) + 1


def grid_points(stages: int, step: float) -> np.ndarray:
    """The grid positions, computed exactly as the kernels compute them."""
    return -1.0 + np.arange(grid_size(stages, step), dtype=np.float64) * step
