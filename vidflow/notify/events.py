"""Run events (``vidflow/run/ledger.py``) -> webhook events, written to the outbox.

:class:`WebhookSink` is an :class:`~vidflow.run.ledger.EventSink` beside the run record: it sees
the same stream as ``events.jsonl`` and derives a handful of lifecycle events from it, nothing
is called from elsewhere. What each means (docs/webhooks.md):

* ``run.accepted`` and one ``topic.accepted`` per topic: the run began with these topics;
* ``run.started`` / ``topic.started``: the first node of the run / topic started or was cached;
* ``topic.progress``: every node of one step of a topic is done (ran, cached, failed, ...);
* ``topic.awaiting_review`` / ``topic.completed`` (output URL, cost) / ``topic.failed`` (error);
* one of ``run.completed``, ``run.awaiting_review``, ``run.failed`` (outputs, cost, the error),
  matching the run's exit code 0, 4 and 1 or 130.

Each event goes into the outbox (one record per URL) before the deliverer is woken. Payloads
carry only what the run record carries: no secret ever.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, NamedTuple

from ..errors import failure_text
from ..run.ledger import Event, EventType
from .outbox import Outbox

__all__ = ["Endpoint", "WebhookSink"]

_WORK = {EventType.NODE_STARTED, EventType.NODE_CACHED, EventType.NODE_SUCCEEDED, EventType.NODE_FAILED, EventType.NODE_SKIPPED,
         EventType.NODE_REVIEW, EventType.NODE_WAITING, EventType.LEASE_WAIT}
_STATUS = {EventType.NODE_CACHED: "cached", EventType.NODE_SUCCEEDED: "ran", EventType.NODE_FAILED: "failed",
           EventType.NODE_SKIPPED: "skipped", EventType.NODE_REVIEW: "review", EventType.NODE_WAITING: "waiting"}


def _settled(data: dict[str, Any]) -> bool:
    """A gated node's output that needs no review: approved already, or a person's own edit."""
    return bool(data.get("approved") or data.get("imported") or data.get("pinned"))


class Endpoint(NamedTuple):
    """Where events go, signed with the secret in ``$secret_env``; ``events`` empty: every event."""

    url: str
    secret_env: str
    events: frozenset[str] = frozenset()


class WebhookSink:
    """Derives webhook events from run events; thread-safe (the Dask executor emits from a thread)."""

    def __init__(self, outbox: Outbox, endpoints: list[Endpoint], *, order: list[str], gated: set[str], on_write: Callable[[], None] = lambda: None):
        self.outbox = outbox
        self.endpoints = endpoints
        self.order = order
        self.gated = gated  # steps with approve: true (made or cached is not done: review follows)
        self.on_write = on_write
        self.written: list[str] = []  # event ids, in order
        self._lock = threading.Lock()
        self._recipe = ""
        self._run_started = False
        self._topics_started: set[str] = set()
        self._queued: dict[tuple[str, str], set[str]] = {}
        self._final: dict[tuple[str, str], dict[str, str]] = {}
        self._progress_sent: set[tuple[str, str]] = set()
        self._cost: dict[tuple[str, str], float] = {}
        self._looks: dict[str, list[dict[str, Any]]] = {}
        self._topics: dict[str, dict[str, Any]] = {}
        self._failures: list[str] = []
        self._warned = False

    # ------------------------------------------------------------------ the stream
    def emit(self, e: Event) -> None:
        with self._lock:
            try:
                self._on(e)
            except OSError as err:  # the outbox folder is not writable: the run goes on regardless
                if not self._warned:
                    self._warned = True
                    print(f"vidflow: warning: webhook events not recorded ({self.outbox.path}: {err.strerror or err})", file=sys.stderr)

    def _on(self, e: Event) -> None:
        t = e.type
        if t is EventType.RUN_STARTED:
            self._recipe = str(e.data.get("recipe", ""))
            topics = list(e.data.get("topics", []))
            self._out(e, "run.accepted", {"topics": topics})
            for topic in topics:
                self._out(e, "topic.accepted", {"topic": topic})
            return
        if t is EventType.RUN_FINISHED:
            self._run_finished(e)
            return
        if t is EventType.TOPIC_FINISHED:
            self._topic_finished(e)
            return
        if not e.node:
            return
        if t in _WORK and e.topic not in self._topics_started:
            if not self._run_started:
                self._run_started = True
                self._out(e, "run.started", {})
            self._topics_started.add(e.topic)
            self._out(e, "topic.started", {"topic": e.topic})
        at = (e.topic, e.step)
        if t is EventType.NODE_QUEUED:
            self._queued.setdefault(at, set()).add(e.node)
            return
        if t is EventType.NODE_SUCCEEDED and e.cost_usd:
            self._cost[at] = self._cost.get(at, 0.0) + e.cost_usd
        if t is EventType.NODE_FAILED:
            self._failures.append(f"{e.node}: {failure_text(e.error, e.message)}")
        if t is EventType.NODE_REVIEW:
            self._looks.setdefault(e.topic, []).append({"node": e.node, "step": e.step, "look": e.data.get("look", {})})
        status = _STATUS.get(t)
        if status is None:
            return
        if e.step in self.gated and t in (EventType.NODE_SUCCEEDED, EventType.NODE_CACHED) and not _settled(e.data):
            return  # made, but held for review next: the step is not done yet
        final = self._final.setdefault(at, {})
        final[e.node] = status
        if at not in self._progress_sent and len(final) >= len(self._queued.get(at, ())):  # a node is queued before it ends
            self._progress_sent.add(at)
            counts = {s: sum(1 for v in final.values() if v == s) for s in ("ran", "cached", "failed", "skipped", "review", "waiting")}
            index = self.order.index(e.step) + 1 if e.step in self.order else 0
            self._out(e, "topic.progress", {"topic": e.topic, "step": e.step, "step_number": index, "steps": len(self.order),
                                            "nodes": len(final), **counts, "cost_usd": round(self._cost.get(at, 0.0), 6)})

    def _topic_cost(self, topic: str) -> float:
        return round(sum(v for (t, _), v in self._cost.items() if t == topic), 6)

    def _topic_finished(self, e: Event) -> None:
        d = dict(e.data)
        self._topics[e.topic] = d
        status = d.get("status")
        base = {"topic": e.topic, "text": d.get("topic", ""), "cost_usd": self._topic_cost(e.topic)}
        if status == "failed":
            self._out(e, "topic.failed", {**base, "error": d.get("error", "")})
        elif status == "awaiting_review":
            self._out(e, "topic.awaiting_review", {**base, "awaiting": self._looks.get(e.topic, [])})
        else:
            extra = {k: d.get(k) for k in ("output", "manifest", "duration") if d.get(k) is not None}
            self._out(e, "topic.completed", {**base, "status": status, **extra})

    def _run_finished(self, e: Event) -> None:
        statuses = {t: d.get("status") for t, d in self._topics.items()}
        outputs = [{"topic": t, "output": d["output"], "duration": d.get("duration")} for t, d in self._topics.items() if d.get("output")]
        failed = [t for t, s in statuses.items() if s == "failed"]
        waiting = [t for t, s in statuses.items() if s == "awaiting_review"]
        data = {"topics": statuses, "outputs": outputs, "cost_usd": round(sum(self._cost.values()), 6),
                "published": sum(1 for s in statuses.values() if s == "published"), "failed": len(failed), "awaiting_review": len(waiting)}
        if e.data.get("interrupted"):
            self._out(e, "run.failed", {**data, "exit_code": 130, "error": "interrupted"})
        elif failed or self._failures:
            first = self._failures[0] if self._failures else str(self._topics[failed[0]].get("error", ""))
            self._out(e, "run.failed", {**data, "exit_code": 1, "error": first, "errors": len(self._failures)})
        elif waiting:
            self._out(e, "run.awaiting_review", {**data, "exit_code": 4})
        else:
            self._out(e, "run.completed", {**data, "exit_code": 0})

    # ------------------------------------------------------------------ the outbox
    def _out(self, e: Event, type: str, data: dict[str, Any]) -> None:
        targets = [ep for ep in self.endpoints if not ep.events or type in ep.events]
        if not targets:
            return
        msg_id = "msg_" + uuid.uuid4().hex
        stamp = datetime.fromtimestamp(e.ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")
        body = json.dumps({"type": type, "timestamp": stamp, "data": {"run_id": e.run_id, "recipe": self._recipe, **data}},
                          ensure_ascii=False, default=str, separators=(",", ":"))
        for ep in targets:
            self.outbox.add(id=msg_id, type=type, url=ep.url, secret_env=ep.secret_env, run_id=e.run_id, body=body)
        self.written.append(msg_id)
        self.on_write()
