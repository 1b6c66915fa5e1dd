"""Sending outbox records: one signed attempt at a time, in the background or as a bounded flush.

:class:`Sender` makes one attempt for one record, under the outbox lock, and records it.
:class:`Deliverer` is the background thread of a run: it sends each URL's records oldest first
and, when an attempt fails, leaves that URL alone for an exponentially growing, jittered wait
(``backoff * 2**(n-1)`` up to ``max_backoff``), so later events never overtake earlier ones. The
run never waits for a receiver that is down: at its end the deliverer gets :data:`DRAIN_SECONDS`
for what is due, skipping every URL that is failing. :func:`flush` is the next command's (and
``vidflow notify --flush``'s) single pass over everything pending, bounded in time.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Callable

from ..redact import Redactor
from .outbox import Outbox
from .signing import decode_secret, headers

_log = logging.getLogger("vidflow.notify")

__all__ = ["DRAIN_SECONDS", "FLUSH_SECONDS", "Deliverer", "Sender", "flush"]

#: The longest a run waits at its end for due deliveries (only while receivers answer).
DRAIN_SECONDS = 5.0
#: The longest the next vidflow command spends sending what earlier runs left in the outbox.
FLUSH_SECONDS = 3.0
#: The longest one attempt waits for a receiver.
ATTEMPT_SECONDS = 10.0

SecretOf = Callable[[str], "str | None"]


def _url_tag(name: str) -> str:
    """The URL part of a record's file name (``...-<id>-<url hash>.json``): records of one URL."""
    return name.rsplit("-", 1)[-1].removesuffix(".json")


class Sender:
    """One attempt per call; returns ``delivered``, ``failed``, ``gone`` (sent by another) or ``busy``."""

    def __init__(self, outbox: Outbox, secret_of: SecretOf, redactor: Redactor | None = None):
        self.outbox = outbox
        self.secret_of = secret_of
        self.redactor = redactor or Redactor()
        self._client: Any = None

    def _http(self) -> Any:
        if self._client is None:
            import httpx  # deferred: commands with an empty outbox never import it

            self._client = httpx.Client(follow_redirects=False, headers={"user-agent": "vidflow-webhooks"})
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def send(self, name: str, *, timeout: float = ATTEMPT_SECONDS, lock_timeout: float = ATTEMPT_SECONDS) -> str:
        import httpx

        with self.outbox.lock(lock_timeout) as held:
            if not held:
                return "busy"
            rec = self.outbox.read(name)  # re-read under the lock: another sender may have sent it
            if rec is None or self.outbox.finish_if_delivered(rec):
                return "gone"
            at = time.time()
            secret = self.secret_of(rec.secret_env)
            if not secret:
                self.outbox.record_attempt(rec, {"at": at, "status": None, "error": f"${rec.secret_env} is not set: cannot sign"})
                return "failed"
            try:
                key = decode_secret(secret)
            except ValueError as e:
                self.outbox.record_attempt(rec, {"at": at, "status": None, "error": f"${rec.secret_env} {e}"})
                return "failed"
            try:
                r = self._http().post(rec.url, content=rec.body.encode(), headers=headers(key, rec.id, int(at), rec.body), timeout=max(0.1, timeout))
            except httpx.HTTPError as e:
                error = self.redactor.redact(f"{type(e).__name__}: {e}")
                self.outbox.record_attempt(rec, {"at": at, "status": None, "error": error, "seconds": round(time.time() - at, 3)})
                return "failed"
            attempt = {"at": at, "status": r.status_code, "seconds": round(time.time() - at, 3)}
            if 200 <= r.status_code < 300:
                self.outbox.mark_delivered(rec, attempt)
                return "delivered"
            attempt["error"] = f"HTTP {r.status_code}"
            self.outbox.record_attempt(rec, attempt)
            return "failed"


