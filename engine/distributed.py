"""Runs on a Dask distributed cluster (README, On a Dask cluster): one task per unit, the same code
as a local run.

Each task streams its unit through :func:`stream.run_unit` on a worker,
with the run's ``--threads`` for its kernels, writes the unit's part of
``stages/`` and its rejected rows to the shared output location, and
returns the unit's aggregates.  The client merges them in unit order.
Input and output must be on a filesystem every worker and the client see
at the same path.

A worker that dies mid-task, or is wrongly presumed dead: Dask runs the
task again elsewhere, perhaps while the first attempt still runs.  Every
attempt writes under temporary names of its own and commits by renaming
them, the unit's aggregates last; attempts compute the same bytes, so
the output holds each track exactly once whichever rename comes last.

When the run fails, tasks not started are cancelled and the client waits
until none of the run's tasks is still executing on any worker before the
run gives up its staging directory and lock: a task that Dask cannot stop
must not write into a directory the next run owns.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from .errors import InputError
from .stream import UnitContext, UnitResult, run_unit
from .units import Unit

TASK_PREFIX = "tf2eng-unit-"


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
        """Disconnect, and stop the local cluster if this started one (its workers end with it)."""
        try:
            self.client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()

    def run_units(self, ctx: UnitContext, units: list[Unit], done: Callable[[Unit, UnitResult], None]) -> None:
        """Run every unit as a task; ``done`` is called as each finishes.  On any error (of a task, of
        ``done``, an interrupt) the run's other tasks are cancelled and waited for before it propagates."""
        from dask.distributed import as_completed

        run = f"{TASK_PREFIX}{uuid.uuid4().hex[:8]}-"
        shared = self.client.scatter(ctx, broadcast=True)
        futures = {
            self.client.submit(run_unit, shared, unit, key=f"{run}{unit.key}", pure=False): unit
            for unit in units
        }
        try:
            for future in as_completed(futures):
                done(futures[future], future.result())
        except BaseException as exc:
            for future in futures:
                future.cancel()
            try:
                self.client.run(_until_no_task_runs, run, on_error="ignore")
            except Exception as secondary:  # noqa: BLE001 - the first error is the one to report
                exc.add_note(f"also, while waiting for the cancelled tasks: {secondary!r}")
            raise


async def _until_no_task_runs(prefix: str, dask_worker) -> None:
    """On a worker: wait until no task whose key starts with ``prefix`` is executing (a cancelled
    task's thread runs on until its function returns)."""
    def running() -> bool:
        return any(str(task.key).startswith(prefix) for task in dask_worker.state.executing)

    while running():
        await asyncio.sleep(0.05)
