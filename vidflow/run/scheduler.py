"""The scheduler: one future per Task; cache lookup, single-flight, limits, retries, budget, events.

For each topic, each step's nodes are named (``plan/build.py``) as soon as what they need
upstream exists, and each node starts the moment its inputs exist: there is no barrier between
steps, so a scene's segment may encode while later lines are still being voiced. A node starts
on the scheduler's own stack and gets an asyncio Task only when it must wait for an input or
make something (``run/eager.py``): a cached node, and every node of a plan, costs no Task. For a
node:

1. its inputs resolve (a failed input: the node is skipped, and so is everything after it);
2. its capability prepares it: templates render, the key fields come out (a template that
   cannot render fails this node and its topic, never the batch);
3. a cached output (or one already published) is used and nothing runs; an identical key in
   flight is awaited (single-flight); otherwise
4. the executor makes it: :class:`~vidflow.run.executors.LocalExecutor` runs the capability,
   whose provider calls go through :meth:`Scheduler.call` (limits, budget, retries, events);
   :class:`~vidflow.run.executors.DryRunExecutor` (``vidflow plan``) records that it would run.

The scheduler is the capabilities' :class:`~vidflow.capabilities.base.Runtime`; its provider-call
services are in ``run/calls.py``, what holds a node (review gates, pins, leases) in
``run/gates.py``, and the inputs view a capability gets in ``run/inputs.py``. It is an async
context manager that closes what it opens: provider clients, its scratch folder, event sinks.
Outcomes live in :attr:`outcomes`, never on the graph (which holds only frozen Tasks).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Mapping

import networkx as nx

from ..cache.lease import Leases
from ..cache.records import APPROVED, REJECTED, Records
from ..cache.store import Artifact, CacheStore, LookupStatus
from ..capabilities.base import UNKNOWN, Capability, doomed_topics, topic_context
from ..errors import (
    AwaitingReviewError,
    BadOutputError,
    CacheError,
    DiskFullError,
    NodeFailedError,
    OutputPathError,
    ProviderError,
    TemplateError,
    UpstreamFailedError,
    UserError,
    VidflowError,
    describe,
)
from ..limits import Limits
from ..plan.build import add_tasks, expand_step, expansion_needs, expected_nodes
from ..calibration import STATS_PATH, Calibration, samples
from ..cache.fingerprint import changed_fields, encoded, key_and_text
from ..plan.refresh import parse_refresh
from ..plan.task import Estimate, Task
from ..pricing import PriceTable
from ..recipe.load import LoadedRecipe, StepInfo
from ..recipe.topics import Topic
from ..scratch import Scratch
from ..settings import Settings
from ..storage import client_errors, is_local
from .budget import Budget
from .calls import ProviderCalls
from .gates import Gates
from .inputs import NodeInputs
from .ledger import Event, EventSink, EventType, NullSink
from .ledger import stamp as _now
from .limits import Clock, Limiter, MonotonicClock
from .outcome import CallResult, Outcome
from .retry import RetryPolicy
from .eager import Eager
from .writer import ProcessWriter, ThreadWriter, open_file_writer

__all__ = ["CallResult", "Outcome", "Scheduler", "fewer_collections"]

#: Events whose data may hold text from outside vidflow (vendor messages, errors).
_TEXT_EVENTS = frozenset({EventType.NODE_FAILED, EventType.NODE_RETRY, EventType.CACHE_REJECTED, EventType.TOPIC_FINISHED})


@dataclass
class _TopicState:
    topic: Topic
    ctx: dict[str, Any]
    expanded: dict[str, asyncio.Future] = field(default_factory=dict)
    runners: list[asyncio.Task] = field(default_factory=list)  # the nodes that had to wait (the rest needed no Task)
    left: int = 0  # nodes named and not settled yet
    settled: asyncio.Future | None = None  # set when ``left`` falls to 0 (made once every step is named)
    nodes: list[str] = field(default_factory=list)  # this topic's node ids, in the order named
    index: dict[str, str] | None = None  # node name -> key when the recipe last ran (read lazily)


@contextlib.contextmanager
def fewer_collections():
    """Run with only young-generation collections of the cyclic GC, then put it back.

    A run keeps every node's Task, outcome and event alive until it ends, so each collection
    of the older generations re-scans all of them and the cost per node grows with the batch:
    at 10,000 nodes they took ~50 µs a node (benchmarks/overhead.py). Young objects are still
    collected, at the interpreter's own pace (every 700 allocations by default): a young
    generation that small stays in the CPU's caches while it is scanned; one of 20,000 took
    6.1-6.5 µs a node at 10,000 nodes against 2.5-2.6 (and 100,000, or a collection on a timer
    instead, more). Cyclic garbage that outlives a young collection waits for the end of the
    run (most garbage is freed by reference counting anyway).
    """
    old = gc.get_threshold()
    gc.set_threshold(old[0], 1_000_000, 1_000_000)
    try:
        yield
    finally:
        gc.set_threshold(*old)


class Scheduler(ProviderCalls, Gates):
    """Runs (or dry-runs) a loaded recipe's topics. Use as ``async with Scheduler(...) as s``."""

    def __init__(
        self,
        loaded: LoadedRecipe,
        *,
        settings: Settings,
        store: CacheStore,
        executor: Any,
        sink: EventSink,
        run_id: str,
        clock: Clock | None = None,
        refresh: Iterable[str] = (),
        output_root: str | None = None,
        imports: Mapping[str, Mapping[str, Any]] | None = None,
        limiter_factory: Callable[..., Any] | None = None,
        retry: RetryPolicy | None = None,
    ):
        self.loaded = loaded
        self.settings = settings
        self.store = store
        self.executor = executor
        self.sink = sink
        self.run_id = run_id
        self.clock = clock or MonotonicClock()
        self.refresh = parse_refresh(refresh, loaded.steps)
        self.records = Records(store)
        self.leases = Leases(store, ttl=settings.lease_ttl)
        self.output_root = os.path.abspath(output_root or os.getcwd())
        self.imports = imports or {}
        self.limiter_factory = limiter_factory or Limiter
        self.retry = retry  # one policy for every provider (tests); else each provider's own
        self.redactor = settings.redactor
        self.bugs: list[BaseException] = []  # exceptions no capability expected: the run exits 3
        self.salt = "\0".join(s for s in (settings.cache_salt, loaded.recipe.cache_salt) if s)
        self.prices = PriceTable.load(settings.prices_file)
        budget = loaded.recipe.budget
        self.budget = Budget(budget.max_usd if budget else None, budget.per_topic_usd if budget else None)
        self.graph = nx.DiGraph()
        self.outcomes: dict[str, Outcome] = {}
        self.calls: dict[str, int] = {}  # provider name -> attempts made
        self._futures: dict[str, asyncio.Future] = {}  # node id -> its output, or NodeFailedError (settled by _run_task)
        self._tasks: dict[str, Task] = {}  # node id -> its Task, as on the graph (read without networkx's views)
        self._inflight: dict[str, asyncio.Future] = {}
        self._topics: dict[str, _TopicState] = {}
        self._by_step: dict[str, list[str]] = {}
        self._pins: dict[tuple[str, str], dict[str, Any]] = {}
        self._reviews: dict[tuple[str, str], dict[str, Any]] = {}
        self._notes: dict[str, str] = {}  # node id -> a rejected output's review note
        self._claims: dict[str, str] = {}
        self._adapters: dict[str, Any] = {}
        self._limiters: dict[str, Any] = {}
        self._policies: dict[str, RetryPolicy] = {}
        self._warm: dict[str, asyncio.Future] = {}
        self._warmed: set[str] = set()  # providers whose warm-up has succeeded
        self._lanes: dict[str, tuple[Any, Any, RetryPolicy]] = {}  # provider -> its adapter, limiter, retry policy
        self._attempts: dict[str, int] = {}
        self._estimates: dict[tuple[str, str, str | None], Estimate] = {}  # step, role, provider -> a node's estimate
        self._kinds: dict[tuple[str | None, str, str], str] = {}  # (provider, capability, role) -> kind
        self._cpu: asyncio.Semaphore | None = None
        self._scratch: Scratch | None = None
        self._writer: ProcessWriter | ThreadWriter | None = None
        self._local_store = is_local(store.fs)
        self.calibration = Calibration()
        self._silent = isinstance(sink, NullSink)
        self._eager: Eager | None = None
        self._full: DiskFullError | None = None  # a write found its disk full: nothing more is made
        self._doomed: dict[str, dict[str, list[Any]]] = {}  # topic id -> step -> what dooms it there (Capability.preflight)

    # ------------------------------------------------------------------ resources
    async def __aenter__(self) -> Scheduler:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close provider clients and remove the scratch folder (idempotent)."""
        adapters, self._adapters, self._lanes = list(self._adapters.values()), {}, {}
        for a in adapters:
            close = getattr(a, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        if self._scratch is not None:
            await asyncio.to_thread(self._scratch.close)
            self._scratch = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def adapter(self, provider: str) -> Any:
        a = self._adapters.get(provider)
        if a is None:
            info = self.loaded.providers[provider]
            a = self._adapters[provider] = info.cls(info.options, settings=self.settings, prices=self.prices)
        return a

    def limits(self, provider: str) -> Limits:
        info = self.loaded.providers[provider]
        return Limits(concurrency=info.spec.concurrency or info.cls.default_concurrency, rate=info.spec.rate)

    def limiter(self, provider: str) -> Any:
        lim = self._limiters.get(provider)
        if lim is None:
            lim = self._limiters[provider] = self.limiter_factory(provider, limits=self.limits(provider), clock=self.clock)
        return lim

    def retry_policy(self, provider: str) -> RetryPolicy:
        """The provider's retry policy: its recipe block's ``retry:`` and ``timeout:``."""
        if self.retry is not None:
            return self.retry
        policy = self._policies.get(provider)
        if policy is None:
            spec = self.loaded.providers[provider].spec
            policy = self._policies[provider] = RetryPolicy.from_spec(spec, timeout=getattr(self.adapter(provider).options, "timeout", None))
        return policy

    def redact(self, text: str) -> str:
        return self.redactor.redact(text)

    def cpu(self) -> asyncio.Semaphore:
        if self._cpu is None:
            self._cpu = asyncio.Semaphore(self.settings.max_ffmpeg)
        return self._cpu

    def scratch(self, prefix: str) -> str:
        if self._scratch is None:
            self._scratch = Scratch.open(self.settings.scratch_dir)
        return self._scratch.mkdtemp(prefix)

    async def io(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``: at once for a local cache, on a thread for a remote one, whose client
        library's own exceptions (a store that stopped answering) arrive as OSError."""
        if self._local_store:
            return fn(*args)
        with client_errors():
            return await asyncio.to_thread(fn, *args)

    def _save(self, key: str, art: Artifact, fields_text: str | None = None) -> Awaitable[None]:
        """Publish a node's manifest; the node awaits it (a failed write fails the node).

        A local cache's bytes are made here and written by the run's file writer, off the loop
        (run/writer.py); a remote store's upload runs on a thread. (Not a coroutine function:
        what it returns is the write's own future, one frame less on every node's path.)"""
        if not self._local_store:
            return self.io(self.store.save, key, art)
        return self._write_file(*self.store.manifest_file(key, art, fields_text=fields_text))

    async def _save_index(self, topic_id: str, keys: dict[str, str]) -> None:
        if not self._local_store:
            return await self.io(self.store.write_index, self.loaded.name, topic_id, keys)
        update = self.store.index_file(self.loaded.name, topic_id, keys)
        if update is not None:
            await self._write_file(*update)

    def _write_file(self, path: str, data: bytes) -> asyncio.Future:
        if self._writer is None:
            self._writer = open_file_writer(asyncio.get_running_loop())
        return self._writer.write(path, data)

    # ------------------------------------------------------------------ events
    def emit(self, type: EventType, task: Task | None = None, **kw: Any) -> None:
        if self._silent:
            return
        if task is not None:
            kw.setdefault("node", task.id)
            kw.setdefault("step", task.step)
            kw.setdefault("topic", task.topic)
            if "kind" not in kw:
                kw["kind"] = self._kind(task)
            kw.setdefault("provider", task.provider or "")
        # A second layer: provider errors arrive redacted, but any text may hold a secret. Only
        # events that carry text from outside (errors, messages) need it.
        if kw.get("message"):
            kw["message"] = self.redactor.redact(kw["message"])
            if kw.get("data"):
                kw["data"] = self.redactor.redact_data(kw["data"])
        elif type in _TEXT_EVENTS and kw.get("data"):
            kw["data"] = self.redactor.redact_data(kw["data"])
        self.sink.emit(Event(self.run_id, type, **kw))

    def node_event(self, type: EventType, task: Task, *, attempt: int = 0, provider: str | None = None, latency: float = 0.0,
                   cost_usd: float = 0.0, data: dict[str, Any] | None = None) -> None:
        """:meth:`emit` for the events every node sends (queued, started, cached, succeeded):
        no message, so nothing to redact, and the Event built at once (this runs ~3 times a node)."""
        if self._silent:
            return
        self.sink.emit(Event(self.run_id, type, _now(), task.id, task.step, task.topic, self._kind(task),
                             (task.provider or "") if provider is None else provider, attempt, "", "", latency, cost_usd, {} if data is None else data))

    def _kind(self, task: Task) -> str:
        k = (task.provider, task.capability, task.role)
        kind = self._kinds.get(k)
        if kind is None:
            if task.provider:
                kind = self.loaded.providers[task.provider].kind
            else:
                kind = f"{task.capability}.{task.role}" if task.role else task.capability
            self._kinds[k] = kind
        return kind

    # ------------------------------------------------------------------ the walk
    async def run(self, topics: list[Topic] | None = None) -> None:
        topics = topics if topics is not None else self.loaded.topics
        self.calibration = Calibration.from_json(await self.io(self.store.read_doc, self.store.doc_path(STATS_PATH)))
        self._pins = {(p["topic"], p["step"]): p for p in await self.io(lambda: list(self.records.pins(self.loaded.name)))}
        if any(s.spec.approve for s in self.loaded.steps.values()):
            self._reviews = {(r["topic"], r["node"]): r for r in await self.io(lambda: list(self.records.reviews(self.loaded.name)))}
        self._doomed = doomed_topics(self.loaded, self.output_root)
        data = {"recipe": self.loaded.name, "mode": "plan" if self.executor.dry else "run", "topics": [t.id for t in topics], "cache": self.store.url}
        if not self._silent:  # progress displays start from the expected size of the batch
            with contextlib.suppress(VidflowError):
                data["expected_nodes"] = expected_nodes(self.loaded, self.adapter, self.calibration) * len(topics)
        self.emit(EventType.RUN_STARTED, data=data)
        interrupted = False
        with fewer_collections():
            try:
                await self._topics_run(topics)
            except (asyncio.CancelledError, KeyboardInterrupt):
                interrupted = True
                raise
            finally:
                self.emit(EventType.RUN_FINISHED, data={"interrupted": interrupted})
        if not self.executor.dry:
            learnt = samples(self._tasks, self.outcomes, self.loaded)
            if learnt:  # what this run took teaches the next plan (plan/calibration.py)
                with contextlib.suppress(OSError):
                    await self.io(self.store.write_doc, self.store.doc_path(STATS_PATH), self.calibration.record(learnt).to_json())

    async def _topics_run(self, topics: list[Topic]) -> None:
        """Every topic, each started at once (one whose nodes are all cached needs no Task)."""
        eager = self._eager = Eager(asyncio.get_running_loop())  # (nodes start through it too)
        waiting: list[asyncio.Task] = []
        try:
            for t in topics:
                runner = eager.start(self._topic(t))
                if runner is not None:
                    waiting.append(runner)
            if waiting:
                await asyncio.gather(*waiting)
        except BaseException:
            for w in waiting:
                w.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
            raise

    async def _topic(self, topic: Topic) -> None:
        loop = self._eager.loop  # (asyncio.get_running_loop() is a system call on 3.11: getpid)
        ts = self._topics[topic.id] = _TopicState(topic, topic_context(self.loaded, topic))
        for name in self.loaded.order:
            ts.expanded[name] = loop.create_future()
        expanders: list[asyncio.Future] = []
        lost = self._lost_steps(self._doomed[topic.id]) if topic.id in self._doomed else {}
        try:
            for name in self.loaded.order:  # topological: a step's sources come before it
                step = self.loaded.steps[name]
                if name in lost:
                    status, cause = lost[name]
                    self._stand_in(ts, step, status, cause, str(cause))
                    continue
                needs = expansion_needs(self.loaded, step)
                if not needs or all(w == "nodes" and ts.expanded[src].done() for src, w in needs.items()):
                    await self._expand(ts, step)  # named at once: no task for the common case
                else:  # it waits for an output (a for_each over a script's lines): a task of its own
                    expanders.append(asyncio.ensure_future(self._expand(ts, step)))
            if expanders:
                await asyncio.gather(*expanders)
            if ts.left:
                ts.settled = loop.create_future()
                await ts.settled
        except BaseException:
            for t in (*expanders, *ts.runners):
                t.cancel()
            await asyncio.gather(*expanders, *ts.runners, return_exceptions=True)
            raise
        await self._topic_finished(ts)

    async def _expand(self, ts: _TopicState, step: StepInfo) -> None:
        """Name ``step``'s nodes for one topic once what they need upstream exists."""
        done = ts.expanded[step.name]
        topic_id = ts.topic.id
        try:
            values, results, estimated = {}, {}, {}
            for src, what in expansion_needs(self.loaded, step).items():
                ids, est = await ts.expanded[src]
                results[src], estimated[src] = ids, est
                if what == "value":
                    art = await self._futures[ids[0]]
                    info = self.loaded.steps[src]
                    values[src] = UNKNOWN if art is UNKNOWN else self.loaded.capability(info).view(info, art)
            tasks = expand_step(self.loaded, step, topic_id, values=values, results=results, estimated=estimated, adapters=self.adapter,
                                calibration=self.calibration, memo=self._estimates)
        except AwaitingReviewError as e:
            self._stand_in(ts, step, "waiting", e, f"{e.node} awaits review")
            return
        except NodeFailedError as e:
            self._stand_in(ts, step, "skipped", UpstreamFailedError(e.node, f"upstream `{e.node}` failed"), f"upstream `{e.node}` failed")
            return
        except (UserError, BadOutputError) as e:
            self._stand_in(ts, step, "failed", e, str(e))
            return
        add_tasks(self.graph, tasks)
        by_step = self._by_step.setdefault(step.name, [])
        loop = self._eager.loop
        results: list[str] = []
        estimated = False
        for t in tasks:
            self._tasks[t.id] = t
            ts.nodes.append(t.id)
            by_step.append(t.id)
            self.node_event(EventType.NODE_QUEUED, t, data={"estimated": True} if t.estimated else None)
            self._futures[t.id] = loop.create_future()  # every future first: a node may wait for one named after it
            if t.result:
                results.append(t.id)
                estimated = estimated or t.estimated
        ts.left += len(tasks)
        for t in tasks:
            runner = self._eager.start(self._run_task(t, ts))
            if runner is not None:
                ts.runners.append(runner)
        done.set_result((tuple(results), estimated))

    def _lost_steps(self, doomed: Mapping[str, list[Any]]) -> dict[str, tuple[str, BaseException]]:
        """For a topic that its own values doom at some steps (a `to:` that cannot be written):
        step -> (status, why) it is not made. The doomed steps fail with their problem (as their
        node would have, at the end); a step whose every dependent is not made is skipped (its
        output would be paid for and never used)."""
        lost: dict[str, tuple[str, BaseException]] = {  # (a Problem with a path: the `to:` itself; without: its template)
            name: ("failed", (OutputPathError if problems[0].path else TemplateError)(str(problems[0]))) for name, problems in doomed.items()
        }
        first = next(iter(doomed))
        dependents: dict[str, list[str]] = {name: [] for name in self.loaded.order}
        for name, step in self.loaded.steps.items():
            for d in step.deps:
                if d in dependents:
                    dependents[d].append(name)
        for name in reversed(self.loaded.order):
            if name not in lost and dependents[name] and all(d in lost for d in dependents[name]):
                lost[name] = ("skipped", UserError(f"not made: this topic's `{first}` cannot be made (see its error), and nothing else uses this step"))
        return lost

    def _stand_in(self, ts: _TopicState, step: StepInfo, status: str, cause: BaseException, why: str) -> None:
        """A step that could not even name its nodes, or is not made (:meth:`_lost_steps`), is one
        node, skipped, waiting or failed; the steps after it learn so from its expansion (``why``)."""
        topic_id = ts.topic.id
        node = f"{topic_id}/{step.name}"
        task = Task(id=node, topic=topic_id, step=step.name, capability=step.capability, provider=step.provider)
        self.graph.add_node(node, task=task)
        self._tasks[node] = task
        ts.nodes.append(node)
        self.outcomes[node] = Outcome(status, error=self.redact(describe(cause)))
        self.emit(EventType.NODE_QUEUED, task)
        if status == "skipped":
            self.emit(EventType.NODE_SKIPPED, task, message=str(cause))
        elif status == "waiting":
            self.emit(EventType.NODE_WAITING, task, message=str(cause))
        else:
            self.emit(EventType.NODE_FAILED, task, error=type(cause).__name__, message=str(cause))
        done = ts.expanded[step.name]
        done.set_exception({"skipped": UpstreamFailedError, "waiting": AwaitingReviewError}.get(status, NodeFailedError)(node, why))
        done.exception()  # (reported through events: asyncio need not log it)

    async def _run_task(self, task: Task, ts: _TopicState) -> None:
        """Settle the node's future with its output (what its dependents await) or NodeFailedError."""
        fut = self._futures[task.id]
        try:
            art = await self._resolve(task)
        except NodeFailedError as e:
            fut.set_exception(e)
            fut.exception()  # (reported through events: asyncio need not log it)
        except (OSError, CacheError) as e:  # the store failed around the node (a lease, a review record): the node fails, not the run
            try:
                self._fail(task, e)
            except NodeFailedError as failed:
                fut.set_exception(failed)
                fut.exception()
        except Exception as e:  # no capability expected it: a bug. Its topic fails, the run exits 3.
            self.bugs.append(e)
            with contextlib.suppress(NodeFailedError):
                self._fail(task, e)
            failed = NodeFailedError(task.id, f"internal error: {type(e).__name__}")
            failed.__cause__ = e
            fut.set_exception(failed)
            fut.exception()
        except BaseException:  # cancelled, interrupted: so are its dependents
            fut.cancel()
            raise
        else:
            fut.set_result(art)
        ts.left -= 1
        if not ts.left and ts.settled is not None and not ts.settled.done():
            ts.settled.set_result(None)

    async def _resolve(self, task: Task) -> Any:
        arts: dict[str, Any] = {}
        try:
            for d in task.deps:
                arts[d] = await self._futures[d]
        except AwaitingReviewError as e:
            self.outcomes[task.id] = Outcome("waiting", reason="an input awaits review", error=str(e))
            self.emit(EventType.NODE_WAITING, task, message=f"{e.node} awaits review")
            raise AwaitingReviewError(task.id, f"{e.node} awaits review") from None
        except NodeFailedError as e:
            self.outcomes[task.id] = Outcome("skipped", error=str(e))
            self.emit(EventType.NODE_SKIPPED, task, message=f"upstream {e.node} failed")
            raise UpstreamFailedError(task.id, f"upstream {e.node} failed") from e
        step = self.loaded.steps[task.step]
        cap = self.loaded.capability(step)
        if task.item is None and task.result:
            if task.topic in self.imports.get(task.step, ()):
                return await self._imported(task)
            pin = self._pins.get((task.topic, task.step))
            if pin is not None:
                if not self.refresh.covers(task.step, None):
                    return self._pinned(task, pin)
                if not self.executor.dry:  # a refresh ends the pin
                    await self.io(self.records.drop_pin, self.loaded.name, task.topic, task.step)
        if not step.spec.approve:
            return await self._obtain(task, step, cap, arts)
        node = task.id[len(task.topic) + 1 :]
        record = self._reviews.get((task.topic, node))
        status = record.get("status") if record else None
        if status == APPROVED:
            if not (self.refresh.force and self.refresh.covers(task.step, task.item)):
                art = Records.artifact(record)
                self.outcomes[task.id] = Outcome("cached", art, reason="approved", provider=(art.meta or {}).get("provider", ""))
                self.node_event(EventType.NODE_CACHED, task, data={"approved": True})
                return art
            record = None  # forced: made again, then reviewed again
        if status == REJECTED:
            self._notes[task.id] = str(record.get("note", ""))
        art = await self._obtain(task, step, cap, arts, rejected=status == REJECTED)
        if art is UNKNOWN:
            return art
        return await self._hold_for_review(task, node, art, record)

    async def _obtain(self, task: Task, step: StepInfo, cap: Any, arts: dict[str, Any], *, rejected: bool = False) -> Any:
        """The node's output: cached, shared with an identical node in flight, or made."""
        try:
            prepared = cap.prepare(task, step, NodeInputs(self, task, arts), self.loaded, self.adapter)
        except (UserError, BadOutputError) as e:
            return self._fail(task, e)
        if prepared is None:  # an input does not exist yet (a dry run)
            self.outcomes[task.id] = Outcome("estimated" if task.estimated else "run", reason="inputs not made yet")
            return UNKNOWN
        enc = encoded(prepared.fields) if cap.cacheable and prepared.fields is not None else None
        key, text = key_and_text(enc, salt=self.salt) if enc is not None else ("", None)
        estimate = task.estimate
        if prepared.cost or prepared.units:  # the real request: a better estimate than the sketch
            estimate = Estimate(prepared.cost, prepared.seconds or estimate.seconds, dict(prepared.units))
        task = task.keyed(prepared.fields, key, estimate)
        self.graph.nodes[task.id]["task"] = self._tasks[task.id] = task
        reason = "rejected" if rejected else "refresh" if self.refresh.covers(task.step, task.item) else "new"
        if reason == "new":
            art = None
            if type(cap).lookup is not Capability.lookup:  # the capability's own code: in the node's Task
                await self._eager.handoff()
                try:
                    art = await cap.lookup(task, prepared, key, self)
                except (UserError, BadOutputError, OSError) as e:  # (OSError: where it looked could not be read)
                    return self._fail(task, e)
            if art is None and key:
                check = cap.cached_value_check(step, task)
                try:
                    if self._local_store:  # a local read: cheaper than a hop to a thread
                        found = self.store.lookup(key, check=check)
                    else:
                        found = await self.io(lambda: self.store.lookup(key, check=check))
                except (CacheError, OSError) as e:  # an unreadable cache fails the node, clearly (not a bug)
                    return self._fail(task, e)
                art = found.artifact
                if found.status not in (LookupStatus.HIT, LookupStatus.MISSING):
                    reason = found.status.value
                    self.emit(EventType.CACHE_REJECTED, task, message=found.detail, data={"status": found.status.value, "key": key})
            if art is not None:
                meta = art.meta or {}
                self.outcomes[task.id] = Outcome("cached", art, provider=meta.get("provider", ""), cost_recorded=float(meta.get("cost_usd") or 0.0))
                self.node_event(EventType.NODE_CACHED, task, data={"key": key} if key else None)
                return art
        if self.executor.dry:
            changed: tuple[str, ...] = ()
            if reason == "new" and key:
                reason, changed = await self._why(task, key, enc)
            self.outcomes[task.id] = Outcome("run", reason=reason, changed=changed)
            return UNKNOWN
        if self._full is not None:  # a paid call now would make an output that cannot be stored
            return self._fail(task, DiskFullError(f"not made: {self._full}"))
        if key:
            shared = self._inflight.get(key)
            if shared is not None:  # an identical node is being made: its output is ours
                try:
                    art = await asyncio.shield(shared)
                except NodeFailedError as e:
                    return self._fail(task, e)
                self.outcomes[task.id] = Outcome("cached", art, provider=(art.meta or {}).get("provider", ""))
                self.node_event(EventType.NODE_CACHED, task, data={"key": key, "shared": True})
                return art
            # The node's own future (resolved by _run_task with this node's outcome) is what an
            # identical node waits for.
            self._inflight[key] = self._futures[task.id]
            try:
                await self._eager.handoff()  # what makes the node runs in its own Task
                if self._exclusive(task, cap):
                    return await self._make_leased(task, step, cap, prepared, key, enc, text)
                return await self._execute(task, step, cap, prepared, key, enc, text)
            finally:
                self._inflight.pop(key, None)
        await self._eager.handoff()
        return await self._execute(task, step, cap, prepared, key, enc, text)

    def _exclusive(self, task: Task, cap: Any) -> bool:
        """Is this node worth a lease: a paid call, or costly local work."""
        if task.provider:
            return bool(self.adapter(task.provider).paid)
        return cap.exclusive

    async def _why(self, task: Task, key: str, enc: Any) -> tuple[str, tuple[str, ...]]:
        """Why a node whose key is not cached would run: never made (``new``), made before with
        other inputs (``changed``, naming the fields), or made with these but gone (``missing``)."""
        ts = self._topics[task.topic]
        if ts.index is None:
            ts.index = await self.io(self.store.read_index, self.loaded.name, task.topic)
        before = ts.index.get(task.id[len(task.topic) + 1 :])
        if before is None:
            return "new", ()
        if before == key:
            return "missing", ()
        meta = await self.io(self.store.manifest_meta, before)
        if not meta or "fields" not in meta:
            return "changed", ()
        return "changed", tuple(changed_fields(meta["fields"], enc))

    async def _execute(self, task: Task, step: StepInfo, cap: Any, prepared: Any, key: str, enc: Any, text: str | None = None) -> Artifact:
        t0 = self.clock.now()
        if not task.provider:
            self._attempts[task.id] = 1
            self.node_event(EventType.NODE_STARTED, task, attempt=1)
        try:
            art = await self.executor.make(self, task, step, cap, prepared)
            if key and not art.meta.get("placeholder"):
                # the manifest is the node's durable record: what decided it, how it was made
                art.meta["fields"] = enc
                art.meta["attempts"] = self._attempts.get(task.id, 1)
                art.meta["run_id"] = self.run_id
                await self._save(key, art, text)
        except (ProviderError, VidflowError, OSError) as e:
            if isinstance(e, UpstreamFailedError):
                raise
            full = DiskFullError.of(e)
            if full is not None:
                self._full = self._full or full
                e = full
            return self._fail(task, e, latency=self.clock.now() - t0)
        meta = art.meta or {}
        latency = float(meta.get("seconds") or (self.clock.now() - t0))
        cost = float(meta.get("cost_usd") or 0.0) if not meta.get("placeholder") else 0.0
        data: dict[str, Any] = {"key": key} if key else {}
        if "started_at" in meta:  # when the provider call itself began (wall clock)
            data["call_start"] = meta["started_at"]
        provider = meta.get("provider", "") or task.provider or ""
        if task.provider and provider and provider != task.provider and not meta.get("placeholder"):
            data["fallback"] = provider
        if meta.get("placeholder"):
            data.update(placeholder=True, cause=meta.get("cause", ""))
        self.outcomes[task.id] = Outcome("ran", art, provider=provider, cost_usd=cost, cost_recorded=cost, placeholder=bool(meta.get("placeholder")), seconds=latency)
        self.node_event(EventType.NODE_SUCCEEDED, task, attempt=self._attempts.get(task.id, 1), provider=provider if provider != "placeholder" else task.provider or "", latency=latency, cost_usd=cost, data=data)
        return art

    def _fail(self, task: Task, e: BaseException, *, latency: float = 0.0) -> Any:
        self.outcomes[task.id] = Outcome("failed", error=self.redact(describe(e)))
        data = {"status": e.status} if isinstance(e, ProviderError) and e.status else {}
        self.emit(EventType.NODE_FAILED, task, attempt=self._attempts.get(task.id, 0), error=type(e).__name__, message=str(e), latency=latency, data=data)
        raise NodeFailedError(task.id, self.redact(describe(e))) from e

    async def _topic_finished(self, ts: _TopicState) -> None:
        if self.executor.dry:
            return
        topic_id = ts.topic.id
        cut = len(topic_id) + 1
        outcomes, tasks = self.outcomes, self._tasks
        keys: dict[str, str] = {}
        bad: list[Outcome] = []
        awaiting: list[str] = []
        waiting = False
        made: list[tuple[Task, Any]] = []  # (one pass over the topic's nodes: a batch has thousands of topics)
        for n in ts.nodes:
            o = outcomes.get(n)
            if o is None:
                continue
            status = o.status
            if status == "ran" or status == "cached":
                task = tasks[n]
                if task.key:
                    keys[n[cut:]] = task.key
                if o.artifact is not None and o.artifact is not UNKNOWN:
                    made.append((task, o.artifact))
            elif status == "failed" or status == "skipped":
                bad.append(o)
            elif status == "review":
                awaiting.append(n)
            elif status == "waiting":
                waiting = True
        if keys:
            try:
                await self._save_index(topic_id, keys)
            except (OSError, CacheError) as e:  # its outputs exist; the rerun (all cached) records them
                full = DiskFullError.of(e)
                self._full = self._full or full
                bad.append(Outcome("failed", error=self.redact(f"the cache could not record this topic's nodes: {describe(full or e)}")))
        if bad:
            first = next((o.error for o in bad if o.status == "failed"), bad[0].error)
            self.emit(EventType.TOPIC_FINISHED, topic=topic_id, data={"status": "failed", "topic": ts.topic.text, "error": self.redact(first)})
            return
        if awaiting or waiting:
            self.emit(EventType.TOPIC_FINISHED, topic=topic_id, data={"status": "awaiting_review", "topic": ts.topic.text, "awaiting": awaiting})
            return
        output = None
        for task, art in made:
            out = self.loaded.capabilities[task.capability].topic_output(task, art)
            if out:
                output = out
        data = {"status": "published" if output else "done", "topic": ts.topic.text, **(output or {})}
        self.emit(EventType.TOPIC_FINISHED, topic=topic_id, data=data)

    # ------------------------------------------------------------------ results
    def topic_record(self, topic_id: str) -> dict[str, Any]:
        ts = self._topics[topic_id]
        mine = {n: self.outcomes[n] for n in ts.nodes if n in self.outcomes and self._tasks[n].capability != "publish"}
        return {
            "topic": ts.topic.text,
            "ran": sorted(n for n, o in mine.items() if o.status == "ran"),
            "cached": sorted(n for n, o in mine.items() if o.status == "cached"),
            "made_by": {n: o.provider for n, o in sorted(mine.items()) if o.provider},
            "placeholders": sorted(n for n, o in mine.items() if o.placeholder),
            "cost_usd": sum(o.cost_usd for o in mine.values() if o.status == "ran"),
            "cost_usd_recorded": sum(o.cost_recorded for o in mine.values()),
        }

    def outputs(self, step: str) -> dict[str, Any]:
        """Topic id -> the value ``step`` produced (a list for for_each steps); failed topics left out."""
        info = self.loaded.steps[step]
        out: dict[str, Any] = {}
        by_topic: dict[str, list[Task]] = {}
        tasks, outcomes = self._tasks, self.outcomes
        for n in self._by_step.get(step, ()):
            task = tasks[n]
            if task.result:
                by_topic.setdefault(task.topic, []).append(task)
        for topic_id, group in by_topic.items():
            if len(group) > 1:  # (a plain step has one result node a topic: nothing to sort)
                group.sort(key=lambda t: t.item or 0)
            values = []
            for t in group:
                o = outcomes.get(t.id)
                if o is None or o.artifact is None or o.artifact is UNKNOWN or o.status not in ("ran", "cached"):
                    break
                values.append(o.artifact.value)
            else:
                out[topic_id] = values if info.for_each is not None else values[0]
        return out
