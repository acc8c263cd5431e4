"""Aligned curves on the grid, one row per track, or binned into a density (for the plot)."""

import numpy as np
from numba import njit

from .config import EXACT
from .track import interpolate_track


@njit(**EXACT)
def curves_on_grid(stage_scores, pos_key, step, out):
    """out[t, m] = track t's aligned curve at grid point m, NaN where not covered."""
    out[:] = np.nan
    for t in range(stage_scores.shape[0]):
        interpolate_track(stage_scores[t], pos_key[t], step, out[t])


@njit(**EXACT)
def curve_density(stage_scores, pos_key, group, step, y_max, hist):
    """hist[g, m, b] += tracks of group g whose curve at grid point m falls in bin b of [0, y_max)."""
    bins = hist.shape[2]
    curve = np.empty(hist.shape[1])
    for t in range(stage_scores.shape[0]):
        m_first, m_stop = interpolate_track(stage_scores[t], pos_key[t], step, curve)
        for m in range(m_first, m_stop):
            b = int(curve[m] / y_max * bins)
            if 0 <= b < bins:
                hist[group[t], m, b] += 1
