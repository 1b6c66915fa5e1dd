"""The engine: walks a recipe's per-topic DAG, node by node, as inputs become available.

One engine serves both commands:

* ``mode="run"``: a node whose key is cached is skipped; the rest run as soon as their inputs
  exist (no barrier between steps), under per-provider limits, with identical keys in flight
  run once (single-flight).
* ``mode="plan"``: the same walk with every execution replaced by "would run". Nodes whose
  inputs are cached get their exact key and cache status; a ``for_each`` over an output that
  does not exist yet is expanded from an estimate, and those nodes are marked estimated.
  It makes no provider call and starts no subprocess.

Every node is added to ``self.graph`` (a networkx DiGraph: one subgraph per topic) with its
step, kind, provider and status. What a node *does* lives in ``run/nodes.py``.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Literal

import networkx as nx

from ..cache.store import Artifact, CacheStore
from ..errors import (
    BudgetExceededError,
    CacheCorruptError,
    NodeFailedError,
    ProviderError,
    RateLimitedError,
    UpstreamFailedError,
    VidflowError,
)
from ..cache.fingerprint import node_key
from ..providers.registry import Registry
from ..recipe.load import LoadedRecipe
from ..recipe.topics import Topic
from ..settings import Settings
from .ledger import Event, EventSink, EventType, MemorySink
from .budget import Budget
from .limits import Clock, Limiter, MonotonicClock
from .retry import RetryPolicy
from ..pricing import PriceTable

__all__ = ["Engine", "NodeSpec", "UNKNOWN"]

Mode = Literal["run", "plan"]


class _Unknown:
    """An output that does not exist yet (plan mode only)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass
class NodeSpec:
    """One node about to be resolved.

    ``fields`` is everything that decides the output (the key is its hash), or None when an
    input is not known yet (plan mode). ``execute`` produces the artifact; ``cacheable`` is
    False for nodes whose output is a side effect (publish).
    """

    id: str
    topic: Topic
    step: str
    kind: str
    fields: dict[str, Any] | None
    execute: Callable[[], Awaitable[Artifact]]
    deps: list[str] = field(default_factory=list)
    provider: str = ""
    estimated: bool = False
    cacheable: bool = True
    # plan estimates: (calls, cost_usd, seconds)
    estimate: dict[str, float] = field(default_factory=dict)
    placeholder: Callable[[BaseException], Awaitable[Artifact]] | None = None
    lookup: Callable[[], Awaitable[Artifact | None]] | None = None
    # (provider name, execute) tried in order after the primary fails for good
    fallbacks: list[tuple[str, Callable[[], Awaitable[Artifact]]]] = field(default_factory=list)


