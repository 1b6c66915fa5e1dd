"""Past one machine: topics spread over a Dask cluster, limits held cluster-wide.

Each topic runs as one Dask task: the worker loads the recipe, runs that topic with the very same
engine, and sends its events back; the client writes them to one run record and computes one
summary. What makes this correct across machines:

* **One cache.** Every worker reads and writes the cache URL; for several machines it must be
  shared (``s3://...``, or a path on a shared filesystem). Keys never depend on the machine.
* **Cluster-wide limits.** A provider's ``concurrency`` is a ``distributed.Semaphore`` with that
  many leases; its ``rate: N/period`` is a second semaphore with N leases, each held for
  ``period`` after the call starts (so no window of that length ever holds more than N starts,
  wherever they ran). A 429 pauses that provider on the worker that saw it.
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
from typing import Any

from ..errors import RateLimitedError
from ..recipe.schema import Rate
from .ledger import Event, EventSink, EventType, JsonlSink, MemorySink, MultiSink, summarize
from .limits import DEFAULT_429_PAUSE, MonotonicClock, window_margin

__all__ = ["DistributedLimiter", "run_on_dask"]


class DistributedLimiter:
    """A Limiter whose concurrency and rate window hold across a Dask cluster."""

    def __init__(self, name: str, *, concurrency: int, rate: Rate | None, clock: Any = None, namespace: str = "vidflow"):
        from distributed import Semaphore

        self.name = name
        self.concurrency = concurrency
        self.rate = rate
        self.clock = clock or MonotonicClock()
        self._conc = Semaphore(max_leases=concurrency, name=f"{namespace}:{name}:concurrency")
        self._window = Semaphore(max_leases=rate.calls, name=f"{namespace}:{name}:rate") if rate else None
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self.clock.now() + seconds)

    async def __aenter__(self) -> DistributedLimiter:
        await asyncio.to_thread(self._conc.acquire)
        try:
            while (wait := self._paused_until - self.clock.now()) > 0:
                await self.clock.sleep(wait)
            if self._window is not None:
                await asyncio.to_thread(self._window.acquire)
                # the lease is the call's place in the rate window: give it back one period later,
                # plus the same skew margin as a local window (the call starts a moment after this)
                timer = threading.Timer(self.rate.period + window_margin(self.rate.period), self._window.release)
                timer.daemon = True
                timer.start()
        except BaseException:
            await asyncio.to_thread(self._conc.release)
            raise
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        if isinstance(exc, RateLimitedError):
            self.pause(exc.retry_after if exc.retry_after is not None else DEFAULT_429_PAUSE)
        await asyncio.to_thread(self._conc.release)


def _topic_task(recipe_path: str, topic_id: str, topics_file: str | None, settings: dict, refresh: list[str], output_root: str, run_id: str, namespace: str) -> list[dict]:
    """Run one topic on a worker; return its events as dicts."""
    from ..api import load_recipe_file, run, select_topics
    from ..settings import Settings

    loaded = select_topics(load_recipe_file(recipe_path, topics_file=topics_file), only=[topic_id])
    env_settings = Settings.from_env()  # API keys from the worker's own environment
    s = env_settings.replace(**settings)

    def limiter(name: str, **kw: Any) -> DistributedLimiter:
        return DistributedLimiter(name, namespace=namespace, **kw)

    memory = MemorySink()
    asyncio.run(run(loaded, settings=s, sink=memory, refresh=refresh, output_root=output_root, record=False, limiter_factory=limiter, run_id=run_id))
    where = {"worker_pid": os.getpid()}
    return [{**e.as_dict(), "data": {**e.data, **where}} for e in memory.events]


def run_on_dask(loaded: Any, *, settings: Any, address: str | None = None, workers: int = 2, refresh: list[str] | None = None,
                output_root: str | None = None, sink: EventSink | None = None, topics_file: str | None = None) -> Any:
    """Run every topic of ``loaded`` as a task on a Dask cluster (a local one if no address)."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as e:  # pragma: no cover - the dask extra is not installed
        from ..errors import MissingDependencyError

        raise MissingDependencyError('the Dask executor needs the dask extra: pip install "vidflow[dask]"') from e
    from ..api import RunResult, check_credentials
    from ..run.engine import new_run_id
    from ..storage import is_local, url_to_fs

    check_credentials(loaded, settings)  # here, before any worker starts: exit 2, not a failed task
    fs, _ = url_to_fs(settings.cache_url, **settings.storage_options(settings.cache_url))
    cache_url = os.path.abspath(settings.cache_url) if is_local(fs) and "://" not in settings.cache_url else settings.cache_url
    if address and is_local(fs):
        logging.getLogger("vidflow").warning("the cache %s is a local path: workers on other machines need it on a shared filesystem", cache_url)
    run_id = new_run_id()
    namespace = f"vidflow:{run_id}"
    payload = {"cache_url": cache_url, "cache_salt": settings.cache_salt, "s3_endpoint_url": settings.s3_endpoint_url, "max_ffmpeg": settings.max_ffmpeg, "prices_file": settings.prices_file}
    out_root = os.path.abspath(output_root or os.getcwd())
    events_path = os.path.join(settings.runs_dir, run_id, "events.jsonl")
    memory = MemorySink()
    jsonl = JsonlSink(events_path)
    out = MultiSink(memory, jsonl, sink)
    out.emit(Event(run_id, EventType.RUN_STARTED, data={"recipe": loaded.name, "mode": "run", "executor": "dask", "topics": [t.id for t in loaded.topics], "cache": cache_url}))
    cluster = None
    try:
        if address:
            client = Client(address)
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
        with client:
            futures = [
                client.submit(_topic_task, str(loaded.path.resolve()), t.id, topics_file, payload, list(refresh or []), out_root, run_id, namespace, key=f"vidflow-{run_id}-{t.id}", pure=False)
                for t in loaded.topics
            ]
            for fut in as_completed(futures):
                for d in fut.result():
                    if d["type"] in ("run_started", "run_finished"):
                        continue  # one start and one end for the whole run, below
                    out.emit(Event.from_dict(d))
    finally:
        out.emit(Event(run_id, EventType.RUN_FINISHED, data={"interrupted": False, "executor": "dask"}))
        jsonl.close()
        if cluster is not None:
            cluster.close()
    import networkx as nx

    return RunResult(run_id, summarize(memory.events), events_path, nx.DiGraph(), {})

