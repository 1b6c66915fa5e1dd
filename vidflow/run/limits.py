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
import contextlib
import time
from collections import deque
from typing import Protocol

from ..errors import RateLimitedError
from ..limits import Limits, Rate, RateWindow

__all__ = ["DEFAULT_429_PAUSE", "Clock", "Limiter", "MonotonicClock"]

#: Seconds a provider pauses after a 429 that gave no Retry-After.
DEFAULT_429_PAUSE = 1.0


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock."""

    now = staticmethod(time.monotonic)  # (``clock.now()`` is then one C call: it is read ~6 times a node)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class Limiter:
    """One provider instance's :class:`~vidflow.limits.Limits`, enforced in this process."""

    def __init__(self, name: str, *, limits: Limits, clock: Clock | None = None):
        self.name = name
        self.limits = limits
        self.clock = clock or MonotonicClock()
        self._free = limits.concurrency  # concurrency slots not taken
        self._waiters: deque[asyncio.Future] = deque()  # calls waiting for a slot, first come first served
        self._window = RateWindow(limits.rate) if limits.rate is not None else None
        self._paused_until = 0.0
        self._gate = asyncio.Lock()  # one waiter at a time checks the window (FIFO fairness)

    @property
    def concurrency(self) -> int:
        return self.limits.concurrency

    @property
    def rate(self) -> Rate | None:
        return self.limits.rate

    def pause(self, seconds: float) -> None:
        """Start no call for ``seconds`` from now (keeps the longest pause asked for)."""
        self._paused_until = max(self._paused_until, self.clock.now() + seconds)

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            await self._wait_for_free()
        if self._window is None and self._paused_until <= self.clock.now() and not self._gate.locked():
            return  # no window to keep and no pause: the concurrency slot is the whole limit
        try:
            async with self._gate:
                await self._wait_for_slot()
        except BaseException:
            self.release()
            raise

    async def _wait_for_free(self) -> None:
        """Wait until :meth:`release` hands this call a concurrency slot (in arrival order)."""
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():  # handed a slot, then cancelled: pass it on
                self.release()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
            raise

    async def _wait_for_slot(self) -> None:
        while True:
            now = self.clock.now()
            wait = self._paused_until - now
            if self._window is not None:
                wait = max(wait, self._window.earliest(now) - now)
            if wait <= 0:
                if self._window is not None:
                    self._window.record(now)
                return
            await self.clock.sleep(wait)

    def release(self) -> None:
        """Give a concurrency slot back: to the first call still waiting, else to the pool."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self._free += 1

    async def __aenter__(self) -> Limiter:
        # The common case at once (a free slot, no window, no pause, nobody queued): this is
        # on the path of every provider call.
        if self._free > 0 and not self._waiters and self._window is None and not self._gate.locked() and (
            not self._paused_until or self._paused_until <= self.clock.now()  # (never paused: no clock read)
        ):
            self._free -= 1
            return self
        await self.acquire()
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        # A 429 pauses the whole provider *before* this call's slot is given back, so no waiting
        # call can slip in first. The retry policy may lengthen the pause (to its backoff).
        if isinstance(exc, RateLimitedError):
            self.pause(exc.retry_after if exc.retry_after is not None else DEFAULT_429_PAUSE)
        self.release()
