"""Grouping frame rows into tracks: dense codes for id values, and rows ordered by (track, label).

Arrays in, arrays out (engine/long.py turns Arrow columns into them).

- ``dense_codes_int`` / ``dense_codes_bytes``: each distinct value (an int64,
  or a byte string given as offsets into a byte buffer; a null is one more
  value) gets a code 0, 1, ... in order of first appearance.  Exact: an open
  addressing hash table whose entries are compared by value, not by hash.
- ``group_rows``: a counting sort of the rows by code, then each group's rows
  sorted by an int64 order key; a group with an invalid key or two equal keys
  is flagged (engine/long.py orders and rejects those another way).
- ``same_as_first_int`` / ``same_as_first_bytes``: whether every row of a
  group holds the value of its first row (nulls equal to nulls only).
- ``key_positions``: the 0-based position of a key among a group's sorted
  order keys, -1 when it is not among them.
"""

import numpy as np
from numba import njit, prange

from .config import EXACT

_EMPTY = np.int64(-1)


@njit(**EXACT)
def _mix(x):
    """splitmix64's finalizer: a well-spread 64-bit hash of a 64-bit value."""
    x = np.uint64(x)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@njit(**EXACT)
def _bytes_hash(data, start, end):
    """A 64-bit hash of data[start:end], eight bytes at a time."""
    h = np.uint64(0xCBF29CE484222325) ^ np.uint64(end - start)
    i = start
    while i + 8 <= end:
        w = np.uint64(0)
        for k in range(8):
            w |= np.uint64(data[i + k]) << np.uint64(8 * k)
        h = _mix(h ^ w)
        i += 8
    w = np.uint64(0)
    for k in range(end - i):
        w |= np.uint64(data[i + k]) << np.uint64(8 * k)
    return _mix(h ^ w ^ np.uint64(0x9E3779B97F4A7C15))


@njit(**EXACT)
def _grown(slot_codes, slot_values, values, first, used):
    """A table of twice the size holding the same codes."""
    size = slot_codes.size * 2
    mask = np.uint64(size - 1)
    codes = np.full(size, _EMPTY, np.int64)
    stored = np.empty(size, np.int64)
    for code in range(used):
        v = values[first[code]]
        j = _mix(v) & mask
        while codes[j] != _EMPTY:
            j = (j + np.uint64(1)) & mask
        codes[j] = code
        stored[j] = v
    return codes, stored


@njit(**EXACT)
def dense_codes_int(values, valid):
    """(code of each row, first row of each code) for int64 ``values``; ``valid`` empty: no nulls."""
    n = values.size
    codes = np.empty(n, np.int64)
    first = np.empty(max(n, 1), np.int64)
    slot_codes = np.full(1024, _EMPTY, np.int64)
    slot_values = np.empty(1024, np.int64)  # the value of the code in the slot beside it
    used = 0
    null_code = -1
    has_mask = valid.size > 0
    for i in range(n):
        if has_mask and not valid[i]:
            if null_code < 0:
                null_code = used
                first[used] = i
                used += 1
            codes[i] = null_code
            continue
        v = values[i]
        mask = np.uint64(slot_codes.size - 1)
        j = _mix(v) & mask
        while True:
            code = slot_codes[j]
            if code == _EMPTY:
                slot_codes[j] = used
                slot_values[j] = v
                first[used] = i
                codes[i] = used
                used += 1
                if 2 * used > slot_codes.size:
                    slot_codes, slot_values = _grown(slot_codes, slot_values, values, first, used)
                break
            if slot_values[j] == v and code != null_code:
                codes[i] = code
                break
            j = (j + np.uint64(1)) & mask
    return codes, first[:used].copy()


@njit(**EXACT)
def _same_bytes(offsets, data, a, b):
    la = offsets[a + 1] - offsets[a]
    if la != offsets[b + 1] - offsets[b]:
        return False
    sa = offsets[a]
    sb = offsets[b]
    for k in range(la):
        if data[sa + k] != data[sb + k]:
            return False
    return True


