"""The outbox: one JSON file per webhook delivery not yet made, beside the run records.

``<runs_dir>/outbox/<created>-<seq>-<id>-<url hash>.json`` is written (atomically: a temporary
file, then ``os.replace``) before anything is sent, so an event survives a receiver that is down
and a vidflow process that dies. A record holds the exact body to send, the URL, the *name* of
the environment variable with the signing secret (never the secret), and every attempt
(time, HTTP status, error). After a 2xx the record is rewritten with its last attempt and moved
(one atomic rename) to ``outbox/delivered/``; delivered records older than a week are pruned.

Senders in several processes (a run's background deliverer, the next command's flush,
``vidflow notify --flush``) take ``outbox/.lock`` (``flock``) around each attempt and re-read
the record under it, so no receiver ever gets the same event id twice from vidflow.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..storage import write_local_atomic

__all__ = ["DELIVERED", "KEEP_DELIVERED", "Outbox", "Record"]

DELIVERED = "delivered"
#: Seconds delivered records are kept (``outbox/delivered/``) before a flush prunes them.
KEEP_DELIVERED = 7 * 86_400
_SEQ = itertools.count()  # orders records one process makes in the same nanosecond


@dataclass
class Record:
    """One event for one URL."""

    id: str
    type: str
    url: str
    secret_env: str
    run_id: str
    body: str  # the exact JSON text that is signed and sent
    created: float = field(default_factory=time.time)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    delivered: float | None = None
    name: str = ""  # the file name (not stored)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "url": self.url, "secret_env": self.secret_env, "run_id": self.run_id,
                "created": self.created, "body": self.body, "attempts": self.attempts, "delivered": self.delivered}

    @classmethod
    def from_dict(cls, d: dict[str, Any], name: str) -> Record:
        return cls(**{k: d[k] for k in ("id", "type", "url", "secret_env", "run_id", "body", "created", "attempts", "delivered")}, name=name)


class Outbox:
    """The folder of pending (and delivered) webhook records."""

    def __init__(self, runs_dir: str):
        self.path = os.path.join(runs_dir, "outbox")
        self.delivered_path = os.path.join(self.path, DELIVERED)

    # ------------------------------------------------------------------ writing
    def add(self, *, id: str, type: str, url: str, secret_env: str, run_id: str, body: str) -> Record:
        rec = Record(id=id, type=type, url=url, secret_env=secret_env, run_id=run_id, body=body)
        url_tag = hashlib.sha256(url.encode()).hexdigest()[:8]
        rec.name = f"{time.time_ns():020d}-{next(_SEQ):06d}-{id}-{url_tag}.json"
        self._write(os.path.join(self.path, rec.name), rec)
        return rec

    def _write(self, path: str, rec: Record) -> None:
        write_local_atomic(path, json.dumps(rec.as_dict(), ensure_ascii=False).encode())

    # ------------------------------------------------------------------ reading
    def has_pending(self) -> bool:
        """Cheap: one directory listing, no parsing (the next command calls it every time)."""
        try:
            with os.scandir(self.path) as it:
                return any(e.name.endswith(".json") and not e.name.startswith(".") for e in it)
        except (FileNotFoundError, NotADirectoryError):
            return False

    def names(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.path) if n.endswith(".json") and not n.startswith("."))
        except FileNotFoundError:
            return []

    def read(self, name: str, *, delivered: bool = False) -> Record | None:
        """The record, or None if it is gone (delivered meanwhile) or unreadable."""
        path = os.path.join(self.delivered_path if delivered else self.path, name)
        try:
            with open(path, encoding="utf-8") as f:
                return Record.from_dict(json.load(f), name)
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def pending(self) -> list[Record]:
        return [r for r in (self.read(n) for n in self.names()) if r is not None]

    def delivered(self) -> list[Record]:
        try:
            names = sorted(n for n in os.listdir(self.delivered_path) if n.endswith(".json"))
        except FileNotFoundError:
            return []
        return [r for r in (self.read(n, delivered=True) for n in names) if r is not None]

    # ------------------------------------------------------------------ state changes (under the lock)
    def record_attempt(self, rec: Record, attempt: dict[str, Any]) -> None:
        rec.attempts.append(attempt)
        self._write(os.path.join(self.path, rec.name), rec)

    def mark_delivered(self, rec: Record, attempt: dict[str, Any]) -> None:
        """Record the successful attempt, then move the record out of the pending folder.

        If vidflow dies between the two steps, the record says ``delivered`` and the next sender
        finishes the move without sending it again (:meth:`finish_if_delivered`).
        """
        rec.attempts.append(attempt)
        rec.delivered = attempt["at"]
        self._write(os.path.join(self.path, rec.name), rec)
        self.finish_if_delivered(rec)

    def finish_if_delivered(self, rec: Record) -> bool:
        if rec.delivered is None:
            return False
        os.makedirs(self.delivered_path, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.replace(os.path.join(self.path, rec.name), os.path.join(self.delivered_path, rec.name))
        return True

    def prune(self, now: float | None = None) -> int:
        """Remove delivered records older than :data:`KEEP_DELIVERED` (by file time); how many went."""
        cutoff = (now or time.time()) - KEEP_DELIVERED
        gone = 0
        try:
            with os.scandir(self.delivered_path) as it:
                old = [e.path for e in it if e.name.endswith(".json") and e.stat().st_mtime < cutoff]
        except FileNotFoundError:
            return 0
        for path in old:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
                gone += 1
        return gone

    @contextlib.contextmanager
    def lock(self, timeout: float) -> Iterator[bool]:
        """Hold ``outbox/.lock`` (yields True), or yield False if another sender kept it ``timeout`` s.

        A new open file each time: flock then also excludes other threads of this process.
        """
        os.makedirs(self.path, exist_ok=True)
        fd = os.open(os.path.join(self.path, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.02)
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
