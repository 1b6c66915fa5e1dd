"""Local files written whole or not at all (a temp file beside the target, renamed into place).

Standard library only, on purpose: :mod:`vidflow.storage` writes local files with it, and the
local cache's file writer runs this very file as its helper process (``python -I -S
atomicfile.py``, see ``run/writer.py``), which must start in milliseconds and import nothing of
vidflow's. Run as a script it reads write requests on stdin (:data:`REQUEST`: path length and
data length, then the fs-encoded path and the data) and answers each on stdout: ``0``, or ``1``
then :data:`ERROR` (errno and message length) and the OS's message. A request cut short (the
run ended mid-send) is dropped, never written in part.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import struct

TYPE_CHECKING = False  # (not typing's: importing typing, uuid or contextlib costs the helper milliseconds)
if TYPE_CHECKING:
    from typing import Callable

__all__ = ["ERROR", "REQUEST", "replace_local", "serve", "temp_suffix", "write_local_atomic"]

REQUEST = struct.Struct("<IQ")
ERROR = struct.Struct("<iI")

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_TEMP_PREFIX = [""]
_TEMP_COUNTER = itertools.count()


def temp_suffix() -> str:
    """``.tmp-`` and 32 hex digits, unique across processes, threads and machines: a random
    per-process prefix (new after a fork) and a counter (a uuid4 per write cost ~3 µs of
    system calls, on every cache write)."""
    return f".tmp-{_TEMP_PREFIX[0]}{next(_TEMP_COUNTER):016x}"


def _new_temp_prefix() -> None:
    _TEMP_PREFIX[0] = os.urandom(8).hex()


_new_temp_prefix()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_temp_prefix)


def replace_local(path: str, fill: Callable[[str], None]) -> None:
    """Make ``path`` by filling a temp file beside it and renaming it into place."""
    parent = os.path.dirname(path)
    tmp = path + temp_suffix()
    try:
        try:
            fill(tmp)
        except FileNotFoundError:  # first write into this folder (or it went away): make it
            if not parent:
                raise
            os.makedirs(parent, exist_ok=True)
            fill(tmp)
        _only_a_file_there(path)
        os.replace(tmp, path)
    except BaseException as e:  # (only then: a stat per write costs as much as the write)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.filename is None and e.errno:  # a failed write names no file: name the one being made
            raise OSError(e.errno, e.strerror, path) from e
        raise


def _only_a_file_there(path: str) -> None:
    """Refuse to replace what is not a regular file: renaming over a device, a pipe or a socket
    succeeds and destroys it (``--report /dev/null`` run as root replaced /dev/null)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:  # (nothing there: the usual case)
        return
    if stat.S_ISDIR(mode):
        raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), path)  # (IsADirectoryError, as the rename would say)
    if not stat.S_ISREG(mode):
        raise OSError(errno.EEXIST, "it exists and is not a regular file (a device or a pipe); vidflow replaces only files", path)


def write_local_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write a local file so readers see the old file or the whole new one (its folder is made)."""

    def fill(tmp: str) -> None:  # os-level calls: no buffered file object for one write
        fd = os.open(tmp, _NEW_FILE, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)

    replace_local(os.fspath(path), fill)


def serve(read: Callable[[int], bytes], out: int) -> None:
    """The helper's loop: requests from ``read`` until they end, an answer each to fd ``out``."""
    while True:
        head = read(REQUEST.size)
        if len(head) < REQUEST.size:
            return
        plen, dlen = REQUEST.unpack(head)
        raw, data = read(plen), read(dlen)
        if len(raw) < plen or len(data) < dlen:
            return
        try:
            write_local_atomic(os.fsdecode(raw), data)
            reply = b"\0"
        except OSError as e:
            msg = (e.strerror or str(e)).encode("utf-8", "replace")[:1000]
            reply = b"\1" + ERROR.pack(e.errno or 0, len(msg)) + msg
        while reply:
            reply = reply[os.write(out, reply):]


if __name__ == "__main__":
    import signal
    import sys

    # Ctrl-C in the terminal (or a SIGTERM to the process group) reaches the helper too: the run
    # decides when the helper ends (it closes the pipe), so that finished writes are not lost to
    # the signal. (A run killed outright closes the pipe as it dies.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    serve(sys.stdin.buffer.read, sys.stdout.fileno())
