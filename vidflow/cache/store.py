"""The content-addressed cache: blobs by sha256, and action manifests by node key.

Two levels, as in Bazel (action cache + CAS) and Hamilton (metadata store + result store):

* ``blobs/sha256/ab/cdef…`` holds bytes under their own digest, so the same bytes are stored
  once whatever produced them;
* ``actions/<key>.json`` maps a node key to an :class:`Artifact`: a small JSON ``value`` (a
  dialogue, word timings...), the digests of its blobs, and metadata (cost, model, tokens).

Order of writes: blobs first, each verified, then the manifest in one atomic write. A reader
therefore never sees a manifest whose blobs are missing. A blob whose bytes do not match its
digest is treated as a miss (the node is rebuilt), never served.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

from ..errors import CacheCorruptError, CacheError
from ..plan.keys import canonical_bytes
from ..storage import atomic_put_file, atomic_write, is_local, join, url_to_fs

__all__ = ["Artifact", "BlobRef", "CacheStore"]

MANIFEST_SCHEME = 1


@dataclass(frozen=True)
class BlobRef:
    """One output file of a node, by digest."""

    digest: str
    size: int
    media_type: str
    ext: str

    def as_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "size": self.size, "media_type": self.media_type, "ext": self.ext}


@dataclass
class Artifact:
    """A node's output: a JSON ``value``, named blobs and metadata.

    ``digest`` identifies the *content* (value + blob digests), not the key that made it:
    downstream keys use it, so an upstream rerun that yields the same content changes nothing.
    """

    value: Any = None
    blobs: dict[str, BlobRef] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        body = {"value": self.value, "blobs": {k: b.digest for k, b in sorted(self.blobs.items())}}
        return hashlib.sha256(canonical_bytes(body)).hexdigest()

    def to_json(self, key: str) -> dict[str, Any]:
        return {
            "scheme": MANIFEST_SCHEME,
            "key": key,
            "value": self.value,
            "blobs": {k: b.as_dict() for k, b in self.blobs.items()},
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        return cls(
            value=data.get("value"),
            blobs={k: BlobRef(**v) for k, v in (data.get("blobs") or {}).items()},
            meta=dict(data.get("meta") or {}),
        )


class CacheStore:
    """Blobs and manifests under one fsspec URL (``cache`` by default, or ``s3://b/p``)."""

    def __init__(self, url: str, *, storage_options: dict | None = None):
        self.url = url
        self.fs, self.root = url_to_fs(url, **(storage_options or {}))
        self._verified: set[str] = set()
        self._lock = threading.Lock()
        self._scratch: str | None = None

    # ------------------------------------------------------------------ paths
    def blob_path(self, digest: str) -> str:
        return join(self.root, "blobs", "sha256", digest[:2], digest[2:])

    def action_path(self, key: str) -> str:
        return join(self.root, "actions", f"{key}.json")

    # ------------------------------------------------------------------ blobs
    def put_blob(self, data: bytes, *, media_type: str, ext: str) -> BlobRef:
        digest = hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not self._blob_ok(digest, path, len(data)):
            atomic_write(self.fs, path, data, content_type=media_type)
        self._verified.add(digest)
        return BlobRef(digest=digest, size=len(data), media_type=media_type, ext=ext)

    def put_blob_file(self, local_path: str, *, media_type: str, ext: str) -> BlobRef:
        """Store a local file (an ffmpeg output) by digest; moves nothing, copies once."""
        digest, size = _file_digest(local_path)
        path = self.blob_path(digest)
        if not self._blob_ok(digest, path, size):
            atomic_put_file(self.fs, local_path, path, content_type=media_type)
        self._verified.add(digest)
        return BlobRef(digest=digest, size=size, media_type=media_type, ext=ext)

    def _blob_ok(self, digest: str, path: str, size: int) -> bool:
        """True if the blob at ``path`` is present and intact (bytes match ``digest``)."""
        if digest in self._verified:
            return True
        try:
            if not self.fs.exists(path) or self.fs.size(path) != size:
                return False
            if is_local(self.fs):
                ok = _file_digest(path)[0] == digest
            else:  # remote: size only here; content is verified when it is read
                return True
        except (OSError, ValueError):
            return False
        if ok:
            self._verified.add(digest)
        else:
            self._discard(path)
        return ok

    def _discard(self, path: str) -> None:
        """Remove a corrupt blob so it is rewritten, never served."""
        try:
            self.fs.rm_file(path)
        except (OSError, FileNotFoundError):
            pass

    def read_blob(self, ref: BlobRef | str) -> bytes:
        """The blob's bytes, verified against its digest (CacheCorruptError if they differ)."""
        digest = ref if isinstance(ref, str) else ref.digest
        try:
            data = self.fs.cat_file(self.blob_path(digest))
        except FileNotFoundError as e:
            raise CacheCorruptError(f"blob {digest[:12]} is missing from {self.url}") from e
        if hashlib.sha256(data).hexdigest() != digest:
            self._discard(self.blob_path(digest))
            raise CacheCorruptError(f"blob {digest[:12]} in {self.url} does not match its digest (removed; rerun to rebuild it)")
        self._verified.add(digest)
        return data

    def blob_file(self, ref: BlobRef) -> str:
        """A local file path holding the blob (the blob itself on a local cache), verified."""
        if is_local(self.fs):
            path = self.blob_path(ref.digest)
            if ref.digest not in self._verified:
                try:
                    digest, _ = _file_digest(path)
                except FileNotFoundError as e:
                    raise CacheCorruptError(f"blob {ref.digest[:12]} is missing from {self.url}") from e
                if digest != ref.digest:
                    self._discard(path)
                    raise CacheCorruptError(f"blob {ref.digest[:12]} in {self.url} does not match its digest (removed; rerun to rebuild it)")
                self._verified.add(ref.digest)
            return path
        local = os.path.join(self._scratch_dir(), f"{ref.digest}.{ref.ext}")
        if not os.path.exists(local):
            data = self.read_blob(ref)
            tmp = f"{local}.tmp-{threading.get_ident()}"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, local)
        return local

    def _scratch_dir(self) -> str:
        with self._lock:
            if self._scratch is None:
                self._scratch = tempfile.mkdtemp(prefix="vidflow-blobs-")
            return self._scratch

    # ------------------------------------------------------------------ actions
    def load(self, key: str) -> Artifact | None:
        """The artifact cached under ``key``, or None (missing, unreadable or with bad blobs)."""
        try:
            raw = self.fs.cat_file(self.action_path(key))
        except FileNotFoundError:
            return None
        except OSError as e:
            raise CacheError(f"cannot read the cache at {self.url}: {e}") from e
        try:
            data = json.loads(raw)
            if data.get("scheme") != MANIFEST_SCHEME or data.get("key") != key:
                return None
            art = Artifact.from_json(data)
        except (ValueError, TypeError, KeyError):
            return None  # a manifest we cannot read is a miss, and will be rewritten
        for ref in art.blobs.values():
            # Local caches verify every blob's content here (once per process), so a corrupt
            # blob is a miss and its node is rebuilt in this very run.
            if not self._blob_ok(ref.digest, self.blob_path(ref.digest), ref.size):
                return None
        return art

    def save(self, key: str, art: Artifact) -> None:
        """Publish the manifest; its blobs must already be stored (put_blob*)."""
        for ref in art.blobs.values():
            if ref.digest not in self._verified:
                raise CacheError(f"refusing to publish manifest {key[:12]}: blob {ref.digest[:12]} not stored")
        body = json.dumps(art.to_json(key), sort_keys=True, separators=(",", ":")).encode()
        atomic_write(self.fs, self.action_path(key), body, content_type="application/json")

    def close(self) -> None:
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def _file_digest(path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size
