"""Executors: what happens to a node that is not cached. One scheduler, three ways to run.

* :class:`LocalExecutor`: make it here, in this process's event loop (providers under their
  limits, ffmpeg under the CPU slots).
* :class:`DryRunExecutor`: do not make it; record that it would run. This *is* ``vidflow plan``
  (Snakemake's dry run is an executor too): the plan is the same walk as the run, so it shows
  exactly what the run would do, and it makes no provider call and starts no process.
* Dask (``run/dask.py``): topics spread over a cluster, each worker running the scheduler with
  a :class:`LocalExecutor` and cluster-wide limits; it returns the same ``RunResult``.
"""

from __future__ import annotations

from typing import Any, Awaitable

from ..cache.store import Artifact

__all__ = ["DryRunExecutor", "LocalExecutor"]


class LocalExecutor:
    """Make every node that is not cached, in this process."""

    dry = False

    def make(self, rt: Any, task: Any, step: Any, cap: Any, prepared: Any) -> Awaitable[Artifact]:
        return cap.execute(task, step, prepared, rt)  # (the capability's coroutine itself: no frame of ours around it)


class DryRunExecutor:
    """Make nothing: the scheduler records "would run" and hands downstream nodes UNKNOWN."""

    dry = True

    async def make(self, rt: Any, task: Any, step: Any, cap: Any, prepared: Any) -> Artifact:  # pragma: no cover
        raise AssertionError("a dry run never makes a node")
