"""The retry policy: tenacity, full-jitter exponential backoff, transient errors only.

* Only :class:`~vidflow.errors.TransientProviderError` is retried (429, 5xx, timeouts,
  connection resets); permanent errors (auth, bad request, refusals) fail at once.
* The wait before attempt *n+1* is ``uniform(0, min(cap, base * 2**n))`` (AWS "full jitter").
* After a 429 the wait is at least the provider's Retry-After, and the caller's ``on_retry``
  pauses the whole provider instance for that long, not just this call.
* Sleep and randomness are injected, so tests assert exact waits and never sleep for real.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from ..errors import RateLimitedError, TransientProviderError

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, attempt: int) -> float:
        """Full-jitter wait after failed attempt number ``attempt`` (1-based)."""
        return self.rng.uniform(0.0, min(self.cap, self.base * 2 ** (attempt - 1)))

    def delay_for(self, exc: BaseException, attempt: int) -> float:
        delay = self.backoff(attempt)
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return delay

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
