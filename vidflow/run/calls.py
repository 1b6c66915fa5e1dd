"""Provider calls, as the scheduler serves them to capabilities (the ``Runtime``'s ``call``,
``retrying``, ``note`` and ``fallback``): each call under its provider's limiter, the budget and
the retry policy, with its events.

A mixin of :class:`~vidflow.run.scheduler.Scheduler` (it uses the scheduler's adapters,
limiters, retry policies, budget and events).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Mapping

from ..errors import DiskFullError, RateLimitedError, TransientProviderError
from ..plan.task import Task
from ..providers.base import Provider
from .ledger import EventType, stamp
from .outcome import CallResult

__all__ = ["ProviderCalls"]


class ProviderCalls:
    """The scheduler's provider-call services."""

    async def warm_up(self, provider: str) -> None:
        """Before a provider's first call: open clients, import SDKs (never for a cached run).

        Every call to that provider waits for the same warm-up, outside the limiter, so the
        first burst starts with clients ready and its rate window is not skewed.
        """
        if provider in self._warmed:
            return
        adapter = self.adapter(provider)
        if getattr(type(adapter), "warm_up", None) is Provider.warm_up:  # the default: nothing to wait for
            self._warmed.add(provider)
            return
        fut = self._warm.get(provider)
        if fut is None:
            fut = self._warm[provider] = asyncio.ensure_future(adapter.warm_up())
        await asyncio.shield(fut)
        self._warmed.add(provider)  # (a failed warm-up raised above, and raises for every call after)

    async def call(self, task: Task, provider: str, fn: Callable[[], Awaitable[Any]], *, estimate: float, fallback: bool = False) -> CallResult:
        """One provider call under its limiter, the budget and the retry policy, with events."""
        if provider not in self._warmed:  # (once it has succeeded: no coroutine, no shield)
            await self.warm_up(provider)
        lane = self._lanes.get(provider)
        if lane is None:
            lane = self._lanes[provider] = (self.adapter(provider), self.limiter(provider), self.retry_policy(provider))
        adapter, limiter, policy = lane
        t0 = self.clock.now()

        async def attempt() -> CallResult:
            nonlocal t0
            n = self._attempts[task.id] = self._attempts.get(task.id, 0) + 1
            t0 = self.clock.now()
            self.node_event(EventType.NODE_STARTED, task, attempt=n, provider=provider, data={"fallback": True} if fallback else None)
            async with limiter:
                if self._full is not None:  # a write of this run found its disk full: what this call made could not be stored
                    raise DiskFullError(f"not made: {self._full}")
                if adapter.paid:
                    self.budget.reserve(task.topic, estimate)
                actual = 0.0
                try:
                    self.calls[provider] = self.calls.get(provider, 0) + 1
                    started_at = stamp()  # (to the microsecond, as events are)
                    c0 = self.clock.now()
                    value = await (fn() if policy.timeout is None else policy.bounded(fn, kind=adapter.kind))
                    seconds = self.clock.now() - c0
                    actual = float(getattr(value, "cost_usd", 0.0) or 0.0)
                finally:
                    if adapter.paid:
                        self.budget.settle(task.topic, estimate, actual)
            return CallResult(value, seconds, started_at)

        try:  # the first attempt here (policy.call without its frame: most calls succeed at once)
            return await attempt()
        except TransientProviderError as e:
            if policy.attempts <= 1:
                raise
            first = e

        def on_retry(exc: BaseException, n: int, delay: float) -> None:
            self._retried(task, provider, t0, exc, delay)

        return await policy.after_failure(first, attempt, sleep=self.clock.sleep, on_retry=on_retry)

    def _retried(self, task: Task, provider: str, started: float, exc: BaseException, delay: float) -> None:
        """An attempt failed transiently: pause the provider on a 429, and say so."""
        if isinstance(exc, RateLimitedError):
            self.limiter(provider).pause(delay)  # a 429 pauses the whole provider instance, not just this call
        status = getattr(exc, "status", None)
        data = {"status": status, "wait": round(delay, 3)} if status else {"wait": round(delay, 3)}
        self.emit(EventType.NODE_RETRY, task, attempt=self._attempts.get(task.id, 0), provider=provider, error=type(exc).__name__, message=str(exc), latency=self.clock.now() - started, data=data)

    async def retrying(self, task: Task, provider: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        """``fn`` under the provider's retry policy and per-attempt timeout, with retry events and
        429 pauses, but without a concurrency slot, a rate-window start or a budget reservation:
        for the polls and downloads of a job already submitted (and paid for) with :meth:`call`."""
        await self.warm_up(provider)
        policy, kind = self.retry_policy(provider), self.adapter(provider).kind
        t0 = self.clock.now()

        async def attempt() -> Any:  # a coroutine function: tenacity calls plain callables without awaiting
            return await policy.bounded(fn, kind=kind)

        def on_retry(exc: BaseException, n: int, delay: float) -> None:
            self._retried(task, provider, t0, exc, delay)

        return await policy.call(attempt, sleep=self.clock.sleep, on_retry=on_retry)

    def note(self, task: Task, message: str, *, error: str = "", data: Mapping[str, Any] | None = None) -> None:
        """Say in the event log why a node does something again (a NODE_RETRY event with ``data``)."""
        self.emit(EventType.NODE_RETRY, task, attempt=self._attempts.get(task.id, 0), error=error, message=message, data=dict(data or {}))

    def fallback(self, task: Task, provider: str, error: BaseException, next_provider: str) -> None:
        self.emit(EventType.NODE_RETRY, task, attempt=self._attempts.get(task.id, 0), provider=provider, error=type(error).__name__, message=str(error), data={"fallback_to": next_provider})
