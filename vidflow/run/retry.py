"""The retry policy: tenacity, full-jitter exponential backoff, transient errors only.

* Only :class:`~vidflow.errors.TransientProviderError` is retried (429, 5xx, timeouts,
  connection failures); permanent errors (auth, bad request, refusals, unreadable replies) fail
  at once, and any other exception is a bug that propagates at once.
* The wait before attempt *n+1* is ``uniform(0, min(cap, base * 2**(n-1)))`` (AWS "full jitter").
* After a 429 the wait is at least the provider's Retry-After, and the caller's ``on_retry``
  pauses the whole provider instance for that long, not just this call.
* Each provider has its own policy: :meth:`RetryPolicy.from_spec` reads the recipe's
  ``retry: {attempts, backoff, max_backoff}`` and ``timeout:``; :meth:`RetryPolicy.bounded`
  holds one attempt to ``timeout`` seconds.
* Sleep and randomness are injected, so tests assert exact waits and never sleep for real.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from ..errors import ProviderTimeoutError, RateLimitedError, TransientProviderError

__all__ = ["RetryPolicy"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` calls at most; waits up to ``base * 2**(n-1)`` capped at ``cap`` seconds;
    ``timeout``: seconds one attempt may take (None: no limit of the policy's own)."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    timeout: float | None = None
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    @classmethod
    def from_spec(cls, spec: Any, *, timeout: float | None = None, rng: random.Random | None = None) -> RetryPolicy:
        """The policy of a recipe's provider block (a ``ProviderSpec``).

        ``spec.retry`` unset means the defaults (5 attempts from 0.5 s, waits up to 30 s).
        ``spec.timeout`` wins over ``timeout``, the caller's default (e.g. the adapter's own
        ``options.timeout``, which is the same value whenever the recipe sets one).
        """
        r = getattr(spec, "retry", None)
        kw: dict[str, Any] = {} if rng is None else {"rng": rng}
        if r is not None:
            kw.update(attempts=r.attempts, base=r.backoff, cap=r.max_backoff)
        spec_timeout = getattr(spec, "timeout", None)
        return cls(timeout=spec_timeout if spec_timeout is not None else timeout, **kw)

    def backoff(self, attempt: int) -> float:
        """Full-jitter wait after failed attempt number ``attempt`` (1-based)."""
        return self.rng.uniform(0.0, min(self.cap, self.base * 2 ** (attempt - 1)))

    def delay_for(self, exc: BaseException, attempt: int) -> float:
        delay = self.backoff(attempt)
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return delay

    async def bounded(self, fn: Callable[[], Awaitable[T]], *, kind: str = "") -> T:
        """One attempt, held to ``timeout`` seconds: past it, ProviderTimeoutError (retried).

        Wrap the provider call itself (not the wait for a concurrency slot) in it.
        """
        if self.timeout is None:
            return await fn()
        try:
            async with asyncio.timeout(self.timeout) as cm:
                return await fn()
        except TimeoutError:
            if not cm.expired():  # a TimeoutError of the call's own, not our limit
                raise
            raise ProviderTimeoutError(f"{kind}: no answer within the {self.timeout:g} s timeout".lstrip(": "), kind=kind) from None

    async def call(
        self,
        fn: Callable[[], Awaitable[Any]],
        *,
        sleep: Callable[[float], Awaitable[None]],
        on_retry: Callable[[BaseException, int, float], None] | None = None,
    ) -> Any:
        """Run ``fn`` until it succeeds, fails permanently, or attempts run out (re-raises).

        The first attempt runs directly: most calls succeed, and a tenacity loop costs more than
        the rest of a node's scheduling. Only after a transient failure does tenacity take over
        the remaining attempts, with the same waits and callbacks.
        """
        try:
            return await fn()
        except TransientProviderError as e:
            if self.attempts <= 1:
                raise
            first = e
        return await self.after_failure(first, fn, sleep=sleep, on_retry=on_retry)

    async def after_failure(
        self,
        first: TransientProviderError,
        fn: Callable[[], Awaitable[Any]],
        *,
        sleep: Callable[[float], Awaitable[None]],
        on_retry: Callable[[BaseException, int, float], None] | None = None,
    ) -> Any:
        """:meth:`call` after its first attempt failed with ``first``: the wait, then the
        remaining attempts (a caller that made the first attempt itself goes on here)."""
        delay = self.delay_for(first, 1)
        if on_retry is not None:
            on_retry(first, 1, delay)
        await sleep(delay)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            n = state.attempt_number + 1  # attempt 1 ran above
            delay = self.delay_for(exc, n) if exc else 0.0
            if on_retry is not None and exc is not None:
                on_retry(exc, n, delay)
            return delay

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts - 1),
            wait=wait,
            retry=retry_if_exception_type(TransientProviderError),
            sleep=sleep,
            reraise=True,
        )
        return await retrying(fn)