@njit(**EXACT)
def dense_codes_bytes(offsets, data, valid):
    """(code of each row, first row of each code) for byte strings: row i is data[offsets[i]:offsets[i+1]];
    ``valid`` empty: no nulls."""
    n = offsets.size - 1
    codes = np.empty(n, np.int64)
    first = np.empty(max(n, 1), np.int64)
    hashes = np.empty(max(n, 1), np.uint64)
    slot_codes = np.full(1024, _EMPTY, np.int64)
    slot_hashes = np.empty(1024, np.uint64)
    used = 0
    null_code = -1
    has_mask = valid.size > 0
    for i in range(n):
        if has_mask and not valid[i]:
            if null_code < 0:
                null_code = used
                first[used] = i
                used += 1
            codes[i] = null_code
            continue
        h = _bytes_hash(data, offsets[i], offsets[i + 1])
        mask = np.uint64(slot_codes.size - 1)
        j = h & mask
        while True:
            code = slot_codes[j]
            if code == _EMPTY:
                slot_codes[j] = used
                slot_hashes[j] = h
                first[used] = i
                hashes[used] = h
                codes[i] = used
                used += 1
                if 2 * used > slot_codes.size:
                    size = slot_codes.size * 2
                    grow = np.uint64(size - 1)
                    slot_codes = np.full(size, _EMPTY, np.int64)
                    slot_hashes = np.empty(size, np.uint64)
                    for c in range(used):
                        if c == null_code:
                            continue
                        k = hashes[c] & grow
                        while slot_codes[k] != _EMPTY:
                            k = (k + np.uint64(1)) & grow
                        slot_codes[k] = c
                        slot_hashes[k] = hashes[c]
                break
            if slot_hashes[j] == h and _same_bytes(offsets, data, first[code], i):
                codes[i] = code
                break
            j = (j + np.uint64(1)) & mask
    return codes, first[:used].copy()


@njit(**EXACT)
def _sort_segment(perm, start, end, order, scratch_keys, scratch_rows, slots):
    """perm[start:end] reordered by order[perm[...]]; True if two keys are equal (the order is then
    left unfinished)."""
    m = end - start
    if m < 2:
        return False
    if m <= 16:  # insertion sort
        for a in range(start + 1, end):
            row = perm[a]
            key = order[row]
            b = a - 1
            while b >= start and order[perm[b]] > key:
                perm[b + 1] = perm[b]
                b -= 1
            perm[b + 1] = row
    else:
        lo = order[perm[start]]
        hi = lo
        for a in range(start + 1, end):
            v = order[perm[a]]
            lo = min(lo, v)
            hi = max(hi, v)
        if hi - lo < slots.size and hi - lo >= 0:  # labels in a narrow range: each row to its slot
            span = hi - lo + 1
            for s in range(span):
                slots[s] = -1
            for a in range(start, end):
                row = perm[a]
                s = order[row] - lo
                if slots[s] >= 0:
                    return True
                slots[s] = row
            a = start
            for s in range(span):
                if slots[s] >= 0:
                    perm[a] = slots[s]
                    a += 1
            return False
        keys = scratch_keys[:m]
        for a in range(m):
            keys[a] = order[perm[start + a]]
        idx = np.argsort(keys, kind="mergesort")
        rows = scratch_rows[:m]
        for a in range(m):
            rows[a] = perm[start + idx[a]]
        for a in range(m):
            perm[start + a] = rows[a]
    for a in range(start + 1, end):
        if order[perm[a]] == order[perm[a - 1]]:
            return True
    return False


# A group's rows are placed by label when its labels span at most this many times its rows.
SLOT_SPAN = 8


@njit(**EXACT)
def _counting_sort(codes, groups):
    starts = np.zeros(groups + 1, np.int64)
    for i in range(codes.size):
        starts[codes[i] + 1] += 1
    for g in range(groups):
        starts[g + 1] += starts[g]
    fill = starts[:-1].copy()
    perm = np.empty(codes.size, np.int64)
    for i in range(codes.size):
        c = codes[i]
        perm[fill[c]] = i
        fill[c] += 1
    return perm, starts


@njit(**dict(EXACT, parallel=True))
def group_rows(codes, groups, order, order_valid, chunks):
    """(perm, starts, flagged): the rows by group (``codes`` in 0 ... groups-1), within a group by
    ``order``; group g's rows are perm[starts[g]:starts[g+1]].  flagged[g]: an invalid order key
    (``order_valid`` empty: all valid) or two equal ones; such a group's rows are in no set order."""
    perm, starts = _counting_sort(codes, groups)
    flagged = np.zeros(groups, np.bool_)
    has_mask = order_valid.size > 0
    chunks = max(1, min(chunks, groups))
    for c in prange(chunks):
        g0 = groups * c // chunks
        g1 = groups * (c + 1) // chunks
        longest = 0
        for g in range(g0, g1):
            longest = max(longest, starts[g + 1] - starts[g])
        scratch_keys = np.empty(longest, np.int64)
        scratch_rows = np.empty(longest, np.int64)
        slots = np.empty(SLOT_SPAN * longest, np.int64)
        for g in range(g0, g1):
            s = starts[g]
            e = starts[g + 1]
            bad = False
            if has_mask:
                for a in range(s, e):
                    if not order_valid[perm[a]]:
                        bad = True
                        break
            if not bad:
                bad = _sort_segment(perm, s, e, order, scratch_keys, scratch_rows, slots[: SLOT_SPAN * (e - s)])
            flagged[g] = bad
    return perm, starts, flagged


