"""Slow, obvious numpy versions of what tf2eng computes: the yardstick for every test.

Written straight from README "The method" and its conventions, sharing no code with the package.
A track is a list of floats (None for a null score) or None.
"""

from __future__ import annotations

import math

import numpy as np

COVER_TOLERANCE = 1e-9  # README: grid points within 1e-9 * h of a track's ends count as covered


def grid(K: int, h: float) -> np.ndarray:
    M = int(round((2 * K - 1) / (K * h))) + 1
    return -1.0 + np.arange(M) * h


def stage_of_frames(T: int, K: int) -> np.ndarray:
    """k(i) = ceil(K i / T) - 1 for frames i = 1 ... T, in exact integers."""
    i = np.arange(1, T + 1)
    return (K * i + T - 1) // T - 1


def rejection(scores, key, minmax: bool, has_key: bool) -> str | None:
    """The reason a track is rejected, or None.  The first bad frame decides."""
    if scores is None:
        return "null_scores"
    if len(scores) == 0:
        return "empty_scores"
    for s in scores:
        if s is None:
            return "null_score"
        if not math.isfinite(s):
            return "nonfinite_score"
        if not minmax and not (0.0 <= s <= 1.0):
            return "score_out_of_range"
    if minmax and max(scores) == min(scores):
        return "constant_scores"
    if has_key:
        if key is None:
            return "null_key_frame"
        if not 0 <= key < len(scores):
            return "key_frame_out_of_range"
    return None


def track(scores, key, *, lam=0.7, K=10, reduce="sum", h=0.01, minmax=False):
    """Stage scores, counts, key frame, pos_key and the curve on the grid (NaN: not covered)."""
    raw = np.asarray(scores, dtype=np.float64)
    s = (raw - raw.min()) / (raw.max() - raw.min()) if minmax else raw
    s = np.clip(s, 0.0, 1.0) if minmax else s
    T = s.size
    P = s**lam  # eq. (1)
    k = stage_of_frames(T, K)
    n = np.bincount(k, minlength=K)
    total = np.array([P[k == j].sum() for j in range(K)])
    if reduce == "sum":
        Y = total
    else:
        Y = np.array([total[j] / n[j] if n[j] else np.nan for j in range(K)])
    key_frame = int(np.argmax(raw)) if key is None else int(key)
    pos_key = (key_frame + 1) / T
    curve = track_curve_from_stages(Y, pos_key, K, h)
    return {"Y": Y, "n": n, "key_frame": key_frame, "pos_key": pos_key, "curve": curve}


def moments(columns: np.ndarray):
    """Per column: count, mean and std (ddof = 1) of the non-NaN values; NaN where undefined."""
    count = (~np.isnan(columns)).sum(axis=0)
    mean = np.full(columns.shape[1], np.nan)
    std = np.full(columns.shape[1], np.nan)
    for j in range(columns.shape[1]):
        v = columns[:, j][~np.isnan(columns[:, j])]
        if v.size:
            mean[j] = v.mean()
        if v.size > 1:
            std[j] = v.std(ddof=1)
    return count, mean, std


def dataset(tracks, keys, groups=None, *, lam=0.7, K=10, reduce="sum", h=0.01, minmax=False, has_key=True):
    """Reasons per track, per-track results of the accepted ones, and per-group aggregates."""
    groups = [None] * len(tracks) if groups is None else groups
    reasons, results = [], []
    for scores, key in zip(tracks, keys):
        reason = rejection(scores, key, minmax, has_key)
        reasons.append(reason)
        results.append(None if reason else track(scores, key if has_key else None, lam=lam, K=K,
                                                 reduce=reduce, h=h, minmax=minmax))
    aggregates = {}
    for g in sorted(set(groups), key=lambda v: (v is not None, v)):
        members = [r for r, gg in zip(results, groups) if r is not None and gg == g]
        if not members:
            continue
        Y = np.array([r["Y"] for r in members])
        C = np.array([r["curve"] for r in members])
        aggregates[g] = {"stage": moments(Y), "curve": moments(C)}
    return reasons, results, aggregates


# --- Poisson bootstrap (README, Confidence bands), in Python integers -------------------------

