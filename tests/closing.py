"""Provider adapters a test opened, closed on that test's own event loop when it ends.

An adapter's HTTP clients belong to the event loop its calls ran on. An adapter a test never
closes is garbage-collected later, under another test, and its sockets surface there as
"unclosed transport" (the suite turns ResourceWarning into an error), or its client's
``__del__`` schedules a close on the next test's loop that fails with "Event loop is closed"
("Task exception was never retrieved"). So:

* async tests make adapters through factories that call :func:`opened`; the
  ``adapters_closed`` fixture (tests/conftest.py) closes them after the test, on the
  test's loop (pytest-asyncio runs a function-scoped async fixture on the test's loop);
* sync code runs a call with :func:`run_with`, which closes the adapter inside the same
  ``asyncio.run``.

Runs through the scheduler need neither: ``Scheduler.aclose`` closes its adapters.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, TypeVar

__all__ = ["close_opened", "opened", "reset", "run_with"]

A = TypeVar("A")
T = TypeVar("T")

# (adapter, the loop it was made on) for the test running now; emptied by reset() before each test.
_OPENED: list[tuple[Any, asyncio.AbstractEventLoop | None]] = []


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def opened(adapter: A) -> A:
    """Remember ``adapter`` so the fixture closes it when the test ends; returns it."""
    _OPENED.append((adapter, _running_loop()))
    return adapter


def reset() -> None:
    """Forget every adapter remembered so far (each test starts with none)."""
    _OPENED.clear()


async def close_opened() -> None:
    """Close every remembered adapter on the running loop (the test's), newest first."""
    loop = asyncio.get_running_loop()
    items, _OPENED[:] = _OPENED[::-1], []
    wrong = [type(a).__name__ for a, made_on in items if made_on is not None and made_on is not loop]
    for adapter, _ in items:
        await adapter.aclose()
    # An adapter made on another loop (a sync test's asyncio.run) must be closed there: run_with.
    assert not wrong, f"adapters made on another event loop than the test's, use run_with(): {wrong}"


def run_with(adapter: Any, coro: Awaitable[T]) -> T:
    """``asyncio.run(coro)``, then ``adapter.aclose()`` on the same loop, even if ``coro`` fails."""

    async def go() -> T:
        try:
            return await coro
        finally:
            await adapter.aclose()

    return asyncio.run(go())
