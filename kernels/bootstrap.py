"""Poisson-bootstrap replicate sums, exact in integers (README, Confidence bands).

Each accepted track t enters replicate b with a weight w_tb ~ Poisson(1)
(Chamandy et al., "Estimating Uncertainty for Massive Data Streams", 2012)
drawn from a counter-based generator: nothing but the track's key (a hash
of its ids and the seed, :func:`track_keys`) and b decide it, so a track gets
the same weights on every thread, batch, file, worker and device.

Replicate b keeps, per group, the weighted sums sum_t w_tb * q_t of the
tracks' fixed-point values q = round(y * 2**FRACTION_BITS) and the weighted
counts sum_t w_tb, for every stage and grid point.  Integer sums are
associative, so partials merge in any grouping to the same integers.

Layout of one group's accumulator, rows x replicates (replicates last, so
that adding a track is a loop over contiguous memory that vectorizes)::

    rows [0, K)                  stage sums
    rows [K, 2K + 1)             stage counts, as differences (a run of present stages: +w, -w)
    rows [2K + 1, 2K + M + 3)    curve sums, as second differences
    rows [2K + M + 3, 2K + 2M + 4)  curve counts, as differences

A track covers a contiguous run of grid points and its curve is linear
between its stage points, so in second differences it touches about 2K
rows instead of the ~M it covers; :func:`prefix_sums` undoes the
differences once, at the end.  Within a segment the curve is a run of
arithmetic sequences (a restart every PIECE grid points bounds the error of
the integer slope): value Q at the piece's first point, slope s per step,
both rounded to the fixed-point grid.

Exactness: a chunk of tracks adds into float64 accumulators, which are exact
while every partial sum stays below 2**53 (all values are integers); for each
row, a bound of what has been added (the track's largest weight times |value|)
decides when its float partials are moved ("flushed") into two int64 limbs,
hi * 2**32 + lo with 0 <= lo < 2**32.  A value too large for the float path
alone adds straight into the limbs.
"""

import math

import numpy as np
from numba import njit, prange

from .config import ARITHMETIC, EXACT, PARALLEL
from .grid import COVER_TOLERANCE
from .track import aligned_x, curve_value, first_grid_at_or_after

# Fixed point: values are kept as integers in units of 2**-32 (2.3e-10).
FRACTION_BITS = 32
SCALE = float(2**FRACTION_BITS)
# |y| must stay below this: a curve's second differences then stay below 2**53.
VALUE_LIMIT = float(2**18)
# Grid points per arithmetic piece of a segment: the piece's integer slope is
# off by at most half a unit, so a value is off by at most PIECE / 2 units
# (7.5e-9) plus the half unit of its first point.
PIECE = 64
# Float accumulators stay exact while every partial sum is an integer below
# 2**53; the bounds of what is added to a row (weight times |value|, summed in
# float64, so rounded) are kept below half of that.
FLOAT_EXACT = float(2**52)
LIMB = np.int64(32)
# Tracks whose update lists are built, sorted by the rows they add to and added, at a time.
SUBCHUNK = 2048
LOW_MASK = np.int64(0xFFFFFFFF)

# splitmix64 (Steele, Lea and Flood 2014; Vigna): the golden-ratio increment and the output mix.
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)

# FNV-1a, 64 bit.
FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
TAG_NONNEGATIVE, TAG_NEGATIVE, TAG_STRING = ord("+"), ord("-"), ord("s")

# Poisson(1) by inverse CDF on 32-bit uniforms: weight = #{k : u >= T_k}, where
# T_k = round(2**32 * P(X <= k)) for X ~ Poisson(1) (computed with 60-digit
# decimals); T_12 and beyond are 2**32, so the largest weight is 12.
POISSON_THRESHOLDS = (1580030169, 3160060337, 3950075422, 4213413783, 4279248374, 4292415292,
                      4294609778, 4294923276, 4294962463, 4294966817, 4294967253, 4294967292)