_MASK64 = (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & _MASK64
    return h


def splitmix_mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def id_bytes(values) -> bytes:
    """Canonical bytes of a track's id values: an integer as '+' or '-' and its 8 bytes modulo 2**64,
    little-endian; a string as 's', its UTF-8 length (8 bytes, little-endian) and its bytes."""
    out = b""
    for v in values:
        if isinstance(v, int):
            out += (b"-" if v < 0 else b"+") + (v & _MASK64).to_bytes(8, "little")
        else:
            data = v.encode() if isinstance(v, str) else bytes(v)
            out += b"s" + len(data).to_bytes(8, "little") + data
    return out


def track_key(values, seed: int) -> int:
    return splitmix_mix(fnv1a64(id_bytes(values))) ^ splitmix_mix(seed)


def poisson_weights(key: int, B: int) -> list[int]:
    """Weight of replicate b: the inverse CDF of Poisson(1) at 32 bits of splitmix64's
    (b // 2 + 1)-th output from ``key`` (the high half for even b, the low half for odd b);
    CDF thresholds from the series (math.fsum of e^-1/k!)."""
    cdf = [round(2**32 * math.fsum(math.exp(-1) / math.factorial(j) for j in range(k + 1))) for k in range(20)]
    out = []
    for b in range(B):
        x = splitmix_mix((key + (b // 2 + 1) * 0x9E3779B97F4A7C15) & _MASK64)
        u = x >> 32 if b % 2 == 0 else x & 0xFFFFFFFF
        out.append(next(k for k in range(20) if u < cdf[k]))
    return out


def replicate_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """values (tracks, width), NaN where not covered; weights (tracks, B): weighted means (width, B),
    NaN where a replicate has no weight."""
    present = ~np.isnan(values)
    v = np.where(present, values, 0.0)
    sums = v.T @ weights
    counts = present.T.astype(np.float64) @ weights
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def track_curve_from_stages(Y: np.ndarray, pos_key: float, K: int, h: float) -> np.ndarray:
    """The curve of a track given its stage scores (NaN: null) and pos_key: X_k = k/K - pos_key (eq. 4),
    linear interpolation on the grid, no extrapolation, ends covered within COVER_TOLERANCE * h."""
    X = np.arange(K) / K - pos_key
    present = ~np.isnan(Y)
    g = grid(K, h)
    curve = np.full(g.size, np.nan)
    if present.any():
        xs, ys = X[present], Y[present]
        eps = COVER_TOLERANCE * h
        cover = (g >= xs[0] - eps) & (g <= xs[-1] + eps)
        curve[cover] = np.interp(g[cover], xs, ys)
    return curve


# --- Comparing two runs (README, Comparing two runs) -----------------------------------------


def t_quantile(p: float, df: float) -> float:
    """Student t's p-quantile (p > 1/2) by bisection on P(0 < T < t), Simpson's rule on the density."""
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def central(t: float) -> float:
        x = np.linspace(0.0, t, 4001)
        f = np.exp(log_c - (df + 1) / 2 * np.log1p(x * x / df))
        return (x[1] - x[0]) / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())

    lo, hi = 0.0, 1.0
    while central(hi) < p - 0.5:
        lo, hi = hi, 2 * hi
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if central(mid) < p - 0.5 else (lo, mid)
    return (lo + hi) / 2


def paired_compare(rows_a: np.ndarray, rows_b: np.ndarray, level: float):
    """rows_a, rows_b (pairs, W), NaN where not covered: per cell the mean difference over the pairs
    present in both, its t interval and the number of such pairs."""
    d = rows_a - rows_b
    count, mean, std = moments(d)
    low, high = np.full(mean.shape, np.nan), np.full(mean.shape, np.nan)
    for j in range(mean.size):
        if count[j] >= 2:
            half = t_quantile((1 + level) / 2, count[j] - 1) * std[j] / math.sqrt(count[j])
            low[j], high[j] = mean[j] - half, mean[j] + half
    return mean, low, high, count


def welch_compare(rows_a: np.ndarray, rows_b: np.ndarray, level: float):
    """Difference of the means of two independent samples and its Welch t interval, per cell."""
    na, ma, sa = moments(rows_a)
    nb, mb, sb = moments(rows_b)
    diff = ma - mb
    low, high = np.full(diff.shape, np.nan), np.full(diff.shape, np.nan)
    for j in range(diff.size):
        if na[j] >= 2 and nb[j] >= 2:
            va, vb = sa[j] ** 2 / na[j], sb[j] ** 2 / nb[j]
            df = (va + vb) ** 2 / (va**2 / (na[j] - 1) + vb**2 / (nb[j] - 1)) if va + vb > 0 else 1.0
            half = t_quantile((1 + level) / 2, df) * math.sqrt(va + vb)
            low[j], high[j] = diff[j] - half, diff[j] + half
    return diff, low, high


def percentile_interval(replicates: np.ndarray, level: float):
    """Per row of replicates (W, B), NaN left out: the (1 - level)/2 and (1 + level)/2 percentiles
    (numpy's linear interpolation between order statistics)."""
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return (np.nanquantile(replicates, (1 - level) / 2, axis=1),
                    np.nanquantile(replicates, (1 + level) / 2, axis=1))
