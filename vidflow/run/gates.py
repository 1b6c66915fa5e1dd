"""What can hold a node back before or after it is made: review gates, pinned and imported
edits, and the cache key's lease (another process making the same node).

A mixin of :class:`~vidflow.run.scheduler.Scheduler` (it uses the scheduler's store, records,
leases, events and outcomes); kept apart so that the scheduler's own walk reads in one piece.

* Review (``approve: true``): a made or cached output is recorded as pending and the node raises
  AwaitingReviewError, so what depends on it waits (``vidflow approve`` releases it).
* ``--input`` edits are pinned for their topic, and later plain runs keep them.
* Leases: a paid or costly node is made under its key's lease; a process that finds the lease
  taken waits for the holder's output instead of paying twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ..cache.records import PENDING
from ..cache.store import Artifact, CacheStore
from ..errors import AwaitingReviewError
from ..plan.task import Task
from ..recipe.load import StepInfo
from .ledger import EventType
from .outcome import Outcome

__all__ = ["Gates"]


class Gates:
    """Review, pins and leases: the scheduler's methods for nodes that something holds."""

    async def _hold_for_review(self, task: Task, node: str, art: Artifact, record: dict | None) -> Any:
        """A gated node's output waits for a decision: recorded as pending, downstream waits."""
        if not self.executor.dry and not (record and record.get("status") == PENDING and record.get("digest") == art.digest):
            await self.io(lambda: self.records.put_review(self.loaded.name, task.topic, node, status=PENDING, art=art, key=task.key or "", previous=record))
        outcome = self.outcomes.get(task.id) or Outcome("cached", art)
        outcome.status, outcome.reason = "review", "awaits review"
        self.outcomes[task.id] = outcome
        self.emit(EventType.NODE_REVIEW, task, data={"digest": art.digest[:16], "look": _look(art, self.store)})
        raise AwaitingReviewError(task.id, "awaits review: `vidflow review` lists it, `vidflow approve` releases it")

    async def _imported(self, task: Task) -> Artifact:
        """A node whose output comes from a stage document (``--input``): pinned for its topic,
        so later plain runs keep the edit (until ``vidflow unpin`` or ``--refresh STEP``)."""
        value = self.imports[task.step][task.topic]
        if not self.executor.dry:
            await self.io(self.records.put_pin, self.loaded.name, task.topic, task.step, value)
        art = Artifact(value=value, meta={"imported": True, "provider": "input"})
        self.outcomes[task.id] = Outcome("cached", art, provider="input", imported=True, reason="imported")
        self.emit(EventType.NODE_CACHED, task, data={"imported": True})
        return art

    def _pinned(self, task: Task, pin: dict[str, Any]) -> Artifact:
        art = Artifact(value=pin["value"], meta={"imported": True, "pinned": True, "provider": "input"})
        self.outcomes[task.id] = Outcome("cached", art, provider="input", imported=True, reason="pinned")
        self.emit(EventType.NODE_CACHED, task, data={"pinned": True})
        return art

    async def _make_leased(self, task: Task, step: StepInfo, cap: Any, prepared: Any, key: str, enc: Any, text: str | None = None) -> Any:
        """Make a node under its key's lease; if another process holds it, wait for its output."""
        check = cap.cached_value_check(step, task)
        delay, waited = 0.2, False
        while True:
            lease = await self.io(self.leases.try_acquire, key, task.id)
            if lease is not None:
                break
            found = await self.io(lambda: self.store.lookup(key, check=check))
            if found.artifact is not None:
                return self._made_elsewhere(task, found.artifact, key)
            if not waited:
                holder = await self.io(self.leases.holder, key) or {}
                self.emit(EventType.LEASE_WAIT, task, data={"holder": str(holder.get("owner", "")), "key": key[:16]})
                waited = True
            await self.clock.sleep(delay)
            delay = min(2.0, delay * 1.5)
        renewer = None if self.leases.local else asyncio.ensure_future(self._renew(lease, task))
        try:
            # Looked up again under the lease, even if it came at once: another process may have
            # made the node and let go between this node's first lookup and the lease (a race
            # that paid twice under load, tests/integration/test_leases.py).
            found = await self.io(lambda: self.store.lookup(key, check=check))
            if found.artifact is not None:
                return self._made_elsewhere(task, found.artifact, key)
            return await self._execute(task, step, cap, prepared, key, enc, text)
        finally:
            if renewer is not None:
                renewer.cancel()
            with contextlib.suppress(OSError):  # (a store that stopped answering: the lease lapses at its expiry)
                await self.io(self.leases.release, lease)

    async def _renew(self, lease: Any, task: Task) -> None:
        while True:
            await asyncio.sleep(self.leases.ttl / 3)
            with contextlib.suppress(OSError):  # (no answer this time: try again at the next third of the TTL)
                await self.io(self.leases.renew, lease, task.id)

    def _made_elsewhere(self, task: Task, art: Artifact, key: str) -> Artifact:
        meta = art.meta or {}
        self.outcomes[task.id] = Outcome("cached", art, provider=meta.get("provider", ""), cost_recorded=float(meta.get("cost_usd") or 0.0), reason="made by another process")
        self.emit(EventType.NODE_CACHED, task, data={"key": key[:16], "waited": True})
        return art


def _look(art: Artifact, store: CacheStore) -> dict[str, Any]:
    """What a reviewer looks at: the text (or its start), and where each file is."""
    out: dict[str, Any] = {}
    v = art.value
    if isinstance(v, str):
        out["text"] = v[:2000]
    elif isinstance(v, dict) and "lines" in v:
        out["text"] = "\n".join(f"{line.get('speaker', '')}: {line.get('text', '')}" for line in v.get("lines", []) if isinstance(line, dict))[:2000]
    for name, ref in art.blobs.items():
        out[name] = store.blob_path(ref.digest)
    return out
