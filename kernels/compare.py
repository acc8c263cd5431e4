"""Kernels of ``tf2eng compare`` (README, Comparing two runs): each track's stage scores and aligned
curve as one row, and per group the moments and the Poisson-bootstrap weighted sums of such rows.

A row holds W = K + M cells: the K stage scores (NaN for a null one), then the curve on the M grid
points (NaN where the track does not cover a point), interpolated by the run's own per-track body
(track.interpolate_track), so a recomputed curve has the run's bits.  The paired difference of two
runs is the difference of two such rows, NaN wherever either is.

The moments are added in chunks of rows, a slab of double-double partials per chunk, merged by the
caller; double-double sums give the same float64 results whatever the chunking (README, Accuracy).
The bootstrap sums run in parallel over replicates, each thread owning its own slice of the output
and adding the rows in their given order: the same sums, bit for bit, whatever the thread count.
Both are compiled without fast-math flags, as the double-double moments require (config.EXACT).
"""

import numpy as np
from numba import njit, prange

from .bootstrap import weights
from .config import EXACT
from .moments import add_run
from .track import interpolate_track

PARALLEL_EXACT = dict(EXACT, parallel=True)


@njit(**PARALLEL_EXACT)
def track_rows(Y, pos_key, step, out):
    """out (n, K + M)[t] = track t's stage scores Y[t] (NaN: null), then its curve on the grid
    g_m = -1 + m * step (NaN: not covered)."""
    K = Y.shape[1]
    for t in prange(Y.shape[0]):
        row = out[t]
        row[:] = np.nan
        row[:K] = Y[t]
        interpolate_track(Y[t], pos_key[t], step, row[K:])


@njit(**EXACT)
def add_row(acc, row):
    """acc (5, W) += the present (not NaN) cells of row, each run of present cells in one add_run."""
    W = row.size
    w = 0
    while w < W:
        if np.isnan(row[w]):
            w += 1
            continue
        stop = w + 1
        while stop < W and not np.isnan(row[stop]):
            stop += 1
        add_run(acc, w, row[w:stop])
        w = stop


@njit(**PARALLEL_EXACT)
def row_moments(V, group, chunks, slabs):
    """slabs (c, G, 5, W)[j] += the moments of rows chunks[j] ... chunks[j + 1] - 1 of V (n, W), each in
    its group ``group[t]``, per cell, NaN cells left out.  The caller merges the slabs (moments.sum_slabs)."""
    for j in prange(chunks.size - 1):
        for t in range(chunks[j], chunks[j + 1]):
            add_row(slabs[j, group[t]], V[t])


@njit(**PARALLEL_EXACT)
def weight_matrix(keys, out):
    """out (n, B)[t] = the Poisson(1) weights of the track with key keys[t] (kernels/bootstrap.py)."""
    for t in prange(keys.size):
        weights(keys[t], 0, out[t])


@njit(**PARALLEL_EXACT)
def replicate_rows(V, group, w, block, sums, counts):
    """sums (G, W, B) += w[t, b] * V[t, c] and counts (G, W, B) += w[t, b] for b < B (w may have
    more columns), for every row t of V (n, W) in group ``group[t]`` and every cell c where V[t, c]
    is not NaN; a task per ``block`` replicates (the block changes the speed, never the sums)."""
    n, W = V.shape
    B = sums.shape[2]
    for j in prange((B + block - 1) // block):
        first = j * block
        stop = min(B, first + block)
        for t in range(n):
            wt = w[t, first:stop]
            g = group[t]
            for c in range(W):
                v = V[t, c]
                if np.isnan(v):
                    continue
                s = sums[g, c, first:stop]
                q = counts[g, c, first:stop]
                for b in range(stop - first):
                    s[b] += wt[b] * v
                    q[b] += wt[b]
