"""GPU benchmark: tf2eng's CUDA kernels against the card's memory bandwidth, end to end
against the host-to-device copy bandwidth, next to the CPU path on the same machine.

Sized to finish in a few minutes on one GPU.  Writes JSON (default
bench/results/gpu.json) and prints it.

    .venv/bin/python bench/gpu.py --tracks 1000000
"""

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from numba import cuda

import tf2eng
from tf2eng.engine.ragged import key_frames_of, scores_of
from tf2eng.engine.synth import write_synthetic
from tf2eng.kernels import cuda as gk
from tf2eng.kernels.grid import grid_size

K, STEP, LAM = 10, 0.01, 0.7


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


def kernels_alone(table) -> dict:
    """Both kernels on data already on the device; bytes = what they must read and write."""
    scores = scores_of(table.column("scores").combine_chunks())
    keys = key_frames_of(table.column("key_frame").combine_chunks())
    n = scores.offsets.size - 1
    M = grid_size(K, STEP)
    d_off = cuda.to_device(scores.offsets.astype(np.int64))
    d_val = cuda.to_device(scores.values)
    d_bits = cuda.to_device(np.empty(0, np.uint8))
    d_key = cuda.to_device(keys.frame)
    d_valid = cuda.to_device(keys.valid)
    d_group = cuda.to_device(np.zeros(n, np.int32))
    out_key = cuda.device_array(n, np.int64)
    pos_key = cuda.device_array(n, np.float64)
    Y = cuda.device_array((n, K), np.float64)
    counts = cuda.device_array((n, K), np.int32)
    curves = cuda.device_array((n, M), np.float64)
    n_slabs = -(-n // gk.TRACKS_PER_SLAB)
    stage_slabs = cuda.device_array((n_slabs, 1, 5, K), np.float64)
    curve_slabs = cuda.device_array((n_slabs, 1, 5, M), np.float64)

    def launch():
        reason = cuda.to_device(np.zeros(n, np.uint8))
        stage_slabs[:] = 0
        curve_slabs[:] = 0
        t = time.perf_counter()
        gk.track_kernel[gk._blocks(n), gk.THREADS_PER_BLOCK](
            d_off, d_val, d_bits, 0, d_bits, 0, d_key, d_valid, LAM, False, False, STEP,
            reason, out_key, pos_key, Y, counts, curves)
        gk.moments_kernel[gk._blocks(n_slabs * K), gk.THREADS_PER_BLOCK](Y, reason, d_group, gk.TRACKS_PER_SLAB,
                                                                         stage_slabs)
        gk.moments_kernel[gk._blocks(n_slabs * M), gk.THREADS_PER_BLOCK](curves, reason, d_group,
                                                                         gk.TRACKS_PER_SLAB, curve_slabs)
        cuda.synchronize()
        return time.perf_counter() - t

    launch()  # compile
    seconds = min(launch() for _ in range(3))
    frames = scores.values.size
    moved = (scores.values.nbytes + scores.offsets.nbytes + keys.frame.nbytes
             + 2 * (Y.nbytes + curves.nbytes) + counts.nbytes + out_key.nbytes + pos_key.nbytes)
    return {"seconds": seconds, "frames": frames, "frames_per_s": frames / seconds,
            "bytes_moved": moved, "achieved_gb_s": moved / seconds / 1e9}


def end_to_end(path: Path, device: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tf2eng.run(path, Path(tmp) / "warm", plot=False, device=device)
        t = time.perf_counter()
        result = tf2eng.run(path, Path(tmp) / "out", plot=False, device=device, full=True)
        seconds = time.perf_counter() - t
    return {"device": device, "seconds": seconds, "timings_s": result.summary["timings_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path("bench/data"))
    parser.add_argument("--json-out", type=Path, default=Path("bench/results/gpu.json"))
    args = parser.parse_args()
    if not gk.usable() or gk.SIMULATOR:
        raise SystemExit("bench/gpu.py needs a real CUDA GPU (numba.cuda.is_available() is false)")
    args.data.mkdir(parents=True, exist_ok=True)
    path = args.data / f"synth-{args.tracks}-0.parquet"
    if not path.exists():
        write_synthetic(path, args.tracks, seed=0)
    table = pq.read_table(path, columns=["scores", "key_frame"])
    info = card()
    scores_bytes = table.column("scores").combine_chunks().values.nbytes
    record = {
        "machine": {"card": info, "host": platform.processor() or platform.machine()},
        "dataset": {"path": str(path), "tracks": table.num_rows, "score_bytes": scores_bytes},
        "h2d_gb_s": h2d_bandwidth(min(scores_bytes, 1 << 30)),
        "kernels": kernels_alone(table),
        "end_to_end": [end_to_end(path, "cuda"), end_to_end(path, "cpu")],
    }
    k = record["kernels"]
    k["share_of_memory_bandwidth"] = k["achieved_gb_s"] / info["memory_bandwidth_gb_s"]
    gpu_run = record["end_to_end"][0]
    gpu_run["score_gb_s"] = scores_bytes / gpu_run["seconds"] / 1e9
    gpu_run["share_of_h2d_bandwidth"] = gpu_run["score_gb_s"] / record["h2d_gb_s"]
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
