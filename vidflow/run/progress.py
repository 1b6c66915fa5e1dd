"""Where a run stands, from its events: done, a total that never shrinks, an ETA, what runs now.

Displays (the CLI's plain lines and rich bars) read a :class:`Progress` fed with every event;
nothing here prints. The total starts from the batch's expected size (the ``expected_nodes``
a run announces when it starts) and only grows as nodes are named, so a percentage never goes
backwards; while nodes may still be named it is marked estimated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from .ledger import Event, EventType

__all__ = ["Progress", "TopicProgress"]

# NODE_REVIEW is not here: a node held for review was counted when it was made (or cached).
_DONE = {EventType.NODE_CACHED: "cached", EventType.NODE_SUCCEEDED: "ran", EventType.NODE_FAILED: "failed", EventType.NODE_SKIPPED: "skipped", EventType.NODE_WAITING: "waiting"}


@dataclass
class TopicProgress:
    queued: int = 0
    done: int = 0
    status: str = "running"  # running, published, done, failed


@dataclass
class Progress:
    """Counts of one run, kept up to date with :meth:`feed`."""

    clock: Callable[[], float] = time.monotonic
    expected: int = 0
    queued: int = 0
    done: int = 0
    total: int = 0
    topics: dict[str, TopicProgress] = field(default_factory=dict)
    running: dict[str, float] = field(default_factory=dict)  # node -> when it started
    started_at: float | None = None
    finished: bool = False
    _timed_done: int = 0  # nodes that took time (ran or failed): the ETA's pace

    def feed(self, e: Event) -> None:
        now = self.clock()
        if e.type is EventType.RUN_STARTED:
            self.started_at = now
            self.expected = int(e.data.get("expected_nodes") or 0)
            self.topics = {t: TopicProgress() for t in e.data.get("topics", [])}
        elif e.type is EventType.RUN_FINISHED:
            # The forecast is over: what was done is the whole (the only time the total may
            # come down, and no progress line is printed after it).
            self.finished = True
            self.total = self.done
            return
        elif e.type is EventType.TOPIC_FINISHED:
            self.topics.setdefault(e.topic, TopicProgress()).status = e.data.get("status", "done")
        elif e.type is EventType.NODE_QUEUED:
            self.queued += 1
            self.topics.setdefault(e.topic, TopicProgress()).queued += 1
        elif e.type is EventType.NODE_STARTED:
            self.running.setdefault(e.node, now)
        elif e.type in _DONE:
            self.done += 1
            self.topics.setdefault(e.topic, TopicProgress()).done += 1
            if self.running.pop(e.node, None) is not None or e.type is EventType.NODE_FAILED:
                self._timed_done += 1
        self.total = max(self.total, self.queued, self.expected, self.done)

    @property
    def estimated(self) -> bool:
        """True while the total is a forecast (more nodes may be named than are known)."""
        return not self.finished and self.queued < self.total

    @property
    def elapsed(self) -> float:
        return 0.0 if self.started_at is None else self.clock() - self.started_at

    def eta(self) -> float | None:
        """Seconds left at the pace so far (None until enough work finished to tell)."""
        if self.finished or self._timed_done < 3 or self.done >= self.total:
            return None
        pace = self.elapsed / max(1, self.done)
        return pace * (self.total - self.done)

    def running_now(self, limit: int = 4) -> list[str]:
        """The nodes working right now, the longest-running first."""
        return [n for n, _ in sorted(self.running.items(), key=lambda kv: kv[1])[:limit]]
