"""Events of a run, where they go, and the summary computed from them.

Every node attempt appends an :class:`Event`; ``JsonlSink`` writes them to
``<runs_dir>/<run-id>/events.jsonl`` as they happen (one line each, flushed at least every
quarter second and at the end), so a crashed or interrupted run still leaves its record; a run
whose record has no ``run_finished`` was killed, and its summary says so. The run summary and the CLI's progress are computed
from events, never from a second set of counters. Events never carry secrets: messages come
from vidflow's own errors, which never include keys.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, fields
from enum import Enum
from json.encoder import encode_basestring
from typing import Any, Iterable, Protocol

from ..jsontext import encoder

__all__ = ["Event", "EventSink", "EventType", "JsonlSink", "MemorySink", "MultiSink", "NullSink", "Summarizer", "Summary", "read_events", "summarize"]


class EventType(str, Enum):
    RUN_STARTED = "run_started"
    """The run began; data holds the recipe name, topics and settings (no secrets)."""
    NODE_QUEUED = "node_queued"
    """A node exists (its inputs may not be ready yet)."""
    NODE_CACHED = "node_cached"
    """The node's key was in the cache (or shared with an identical node in flight)."""
    NODE_STARTED = "node_started"
    """An attempt started (provider call or local step)."""
    NODE_RETRY = "node_retry"
    """An attempt failed transiently; another will follow."""
    NODE_SUCCEEDED = "node_succeeded"
    """The node produced its output and stored it."""
    NODE_FAILED = "node_failed"
    """The node failed for good."""
    NODE_SKIPPED = "node_skipped"
    """The node did not run because an input failed."""
    NODE_REVIEW = "node_review"
    """The node's output (made or cached) waits for a person's review (``approve: true``);
    data: digest, what to look at."""
    NODE_WAITING = "node_waiting"
    """The node did not run because an input waits for review."""
    LEASE_WAIT = "lease_wait"
    """Another process holds the node's lease (it is making the same node): this one waits
    for its output instead of paying twice. data: holder."""
    CACHE_REJECTED = "cache_rejected"
    """The cache held an entry for the node's key that failed verification (an invalid
    manifest, a corrupt or missing blob): treated as a miss and rebuilt. data: status, detail."""
    TOPIC_FINISHED = "topic_finished"
    """A topic's outputs were published (or it failed); data says which."""
    RUN_FINISHED = "run_finished"
    """The run ended (data: interrupted or not)."""


_STATUS = {  # a node's last event -> its status (the events that end a node)
    EventType.NODE_CACHED: "cached", EventType.NODE_SUCCEEDED: "ran", EventType.NODE_FAILED: "failed",
    EventType.NODE_SKIPPED: "skipped", EventType.NODE_REVIEW: "review", EventType.NODE_WAITING: "waiting",
}
_FLUSH_NOW = {EventType.RUN_STARTED, EventType.RUN_FINISHED, EventType.TOPIC_FINISHED, EventType.NODE_FAILED}


def stamp(_time=time.time, _int=int) -> float:
    """The wall clock, to the microsecond: what events (and manifests) record as a time.

    ``time.time()`` to the last bit has 17 significant digits, and writing one as JSON (its
    shortest repr) cost 1.1-1.7 µs here, five times a node; a microsecond's has 16, written in
    ~0.6 µs. No clock a run reads is finer than that anyway."""
    return _int(_time() * 1e6) / 1e6


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 3x, and runs write thousands
class Event:
    run_id: str
    type: EventType
    ts: float = field(default_factory=stamp)
    node: str = ""
    step: str = ""
    topic: str = ""
    kind: str = ""
    provider: str = ""
    attempt: int = 0
    error: str = ""
    message: str = ""
    latency: float = 0.0
    cost_usd: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        # Shallow on purpose (dataclasses.asdict deep-copies; events are written by the thousand);
        # empty fields are left out.
        d = {"run_id": self.run_id, "type": self.type.value, "ts": self.ts}
        for f in _OPTIONAL_FIELDS:
            v = getattr(self, f)
            if v:
                d[f] = v
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        d = dict(d)
        d["type"] = EventType(d["type"])
        return cls(**d)


_LINE = encoder(default=str)  # one encoder for every event line (vidflow/jsontext.py)
_OPTIONAL_FIELDS = tuple(f.name for f in fields(Event) if f.name not in ("run_id", "type", "ts"))
_float_repr = float.__repr__
_int_repr = int.__repr__
_STR = encode_basestring  # a str as _LINE writes it (the C function its encoder calls)


