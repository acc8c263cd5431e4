"""``tf2eng warmup``: compile every CPU kernel variant ahead, into numba's disk cache (README,
"Start-up and compilation").

Each input type the engine reads gets its own machine code: float32 or
float64 scores, in a list (int32 offsets) or a large_list (int64 offsets),
in the wide or the long layout, with or without nulls.  Rather than naming
numba signatures by hand (and drifting from what a run calls), warmup runs
the engine itself on a tiny dataset of each type, into a temporary folder,
with the aggregates by group and the plot on the first one, then a sweep of
two K on it: every kernel a run can call is compiled and cached, or found
cached.  A second warmup
finds them all cached and takes about as long as one short run.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# Tracks of the first dataset: more than the plot draws as lines in one group (engine/plot.py
# LINES_MAX), so that both the lines and the density shading are drawn.
TRACKS = 450
# The K of a sweep run on each dataset, so that the kernel of a sweep is compiled too.
SWEEP_STAGES = (5, 10)


@dataclass(frozen=True)
class Variant:
    layout: str  # "wide" or "long"
    values: pa.DataType  # float32 or float64
    large: bool  # wide: large_list (int64 offsets) instead of list (int32 offsets)
    nulls: bool  # a null list and a null score (rejected rows; validity bitmaps in the kernel)

    @property
    def name(self) -> str:
        lists = ("large_list" if self.large else "list") if self.layout == "wide" else "one row per frame"
        values = "float64" if self.values == pa.float64() else "float32"
        return f"{self.layout}, {values} scores, {lists}{', with nulls' if self.nulls else ''}"


VARIANTS = tuple(
    [Variant("wide", values, large, nulls) for values in (pa.float32(), pa.float64())
     for large in (False, True) for nulls in (False, True)]
    + [Variant("long", values, False, False) for values in (pa.float32(), pa.float64())]
)


@dataclass(frozen=True)
class Warmed:
    variant: Variant
    compiled: tuple[str, ...]  # the kernels numba compiled (empty: every one came from the cache)
    seconds: float


def _dataset(variant: Variant, tracks: int) -> pa.Table:
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 40, tracks)
    values = rng.random(int(lengths.sum()))
    video = [f"v{i // 3}" for i in range(tracks)]
    category = ["many" if i < tracks - 30 else "few" for i in range(tracks)]
    if variant.layout == "long":
        track = np.repeat(np.arange(tracks), lengths)
        frame = np.concatenate([np.arange(n) for n in lengths])
        return pa.table({"video_id": pa.array(video).take(pa.array(track)), "exp_id": pa.array(track % 3),
                         "category": pa.array(category).take(pa.array(track)), "frame": pa.array(frame),
                         "score": pa.array(values, variant.values)})
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    mask = np.zeros(values.size, np.bool_)
    list_mask = np.zeros(tracks, np.bool_)
    if variant.nulls:
        mask[offsets[1]] = True  # a null score in the second track
        list_mask[2] = True  # a null third track
    flat = pa.array(values, variant.values, mask=mask)
    list_type = pa.LargeListArray if variant.large else pa.ListArray
    offset_type = pa.int64() if variant.large else pa.int32()
    scores = list_type.from_arrays(pa.array(offsets, offset_type), flat, mask=pa.array(list_mask))
    return pa.table({"video_id": video, "exp_id": pa.array(np.arange(tracks) % 3), "category": category,
                     "scores": scores, "key_frame": pa.array(np.zeros(tracks, np.int64))})


def compiled_so_far() -> set[tuple[str, str]]:
    """(kernel, argument types) of every compilation of a tf2eng kernel in this process that
    did not come from numba's cache."""
    found = set()
    for name, module in list(sys.modules.items()):
        if not name.startswith("tf2eng.kernels.") or module is None:
            continue
        for value in list(vars(module).values()):
            misses = getattr(value, "_cache_misses", None)
            if misses is not None and getattr(value, "__module__", None) == name:
                found.update((value.__name__, str(sig)) for sig, count in misses.items() if count)
    return found


def warmup(threads: int | None = None, report: Callable[[Warmed], None] | None = None) -> list[Warmed]:
    """Run the engine once on a tiny dataset of every variant (the first with --by and the plot),
    so that numba compiles and caches every CPU kernel a run can call.  ``report`` is called after
    each variant."""
    from ..api import run

    done = []
    with tempfile.TemporaryDirectory(prefix="tf2eng-warmup-") as tmp:
        for i, variant in enumerate(VARIANTS):
            path = Path(tmp) / f"variant-{i}.parquet"
            pq.write_table(_dataset(variant, TRACKS if i == 0 else 40), path)
            before = compiled_so_far()
            started = time.perf_counter()
            run(path, Path(tmp) / f"out-{i}", plot=i == 0, by="category" if i == 0 else (), threads=threads,
                full=True)
            # a sweep's kernel (kernels/sweep.py; README, Parameter sweeps)
            run(path, Path(tmp) / f"sweep-{i}", stages=SWEEP_STAGES, plot=False, threads=threads, full=True)
            seconds = time.perf_counter() - started
            names = sorted({name for name, _ in compiled_so_far() - before})
            result = Warmed(variant, tuple(names), seconds)
            done.append(result)
            if report is not None:
                report(result)
    return done
