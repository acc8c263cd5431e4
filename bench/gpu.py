"""GPU check and benchmark: the CUDA path against the CPU path (parity), then its
kernels against the card's memory bandwidth and end to end against the
host-to-device copy bandwidth, next to the CPU path on the same machine.

One prepared script, sized to finish in a few minutes on one GPU.  Writes JSON
(default bench/results/gpu.json), prints it, and exits 1 when parity fails:

* per track, reasons, key frames, pos_key and stage counts must be equal, and
  stage scores, group means and group stds within --rtol / --rtol-std;
* a batch split into several passes (a small device memory budget) must give
  the same bits as one pass.

    .venv/bin/python bench/gpu.py --tracks 1000000

It needs numba-cuda and a CUDA GPU (the simulator is refused).
"""

import argparse
import itertools
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numba import cuda

import tf2eng
from tf2eng.engine.ragged import key_frames_of, scores_of
from tf2eng.engine.synth import write_synthetic
from tf2eng.kernels import cuda as gk
from tf2eng.kernels.cpu import align_tracks
from tf2eng.kernels.grid import grid_size
from tf2eng.kernels.layout import Params
from tf2eng.kernels.moments import finalize

K, STEP, LAM = 10, 0.01, 0.7
GROUPS = 7  # groups of the parity batches


def card() -> dict:
    dev = cuda.get_current_device()
    clock_khz = dev.MEMORY_CLOCK_RATE
    bus_bits = dev.GLOBAL_MEMORY_BUS_WIDTH
    return {
        "name": dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name),
        "compute_capability": list(dev.compute_capability),
        "memory_bandwidth_gb_s": 2 * clock_khz * 1e3 * bus_bits / 8 / 1e9,  # DDR: two transfers a clock
    }


def h2d_bandwidth(nbytes: int) -> float:
    host = cuda.pinned_array(nbytes, np.uint8)
    host[:] = 1
    dev = cuda.device_array(nbytes, np.uint8)
    dev.copy_to_device(host)
    cuda.synchronize()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        dev.copy_to_device(host)
        cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return nbytes / best / 1e9


# ---------------------------------------------------------------- parity


def parity_batch(n: int, seed: int):
    """n tracks of 0 to 400 scores with null lists, null, NaN and out-of-range scores,
    null and out-of-range key frames, sliced so offsets and bitmaps start mid-byte."""
    rng = np.random.default_rng(seed)
    m = n + 5
    lengths = rng.integers(0, 400, m)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    values = rng.random(int(offsets[-1]))
    values[rng.random(values.size) < 2e-5] = np.nan
    values[rng.random(values.size) < 2e-5] = 1.5
    value_nulls = rng.random(values.size) < 2e-5
    list_nulls = rng.random(m) < 0.01
    arr = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, mask=value_nulls),
                                   mask=pa.array(list_nulls)).slice(5)
    frames = rng.integers(-1, lengths + 1)
    keys = pa.array(frames, pa.int64(), mask=rng.random(m) < 0.01).slice(5)
    group = rng.integers(0, GROUPS, n).astype(np.int32)
    return arr, keys, group


def _moments(acc):
    size = acc.shape[0] * acc.shape[2]
    count, mean, std = np.zeros(size, np.int64), np.zeros(size), np.zeros(size)
    finalize(acc, count, mean, std)
    return count, mean, std