class Engine:
    def __init__(
        self,
        loaded: LoadedRecipe,
        *,
        settings: Settings,
        registry: Registry,
        store: CacheStore,
        sink: EventSink | None = None,
        mode: Mode = "run",
        clock: Clock | None = None,
        refresh: set[str] | frozenset[str] = frozenset(),
        run_id: str | None = None,
        output_root: str | None = None,
        workdir: str | None = None,
        retry: RetryPolicy | None = None,
        imports: dict[str, dict[str, Any]] | None = None,
        limiter_factory: Callable[..., Any] | None = None,
    ):
        self.loaded = loaded
        self.settings = settings
        self.registry = registry
        self.store = store
        self.sink = sink or MemorySink()
        self.mode = mode
        self.clock = clock or MonotonicClock()
        self.refresh = set(refresh)
        self.run_id = run_id or new_run_id()
        self.output_root = output_root or os.getcwd()
        self.workdir = workdir
        self.graph = nx.DiGraph()
        self.salt = "\0".join(s for s in (settings.cache_salt, loaded.recipe.cache_salt) if s)
        self._inflight: dict[str, asyncio.Future] = {}
        self._limiters: dict[str, Limiter] = {}
        self._adapters: dict[str, Any] = {}
        self._cpu: asyncio.Semaphore | None = None
        self._warm: dict[str, asyncio.Future] = {}
        self.outputs_claimed: dict[str, str] = {}  # destination -> topic id (two topics, one file: an error)
        self.calls: dict[str, int] = {}  # provider name -> calls made (run mode)
        self.retry = retry or RetryPolicy()
        self.imports = imports or {}  # step -> topic id -> value (the stage contract's --input)
        # Limiter by default; on a Dask cluster, leases that hold across machines (run/dask.py)
        self.limiter_factory = limiter_factory or Limiter
        self.topic_runs: list[Any] = []
        self.prices = PriceTable.load(settings.prices_file)
        budget = loaded.recipe.budget
        self.budget = Budget(budget.max_usd if budget else None, budget.per_topic_usd if budget else None)

    # ------------------------------------------------------------------ shared resources
    def limiter(self, provider: str) -> Limiter:
        if provider not in self._limiters:
            info = self.loaded.providers[provider]
            conc = info.spec.concurrency or info.cls.default_concurrency
            self._limiters[provider] = self.limiter_factory(provider, concurrency=conc, rate=info.spec.rate, clock=self.clock)
        return self._limiters[provider]

    def adapter(self, provider: str) -> Any:
        if provider not in self._adapters:
            info = self.loaded.providers[provider]
            self._adapters[provider] = info.cls(info.options, settings=self.settings, prices=self.prices)
        return self._adapters[provider]

    @property
    def cpu(self) -> asyncio.Semaphore:
        if self._cpu is None:
            self._cpu = asyncio.Semaphore(self.settings.max_ffmpeg)
        return self._cpu

    def emit(self, type: EventType, node: NodeSpec | None = None, **kw: Any) -> None:
        if node is not None:
            kw.setdefault("node", node.id)
            kw.setdefault("step", node.step)
            kw.setdefault("topic", node.topic.id)
            kw.setdefault("kind", node.kind)
            kw.setdefault("provider", node.provider)
        self.sink.emit(Event(self.run_id, type, **kw))

    # ------------------------------------------------------------------ the walk
    async def run(self, topics: list[Topic] | None = None) -> None:
        from .nodes import TopicRun  # the node builders; imported here to keep layers one-way

        topics = topics if topics is not None else self.loaded.topics
        self.emit(
            EventType.RUN_STARTED,
            data={"recipe": self.loaded.name, "mode": self.mode, "topics": [t.id for t in topics], "cache": self.store.url},
        )
        interrupted = False
        try:
            runs = [TopicRun(self, t) for t in topics]
            self.topic_runs = runs
            await asyncio.gather(*(r.run() for r in runs))
        except (asyncio.CancelledError, KeyboardInterrupt):
            interrupted = True
            raise
        finally:
            self.emit(EventType.RUN_FINISHED, data={"interrupted": interrupted})

    async def warm_up(self, provider: str) -> None:
        """Before a provider's first call (never for a cached run): open clients, import SDKs.

        Every call to that provider waits for the same warm-up, outside the limiter, so the
        first burst starts with clients ready and its rate window is not skewed.
        """
        if provider not in self._warm:
            self._warm[provider] = asyncio.ensure_future(self.adapter(provider).warm_up())
        await asyncio.shield(self._warm[provider])

    async def resolve(self, node: NodeSpec) -> Any:
        """Cache lookup, single-flight, execution and events for one node."""
        self.graph.add_node(node.id, step=node.step, topic=node.topic.id, kind=node.kind, provider=node.provider, estimated=node.estimated, status="queued", **node.estimate)
        for d in node.deps:
            self.graph.add_edge(d, node.id)
        self.emit(EventType.NODE_QUEUED, node, data={"estimated": True} if node.estimated else {})
        if node.fields is None:  # plan mode: an input does not exist yet
            self._status(node, "estimated" if node.estimated else "run")
            return UNKNOWN
        key = node_key(node.fields, salt=self.salt) if node.cacheable else ""
        self.graph.nodes[node.id]["key"] = key
        refresh = node.step in self.refresh
        if not refresh:
            art = await self._lookup(node, key)
            if art is not None:
                self._status(node, "cached", art)
                data = {"key": key[:16]} if key else {}
                if art.meta.get("imported"):
                    data["imported"] = True
                self.emit(EventType.NODE_CACHED, node, data=data)
                return art
        if self.mode == "plan":
            self._status(node, "run")
            return UNKNOWN
        if key and key in self._inflight:
            art = await asyncio.shield(self._inflight[key])
            self._status(node, "cached", art)
            self.emit(EventType.NODE_CACHED, node, data={"key": key[:16], "shared": True})
            return art
        fut: asyncio.Future | None = None
        if key:
            fut = asyncio.get_running_loop().create_future()
            self._inflight[key] = fut
        try:
            art = await self._execute(node, key)
        except BaseException as e:
            if fut is not None:
                fut.set_exception(e if isinstance(e, Exception) else NodeFailedError(node.id, "interrupted"))
                fut.exception()  # mark retrieved: sharers re-raise it themselves
            raise
        finally:
            if key:
                self._inflight.pop(key, None)
        if fut is not None:
            fut.set_result(art)
        return art

    async def _lookup(self, node: NodeSpec, key: str) -> Artifact | None:
        if node.lookup is not None:
            return await node.lookup()
        if not key:
            return None
        try:
            return await self.io(self.store.load, key)
        except CacheCorruptError:
            return None

    async def _execute(self, node: NodeSpec, key: str) -> Artifact:
        """Run a node: retries on transient errors, then its fallbacks, then a placeholder."""
        attempt = 0
        t0 = self.clock.now()
        candidates = [(node.provider, node.execute)] + list(node.fallbacks)
        error: BaseException | None = None
        for i, (provider, execute) in enumerate(candidates):

            async def one(execute=execute, provider=provider) -> Artifact:
                nonlocal attempt, t0
                attempt += 1
                t0 = self.clock.now()
                self.emit(EventType.NODE_STARTED, node, attempt=attempt, provider=provider, data={"fallback": True} if i else {})
                return await execute()

            def on_retry(exc: BaseException, n: int, delay: float, provider=provider) -> None:
                if isinstance(exc, RateLimitedError) and provider:
                    # A 429 pauses the whole provider instance, not just this call.
                    self.limiter(provider).pause(delay)
                status = getattr(exc, "status", None)
                self.emit(
                    EventType.NODE_RETRY, node, attempt=attempt, provider=provider, error=type(exc).__name__, message=str(exc),
                    latency=self.clock.now() - t0, data={"status": status, "wait": round(delay, 3)} if status else {"wait": round(delay, 3)},
                )

            try:
                art = await self.retry.call(one, sleep=self.clock.sleep, on_retry=on_retry)
                if key and not art.meta.get("placeholder"):
                    await self.io(self.store.save, key, art)
            except UpstreamFailedError:
                raise
            except BudgetExceededError as e:
                error = e
                break  # a cheaper fallback would still be a paid call past the cap
            except (ProviderError, VidflowError, OSError) as e:
                error = e
                if i + 1 < len(candidates):
                    self.emit(EventType.NODE_RETRY, node, attempt=attempt, provider=provider, error=type(e).__name__, message=str(e), data={"fallback_to": candidates[i + 1][0]})
                continue
            # The provider's own time when it reports one (not the wait for a slot).
            latency = float(art.meta.get("seconds") or (self.clock.now() - t0))
            cost = float(art.meta.get("cost_usd") or 0.0)
            data = {"key": key[:16]} if key else {}
            if "started_at" in art.meta:  # when the provider call itself began (wall clock)
                data["call_start"] = art.meta["started_at"]
            if i:
                data["fallback"] = provider
            self._status(node, "ran", art)
            self.emit(EventType.NODE_SUCCEEDED, node, attempt=attempt, provider=provider, latency=latency, cost_usd=cost, data=data)
            return art
        assert error is not None
        return await self._fail(node, error, attempt, t0)

    async def _fail(self, node: NodeSpec, e: BaseException, attempt: int, t0: float) -> Artifact:
        if node.placeholder is not None and isinstance(e, (ProviderError, VidflowError)) and not isinstance(e, BudgetExceededError):
            art = await node.placeholder(e)
            self._status(node, "ran", art)
            self.emit(EventType.NODE_SUCCEEDED, node, attempt=attempt, latency=self.clock.now() - t0, data={"placeholder": True, "cause": f"{type(e).__name__}: {e}"})
            return art
        self._status(node, "failed")
        self.emit(EventType.NODE_FAILED, node, attempt=attempt, error=type(e).__name__, message=str(e), latency=self.clock.now() - t0, data={"status": e.status} if isinstance(e, ProviderError) and e.status else {})
        raise NodeFailedError(node.id, f"{type(e).__name__}: {e}") from e

    def skipped(self, node_id: str, step: str, topic: Topic, kind: str, cause: BaseException) -> None:
        self.graph.add_node(node_id, step=step, topic=topic.id, kind=kind, status="skipped")
        self.sink.emit(Event(self.run_id, EventType.NODE_QUEUED, node=node_id, step=step, topic=topic.id, kind=kind))
        self.sink.emit(Event(self.run_id, EventType.NODE_SKIPPED, node=node_id, step=step, topic=topic.id, kind=kind, message=str(cause)))

    def _status(self, node: NodeSpec, status: str, art: Artifact | None = None) -> None:
        d = self.graph.nodes[node.id]
        d["status"] = status
        if art is not None:
            meta = art.meta or {}
            d["cost_recorded"] = float(meta.get("cost_usd") or 0.0)
            if status == "ran":
                d["cost_usd"] = d["cost_recorded"]
            if meta.get("provider"):
                d["made_by"] = meta["provider"]
            if meta.get("placeholder"):
                d["placeholder"] = True

    def fail_unbuilt(self, node_id: str, step: str, topic: Topic, kind: str, cause: BaseException) -> None:
        """A node that could not even be built (a template or output problem): failed."""
        self.graph.add_node(node_id, step=step, topic=topic.id, kind=kind, status="failed")
        self.sink.emit(Event(self.run_id, EventType.NODE_QUEUED, node=node_id, step=step, topic=topic.id, kind=kind))
        self.sink.emit(Event(self.run_id, EventType.NODE_FAILED, node=node_id, step=step, topic=topic.id, kind=kind, error=type(cause).__name__, message=str(cause)))

    async def io(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Cache I/O: inline for a local cache (fast), in a thread for remote stores."""
        from ..storage import is_local

        if is_local(self.store.fs):
            return fn(*args)
        return await asyncio.to_thread(fn, *args)

    def outputs(self, step: str) -> dict[str, Any]:
        """Topic id -> the value ``step`` produced (a list for for_each steps); failed topics left out."""
        out: dict[str, Any] = {}
        for tr in self.topic_runs:
            out_value = tr.output_value(step)
            if out_value is not UNKNOWN:
                out[tr.topic.id] = out_value
        return out


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
