"""Leases: one process at a time makes a node, so two processes on one cache never pay twice.

Before making a node it would pay for, a run takes the node key's lease in the cache; a second
process (another CI job, another machine) that wants the same key finds the lease held and
waits for the first one's manifest instead of calling the vendor again.

* **Local caches**: ``leases/<key>.lock``, held with ``flock`` for as long as the holder works.
  A holder that dies (even by SIGKILL) loses its lock at once: the kernel drops it.
* **S3**: ``leases/<key>.json`` created with a conditional PUT (``If-None-Match: *``), holding
  its holder and an expiry that the holder renews while it works (a conditional PUT on its own
  ETag). A lease whose holder stopped renewing expires; a waiter takes it over with a PUT
  conditional on the expired lease's ETag, so only one waiter wins.

Synchronous: the scheduler calls these through its I/O helper.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ..storage import is_local, join

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: local leases are not exclusive
    fcntl = None  # type: ignore[assignment]

__all__ = ["Lease", "Leases", "DEFAULT_TTL"]

#: Seconds an S3 lease lasts without renewal (the holder renews every third of it).
DEFAULT_TTL = 60.0


@dataclass
class Lease:
    key: str
    path: str
    owner: str
    fd: int | None = None  # local: the flock-ed file
    etag: str | None = None  # S3: the version we wrote


class Leases:
    """The leases of one cache store."""

    def __init__(self, store: Any, *, ttl: float = DEFAULT_TTL, clock: Any = time.time):
        self.store = store
        self.fs = store.fs
        self.local = is_local(self.fs)
        self.ttl = ttl
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def _path(self, key: str) -> str:
        return join(self.store.root, "leases", f"{key}.{'lock' if self.local else 'json'}")

    def _record(self, node: str) -> bytes:
        return json.dumps({"owner": self.owner, "node": node, "expires": self.clock() + self.ttl}).encode()

    # ------------------------------------------------------------------ taking and giving back
    def try_acquire(self, key: str, node: str = "") -> Lease | None:
        """The lease if nobody holds it (or its holder is gone), else None."""
        path = self._path(key)
        if self.local:
            return self._try_local(key, path, node)
        return self._try_s3(key, path, node)

    def _try_local(self, key: str, path: str, node: str) -> Lease | None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        # The holder before us may have removed the file after we opened it: a lock on a file
        # nobody can find any more is no lease. Check that the path is still this file.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        os.write(fd, self._record(node))
        return Lease(key, path, self.owner, fd=fd)

    def _try_s3(self, key: str, path: str, node: str) -> Lease | None:
        try:
            self.fs.pipe_file(path, self._record(node), IfNoneMatch="*")
        except FileExistsError:
            return self._take_over_expired(key, path, node)
        except OSError as e:  # some stores say "precondition failed" with a plain OSError
            if "precondition" in str(e).lower() or "412" in str(e):
                return self._take_over_expired(key, path, node)
            raise
        return Lease(key, path, self.owner, etag=self._etag(path))

    def _take_over_expired(self, key: str, path: str, node: str) -> Lease | None:
        held = self.holder(key)
        if held is None or held.get("expires", 0) > self.clock():
            return None
        try:
            self.fs.pipe_file(path, self._record(node), IfMatch=held["etag"])
        except (FileExistsError, OSError):
            return None  # another waiter took it first
        return Lease(key, path, self.owner, etag=self._etag(path))

    def _etag(self, path: str) -> str | None:
        try:
            self.fs.invalidate_cache(path)
            return self.fs.info(path).get("ETag")
        except (OSError, FileNotFoundError):
            return None

    def renew(self, lease: Lease, node: str = "") -> bool:
        """Push an S3 lease's expiry forward (local leases need none); False if it was lost."""
        if self.local:
            return True
        try:
            self.fs.pipe_file(lease.path, self._record(node), IfMatch=lease.etag)
        except (FileExistsError, OSError):
            return False
        lease.etag = self._etag(lease.path)
        return True

    def release(self, lease: Lease) -> None:
        """Give the lease back (idempotent)."""
        if self.local:
            if lease.fd is not None:
                try:
                    os.unlink(lease.path)  # while still locked: nobody takes a lease on a removed file
                except FileNotFoundError:
                    pass
                os.close(lease.fd)
                lease.fd = None
            return
        try:
            self.fs.rm_file(lease.path)
        except (FileNotFoundError, OSError):
            pass

    # ------------------------------------------------------------------ looking
    def holder(self, key: str) -> dict[str, Any] | None:
        """Who holds a key's lease (owner, node, expiry; on S3 its ETag), or None."""
        path = self._path(key)
        try:
            if self.local:
                with open(path, "rb") as f:
                    data = json.loads(f.read() or b"{}")
            else:
                self.fs.invalidate_cache(path)
                info = self.fs.info(path)
                data = json.loads(self.fs.cat_file(path))
                data["etag"] = info.get("ETag")
        except (FileNotFoundError, ValueError, OSError):
            return None
        return data if isinstance(data, dict) else None
