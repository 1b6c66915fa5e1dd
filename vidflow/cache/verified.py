"""Verification records: "this blob, in this exact state, was hashed and matched its digest".

A record lives at ``verified/ab/cdef…`` beside the blobs and holds the blob's size and change
token when it was verified (local: mtime_ns, ctime_ns, inode and device; object stores: ETag and
LastModified). While a blob's current state equals its record it is trusted from one stat or
HEAD, without reading its bytes; any write to it (same size or not) changes the token and makes
the next lookup hash it again. Records are only a shortcut: deleting them costs one re-hash.

S3 blobs written by vidflow need no record: S3 keeps their SHA-256 itself (see storage.py).
"""

from __future__ import annotations

import json
from typing import Any

import fsspec

from ..storage import ObjectState, atomic_write, join

__all__ = ["VerificationRecords"]


class VerificationRecords:
    """The records under ``root`` (``<cache>/verified``) of one filesystem."""

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str):
        self.fs = fs
        self.root = root

    def path(self, digest: str) -> str:
        return join(self.root, digest[:2], digest[2:])

    def matches(self, digest: str, state: ObjectState) -> bool:
        """True if a record says the blob was verified in exactly ``state``."""
        if state.token is None:
            return False
        record = self.read(digest)
        return record is not None and record == _body(state)

    def read(self, digest: str) -> dict[str, Any] | None:
        try:
            raw = self.fs.cat_file(self.path(digest))
            record = json.loads(raw)
        except (OSError, ValueError):  # missing, unreadable or not JSON: no record
            return None
        return record if isinstance(record, dict) else None

    def write(self, digest: str, state: ObjectState) -> None:
        """Record a verification; a cache we cannot write to just verifies again next time."""
        if state.token is None:
            return
        try:
            atomic_write(self.fs, self.path(digest), json.dumps(_body(state)).encode(), content_type="application/json")
        except OSError:
            pass

    def remove(self, digest: str) -> None:
        try:
            self.fs.rm_file(self.path(digest))
        except (OSError, FileNotFoundError):
            pass


def _body(state: ObjectState) -> dict[str, Any]:
    # Round-tripped through JSON so a fresh state compares equal to a stored record.
    return json.loads(json.dumps({"size": state.size, "token": list(state.token or ())}))