def _pass(sender: Sender, *, deadline: float, skip: Callable[[str], bool], on_result: Callable[[str, str], None]) -> None:
    """Every pending record oldest first, until ``deadline``; a URL that fails is left for this pass."""
    failing: set[str] = set()
    for name in sender.outbox.names():
        tag = _url_tag(name)
        if tag in failing or skip(tag):
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            return
        result = sender.send(name, timeout=min(ATTEMPT_SECONDS, left), lock_timeout=min(ATTEMPT_SECONDS, left))
        if result in ("failed", "busy"):
            failing.add(tag)
        on_result(tag, result)


def flush(outbox: Outbox, secret_of: SecretOf, *, seconds: float = FLUSH_SECONDS, redactor: Redactor | None = None) -> dict[str, int]:
    """Send what is pending (every URL's records in order; one failure ends a URL's turn).

    Bounded by ``seconds``; ignores earlier backoff (a new command is a new chance). Returns
    counts: ``delivered``, ``failed`` (attempts), ``pending`` (left afterwards).
    """
    counts = {"delivered": 0, "failed": 0}
    sender = Sender(outbox, secret_of, redactor)

    def tally(_tag: str, result: str) -> None:
        if result in counts:
            counts[result] += 1

    try:
        _pass(sender, deadline=time.monotonic() + seconds, skip=lambda _t: False, on_result=tally)
    finally:
        sender.close()
    outbox.prune()
    return {**counts, "pending": len(outbox.names())}


class Deliverer:
    """The background thread of one run: sends as events arrive, retries with backoff."""

    def __init__(self, outbox: Outbox, secret_of: SecretOf, *, redactor: Redactor | None = None, backoff: float = 0.5, max_backoff: float = 60.0):
        self.sender = Sender(outbox, secret_of, redactor)
        self.backoff, self.max_backoff = backoff, max_backoff
        self._cond = threading.Condition()
        self._dirty = True  # something may be due (set by wake)
        self._closing_at: float | None = None
        self._fails: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._thread = threading.Thread(target=self._loop, name="vidflow-webhooks", daemon=True)
        self.delivered = 0

    def start(self) -> Deliverer:
        self._thread.start()
        return self

    def wake(self) -> None:
        with self._cond:
            self._dirty = True
            self._cond.notify()

    def close(self, drain: float = DRAIN_SECONDS) -> None:
        """Give due deliveries up to ``drain`` seconds (failing URLs are not waited for), then stop."""
        with self._cond:
            self._closing_at = time.monotonic() + drain
            self._dirty = True
            self._cond.notify()
        self._thread.join(drain + 1.0)

    def _skip(self, tag: str) -> bool:
        return self._retry_at.get(tag, 0.0) > time.monotonic()

    def _result(self, tag: str, result: str) -> None:
        if result == "failed":
            n = self._fails[tag] = self._fails.get(tag, 0) + 1
            wait = random.uniform(0.5, 1.0) * min(self.max_backoff, self.backoff * 2 ** (n - 1))
            self._retry_at[tag] = time.monotonic() + wait
        elif result == "delivered":
            self.delivered += 1
            self._fails.pop(tag, None)
            self._retry_at.pop(tag, None)

    def _loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._dirty and self._closing_at is None:
                        due = min(self._retry_at.values(), default=None)
                        timeout = None if due is None else max(0.0, due - time.monotonic())
                        if not self._cond.wait(timeout) and due is not None:
                            break  # a retry is due
                    self._dirty = False
                    closing = self._closing_at
                deadline = closing if closing is not None else time.monotonic() + 3600
                try:
                    _pass(self.sender, deadline=deadline, skip=self._skip, on_result=self._result)
                except Exception as e:  # noqa: BLE001 - the outbox keeps every record: the next command sends them
                    _log.warning("webhook delivery stopped (%s: %s); undelivered events stay in the outbox for `vidflow notify --flush`",
                                 type(e).__name__, self.sender.redactor.redact(str(e)))
                    return
                if closing is not None:
                    with self._cond:
                        if not self._dirty or time.monotonic() >= closing:
                            return
        finally:
            self.sender.close()
