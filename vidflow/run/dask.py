"""Past one machine: topics spread over a Dask cluster, limits held cluster-wide.

Each topic runs as one Dask task: the worker loads the recipe and runs that topic with the very
same scheduler (local executor), then sends back its events, Task graph, outcomes and outputs;
the client merges them into one run record and one :class:`~vidflow.api.RunResult`-shaped
result. What makes this correct across machines:

* **One cache.** Every worker reads and writes the cache URL; for several machines it must be
  shared (``s3://...``, or a path on a shared filesystem). Keys never depend on the machine.
* **Cluster-wide limits.** A provider's ``concurrency`` is a ``distributed.Semaphore`` with that
  many leases; its ``rate: N/period`` a second one with N leases, each held for the rate
  window's hold time after the call starts (``vidflow.limits.RateWindow.hold``).
* **No deadlock.** Waiting for a lease blocks a thread (the semaphore's API is synchronous in a
  task). Those waits run in the limiter's own small thread pool, never in the pool that blob
  I/O and provider calls need, and at most ``concurrency`` of a process's nodes wait at once;
  each wait has a deadline and a clear error.
* **Same inputs everywhere.** Workers need the recipe, its characters and topics files at the
  same path, and the providers' API keys in their own environment (secrets never travel in
  task arguments).

Tests run a ``LocalCluster`` on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import networkx as nx

from ..errors import ConfigError, MissingDependencyError, RateLimitedError, VidflowError
from ..limits import Limits, RateWindow
from .ledger import Event, EventSink, EventType, JsonlSink, MemorySink, MultiSink, Summarizer
from .limits import DEFAULT_429_PAUSE, MonotonicClock
from .result import RunResult

__all__ = ["DaskExecutor", "DistributedLimiter", "LeaseTimeoutError"]

#: Seconds a node may wait for a cluster-wide slot before it fails with a clear error.
LEASE_TIMEOUT = 900.0
#: Seconds to wait for the scheduler at ``--address`` before giving up (exit 2).
CONNECT_TIMEOUT = 10


class LeaseTimeoutError(VidflowError):
    """A node waited too long for a provider slot held by other workers of the cluster."""


class DistributedLimiter:
    """A Limiter whose concurrency and rate window hold across a Dask cluster."""

    def __init__(self, name: str, *, limits: Limits, clock: Any = None, namespace: str = "vidflow", lease_timeout: float = LEASE_TIMEOUT):
        from distributed import Semaphore

        self.name = name
        self.limits = limits
        self.clock = clock or MonotonicClock()
        self.lease_timeout = lease_timeout
        self._conc = Semaphore(max_leases=limits.concurrency, name=f"{namespace}:{name}:concurrency")
        self._rate = Semaphore(max_leases=limits.rate.calls, name=f"{namespace}:{name}:rate") if limits.rate else None
        self._hold = RateWindow(limits.rate).hold if limits.rate else 0.0
        # At most `concurrency` nodes of this process wait for a lease at once, each in one of
        # these threads; releases have threads of their own so they never queue behind waits.
        self._gate = asyncio.Semaphore(limits.concurrency)
        self._waits = ThreadPoolExecutor(max_workers=limits.concurrency, thread_name_prefix=f"vidflow-lease-{name}")
        self._releases = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"vidflow-release-{name}")
        self._paused_until = 0.0

    @property
    def concurrency(self) -> int:
        return self.limits.concurrency

    @property
    def rate(self) -> Any:
        return self.limits.rate

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self.clock.now() + seconds)

    async def _lease(self, sem: Any, what: str) -> None:
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(self._waits, lambda: sem.acquire(timeout=self.lease_timeout))
        if not ok:
            raise LeaseTimeoutError(
                f"provider `{self.name}`: no {what} slot came free on the cluster within {self.lease_timeout:.0f}s; "
                "other workers hold them (a stuck worker's leases expire after distributed.scheduler.locks.lease-timeout)"
            )

    @staticmethod
    def _release_later(sem: Any, delay: float) -> None:
        # A timer thread, not the event loop: a topic's loop may end before the window does,
        # and a lease left behind would block every later call of this provider.
        timer = threading.Timer(delay, sem.release)
        timer.daemon = True
        timer.start()

    async def __aenter__(self) -> DistributedLimiter:
        await self._gate.acquire()
        try:
            await self._lease(self._conc, "concurrency")
        except BaseException:
            self._gate.release()
            raise
        try:
            while (wait := self._paused_until - self.clock.now()) > 0:
                await self.clock.sleep(wait)
            if self._rate is not None:
                await self._lease(self._rate, "rate")
                # the lease is the call's place in the rate window: given back one hold later
                self._release_later(self._rate, self._hold)
        except BaseException:
            await asyncio.get_running_loop().run_in_executor(self._releases, self._conc.release)
            self._gate.release()
            raise
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if isinstance(exc, RateLimitedError):
            self.pause(exc.retry_after if exc.retry_after is not None else DEFAULT_429_PAUSE)
        try:
            await asyncio.get_running_loop().run_in_executor(self._releases, self._conc.release)
        finally:
            self._gate.release()

    def close(self) -> None:
        self._waits.shutdown(wait=False, cancel_futures=True)
        self._releases.shutdown(wait=True)


def _topic_task(recipe_path: str, topic_id: str, topics_file: str | None, settings: dict, refresh: Any, output_root: str, run_id: str, namespace: str) -> dict[str, Any]:
    """Run one topic on a worker; return its events, Tasks, outcomes, calls and outputs."""
    from pathlib import Path

    from ..cache.store import CacheStore
    from ..capabilities.registry import default_capabilities
    from ..providers.registry import default_registry
    from ..recipe.load import load_recipe
    from ..settings import Settings
    from .executors import LocalExecutor
    from .scheduler import Scheduler

    loaded = load_recipe(recipe_path, registry=default_registry(), catalog=default_capabilities(), topics_override=Path(topics_file) if topics_file else None)
    loaded = loaded.with_topics([t for t in loaded.topics if t.id == topic_id])
    s = Settings.from_env().replace(**settings)  # API keys from the worker's own environment
    limiters: list[DistributedLimiter] = []

    def limiter(name: str, **kw: Any) -> DistributedLimiter:
        lim = DistributedLimiter(name, namespace=namespace, **kw)
        limiters.append(lim)
        return lim

    memory = MemorySink()
    store = CacheStore(s.cache_url, storage_options=s.storage_options(s.cache_url))

    async def go() -> Any:
        async with Scheduler(loaded, settings=s, store=store, executor=LocalExecutor(), sink=memory, run_id=run_id, refresh=refresh,
                             output_root=output_root, limiter_factory=limiter) as sched:
            await sched.run()
        return sched

    try:
        sched = asyncio.run(go())
        if sched.bugs:
            raise sched.bugs[0]
    finally:
        for lim in limiters:
            lim.close()
        store.close()
    where = {"worker_pid": os.getpid()}
    return {
        "events": [{**e.as_dict(), "data": {**e.data, **where}} for e in memory.events if e.type not in (EventType.RUN_STARTED, EventType.RUN_FINISHED)],
        "tasks": [sched.graph.nodes[n]["task"] for n in sched.graph],
        "outcomes": sched.outcomes,
        "calls": sched.calls,
        "values": {step: sched.outputs(step) for step in loaded.order},
    }


class DaskExecutor:
    """Topics as tasks on a Dask cluster (``address``), or on a LocalCluster of ``workers``."""

    def __init__(self, *, address: str | None = None, workers: int = 2, topics_file: str | None = None):
        self.address = address
        self.workers = workers
        self.topics_file = topics_file

    async def run(self, loaded: Any, *, settings: Any, sink: EventSink | None, refresh: Any, output_root: str | None, run_id: str) -> Any:
        return await asyncio.to_thread(self._run, loaded, settings, sink, refresh, output_root, run_id)

    def _run(self, loaded: Any, settings: Any, sink: EventSink | None, refresh: Any, output_root: str | None, run_id: str) -> Any:
        try:
            from distributed import Client, LocalCluster, as_completed
        except ImportError as e:  # pragma: no cover - the dask extra is not installed
            raise MissingDependencyError('the Dask executor needs the dask extra: pip install "vidflow[dask]"') from e
        from ..storage import is_local, url_to_fs

        fs, _ = url_to_fs(settings.cache_url, **settings.storage_options(settings.cache_url))
        cache_url = os.path.abspath(settings.cache_url) if is_local(fs) and "://" not in settings.cache_url else settings.cache_url
        if self.address and is_local(fs):
            logging.getLogger("vidflow").warning("the cache %s is a local path: workers on other machines need it on a shared filesystem", cache_url)
        namespace = f"vidflow:{run_id}"
        payload = {"cache_url": cache_url, "cache_salt": settings.cache_salt, "s3_endpoint_url": settings.s3_endpoint_url, "max_ffmpeg": settings.max_ffmpeg, "prices_file": settings.prices_file}
        out_root = os.path.abspath(output_root or os.getcwd())
        summary = Summarizer()
        jsonl = JsonlSink(os.path.join(settings.runs_dir, run_id, "events.jsonl"))
        out = MultiSink(summary, jsonl, sink)
        out.emit(Event(run_id, EventType.RUN_STARTED, data={"recipe": loaded.name, "mode": "run", "executor": "dask", "topics": [t.id for t in loaded.topics], "cache": cache_url}))
        graph, outcomes, calls, values = nx.DiGraph(), {}, {}, {}
        cluster = None
        interrupted = True
        try:
            if self.address:
                try:
                    client = Client(self.address, timeout=CONNECT_TIMEOUT)
                except (OSError, TimeoutError, ValueError) as e:
                    raise ConfigError(f"--address {self.address}: cannot reach the Dask scheduler ({e}); start it (`dask scheduler`) or fix the address") from None
            else:
                # The scheduler serves HTTP (health, metrics) even with no dashboard, on 8787 by
                # default: when that port is taken (another cluster, another run), tornado leaks
                # the socket that failed to bind. An ephemeral loopback port never collides.
                cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                                       scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=logging.ERROR)  # fmt: skip
                client = Client(cluster)
            with client:
                futures = [
                    client.submit(_topic_task, str(loaded.path.resolve()), t.id, self.topics_file, payload, refresh, out_root, run_id, namespace, key=f"vidflow-{run_id}-{t.id}", pure=False)
                    for t in loaded.topics
                ]
                for fut in as_completed(futures):
                    part = fut.result()
                    for d in part["events"]:
                        out.emit(Event.from_dict(d))
                    for task in part["tasks"]:
                        graph.add_node(task.id, task=task)
                        for dep in task.deps:
                            graph.add_edge(dep, task.id)
                    outcomes.update(part["outcomes"])
                    for k, v in part["calls"].items():
                        calls[k] = calls.get(k, 0) + v
                    for step, by_topic in part["values"].items():
                        values.setdefault(step, {}).update(by_topic)
            interrupted = False
        finally:
            out.emit(Event(run_id, EventType.RUN_FINISHED, data={"interrupted": interrupted, "executor": "dask"}))
            jsonl.close()
            if cluster is not None:
                cluster.close()
        return RunResult(run_id, summary.summary, jsonl.path, graph, calls, outcomes, values)
