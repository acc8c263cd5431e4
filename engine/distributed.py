"""Runs on a Dask distributed cluster: one task per unit, the same code as a local run.

Each task streams its input file through :func:`stream.run_unit` on a
worker, writes that file's part of ``stages/`` and its rejected rows to
the shared output location, and returns the file's partial aggregates.
The client merges the partials in unit order.  Input and output must be
on a filesystem every worker and the client see at the same path.

A worker that dies mid-task: Dask runs the task again elsewhere; the
unit's files are written under temporary names and renamed when complete,
so the output holds each track exactly once.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import InputError
from .stream import UnitContext, run_unit
from .units import UnitAggregates, Unit


class Cluster:
    """A Dask client: on an existing scheduler, or on a local cluster started here."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise InputError("--engine dask needs dask[distributed]: pip install 'tf2eng[dask]'") from None
        self._cluster = None
        try:
            if scheduler:
                self.client = Client(scheduler, timeout="20s")
            else:
                self._cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                                             dashboard_address=None)
                self.client = Client(self._cluster)
        except OSError as exc:
            raise InputError(f"--scheduler {scheduler}: cannot connect: {exc}") from None

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def run_units(self, ctx: UnitContext, units: list[Unit],
                  done: Callable[[Unit, UnitAggregates, dict], None]) -> dict[str, UnitAggregates]:
        """Run every unit as a task; ``done`` is called as each finishes."""
        from dask.distributed import as_completed

        shared = self.client.scatter(ctx, broadcast=True)
        futures = {
            self.client.submit(run_unit, shared, unit, key=f"tf2eng-unit-{unit.key}", pure=False): unit
            for unit in units
        }
        partials = {}
        try:
            for future in as_completed(futures):
                unit = futures[future]
                partial, timings = future.result()
                partials[unit.key] = partial
                done(unit, partial, timings)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        return partials
