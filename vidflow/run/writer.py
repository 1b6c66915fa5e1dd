"""Cache writes of a local run, made on one background thread and awaited by the nodes.

Creating a small file costs 40-100 µs of system calls on a typical disk, more when the disk is
busy: on the event loop that stalled every other node (at 10,000 instant nodes the writes were
a third of the run, benchmarks/overhead.py). Here the loop hands a write to the writer thread
and goes on with other nodes while the kernel works (system calls release the GIL); the node
that wrote awaits its own write, so a failed write still fails that node and nothing is
reported done before it is on disk.

Writes run in submission order. Results go back to the loop in batches (one wake-up for all
the writes that finished together), not one ``call_soon_threadsafe`` per write as
``run_in_executor`` would.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, Callable

__all__ = ["BackgroundWriter"]

_STOP = object()


class BackgroundWriter:
    """One writer thread for one event loop. ``await writer.write(fn, *args)``; ``close()`` at the end."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def write(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future:
        """Run ``fn(*args)`` on the writer thread; the future holds its result or exception."""
        fut = self._loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="vidflow-cache-writer", daemon=True)
            self._thread.start()
        self._queue.put((fut, fn, args))
        return fut

    def close(self) -> None:
        """Finish the writes already handed over, then stop the thread (idempotent)."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def _work(self) -> None:
        item = self._queue.get()
        while item is not _STOP:
            done = []
            while item is not _STOP:
                fut, fn, args = item
                try:
                    done.append((fut, fn(*args), None))
                except BaseException as e:  # handed to the node that awaits it
                    done.append((fut, None, e))
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
                    break
            try:
                self._loop.call_soon_threadsafe(_settle, done)
            except RuntimeError:  # the loop is closed: nobody waits for these any more
                return
            if item is None:
                item = self._queue.get()


def _settle(done: list[tuple[asyncio.Future, Any, BaseException | None]]) -> None:
    for fut, result, exc in done:
        if fut.cancelled():
            continue
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)