MAX_WEIGHT = len(POISSON_THRESHOLDS)
(_T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10, _T11) = (np.int64(t) for t in POISSON_THRESHOLDS)
_LOW32 = np.uint64(0xFFFFFFFF)


def rows(stages: int, grid_size: int) -> int:
    """Accumulator rows of one group (see the module docstring)."""
    return 2 * stages + 2 * grid_size + 4


@njit(**EXACT)
def mix64(z):
    """splitmix64's output function: a bijection of uint64 that mixes every bit."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(**EXACT)
def _fnv(h, byte):
    return (h ^ np.uint64(byte)) * FNV_PRIME


@njit(**EXACT)
def _fnv_word(h, word):
    """The 8 bytes of word, least significant first."""
    for j in range(8):
        h = _fnv(h, (word >> np.uint64(8 * j)) & np.uint64(0xFF))
    return h


@njit(**EXACT)
def hash_integers(h, bits, negative):
    """Feed one integer id column into the running hashes h (uint64, n): per value its sign tag
    ('+' or '-') and its 8 bytes modulo 2**64, little-endian.  ``bits`` (uint64) holds the value
    modulo 2**64, ``negative`` (bool) whether it is below zero."""
    for i in range(h.size):
        g = _fnv(h[i], TAG_NEGATIVE if negative[i] else TAG_NONNEGATIVE)
        h[i] = _fnv_word(g, bits[i])


@njit(**EXACT)
def hash_strings(h, offsets, data):
    """Feed one string id column (Arrow's offsets, int64, and UTF-8 bytes) into h: per value the
    tag 's', its length in bytes (8 bytes, little-endian), then its bytes."""
    for i in range(h.size):
        start, stop = offsets[i], offsets[i + 1]
        g = _fnv(h[i], TAG_STRING)
        g = _fnv_word(g, np.uint64(stop - start))
        for j in range(start, stop):
            g = _fnv(g, data[j])
        h[i] = g


@njit(**EXACT)
def track_keys(h, seed, keys):
    """keys = mix64(h) XOR mix64(seed): the key of each track's weights."""
    s = mix64(np.uint64(seed))
    for i in range(h.size):
        keys[i] = mix64(h[i]) ^ s


@njit(**EXACT)
def poisson(u):
    """Poisson(1) by inverse CDF of a 32-bit uniform u (held as int64): #{k : u >= T_k}."""
    return ((u >= _T0) + (u >= _T1) + (u >= _T2) + (u >= _T3) + (u >= _T4) + (u >= _T5) + (u >= _T6)
            + (u >= _T7) + (u >= _T8) + (u >= _T9) + (u >= _T10) + (u >= _T11))


@njit(**EXACT)
def _poisson_head(u):
    """min(Poisson(1) of u, 5): the first five thresholds only (a weight of 5 or more is rare)."""
    return (u >= _T0) + (u >= _T1) + (u >= _T2) + (u >= _T3) + (u >= _T4)


@njit(**EXACT)
def _uniform(key, b):
    """The 32-bit uniform of replicate b (see :func:`weights`)."""
    x = mix64(key + np.uint64(b // 2 + 1) * GOLDEN)
    return np.int64(x >> _S32) if b % 2 == 0 else np.int64(x & _LOW32)


@njit(**EXACT)
def weights(key, first, w):
    """Poisson(1) weights of replicates first ... first + w.size - 1 (first and w.size even) into w;
    returns the largest.  Replicates 2j and 2j + 1 take the high and the low 32 bits of the
    (j + 1)-th output of splitmix64 started from ``key``, mix64(key + (j + 1) * GOLDEN).

    One vectorized pass compares against the first five thresholds; the rare weights of 5 or more
    (0.4 %) are then completed one by one."""
    for i in range(w.size // 2):
        x = mix64(key + np.uint64(first // 2 + i + 1) * GOLDEN)
        w[2 * i] = _poisson_head(np.int64(x >> _S32))
        w[2 * i + 1] = _poisson_head(np.int64(x & _LOW32))
    top = 0.0
    for b in range(w.size):
        top = max(top, w[b])
    if top == 5.0:
        top = 0.0
        for b in range(w.size):
            if w[b] == 5.0:
                w[b] = poisson(_uniform(key, first + b))
            top = max(top, w[b])
    return top


@njit(**EXACT)
def weight_rows(keys, first, stop, table, tops):
    """table[t] = the Poisson(1) weights (:func:`weights`) of the track with key keys[t], as uint8 (a
    weight is at most 12), and tops[t] their largest, for t = first ... stop - 1; table has the even
    width of the accumulator rows, B + B % 2."""
    w = np.empty(table.shape[1])
    for t in range(first, stop):
        tops[t] = weights(keys[t], 0, w)
        for b in range(w.size):
            table[t, b] = np.uint8(w[b])


@njit(**EXACT)
def quantize(y):
    """round(y * 2**32), ties up, as a float64 holding an integer (|y| < VALUE_LIMIT)."""
    return math.floor(y * SCALE + 0.5)


@njit(**EXACT)
def _put(r, v, n, rows_out, vals):
    """Add v at row r of the track's sparse update list; a row just written is added to in place."""
    for back in (1, 2):
        if n >= back and rows_out[n - back] == r:
            vals[n - back] += v
            return n
    rows_out[n] = r
    vals[n] = v
    return n + 1


@njit(**EXACT)
def _next_present(Y, k):
    for j in range(k + 1, Y.size):
        if not np.isnan(Y[j]):
            return j
    return -1


@njit(**EXACT)
def track_updates(Y, pos_key, step, M, rows_out, vals):
    """The rows a track adds to (see the module docstring) and its integer values there, in
    rows_out and vals; returns how many.  Mirrors track.interpolate_track: the same segments, the
    same covered grid points."""
    K = Y.size
    D = 2 * K + 1  # curve second differences
    E = D + M + 2  # curve count differences
    n = 0
    for k in range(K):
        if np.isnan(Y[k]):
            continue
        n = _put(k, quantize(Y[k]), n, rows_out, vals)
        if k == 0 or np.isnan(Y[k - 1]):
            n = _put(K + k, 1.0, n, rows_out, vals)
        if k == K - 1 or np.isnan(Y[k + 1]):
            n = _put(K + k + 1, -1.0, n, rows_out, vals)
    left = _next_present(Y, -1)
    if left < 0:
        return n
    inv_step = 1.0 / step
    eps = COVER_TOLERANCE * step
    x_left = aligned_x(left, K, pos_key)
    m_first = first_grid_at_or_after(x_left - eps, step, inv_step, M)
    m = m_first
    while left >= 0:
        right = _next_present(Y, left)
        y_left = Y[left]
        if right >= 0:
            x_right = aligned_x(right, K, pos_key)
            stop = first_grid_at_or_after(x_right, step, inv_step, M)
            slope = (Y[right] - y_left) / (x_right - x_left)
        else:
            x_right = x_left
            stop = first_grid_at_or_after(x_left + eps, step, inv_step, M)
            if stop < M and -1.0 + stop * step <= x_left + eps:
                stop += 1
            slope = 0.0
        s = quantize(slope * step)
        a = m
        while a < stop:
            e = min(stop, a + PIECE)
            Q = quantize(curve_value(-1.0 + a * step, x_left, slope, y_left))
            # Q + s*(j - a) on [a, e), in second differences.
            n = _put(D + a, Q, n, rows_out, vals)
            n = _put(D + a + 1, s - Q, n, rows_out, vals)
            n = _put(D + e, -(Q + s * (e - a)), n, rows_out, vals)
            n = _put(D + e + 1, Q + s * (e - 1 - a), n, rows_out, vals)
            a = e
        m = max(m, stop)
        left = right
        x_left = x_right
    if m > m_first:
        n = _put(E + m_first, 1.0, n, rows_out, vals)
        n = _put(E + m, -1.0, n, rows_out, vals)
    return n


def updates_capacity(stages: int, grid_size: int) -> int:
    """Room for one track's update list: 3 per stage, 2 per piece boundary, 2 for the counts."""
    pieces = stages + grid_size // PIECE + 2
    return 3 * stages + 4 * pieces + 4


@njit(**EXACT)
def _normalize_row(hi, lo):
    """Carry lo's bits above 32 into hi, so that 0 <= lo < 2**32."""
    for b in range(lo.size):
        hi[b] += lo[b] >> LIMB
        lo[b] &= LOW_MASK


@njit(**EXACT)
def _flush(acc, hi, lo):
    """hi, lo (B,) += acc (B or more entries, integers below 2**53 held as float64); acc = 0."""
    for b in range(hi.size):
        v = np.int64(acc[b])
        lo[b] += v & LOW_MASK
        hi[b] += v >> LIMB
    acc[:] = 0.0
    _normalize_row(hi, lo)


@njit(**EXACT)
def _add_exact(hi, lo, w, v):
    """hi, lo (B,) += w * v exactly, for a value too large for the float accumulators."""
    v = np.int64(v)
    for b in range(hi.size):
        p = np.int64(w[b]) * v
        lo[b] += p & LOW_MASK
        hi[b] += p >> LIMB
    _normalize_row(hi, lo)


@njit(**EXACT)
def _add_one(row, hi, lo, room, r, w, top, v):
    """row (B,) += w * v, within the row's room (flushing it into hi, lo first when needed)."""
    bound = top * abs(v)  # exact: a small integer times an integer below 2**53
    if bound > FLOAT_EXACT:
        _add_exact(hi, lo, w, v)
        return
    if bound > room[r]:
        _flush(row, hi, lo)
        room[r] = FLOAT_EXACT
    room[r] -= bound
    for b in range(row.size):
        row[b] += w[b] * v


@njit(**EXACT)
def _same_rows(rows_buf, counts, i, j):
    if counts[i] != counts[j]:
        return False
    for k in range(counts[i]):
        if rows_buf[i, k] != rows_buf[j, k]:
            return False
    return True


@njit(**PARALLEL)
def replicate_sums(Y, pos_key, group, table, tops, step, chunks, hi, lo):
    """Add every track's weighted values to the replicate sums of its group.

    Y (n, K) float64 stage scores (NaN: null), pos_key (n,), group (n,) int32, each track's weights
    and their largest in table (n, B + B % 2) uint8 and tops (n,) (:func:`weight_rows`); ``chunks``
    (c + 1,) cuts the tracks into runs, run c adding into hi[c], lo[c], each (G, R, B) int64, zeroed
    by the caller.

    Each accumulator row has its own room: what may still be added before its float partials could
    leave the exact range; a row is flushed into the limbs when a track would exceed it.  Tracks
    that add to the same rows (the same group, the same stage points on the grid: most tracks share
    their rows with many others) go four at a time, so that a row is loaded and stored once for
    four tracks; within a run of SUBCHUNK tracks they are sorted to meet (integer sums do not
    depend on the order).
    """
    n, K = Y.shape
    G, R, B = hi.shape[1], hi.shape[2], hi.shape[3]
    M = (R - 2 * K - 4) // 2
    capacity = 3 * K + 4 * (K + M // PIECE + 2) + 4
    width = B + B % 2
    for c in prange(chunks.size - 1):
        acc = np.zeros((G, R, width))
        room = np.full((G, R), FLOAT_EXACT)
        rows_buf = np.empty((SUBCHUNK, capacity), np.int64)
        vals = np.empty((SUBCHUNK, capacity))
        counts = np.empty(SUBCHUNK, np.int64)
        signature = np.empty(SUBCHUNK, np.int64)
        W = np.empty((4, width))
        top = np.empty(4)
        for first in range(chunks[c], chunks[c + 1], SUBCHUNK):
            m = min(SUBCHUNK, chunks[c + 1] - first)
            for i in range(m):
                t = first + i
                counts[i] = track_updates(Y[t], pos_key[t], step, M, rows_buf[i], vals[i])
                last = rows_buf[i, counts[i] - 1] if counts[i] else 0
                signature[i] = ((group[t] * 4096 + counts[i]) * 2**20 + last) * 64 + rows_buf[i, counts[i] // 2] % 64
            order = np.argsort(signature[:m])
            i = 0
            while i < m:
                lead = order[i]
                g = group[first + lead]
                size = 1
                while (size < 4 and i + size < m and group[first + order[i + size]] == g
                       and _same_rows(rows_buf, counts, lead, order[i + size])):
                    size += 1
                if size < 4:
                    size = 1
                for q in range(size):
                    t = first + order[i + q]
                    for b in range(width):
                        W[q, b] = table[t, b]
                    top[q] = tops[t]
                a = acc[g]
                if size == 1:
                    for j in range(counts[lead]):
                        r = rows_buf[lead, j]
                        _add_one(a[r], hi[c, g, r], lo[c, g, r], room[g], r, W[0], top[0], vals[lead, j])
                    i += 1
                    continue
                t1, t2, t3, t4 = order[i], order[i + 1], order[i + 2], order[i + 3]
                w1, w2, w3, w4 = W[0], W[1], W[2], W[3]
                for j in range(counts[lead]):
                    r = rows_buf[lead, j]
                    v1, v2, v3, v4 = vals[t1, j], vals[t2, j], vals[t3, j], vals[t4, j]
                    bound = top[0] * abs(v1) + top[1] * abs(v2) + top[2] * abs(v3) + top[3] * abs(v4)
                    if bound > FLOAT_EXACT:
                        for q, v in ((0, v1), (1, v2), (2, v3), (3, v4)):
                            _add_one(a[r], hi[c, g, r], lo[c, g, r], room[g], r, W[q], top[q], v)
                        continue
                    if bound > room[g, r]:
                        _flush(a[r], hi[c, g, r], lo[c, g, r])
                        room[g, r] = FLOAT_EXACT
                    room[g, r] -= bound
                    row = a[r]
                    for b in range(width):
                        row[b] += w1[b] * v1 + w2[b] * v2 + w3[b] * v3 + w4[b] * v4
                i += 4
        for g in range(G):
            for r in range(R):
                _flush(acc[g, r], hi[c, g, r], lo[c, g, r])


# The same kernel on one thread, for callers that run several at once on threads of their own (it
# releases the GIL): a run's chunks then overlap with the rest of the pipeline.
replicate_sums_serial = njit(**ARITHMETIC)(replicate_sums.py_func)


def normalize(hi: np.ndarray, lo: np.ndarray) -> None:
    """In place: carry lo's bits above 32 into hi (lo may hold any int64 before)."""
    hi += lo >> 32
    lo &= 0xFFFFFFFF


def merge(hi: np.ndarray, lo: np.ndarray, src_hi: np.ndarray, src_lo: np.ndarray) -> None:
    """(hi, lo) += (src_hi, src_lo), exactly; every lo stays in [0, 2**32)."""
    hi += src_hi
    lo += src_lo
    normalize(hi, lo)


def prefix_sums(hi: np.ndarray, lo: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact running sums along ``axis`` of the two-limb integers (hi, lo) with 0 <= lo < 2**32."""
    lo_sum = np.cumsum(lo, axis=axis)  # below 2**32 times the length: no overflow
    hi_sum = np.cumsum(hi, axis=axis)
    normalize(hi_sum, lo_sum)
    return hi_sum, lo_sum
