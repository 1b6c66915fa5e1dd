"""Per-provider limits: a concurrency cap, a rate window and a shared pause (after a 429).

``Limiter`` guards one provider instance. ``async with limiter:`` waits until

* fewer than ``concurrency`` calls are in flight,
* fewer than ``rate.calls`` calls started in the last ``rate.period`` seconds (a sliding
  window: no window of that length ever holds more starts than the limit; a small margin is
  added so that the vendor, who sees each start a little later, agrees), and
* the provider is not paused (``pause(seconds)``, used when it answered 429).

Time comes from an injected :class:`Clock`, so tests assert exact behaviour without sleeping.
A cache hit never enters a limiter.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Protocol

from ..errors import RateLimitedError
from ..recipe.schema import Rate

__all__ = ["Clock", "Limiter", "MonotonicClock"]

#: Seconds a provider pauses after a 429 that gave no Retry-After.
DEFAULT_429_PAUSE = 1.0


def window_margin(period: float) -> float:
    """Slack added to a rate window: the vendor sees a call start a little after we grant it
    (event-loop work, TLS, the network), so a window must reopen for us a little later than for
    the vendor, or the call that refills it meets a 429 (measured by benchmarks/makespan.py)."""
    return min(0.25, 0.05 + 0.02 * period)


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class Limiter:
    def __init__(self, name: str, *, concurrency: int, rate: Rate | None = None, clock: Clock | None = None):
        self.name = name
        self.concurrency = concurrency
        self.rate = rate
        self.clock = clock or MonotonicClock()
        self._sem = asyncio.Semaphore(concurrency)
        self._starts: deque[float] = deque()
        self._paused_until = 0.0
        self._gate = asyncio.Lock()  # one waiter at a time checks the window (FIFO fairness)
        self._margin = window_margin(rate.period) if rate is not None else 0.0

    def pause(self, seconds: float) -> None:
        """Start no call for ``seconds`` from now (keeps the longest pause asked for)."""
        self._paused_until = max(self._paused_until, self.clock.now() + seconds)

    async def acquire(self) -> None:
        await self._sem.acquire()
        try:
            async with self._gate:
                await self._wait_for_slot()
        except BaseException:
            self._sem.release()
            raise

    async def _wait_for_slot(self) -> None:
        while True:
            now = self.clock.now()
            wait = self._paused_until - now
            if self.rate is not None:
                while self._starts and self._starts[0] <= now - self.rate.period:
                    self._starts.popleft()
                if len(self._starts) >= self.rate.calls:
                    wait = max(wait, self._starts[0] + self.rate.period + self._margin - now)
            if wait <= 0:
                if self.rate is not None:
                    self._starts.append(now)
                return
            await self.clock.sleep(wait)

    def release(self) -> None:
        self._sem.release()

    async def __aenter__(self) -> Limiter:
        await self.acquire()
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        # A 429 pauses the whole provider *before* this call's slot is given back, so no waiting
        # call can slip in first. The retry policy may lengthen the pause (to its backoff).
        if isinstance(exc, RateLimitedError):
            self.pause(exc.retry_after if exc.retry_after is not None else DEFAULT_429_PAUSE)
        self.release()
