"""The kernel of a sweep: one pass for every configuration (λ, K) (kernels/sweep.py: ln S once, the powers
of eq. (1) once per λ) against one pass per configuration (kernels/cpu.py), on batches of the reference
dataset (README, Parameter sweeps; bench/README.md, Parameter sweeps).

    NUMBA_NUM_THREADS=1 python bench/sweep_kernel.py [--input bench/data/synth-1000000-0.parquet]
                                                     [--lam 0.7] [--stages 5,10,20] [--batches 3] [--repeat 2]

``--lam`` may be a list (0.5,0.7,1.0).  Prints, for each repeat (the passes alternate), the process
CPU time and the wall time per million tracks of the one-configuration passes, of one pass per λ
(where --lam lists several) and of the one pass for all.  Run with one numba thread for CPU time
that does not depend on the thread count.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from tf2eng.engine.ragged import key_frames_of, scores_of
from tf2eng.kernels.cpu import align_tracks
from tf2eng.kernels.grid import grid_size
from tf2eng.kernels.layout import Params
from tf2eng.kernels.sweep import align_tracks_sweep

HERE = Path(__file__).resolve().parent
STEP = 0.01


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=HERE / "data" / "synth-1000000-0.parquet")
    parser.add_argument("--lam", default="0.7")
    parser.add_argument("--stages", default="5,10,20")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    lams = [float(v) for v in args.lam.split(",")]
    ks = [int(k) for k in args.stages.split(",")]
    sizes = [grid_size(k, STEP) for k in ks]
    params = Params(lam=lams[0], reduce_mean=False, minmax=False, step=STEP)
    J = len(lams) * len(ks)
    batches = []
    for batch in pq.ParquetFile(args.input).iter_batches(batch_size=65_536, columns=["scores", "key_frame"]):
        batches.append((scores_of(batch.column("scores")), key_frames_of(batch.column("key_frame")), batch.num_rows))
        if len(batches) == args.batches:
            break
    tracks = sum(n for _, _, n in batches)

    def one_k_passes() -> None:
        for scores, keys, n in batches:
            for lam in lams:
                for k, m in zip(ks, sizes):
                    align_tracks(scores, keys, params._replace(lam=lam), np.zeros(n, np.int32), 1, k, m,
                                 np.zeros(n, np.uint8), 4)

    def pass_per_lam() -> None:
        for scores, keys, n in batches:
            for lam in lams:
                align_tracks_sweep(scores, keys, params, np.zeros(n, np.int32), 1, [lam] * len(ks), ks, sizes,
                                   np.zeros(n, np.uint8), 4)

    def one_pass() -> None:
        for scores, keys, n in batches:
            align_tracks_sweep(scores, keys, params, np.zeros(n, np.int32), 1, [lam for lam in lams for _ in ks],
                               ks * len(lams), sizes * len(lams), np.zeros(n, np.uint8), 4)

    runs = [(f"{J} one-configuration passes", one_k_passes)]
    if len(lams) > 1:
        runs.append((f"{len(lams)} passes of {len(ks)} K, one per λ", pass_per_lam))
    runs.append((f"one pass of {J} configurations", one_pass))
    for _, run in runs:  # compiled or loaded from the cache
        run()
    print(f"{tracks:,} tracks, λ = {args.lam}, K = {args.stages}")
    for _ in range(args.repeat):
        for name, run in runs:
            cpu, wall = time.process_time(), time.perf_counter()
            run()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(f"{name}: CPU {cpu / tracks * 1e6:.2f} s, wall {wall / tracks * 1e6:.2f} s per million tracks")


if __name__ == "__main__":
    main()
