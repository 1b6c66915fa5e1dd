"""The content-addressed cache: blobs by sha256, and action manifests by node key.

Two levels, as in Bazel (action cache + CAS) and Hamilton (metadata store + result store):

* ``blobs/sha256/ab/cdef…`` holds bytes under their own digest, so the same bytes are stored
  once whatever produced them;
* ``actions/<key>.json`` maps a node key to an :class:`Artifact`: a small JSON ``value`` (a
  dialogue, word timings...), the digests of its blobs, and metadata (cost, model, tokens).

Beside them, ``jobs/<key>.json`` records a vendor job a node started and has not finished
(a video being made): written the moment the vendor accepts it, so a run killed while polling
resumes the same job on the next run, on any machine that shares the cache.

Order of writes: blobs first, each verified, then the manifest in one atomic write. A reader
therefore never sees a manifest whose blobs are missing.

Nothing is called cached unless it is verified (:meth:`CacheStore.lookup`): the manifest must
match its schema (:mod:`vidflow.cache.manifest`), and each blob's bytes must match its digest.
Verifying must not mean re-reading every video on every ``vidflow plan``, so a verification is
remembered (:mod:`vidflow.cache.verified`): on S3 the SHA-256 that S3 computed at upload is read
with one HEAD; locally, and for objects without such a checksum, a record of the blob's state
(size, mtime, inode... or ETag) when it was last hashed lets a later lookup trust an unchanged
blob from one stat. Anything that changed is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
import threading
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable

from ..errors import CacheCorruptError, CacheError, ConfigError
from ..jsontext import encoder
from ..scratch import Scratch
from ..storage import atomic_put_file, atomic_write, is_local, is_s3, join, object_state, url_to_fs
from .fingerprint import canonical_bytes
from .manifest import MANIFEST_SCHEME, ManifestError, parse_manifest
from .verified import VerificationRecords

__all__ = ["Artifact", "BlobRef", "CacheLookup", "CacheStore", "LookupStatus", "MANIFEST_SCHEME"]


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
        """An artifact back from :meth:`to_json` (a review record's copy); checked like a manifest."""
        from .manifest import Manifest

        m = Manifest.model_validate(data)
        return cls(value=m.value, blobs={n: BlobRef(b.digest, b.size, b.media_type, b.ext) for n, b in m.blobs.items()}, meta=dict(m.meta))


class LookupStatus(str, Enum):
    """What :meth:`CacheStore.lookup` found under a key. Only ``HIT`` may be called cached."""

    HIT = "hit"
    """A valid manifest whose every blob is present and verified against its digest."""
    MISSING = "missing"
    """No manifest under this key: never built (or deleted)."""
    INVALID_MANIFEST = "invalid_manifest"
    """A manifest that is unreadable, of the wrong shape, scheme or key, or rejected by ``check``."""
    CORRUPT_BLOB = "corrupt_blob"
    """A blob whose bytes (or size, or stored checksum) do not match the manifest's digest."""
    MISSING_BLOB = "missing_blob"
    """A blob named by the manifest is not in the cache."""


@dataclass(frozen=True)
class CacheLookup:
    """The answer of :meth:`CacheStore.lookup`: the artifact on a hit, else why not."""

    artifact: Artifact | None
    status: LookupStatus
    detail: str = ""

    @property
    def hit(self) -> bool:
        return self.status is LookupStatus.HIT


_MISSING = CacheLookup(None, LookupStatus.MISSING)  # (frozen: one answer serves every miss)


#: What :meth:`CacheStore.probe` writes at a remote cache's root before a run (a few bytes, kept).
PROBE_NAME = "probe"


class CacheStore:
    """Blobs and manifests under one fsspec URL (``cache`` by default, or ``s3://b/p``).

    ``scratch``: where local copies of remote blobs go (for ffmpeg): a :class:`Scratch` owned by
    the caller (the store makes a subfolder and removes it on :meth:`close`), or a scratch root
    folder, or None for the default root (the store then owns its own :class:`Scratch`).
    """

    def __init__(self, url: str, *, storage_options: dict | None = None, scratch: Scratch | str | None = None):
        self.url = url
        self.fs, self.root = url_to_fs(url, **(storage_options or {}))
        self._local = is_local(self.fs)
        self._actions = join(self.root, "actions")
        self._nodes = join(self.root, "nodes")
        self.records = VerificationRecords(self.fs, join(self.root, "verified"))
        # digest -> the blob's state when this process last verified (or wrote) it
        self._trusted: dict[str, tuple] = {}
        self._lock = threading.Lock()
        self._scratch_arg = scratch
        self._owned_scratch: Scratch | None = None
        self._scratch_dir: str | None = None

    def probe(self, *, create: bool = True) -> CacheStore:
        """Check the cache can be used before any work starts (a local folder is made, unless
        not ``create``: a plan writes nothing); a ConfigError naming the URL and the fix if not.
        Returns the store."""
        try:
            if self._local and create:
                os.makedirs(self.root, exist_ok=True)
                if not os.access(self.root, os.W_OK | os.X_OK):
                    raise PermissionError(13, "not writable")
            elif self._local:
                probe = os.path.abspath(self.root)
                while not os.path.exists(probe) and os.path.dirname(probe) != probe:
                    probe = os.path.dirname(probe)
                if not os.path.isdir(probe):
                    raise NotADirectoryError(20, f"{probe} is not a folder")
            elif create:  # a write tells what a listing cannot: a missing bucket, credentials that may only read
                self.fs.pipe_file(join(self.root, PROBE_NAME), b"vidflow writes here\n")
            else:
                try:
                    self.fs.ls(self.root, detail=False)
                except FileNotFoundError:
                    pass  # an empty prefix: the first write makes it
        except Exception as e:  # noqa: BLE001 - whatever the filesystem raises (botocore, aiohttp...) is the user's setup
            remote = "" if self._local else "; for S3 also VIDFLOW_S3_ENDPOINT_URL and the AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
            why = getattr(e, "strerror", None) or str(e) or type(e).__name__
            raise ConfigError(f"cache {self.url}: cannot use it ({why}); set --cache or VIDFLOW_CACHE to a writable folder or bucket{remote}") from None
        return self

    # ------------------------------------------------------------------ paths
    def blob_path(self, digest: str) -> str:
        return join(self.root, "blobs", "sha256", digest[:2], digest[2:])

    def action_path(self, key: str) -> str:
        return f"{self._actions}/{key}.json"

    def job_path(self, key: str) -> str:
        return join(self.root, "jobs", f"{key}.json")

    # ------------------------------------------------------------------ blobs
    def put_blob(self, data: bytes, *, media_type: str, ext: str) -> BlobRef:
        digest = hashlib.sha256(data).hexdigest()
        if self.check_blob(digest, len(data))[0] is not LookupStatus.HIT:
            path = self.blob_path(digest)
            atomic_write(self.fs, path, data, content_type=media_type)
            self._written(digest, path, len(data))
        return BlobRef(digest=digest, size=len(data), media_type=media_type, ext=ext)

    def put_blob_file(self, local_path: str, *, media_type: str, ext: str) -> BlobRef:
        """Store a local file (an ffmpeg output) by digest; moves nothing, copies once."""
        digest, size = _file_digest(local_path)
        if self.check_blob(digest, size)[0] is not LookupStatus.HIT:
            path = self.blob_path(digest)
            atomic_put_file(self.fs, local_path, path, content_type=media_type)
            self._written(digest, path, size)
        return BlobRef(digest=digest, size=size, media_type=media_type, ext=ext)

    def _written(self, digest: str, path: str, size: int) -> None:
        """Remember bytes this process just stored (hashed before they were written)."""
        state = object_state(self.fs, path)
        if state.sha256 is not None and state.sha256 != digest:
            # S3 computed the checksum of what it received: not what we hashed. Never keep it.
            self._discard(digest)
            raise CacheCorruptError(f"blob {digest[:12]} arrived at {self.url} with different bytes (checksum {state.sha256[:12]}); it was removed")
        if state.size != size:
            self._discard(digest)
            raise CacheCorruptError(f"blob {digest[:12]} was stored at {self.url} with {state.size} bytes instead of {size}; it was removed")
        if state.sha256 is None and state.token is not None:
            self.records.write(digest, state)
        self._trusted[digest] = _memo(state)

    def check_blob(self, digest: str, size: int) -> tuple[LookupStatus, str]:
        """Is the blob present with exactly these bytes? ``(HIT, "")`` or the status and why.

        Reads no bytes when the store's checksum (S3) or a verification record answers; hashes
        the blob otherwise, and records the result for next time.
        """
        path = self.blob_path(digest)
        try:
            state = object_state(self.fs, path)
        except FileNotFoundError:
            return LookupStatus.MISSING_BLOB, f"blob {digest[:12]} is not in the cache"
        except OSError as e:
            raise CacheError(f"cannot read the cache at {self.url}: {e}") from e
        if state.size != size:
            return LookupStatus.CORRUPT_BLOB, f"blob {digest[:12]} has {state.size} bytes, its manifest says {size}"
        memo = _memo(state)
        if self._trusted.get(digest) == memo:  # verified by this process, and unchanged since
            return LookupStatus.HIT, ""
        if state.sha256 is not None:
            if state.sha256 != digest:
                return LookupStatus.CORRUPT_BLOB, f"blob {digest[:12]}: the store's SHA-256 is {state.sha256[:12]}"
        elif state.token is None or not self.records.matches(digest, state):
            try:
                actual = self._hash(path)
            except FileNotFoundError:
                return LookupStatus.MISSING_BLOB, f"blob {digest[:12]} is not in the cache"
            if actual != digest:
                return LookupStatus.CORRUPT_BLOB, f"blob {digest[:12]}: its bytes hash to {actual[:12]}"
            if state.token is not None:
                self.records.write(digest, state)
        self._trusted[digest] = memo
        return LookupStatus.HIT, ""

    def _hash(self, path: str) -> str:
        """SHA-256 of a stored blob, read through the filesystem (so its reads can be counted)."""
        h = hashlib.sha256()
        with self.fs.open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()

    def _discard(self, digest: str) -> None:
        """Remove a corrupt blob (and what vouched for it) so it is rewritten, never served."""
        self._trusted.pop(digest, None)
        self.records.remove(digest)
        try:
            self.fs.rm_file(self.blob_path(digest))
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
            self._discard(digest)
            raise CacheCorruptError(f"blob {digest[:12]} in {self.url} does not match its digest (removed; rerun to rebuild it)")
        return data

    def blob_file(self, ref: BlobRef) -> str:
        """A local file path holding the blob (the blob itself on a local cache), verified."""
        if is_local(self.fs):
            status, detail = self.check_blob(ref.digest, ref.size)
            if status is LookupStatus.CORRUPT_BLOB:
                self._discard(ref.digest)
            if status is not LookupStatus.HIT:
                raise CacheCorruptError(f"{detail} ({self.url}; rerun to rebuild it)")
            return self.blob_path(ref.digest)
        local = os.path.join(self._scratch_path(), f"{ref.digest}.{ref.ext}")
        if not os.path.exists(local):
            data = self.read_blob(ref)
            tmp = f"{local}.tmp-{threading.get_ident()}"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, local)
        return local

    def _scratch_path(self) -> str:
        with self._lock:
            if self._scratch_dir is None:
                scratch = self._scratch_arg
                if not isinstance(scratch, Scratch):
                    scratch = self._owned_scratch = Scratch.open(scratch)
                self._scratch_dir = scratch.mkdtemp("blobs-")
            return self._scratch_dir

    # ------------------------------------------------------------------ actions
    def lookup(self, key: str, *, check: Callable[[Artifact], Any] | None = None) -> CacheLookup:
        """What is cached under ``key``, verified: a hit, or a miss and its reason.

        ``check`` (optional) validates the artifact's ``value`` for the caller (a dialogue's
        shape...); a ValueError, TypeError, KeyError or AttributeError from it makes the entry an
        invalid manifest. Never raises for bad cache content, only when the cache is unreachable
        (CacheError).
        """
        try:
            raw = self._read_manifest(key)
        except FileNotFoundError:
            return _MISSING
        except IsADirectoryError:
            return CacheLookup(None, LookupStatus.INVALID_MANIFEST, f"actions/{key}.json is a folder")
        except OSError as e:
            raise CacheError(f"cannot read the cache at {self.url}: {e}") from e
        try:
            manifest = parse_manifest(raw, key)
        except ManifestError as e:
            return CacheLookup(None, LookupStatus.INVALID_MANIFEST, str(e))
        art = Artifact(
            value=manifest.value,
            blobs={name: BlobRef(b.digest, b.size, b.media_type, b.ext) for name, b in manifest.blobs.items()},
            meta=dict(manifest.meta),
        )
        if check is not None:
            try:
                check(art)
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                return CacheLookup(None, LookupStatus.INVALID_MANIFEST, f"its value is not what this node makes: {type(e).__name__}: {e}"[:300])
        for ref in art.blobs.values():
            status, detail = self.check_blob(ref.digest, ref.size)
            if status is not LookupStatus.HIT:
                return CacheLookup(None, status, detail)
        return CacheLookup(art, LookupStatus.HIT)

    def _read_manifest(self, key: str) -> bytes:
        return self._read_file(self.action_path(key))

    def manifest_meta(self, key: str) -> dict[str, Any] | None:
        """The metadata a manifest recorded (its fields, attempts...), unverified; None if none.

        For explanations only (which field changed since): never a reason to use an output.
        """
        try:
            return dict(parse_manifest(self._read_manifest(key), key).meta)
        except (OSError, ManifestError):
            return None

    # ------------------------------------------------------------------ node index
    def index_path(self, recipe: str, topic_id: str) -> str:
        return f"{self._nodes}/{_safe_name(recipe)}/{_safe_name(topic_id)}.json"  # (join's result: safe names have no slash)

    def read_index(self, recipe: str, topic_id: str) -> dict[str, str]:
        """Node name -> the key it had when it was last made or used (by any run of the recipe)."""
        data = self.read_doc(self.index_path(recipe, topic_id))
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def write_index(self, recipe: str, topic_id: str, keys: dict[str, str]) -> None:
        """Record the keys a run used for a topic's nodes (merged over the previous record)."""
        update = self.index_file(recipe, topic_id, keys)
        if update is not None:
            atomic_write(self.fs, *update, content_type="application/json")

    def index_file(self, recipe: str, topic_id: str, keys: dict[str, str]) -> tuple[str, bytes] | None:
        """Where :meth:`write_index` would write, and what; None if the record already says it."""
        before = self.read_index(recipe, topic_id)
        merged = {**before, **keys}
        if merged == before:  # a rerun that used the same keys writes nothing
            return None
        return self.index_path(recipe, topic_id), _json_bytes(merged)

    # ------------------------------------------------------------------ small documents
    def doc_path(self, name: str) -> str:
        """The path of a small JSON document kept beside the cache (``stats/timings.json``)."""
        return join(self.root, name)

    def read_doc(self, path: str) -> Any:
        """A small JSON document of the cache (records, stats), or None if absent or unreadable."""
        try:
            return json.loads(self._read_file(path))
        except (OSError, ValueError):
            return None

    def write_doc(self, path: str, data: Any) -> None:
        atomic_write(self.fs, path, _json_bytes(data), content_type="application/json")

    def remove_doc(self, path: str) -> bool:
        """Remove a document; False if there was none."""
        try:
            self.fs.rm_file(path)
            return True
        except FileNotFoundError:
            return False

    def list_docs(self, folder: str) -> list[str]:
        """Paths of the JSON documents under ``folder`` (relative to the cache root), sorted."""
        root = self.doc_path(folder)
        try:
            found = self.fs.find(root)
        except (FileNotFoundError, OSError):
            return []
        return sorted(p for p in found if p.endswith(".json") and ".tmp-" not in p)

    def _read_file(self, path: str) -> bytes:
        if self._local:  # plain open: fsspec's local layer costs more than the read itself
            with open(path, "rb") as f:
                return f.read()
        return self.fs.cat_file(path)

    def load(self, key: str) -> Artifact | None:
        """The verified artifact under ``key``, or None (see :meth:`lookup` for why not)."""
        return self.lookup(key).artifact

    def save(self, key: str, art: Artifact) -> None:
        """Publish the manifest (replacing any old or invalid one); its blobs must be stored."""
        atomic_write(self.fs, *self.manifest_file(key, art), content_type="application/json")

    def manifest_file(self, key: str, art: Artifact, *, fields_text: str | None = None) -> tuple[str, bytes]:
        """Where :meth:`save` writes ``art``'s manifest, and its bytes, once its blobs are
        verified (CacheError if one is not stored). Whoever writes them must write atomically.

        ``fields_text``: the canonical JSON of ``art.meta["fields"]`` when the caller has it (the
        text its key was hashed from, ``fingerprint.key_and_text``): put in as it is instead of
        encoding the fields again, when that gives the same bytes (plain printable ASCII).
        """
        for ref in art.blobs.values():
            status, detail = self.check_blob(ref.digest, ref.size)
            if status is not LookupStatus.HIT:
                raise CacheError(f"refusing to publish manifest {key[:12]}: {detail}")
        doc = art.to_json(key)
        if fields_text is not None and "fields" in art.meta and fields_text.isascii() and "\x7f" not in fields_text:
            doc["meta"] = {**doc["meta"], "fields": _FIELDS_MARK}
            return self.action_path(key), _DOC(doc).replace(_FIELDS_MARK_JSON, fields_text, 1).encode()
        return self.action_path(key), _json_bytes(doc)

    # ------------------------------------------------------------------ vendor jobs
    def put_job(self, key: str, record: dict[str, Any]) -> None:
        """Record the vendor job node ``key`` is waiting for (one atomic write; replaces any)."""
        atomic_write(self.fs, self.job_path(key), _json_bytes(record), content_type="application/json")

    def get_job(self, key: str) -> dict[str, Any] | None:
        """The job recorded for ``key``; None if there is none or it is unreadable."""
        try:
            raw = self.fs.cat_file(self.job_path(key))
        except FileNotFoundError:
            return None
        except OSError as e:
            raise CacheError(f"cannot read the cache at {self.url}: {e}") from e
        try:
            record = json.loads(raw)
        except ValueError:
            return None
        return record if isinstance(record, dict) and isinstance(record.get("job"), str) else None

    def drop_job(self, key: str) -> None:
        """Forget the job recorded for ``key`` (nothing if there is none)."""
        try:
            self.fs.rm_file(self.job_path(key))
        except FileNotFoundError:
            pass

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Remove this store's local copies of remote blobs (idempotent)."""
        with self._lock:
            if self._owned_scratch is not None:
                self._owned_scratch.close()
                self._owned_scratch = None
            elif self._scratch_dir is not None:
                shutil.rmtree(self._scratch_dir, ignore_errors=True)
            self._scratch_dir = None

    def __enter__(self) -> CacheStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def remote(self) -> bool:
        return not is_local(self.fs)

    @property
    def keeps_checksums(self) -> bool:
        """True when the store itself keeps each blob's SHA-256 (S3)."""
        return is_s3(self.fs)


def _memo(state: Any) -> tuple:
    return (state.size, state.token, state.sha256)


def _json_bytes(data: Any) -> bytes:
    return _DOC(data).encode()


_DOC = encoder(sort_keys=True, ensure_ascii=True)  # one encoder for every manifest (vidflow/jsontext.py)
# Stands for a manifest's fields while the rest is encoded (manifest_file): random, so no value
# a provider returns can be it. The canonical key text is the same JSON as _DOC would write for
# plain printable ASCII (sorted keys, compact; DEL and non-ASCII would be escaped by _DOC only).
_FIELDS_MARK = f"vidflow-fields-{uuid.uuid4().hex}"
_FIELDS_MARK_JSON = f'"{_FIELDS_MARK}"'


def _file_digest(path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,58}[A-Za-z0-9_]|[A-Za-z0-9_]")  # (what the cleaning below keeps as it is)


def _safe_name(name: str) -> str:
    """A file name for a recipe or topic id: readable, and distinct for distinct names."""
    if _SAFE.fullmatch(name):  # most ids (slugs) are already safe: one match, no rewrite
        return name
    clean = _UNSAFE.sub("-", name).strip("-.")[:60] or "x"
    if clean == name:
        return clean
    return f"{clean}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"
