"""Start a node's coroutine on the caller's stack; give it an asyncio Task only if it must wait.

Most nodes of a plan, and every cached node of a run, finish without waiting for anything: their
inputs exist, they render, key and find their output. A Task each (create, schedule, step, wake
whoever gathers it) cost more than that work (benchmarks/overhead.py). So the scheduler starts a
node with :meth:`Eager.start`: the coroutine runs at once, and

* if it finishes, no Task was made;
* if it waits for a future (an input still being made), a Task takes it over from there;
* where it is about to leave the scheduler's own code (a provider call, a capability's
  lookup), it awaits :meth:`Eager.handoff`, and a Task takes it over *before* that code runs.

The last rule is what makes this safe: code that asks ``asyncio.current_task()`` (``asyncio.timeout``,
anyio's cancel scopes inside HTTP clients) only ever runs inside the node's own Task. Python 3.12's
eager task factory does the first two for any coroutine; vidflow supports 3.11, and needs the third.
"""

from __future__ import annotations

import asyncio
import types
from typing import Any, Coroutine, Generator

__all__ = ["Eager"]


class _Handoff:
    """What a coroutine started eagerly yields to ask for its Task."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<eager handoff>"


_HANDOFF = _Handoff()


class _Ask:
    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        yield _HANDOFF


class _Pass:
    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # (a generator that yields nothing: awaiting it returns at once)


_ASK, _PASS = _Ask(), _Pass()


@types.coroutine
def _forward(coro: Coroutine[Any, Any, Any], yielded: Any) -> Generator[Any, Any, Any]:
    """Drive ``coro`` from inside a Task, starting where the eager start left it (``yielded``)."""
    send, throw = coro.send, coro.throw
    if getattr(yielded, "_asyncio_future_blocking", None) is False:  # (see Eager.start)
        yielded._asyncio_future_blocking = True
    while True:
        error: BaseException | None = None
        value = None
        if yielded is not _HANDOFF:
            try:
                value = yield yielded  # a future: the Task waits for it, then resumes us
            except BaseException as e:  # (cancellation): thrown into the coroutine
                error = e
        try:
            yielded = send(value) if error is None else throw(error)
        except StopIteration as stop:
            return stop.value


async def _resume(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    return await _forward(coro, yielded)


class Eager:
    """Eager starts for one event loop (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self._active = False  # a coroutine is being driven by start() right now

    def start(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task | None:
        """Run ``coro`` until it finishes (None) or must wait (the Task that goes on with it).

        The coroutine's result is not kept: it reports through futures of its own. Its
        exceptions are raised here if it fails before it waits (callers let only
        cancellation and interrupts escape)."""
        active, self._active = self._active, True
        try:
            yielded = coro.send(None)
        except StopIteration:
            return None
        finally:
            self._active = active
        if yielded is _HANDOFF:  # the Task resumes the coroutine where it asked (it takes the None sent first)
            return self.loop.create_task(coro)
        if getattr(yielded, "_asyncio_future_blocking", False):
            # A future marks itself "being waited for" when awaited, until a Task takes it; the
            # C future refuses a second await before then ("await wasn't used with future"),
            # and the next node started here may await the same input. The Task's first step
            # marks it again (_forward).
            yielded._asyncio_future_blocking = False
        return self.loop.create_task(_resume(coro, yielded))

    def handoff(self) -> Any:
        """Awaited before code that must run in the coroutine's own Task: a Task takes over
        here when the coroutine was started eagerly; otherwise nothing happens."""
        return _ASK if self._active else _PASS
