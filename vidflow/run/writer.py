"""Cache writes of a local run, made off the event loop and awaited by the nodes.

Creating a small file costs 20-100 µs of system calls on a typical disk (more when the disk is
busy): on the event loop that stalled every other node (at 10,000 instant nodes the writes were
a third of the run, benchmarks/overhead.py). The node that wrote awaits its own write, so a
failed write still fails that node, with the OS's reason, and nothing is reported done before
it is on disk.

Two writers, one interface (``write(path, data) -> Future``, ``close()``):

* :class:`ProcessWriter` (POSIX): a small helper process (the same Python, ``-I -S``, running
  ``vidflow/atomicfile.py`` as its script: standard library only) that writes each file with
  :func:`~vidflow.atomicfile.write_local_atomic`, temp + rename, and answers each write.
  A thread would share the GIL: measured here, it took the lock back after each of its system
  calls, and every ``open`` of the loop (a cache lookup) then waited for it (~58 µs a lookup
  instead of ~5). A process runs on another core with nothing shared but a pipe.
* :class:`ThreadWriter`: the same on one background thread, where no helper process can be
  started (no POSIX pipes, no interpreter to start) or after it died.

Writes run in submission order. Results go back to the loop in batches (one wake-up for all the
writes that finished together), not one ``call_soon_threadsafe`` per write.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import subprocess
import sys
import threading
from collections import deque

from .. import atomicfile
from ..atomicfile import ERROR, REQUEST, write_local_atomic

__all__ = ["ProcessWriter", "ThreadWriter", "open_file_writer"]

_STOP = object()
#: Bytes of requests that are handed to the helper at once, not at the end of the loop's turn:
#: a turn that makes thousands of nodes would otherwise leave the helper idle until it ends
#: (a pipe holds 64 KiB).
_HAND_ON = 1 << 16
_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


class ThreadWriter:
    """Files written atomically on one background thread. ``await writer.write(path, data)``;
    ``close()`` at the end."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def write(self, path: str, data: bytes) -> asyncio.Future:
        """Write on the thread; the future holds None or the OSError."""
        fut = self._loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="vidflow-cache-writer", daemon=True)
            self._thread.start()
        self._queue.put((fut, path, data))
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
                fut, path, data = item
                try:
                    write_local_atomic(path, data)
                    done.append((fut, None))
                except BaseException as e:  # handed to the node that awaits it
                    done.append((fut, e))
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


