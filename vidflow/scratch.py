"""Scratch space: one vidflow-owned folder for every temporary file, and the sweep of dead ones.

Everything vidflow writes only for a moment (ffmpeg work folders, local copies of remote cache
blobs) lives under one root, ``$TMPDIR/vidflow-scratch`` by default (``VIDFLOW_SCRATCH_DIR`` to
move it). Each process that needs scratch space owns one folder there, ``p<pid>-<random>``,
holding a ``lock`` file that the process keeps ``flock()``-ed for as long as it lives.

A process killed with SIGKILL cannot clean up, but the kernel drops its lock when it dies. So
:func:`sweep_stale` can tell a dead owner's folder (its lock can be taken) from a live one's
(it cannot) without pids, timestamps or guesses, and is safe to run while other vidflow
processes work. :meth:`Scratch.open` sweeps by default, so every run cleans up after the runs
that were killed before it.

POSIX only for the sweep (``fcntl.flock``); elsewhere folders are still removed on close.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import time
import weakref

from .errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, no sweep
    fcntl = None  # type: ignore[assignment]

__all__ = ["DEFAULT_ROOT_NAME", "Scratch", "check_root", "default_root", "sweep_stale"]

DEFAULT_ROOT_NAME = "vidflow-scratch"
LOCK_NAME = "lock"
_OWNED = re.compile(r"^p\d+-[0-9a-f]{8,}$")
_INIT = re.compile(r"^\.init-[0-9a-f]{8,}$")
# A folder still being set up has no lock yet; only one that stayed so for this long is junk.
_INIT_GRACE_S = 3600.0


def default_root(scratch_dir: str | None = None) -> str:
    """The scratch root: ``scratch_dir`` (the ``scratch_dir`` setting) or ``$TMPDIR/vidflow-scratch``."""
    return os.path.abspath(scratch_dir or os.path.join(tempfile.gettempdir(), DEFAULT_ROOT_NAME))


def check_root(root: str | None = None) -> str:
    """The scratch root (made if missing); ConfigError with the fix if it cannot be used."""
    root = default_root(root)
    try:
        os.makedirs(root, exist_ok=True)
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError(13, "not writable")
    except OSError as e:
        raise ConfigError(f"scratch folder {root}: cannot use it ({e.strerror or e}); set VIDFLOW_SCRATCH_DIR to a writable local folder") from None
    return root


class Scratch:
    """This process's scratch folder: made by :meth:`open`, removed by :meth:`close`.

    Use as a context manager, or keep it for a run and close it at the end. A Scratch that is
    garbage-collected or still open at interpreter exit removes its folder too.
    """

    def __init__(self, root: str, path: str, lock_fd: int | None):
        self.root = root
        self.path = path
        self._fd = lock_fd
        self._finalizer = weakref.finalize(self, _remove, path, lock_fd, os.getpid())

    @classmethod
    def open(cls, root: str | None = None, *, sweep: bool = True) -> Scratch:
        """Make a new folder under ``root`` (default: :func:`default_root`), locked by this process.

        With ``sweep`` (the default), first remove the folders of processes that died.
        """
        root = check_root(root)
        if sweep:
            sweep_stale(root)
        # Set up under a name the sweep leaves alone, lock it, then rename it into view: a
        # sweeper never sees a p<pid>-... folder whose lock is not held yet.
        init = os.path.join(root, f".init-{secrets.token_hex(8)}")
        os.mkdir(init, 0o700)
        fd = os.open(os.path.join(init, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = os.path.join(root, f"p{os.getpid()}-{secrets.token_hex(6)}")
        os.rename(init, path)
        return cls(root, path, fd)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def mkdtemp(self, prefix: str = "tmp-") -> str:
        """A new empty folder inside this scratch folder (removed with it)."""
        if self.closed:
            raise ValueError("this scratch folder is closed")
        return tempfile.mkdtemp(prefix=prefix, dir=self.path)

    def close(self) -> None:
        """Remove the folder and release the lock (idempotent)."""
        self._finalizer()

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Scratch({self.path!r}{', closed' if self.closed else ''})"


def _remove(path: str, fd: int | None, owner_pid: int) -> None:
    if os.getpid() != owner_pid:  # a forked child exiting: the folder is its parent's
        return
    # Remove first, unlock last: a sweeper that sees the folder meanwhile finds its lock held.
    shutil.rmtree(path, ignore_errors=True)
    if fd is not None:
        os.close(fd)


def sweep_stale(root: str | None = None) -> list[str]:
    """Remove scratch folders under ``root`` whose owner process is gone; returns their paths.

    A folder is stale when its lock can be taken (the process holding it died) or it has no
    lock file. Folders of live processes, this one included, are never touched.
    """
    root = default_root(root)
    if fcntl is None:  # pragma: no cover
        return []
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    removed = []
    for name in names:
        path = os.path.join(root, name)
        if _OWNED.match(name):
            if _sweep_one(path):
                removed.append(path)
        elif _INIT.match(name) and _older_than(path, _INIT_GRACE_S) and _sweep_one(path):
            removed.append(path)
    return removed


def _sweep_one(path: str) -> bool:
    try:
        fd = os.open(os.path.join(path, LOCK_NAME), os.O_RDWR)
    except FileNotFoundError:
        if not os.path.isdir(path):
            return False  # another sweeper got there first
        shutil.rmtree(path, ignore_errors=True)  # no lock file: nobody can own it
        return True
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # held: its process is alive
        shutil.rmtree(path, ignore_errors=True)
        return True
    finally:
        os.close(fd)


def _older_than(path: str, seconds: float) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime > seconds
    except OSError:
        return False
