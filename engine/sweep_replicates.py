"""--bootstrap in a sweep (README, Parameter sweeps; Confidence bands): the replicate sums of every
configuration, each kept as a run of that configuration alone keeps them (engine/replicates.py),
with the same Poisson weights per track (they depend on the track's ids, b and --seed only).

A unit's sums of all configurations travel side by side along the rows axis, (groups, rows_1 +
rows_2 + ..., B), the way the moments do (engine/sweep.py), and merge elementwise in any grouping.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pyarrow as pa

from ..kernels import bootstrap as kb
from .errors import InputError
from .replicates import BUDGET_BYTES, ReplicateSums, SharedWeights, bytes_per_group


class SweepReplicateSums:
    """A ReplicateSums per configuration of a sweep (its configurations: Options, in order)."""

    def __init__(self, configurations, by: tuple[str, ...] = ()):
        self.configurations = tuple(configurations)
        self.by = by
        first = self.configurations[0]
        self.replicates = first.bootstrap
        self.parts = [ReplicateSums(o.bootstrap, o.seed, o.stages, o.grid_size, by) for o in self.configurations]
        self._rows = [kb.rows(o.stages, o.grid_size) for o in self.configurations]
        self._pool: ThreadPoolExecutor | None = None  # draws the weights of a batch's tracks

    def grow(self, n_groups: int) -> None:
        """Room for ``n_groups`` groups in every configuration; the budget of replicate sums is for
        all configurations together."""
        if n_groups > self.parts[0].groups:
            per_group = sum(bytes_per_group(self.replicates, o.stages, o.grid_size) for o in self.configurations)
            if n_groups * per_group > BUDGET_BYTES:
                raise InputError(
                    f"--bootstrap {self.replicates}: {n_groups:,} groups"
                    + (f" of --by {','.join(self.by)}" if self.by else "")
                    + f" in {len(self.parts)} configurations need {n_groups * per_group / 2**30:.1f} GiB of "
                    f"replicate sums, more than the {BUDGET_BYTES // 2**30} GiB budget (at most "
                    f"{BUDGET_BYTES // per_group:,} group{'' if BUDGET_BYTES // per_group == 1 else 's'}); use fewer replicates, configurations or a coarser --by")
        for part in self.parts:
            part.grow(n_groups)

    def add_tracks(self, stages: pa.Table, group: np.ndarray, n_groups: int, id_cols: tuple[str, ...],
                   step: float) -> None:
        """Add a batch's accepted tracks: ``stages`` holds their rows configuration by configuration,
        as many for each (engine/sweep.py, combine)."""
        self.grow(n_groups)
        n = stages.num_rows // len(self.parts)
        # The same tracks in every configuration: their weights are drawn once, for all of them, on
        # threads of their own while the caller goes on (the configurations' tasks wait for them).
        weights = None
        if n:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(numba.get_num_threads(), thread_name_prefix="tf2eng-weights")
            weights = SharedWeights(stages.slice(0, n), id_cols, self.parts[0].seed, self.replicates, self._pool,
                                    numba.get_num_threads())
        for j, part in enumerate(self.parts):
            part.add_tracks(stages.slice(j * n, n), group, n_groups, id_cols, step, weights)

    def finish(self) -> None:
        for part in self.parts:
            part.finish()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    @property
    def hi(self) -> np.ndarray:
        """Every configuration's high limbs side by side, (groups, sum of rows, B)."""
        return np.concatenate([part.hi for part in self.parts], axis=1)

    @property
    def lo(self) -> np.ndarray:
        return np.concatenate([part.lo for part in self.parts], axis=1)

    def add(self, hi: np.ndarray, lo: np.ndarray, codes: np.ndarray | None = None) -> None:
        """Merge a unit's sums, every configuration's side by side (see :attr:`hi`)."""
        first = 0
        for part, rows in zip(self.parts, self._rows):
            part.add(np.ascontiguousarray(hi[:, first: first + rows]), np.ascontiguousarray(lo[:, first: first + rows]),
                     codes)
            first += rows