def _relative(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Largest relative difference where both are numbers, and how many entries
    are a number on one side only."""
    both = np.isfinite(a) & np.isfinite(b)
    one_side = int((np.isnan(a) != np.isnan(b)).sum())
    if not both.any():
        return 0.0, one_side
    scale = np.maximum(np.abs(a[both]), np.abs(b[both]))
    diff = np.abs(a[both] - b[both])
    rel = np.where(scale > 0, diff / np.where(scale > 0, scale, 1), 0.0)
    return float(rel.max()), one_side


def parity_case(arr, keys, group, params: Params, dtype, large: bool) -> dict:
    list_type = pa.large_list(dtype) if large else pa.list_(dtype)
    scores = scores_of(arr.cast(list_type))
    key = key_frames_of(keys)
    n = scores.offsets.size - 1
    M = grid_size(K, params.step)
    cpu = align_tracks(scores, key, params, group, GROUPS, K, M, np.zeros(n, np.uint8), 4 * numba.get_num_threads())
    gpu = gk.align_tracks_cuda(scores, key, params, group, GROUPS, K, M, np.zeros(n, np.uint8))
    # A budget of about three slabs: many passes over the same batch.
    per_slab = gk.tracks_per_slab(GROUPS, K, M)
    dims = gk.Dims(GROUPS, K, M, scores.values.dtype, key.frame.size > 0,
                   scores.list_bits.size > 0, scores.value_bits.size > 0)
    small_budget = gk.pass_bytes(dims, scores.offsets, 0, min(n, 3 * per_slab), per_slab)
    passes = len(gk.plan_passes(scores.offsets, dims, per_slab, small_budget)) - 1
    split = gk.align_tracks_cuda(scores, key, params, group, GROUPS, K, M, np.zeros(n, np.uint8), budget=small_budget)

    ok = cpu[0].reason == 0
    record = {
        "tracks": n, "accepted": int(ok.sum()),
        "unequal": {name: int((getattr(gpu[0], name)[ok] != getattr(cpu[0], name)[ok]).sum())
                    for name in ("key_frame", "pos_key")},
        "passes_of_split_run": passes,
        "split_differs": any(a.tobytes() != b.tobytes() for a, b in zip((*gpu[0], *gpu[1:]), (*split[0], *split[1:]))),
    }
    record["unequal"]["reason"] = int((gpu[0].reason != cpu[0].reason).sum())
    record["unequal"]["stage_counts"] = int((gpu[0].stage_counts[ok] != cpu[0].stage_counts[ok]).sum())
    record["stage_scores_rel"], record["unequal"]["stage_scores_nan"] = _relative(
        gpu[0].stage_scores[ok], cpu[0].stage_scores[ok])
    for part, a, b in (("stage", cpu[1], gpu[1]), ("curve", cpu[2], gpu[2])):
        (ca, ma, sa), (cb, mb, sb) = _moments(a), _moments(b)
        record["unequal"][f"{part}_count"] = int((ca != cb).sum())
        record[f"{part}_mean_rel"], record["unequal"][f"{part}_mean_nan"] = _relative(mb, ma)
        record[f"{part}_std_rel"], record["unequal"][f"{part}_std_nan"] = _relative(sb, sa)
    return record


def parity(n: int, rtol: float, rtol_std: float) -> dict:
    arr, keys, group = parity_batch(n, seed=1)
    cases = []
    for dtype, large, keyed, (mean, minmax) in itertools.product(
            (pa.float32(), pa.float64()), (False, True), (False, True), ((False, False), (True, True))):
        params = Params(lam=LAM, reduce_mean=mean, minmax=minmax, step=STEP)
        record = parity_case(arr, keys if keyed else None, group, params, dtype, large)
        record["case"] = {"scores": str(dtype), "large_list": large, "key_frames": keyed,
                          "reduce_mean": mean, "minmax": minmax}
        cases.append(record)
    worst = {name: max(c[name] for c in cases) for name in cases[0] if name.endswith("_rel")}
    failures = [c["case"] for c in cases
                if any(c["unequal"].values()) or c["split_differs"]
                or max(c["stage_scores_rel"], c["stage_mean_rel"], c["curve_mean_rel"]) > rtol
                or max(c["stage_std_rel"], c["curve_std_rel"]) > rtol_std]
    return {"rtol": rtol, "rtol_std": rtol_std, "worst": worst, "failures": failures, "cases": cases}


# ---------------------------------------------------------------- timing


def kernels_alone(table) -> dict:
    """The kernels of one pass over every track, on data already on the device;
    bytes = what they must read and write."""
    scores = scores_of(table.column("scores").combine_chunks())
    keys = key_frames_of(table.column("key_frame").combine_chunks())
    n = scores.offsets.size - 1
    frames = int(scores.offsets[-1]) - int(scores.offsets[0])
    M = grid_size(K, STEP)
    dims = gk.Dims(1, K, M, scores.values.dtype, keys.frame.size > 0,
                   scores.list_bits.size > 0, scores.value_bits.size > 0)
    per_slab = gk.tracks_per_slab(1, K, M)
    slabs = -(-n // per_slab)
    buffers = gk.DeviceBuffers()
    arena = buffers.arena(gk.pass_bytes(dims, scores.offsets, 0, n, per_slab))
    stream = buffers.stream
    stage_total, curve_total = (arena.take(*spec) for spec in gk._totals(dims))
    after_totals = arena.used
    reason = np.zeros(n, np.uint8)
    group = np.zeros(n, np.int32)
    d = gk._carve(arena, dims, n, frames, slabs, 0, stream)
    bit_offsets = gk._upload(buffers, d, scores, keys, reason, group, 0, n, stream)
    stream.synchronize()

    def launch():
        t = time.perf_counter()
        arena.used = after_totals
        gk._carve(arena, dims, n, frames, slabs, 0, stream)  # the same arrays, zeroed again
        d.reason.copy_to_device(reason, stream=stream)
        gk._launch(d, Params(LAM, False, False, STEP), *bit_offsets, per_slab, stage_total, curve_total, stream)
        stream.synchronize()
        return time.perf_counter() - t

    launch()  # compile
    seconds = min(launch() for _ in range(3))
    moved = (scores.values.nbytes + scores.offsets.nbytes + keys.frame.nbytes + keys.valid.nbytes
             + 2 * (d.stage_scores.nbytes + d.curves.nbytes) + d.stage_counts.nbytes
             + d.key_frame_out.nbytes + d.pos_key.nbytes)
    return {"seconds": seconds, "tracks": n, "frames": frames, "frames_per_s": frames / seconds,
            "bytes_moved": moved, "achieved_gb_s": moved / seconds / 1e9}


def end_to_end(path: Path, device: str):
    with tempfile.TemporaryDirectory() as tmp:
        tf2eng.run(path, Path(tmp) / "warm", plot=False, device=device)
        t = time.perf_counter()
        result = tf2eng.run(path, Path(tmp) / "out", plot=False, device=device, full=True)
        seconds = time.perf_counter() - t
    return {"device": device, "seconds": seconds, "timings_s": result.summary["timings_s"]}, result


def run_parity(cpu, gpu) -> dict:
    """The two runs' aggregates: counts equal, means and stds side by side."""
    record = {}
    for name, a, b in (("stage_means", cpu.stage_means, gpu.stage_means), ("curve", cpu.curve, gpu.curve)):
        record[f"{name}_counts_equal"] = bool(a["count"].equals(b["count"]))
        for column in ("mean", "std"):
            if column in a.columns:
                rel, one_side = _relative(b[column].fill_null(np.nan).to_numpy(), a[column].fill_null(np.nan).to_numpy())
                record[f"{name}_{column}_rel"] = rel
                record[f"{name}_{column}_one_side"] = one_side
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--parity-tracks", type=int, default=200_000)
    parser.add_argument("--rtol", type=float, default=1e-12, help="stage scores and means, GPU against CPU")
    parser.add_argument("--rtol-std", type=float, default=1e-9, help="group stds, GPU against CPU")
    parser.add_argument("--data", type=Path, default=Path("bench/data"))
    parser.add_argument("--json-out", type=Path, default=Path("bench/results/gpu.json"))
    args = parser.parse_args()
    if not gk.usable() or gk.SIMULATOR:
        raise SystemExit("bench/gpu.py needs a real CUDA GPU (numba.cuda.is_available() is false)")
    info = card()
    record = {"machine": {"card": info, "host": platform.processor() or platform.machine(),
                          "numba": numba.__version__}}
    t = time.perf_counter()
    record["parity"] = parity(args.parity_tracks, args.rtol, args.rtol_std)
    record["parity"]["seconds"] = time.perf_counter() - t

    args.data.mkdir(parents=True, exist_ok=True)
    path = args.data / f"synth-{args.tracks}-0.parquet"
    if not path.exists():
        write_synthetic(path, args.tracks, seed=0)
    table = pq.read_table(path, columns=["scores", "key_frame"])
    scores_bytes = table.column("scores").combine_chunks().values.nbytes
    record["dataset"] = {"path": str(path), "tracks": table.num_rows, "score_bytes": scores_bytes}
    record["h2d_gb_s"] = h2d_bandwidth(min(scores_bytes, 1 << 30))
    record["kernels"] = kernels_alone(table)
    gpu_run, gpu_result = end_to_end(path, "cuda")
    gpu_run["device_bytes_held"] = int(gk._BUFFERS.device.shape[0]) if gk._BUFFERS.device is not None else 0
    cpu_run, cpu_result = end_to_end(path, "cpu")
    record["end_to_end"] = [gpu_run, cpu_run]
    record["run_parity"] = run_parity(cpu_result, gpu_result)
    k = record["kernels"]
    k["share_of_memory_bandwidth"] = k["achieved_gb_s"] / info["memory_bandwidth_gb_s"]
    gpu_run["score_gb_s"] = scores_bytes / gpu_run["seconds"] / 1e9
    gpu_run["share_of_h2d_bandwidth"] = gpu_run["score_gb_s"] / record["h2d_gb_s"]
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    if record["parity"]["failures"]:
        sys.exit(f"parity failed for {len(record['parity']['failures'])} case(s); see {args.json_out}")


if __name__ == "__main__":
    main()