def _micros(us: int) -> str:
    """``repr(us / 1e6)`` for a time in whole microseconds (1 <= seconds < 2**33, the year 2242),
    written with integer arithmetic: a float's shortest repr takes a bignum algorithm (~5,000
    instructions for the 16 digits of a Unix time), and every event line has one. The same text:
    below 2**33 floats are less than a microsecond apart, so each microsecond is a float of its
    own and a decimal with fewer digits (a microsecond away or more) reads back as another one;
    the trailing zeros are dropped as repr drops them (tests/engine/test_event_lines.py)."""
    whole, frac = divmod(us, 1_000_000)
    if not frac:
        return f"{whole}.0"
    return f"{whole}.{frac:06d}".rstrip("0")


_MICROS_BELOW = float(2**33)
_round = round


def _number(v: Any) -> str:
    """A number as json writes it (a finite float's repr, an int's digits), without the encoder."""
    t = type(v)
    if t is float and v - v == 0.0:  # finite
        return _float_repr(v)
    if t is int:
        return _int_repr(v)
    return _LINE(v)


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...


class NullSink:
    """Drops every event (a dry run records none)."""

    def emit(self, event: Event) -> None:
        pass


class MemorySink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)


class JsonlSink:
    """Appends events to ``path`` (a local file), one JSON object per line.

    Lines are flushed to the OS at least every ``flush_every`` seconds and on close: a flush
    per event costs a system call each, and a run writes thousands (benchmarks/overhead.py).
    """

    def __init__(self, path: str, *, flush_every: float = 0.25):
        self.path = path
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._f = open(path, "a", encoding="utf-8")
        self._flush_every = flush_every
        self._flushed = time.monotonic()
        self._lines: list[str] = []  # encoded, not yet handed to the file (one write per flush)
        self._heads: dict[tuple[str, ...], tuple[str, str]] = {}  # a node's identity, encoded once
        self._runs: dict[str, str] = {}  # a run id, encoded once

    def emit(self, event: Event) -> None:
        self._lines.append(self._encode(event))
        now = time.monotonic()
        if now - self._flushed >= self._flush_every or event.type in _FLUSH_NOW:
            self._write()
            self._flushed = now

    def _encode(self, e: Event) -> str:
        """``_LINE(e.as_dict())``, the same text, faster: a node's events repeat its
        node, step, topic, kind and provider, so that part is encoded once per node."""
        ident = (e.run_id, e.node, e.step, e.topic, e.kind, e.provider)
        head = self._heads.get(ident)
        if head is None:
            if len(self._heads) > 50_000:
                self._heads.clear()
            run = self._runs.get(e.run_id)
            if run is None:
                run = self._runs[e.run_id] = '"run_id":' + _LINE(e.run_id)
            _, node, step, topic, kind, provider = ident  # (written out: this runs once a node)
            rest = ',"node":' + (_STR(node) if type(node) is str else _LINE(node)) if node else ""
            if step:
                rest += ',"step":' + (_STR(step) if type(step) is str else _LINE(step))
            if topic:
                rest += ',"topic":' + (_STR(topic) if type(topic) is str else _LINE(topic))
            if kind:
                rest += ',"kind":' + (_STR(kind) if type(kind) is str else _LINE(kind))
            if provider:
                rest += ',"provider":' + (_STR(provider) if type(provider) is str else _LINE(provider))
            head = self._heads[ident] = (run, rest)
        more = ""  # the other fields, in field order, the non-empty ones
        attempt = e.attempt
        if attempt:
            more = ',"attempt":' + (_int_repr(attempt) if type(attempt) is int else _number(attempt))
        if e.error:
            more += ',"error":' + _LINE(e.error)
        if e.message:
            more += ',"message":' + _LINE(e.message)
        if e.latency:
            more += ',"latency":' + _number(e.latency)
        if e.cost_usd:
            more += ',"cost_usd":' + _number(e.cost_usd)
        if e.data:
            more += ',"data":' + _LINE(e.data)
        ts = e.ts
        if type(ts) is float and 1.0 <= ts < _MICROS_BELOW and (us := _round(ts * 1e6)) / 1e6 == ts:  # a stamp(): whole microseconds
            stamp = _micros(us)
        else:
            stamp = _number(ts)
        return f'{{{head[0]},"type":"{e.type._value_}","ts":{stamp}{head[1]}{more}}}'  # (_value_: .value is a property)

    def _write(self) -> None:
        if self._lines:
            self._f.write("\n".join(self._lines) + "\n")
            self._lines.clear()
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._write()
            self._f.close()


class MultiSink:
    """Hands each event to every sink in turn (None is left out; a MultiSink inside is flattened)."""

    def __init__(self, *sinks: EventSink | None):
        self.sinks: list[EventSink] = []
        for s in sinks:
            if isinstance(s, MultiSink):
                self.sinks.extend(s.sinks)
            elif s is not None:
                self.sinks.append(s)
        self._emits = tuple(s.emit for s in self.sinks)

    def emit(self, event: Event) -> None:
        for emit in self._emits:
            emit(event)