class ProcessWriter:
    """Files written atomically by a helper process (see the module docstring).

    If the helper dies (killed, out of memory), the writes it had not confirmed, and every
    write after, are made on a :class:`ThreadWriter` instead: a node never fails because of it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        # Raises OSError if no process can be started (open_file_writer then uses a thread).
        self._proc: subprocess.Popen | None = subprocess.Popen(
            [sys.executable, "-I", "-S", atomicfile.__file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, close_fds=True, bufsize=0,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._wfd, self._rfd = self._proc.stdin.fileno(), self._proc.stdout.fileno()
        try:
            os.set_blocking(self._wfd, False)
            os.set_blocking(self._rfd, False)
            loop.add_reader(self._rfd, self._on_reply)
        except BaseException:  # (a loop without add_reader): stop the helper just started
            self._stop()
            raise
        self._pending: deque[tuple[asyncio.Future, str, bytes]] = deque()  # sent (or queued), not yet answered
        self._out = bytearray()  # requests not yet taken by the pipe
        self._in = bytearray()  # answers not yet parsed
        self._scheduled = False  # a flush is scheduled for the end of this turn of the loop
        self._pipe_full = False  # the pipe took all it could: the loop waits for it to take more
        self._fallback: ThreadWriter | None = None

    def write(self, path: str, data: bytes) -> asyncio.Future:
        if self._fallback is not None:
            return self._fallback.write(path, data)
        fut = self._loop.create_future()
        raw = path.encode(_FS_ENCODING, _FS_ERRORS) if type(path) is str else os.fsencode(path)  # (os.fsencode, without its frame)
        self._pending.append((fut, path, data))
        self._out += REQUEST.pack(len(raw), len(data))
        self._out += raw
        self._out += data
        if self._pipe_full:  # the pipe is full: the loop hands on the rest when it can take more
            return fut
        if len(self._out) >= _HAND_ON:  # a pipe's worth: the helper writes it while this turn goes on
            self._flush()
        elif not self._scheduled:  # else one pipe write for all the requests of this turn of the loop
            self._scheduled = True
            self._loop.call_soon(self._flush_soon)
        return fut

    def _flush_soon(self) -> None:
        self._scheduled = False
        if not self._pipe_full:
            self._flush()

    def _flush(self) -> None:
        if self._proc is None or not self._out:
            return
        try:
            n = os.write(self._wfd, self._out)
        except BlockingIOError:
            n = 0
        except OSError:  # the helper is gone
            self._broken()
            return
        del self._out[:n]
        if self._out:  # the pipe is full: go on when it can take more
            self._pipe_full = True
            self._loop.add_writer(self._wfd, self._flush_more)

    def _flush_more(self) -> None:
        self._loop.remove_writer(self._wfd)
        self._pipe_full = False
        self._flush()

    def _on_reply(self) -> None:
        try:
            chunk = os.read(self._rfd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._broken()
            return
        buf = self._in
        buf += chunk
        done = 0
        pending = self._pending
        while done < len(buf):
            if buf[done] == 0:
                done += 1
                fut = pending.popleft()[0]
                if not fut.done():
                    fut.set_result(None)
                continue
            if len(buf) - done < 1 + ERROR.size:
                break
            errno, size = ERROR.unpack_from(buf, done + 1)
            end = done + 1 + ERROR.size + size
            if len(buf) < end:
                break
            message = bytes(buf[done + 1 + ERROR.size : end]).decode("utf-8", "replace")
            done = end
            fut, path, _ = pending.popleft()
            if not fut.done():
                fut.set_exception(OSError(errno, message, path))
        del buf[:done]

    def _broken(self) -> None:
        """The helper died: what it had not confirmed is written again, on a thread, as is the rest."""
        self._stop()
        self._out.clear()
        self._fallback = ThreadWriter(self._loop)
        pending, self._pending = self._pending, deque()
        for fut, path, data in pending:
            if not fut.done():
                _chain(self._fallback.write(path, data), fut)

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if not self._loop.is_closed():
            with contextlib.suppress(Exception):  # (never added, on a loop without add_reader)
                self._loop.remove_reader(self._rfd)
                self._loop.remove_writer(self._wfd)
        for pipe in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                pipe.close()  # end of input: the helper finishes the request it has, and exits
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a helper stuck in a system call
            proc.kill()
            proc.wait()

    def close(self) -> None:
        """Stop the helper (every write was awaited by its node before a run ends) (idempotent)."""
        self._stop()
        if self._fallback is not None:
            self._fallback.close()


def open_file_writer(loop: asyncio.AbstractEventLoop) -> ProcessWriter | ThreadWriter:
    """The writer for a local cache: a helper process where one can be started, else a thread."""
    if os.name == "posix" and sys.executable:
        try:
            return ProcessWriter(loop)
        except (OSError, ValueError, NotImplementedError):  # no interpreter to start, no pipes, no add_reader
            pass
    return ThreadWriter(loop)


def _chain(src: asyncio.Future, dst: asyncio.Future) -> None:
    def copy(f: asyncio.Future) -> None:
        if dst.done():
            return
        if f.cancelled():
            dst.cancel()
        elif f.exception() is not None:
            dst.set_exception(f.exception())
        else:
            dst.set_result(f.result())

    src.add_done_callback(copy)


def _settle(done: list[tuple[asyncio.Future, BaseException | None]]) -> None:
    for fut, exc in done:
        if fut.cancelled():
            continue
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(None)