@njit(**EXACT)
def same_as_first_int(perm, starts, values, valid):
    """Per group: every row's value (and validity; ``valid`` empty: all valid) equals its first row's."""
    groups = starts.size - 1
    same = np.ones(groups, np.bool_)
    has_mask = valid.size > 0
    for g in range(groups):
        s = starts[g]
        f = perm[s]
        for a in range(s + 1, starts[g + 1]):
            r = perm[a]
            if has_mask and valid[r] != valid[f]:
                same[g] = False
                break
            if (not has_mask or valid[r]) and values[r] != values[f]:
                same[g] = False
                break
    return same


@njit(**EXACT)
def same_as_first_bytes(perm, starts, offsets, data, valid):
    """same_as_first_int for byte strings (row i: data[offsets[i]:offsets[i+1]])."""
    groups = starts.size - 1
    same = np.ones(groups, np.bool_)
    has_mask = valid.size > 0
    for g in range(groups):
        s = starts[g]
        f = perm[s]
        for a in range(s + 1, starts[g + 1]):
            r = perm[a]
            if has_mask and valid[r] != valid[f]:
                same[g] = False
                break
            if (not has_mask or valid[r]) and not _same_bytes(offsets, data, r, f):
                same[g] = False
                break
    return same


@njit(**EXACT)
def key_positions(perm, starts, order, key_order, searched):
    """Per group g with searched[g]: the position of key_order[g] among the group's (sorted) order
    keys, -1 when it is not one of them; -1 for the other groups."""
    groups = starts.size - 1
    position = np.full(groups, -1, np.int64)
    for g in range(groups):
        if not searched[g]:
            continue
        lo = starts[g]
        hi = starts[g + 1]
        key = key_order[g]
        while lo < hi:  # first row with order >= key
            mid = (lo + hi) // 2
            if order[perm[mid]] < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < starts[g + 1] and order[perm[lo]] == key:
            position[g] = lo - starts[g]
    return position


@njit(**EXACT)
def equal_to_code_int(codes, values, valid, code_values, code_valid):
    """True if every row i holds the value (or null) of its code, code_values[codes[i]]."""
    has_mask = valid.size > 0
    for i in range(codes.size):
        c = codes[i]
        if has_mask and valid[i] != code_valid[c]:
            return False
        if (not has_mask or valid[i]) and values[i] != code_values[c]:
            return False
    return True


@njit(**EXACT)
def equal_to_code_bytes(codes, offsets, data, valid, code_offsets, code_data, code_valid):
    """equal_to_code_int for byte strings (row i: data[offsets[i]:offsets[i+1]])."""
    has_mask = valid.size > 0
    for i in range(codes.size):
        c = codes[i]
        if has_mask and valid[i] != code_valid[c]:
            return False
        if has_mask and not valid[i]:
            continue
        s = offsets[i]
        m = offsets[i + 1] - s
        cs = code_offsets[c]
        if code_offsets[c + 1] - cs != m:
            return False
        for k in range(m):
            if data[s + k] != code_data[cs + k]:
                return False
    return True


@njit(**EXACT)
def hash_int_into(h, values, valid):
    """Fold each row's int64 value (a null hashes as a value of its own) into the row hashes ``h``."""
    has_mask = valid.size > 0
    for i in range(h.size):
        v = _mix(values[i]) if (not has_mask or valid[i]) else np.uint64(0x9E3779B97F4A7C15)
        h[i] = _mix(h[i] * np.uint64(0x100000001B3) + v)


@njit(**EXACT)
def hash_bytes_into(h, offsets, data, valid):
    """hash_int_into for byte strings (row i: data[offsets[i]:offsets[i+1]])."""
    has_mask = valid.size > 0
    for i in range(h.size):
        if has_mask and not valid[i]:
            v = np.uint64(0x9E3779B97F4A7C15)
        else:
            v = _bytes_hash(data, offsets[i], offsets[i + 1])
        h[i] = _mix(h[i] * np.uint64(0x100000001B3) + v)


@njit(**EXACT)
def partition_rows(h, partitions):
    """(perm, counts): the rows ordered by partition ``h % partitions`` (stable), and each partition's
    number of rows."""
    n = h.size
    counts = np.zeros(partitions, np.int64)
    part = np.empty(n, np.int64)
    for i in range(n):
        p = np.int64(h[i] % np.uint64(partitions))
        part[i] = p
        counts[p] += 1
    fill = np.empty(partitions, np.int64)
    total = 0
    for p in range(partitions):
        fill[p] = total
        total += counts[p]
    perm = np.empty(n, np.int64)
    for i in range(n):
        p = part[i]
        perm[fill[p]] = i
        fill[p] += 1
    return perm, counts