def read_events(path: str) -> list[Event]:
    """The events of a run record. A last line cut off by a crash mid-write (no newline, not
    JSON) is left out, as the cache's usage reader does; a bad line elsewhere is an error."""
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    events = []
    for i, line in enumerate(lines):
        try:
            events.append(Event.from_dict(json.loads(line)))
        except ValueError:
            if i == len(lines) - 1 and not line.endswith("\n"):
                break
            raise
    return events


@dataclass
class StepCounts:
    total: int = 0
    cached: int = 0
    ran: int = 0
    failed: int = 0
    skipped: int = 0
    review: int = 0
    waiting: int = 0
    retries: int = 0
    cost_usd: float = 0.0

    @property
    def done(self) -> int:
        return self.cached + self.ran + self.failed + self.skipped + self.review + self.waiting


@dataclass
class Summary:
    """What a run did, computed from its events."""

    run_id: str = ""
    steps: dict[str, StepCounts] = field(default_factory=dict)
    nodes: dict[str, str] = field(default_factory=dict)  # node -> final status
    cost_by_topic: dict[str, float] = field(default_factory=dict)
    cost_by_step: dict[str, float] = field(default_factory=dict)
    cost_by_provider: dict[str, float] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    topics: dict[str, dict[str, Any]] = field(default_factory=dict)
    placeholders: list[str] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)  # what waits for review: node, topic, look
    interrupted: bool = False
    finished: bool = False  # the record has its run_finished (False: the run was killed)
    elapsed: float = 0.0

    @property
    def cost_usd(self) -> float:
        return sum(self.cost_by_topic.values())

    def count(self, status: str) -> int:
        return sum(1 for s in self.nodes.values() if s == status)

    @property
    def exit_code(self) -> int:
        if self.interrupted or not self.finished:
            return 130
        failed_topics = [t for t, d in self.topics.items() if d.get("status") == "failed"]
        if failed_topics or self.failures:
            return 1
        return 4 if any(d.get("status") == "awaiting_review" for d in self.topics.values()) or self.count("review") else 0


class Summarizer:
    """An event sink that keeps a run's :class:`Summary` up to date as its events arrive (a
    run's result needs no copy of its events: at 10,000 nodes they were 30,000 objects kept
    to the end and read twice)."""

    def __init__(self) -> None:
        self.summary = Summary()
        self._start: float | None = None
        self._end: float | None = None

    def emit(self, e: Event) -> None:
        s = self.summary
        if not s.run_id:
            s.run_id = e.run_id
        t = e.type
        if not e.node:  # the run's and the topics' own events
            if t is EventType.RUN_STARTED:
                self._start = e.ts
            elif t is EventType.RUN_FINISHED:
                self._end = e.ts
                s.finished = True
                s.interrupted = bool(e.data.get("interrupted"))
            elif t is EventType.TOPIC_FINISHED:
                s.topics[e.topic] = dict(e.data)
            if self._start is not None and self._end is not None:
                s.elapsed = self._end - self._start
            return
        c = s.steps.get(e.step)
        if c is None:
            c = s.steps[e.step] = StepCounts()
        if t is EventType.NODE_QUEUED:  # (the events of every node first: a run has thousands)
            c.total += 1
            return
        status = _STATUS.get(t)
        if status is None:
            if t is EventType.NODE_RETRY:
                c.retries += 1
            return
        if t is EventType.NODE_REVIEW:
            before = s.nodes.get(e.node)
            if before is not None:
                setattr(c, before, getattr(c, before) - 1)  # made (or cached), then held for review
            s.reviews.append({"node": e.node, "topic": e.topic, "step": e.step, "look": e.data.get("look", {})})
        s.nodes[e.node] = status
        setattr(c, status, getattr(c, status) + 1)
        if t is EventType.NODE_SUCCEEDED and e.cost_usd:
            c.cost_usd += e.cost_usd
            for bucket, k in ((s.cost_by_topic, e.topic), (s.cost_by_step, e.step), (s.cost_by_provider, e.provider or e.kind)):
                bucket[k] = bucket.get(k, 0.0) + e.cost_usd
        elif t is EventType.NODE_FAILED:
            s.failures.append({"node": e.node, "topic": e.topic, "step": e.step, "error": e.error, "message": e.message})
        if e.data and e.data.get("placeholder"):
            s.placeholders.append(e.node)


def summarize(events: Iterable[Event]) -> Summary:
    """The :class:`Summary` of a run's events (those of a run record, say)."""
    folder = Summarizer()
    for e in events:
        folder.emit(e)
    return folder.summary
