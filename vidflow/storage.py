"""URL -> fsspec filesystem, the atomic writes everything else builds on, and stored checksums.

Only this module and ``cache/`` touch fsspec. Local paths and any fsspec URL (``s3://``,
``memory://``, ...) work; S3 options (endpoint) come from :class:`~vidflow.settings.Settings`.
A write is never visible half-done: local files are written to a temp name in the same folder
and renamed; object stores get one PUT (an object appears whole or not at all), or an upload to
a temporary key copied into place.

On S3 every object vidflow writes carries a SHA-256 *additional checksum* computed by S3 itself
(``ChecksumAlgorithm="SHA256"`` on the PUT or the server-side copy). :func:`object_state` reads
it back with one HEAD, so a reader can check an object against a digest without downloading it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import os
import shutil
import stat
import sys
from dataclasses import dataclass
from typing import Any, Iterator

import fsspec
from fsspec.implementations.local import LocalFileSystem

from .atomicfile import replace_local, temp_suffix, write_local_atomic

__all__ = [
    "ObjectState",
    "atomic_put_file",
    "atomic_write",
    "client_errors",
    "file_in_the_way",
    "file_sha256",
    "human_size",
    "is_local",
    "is_s3",
    "join",
    "object_state",
    "pipe_with_checksum",
    "put_file_with_checksum",
    "stored_sha256",
    "url_to_fs",
]

# One S3 PUT takes at most 5 GiB, and s3fs switches to a multipart upload well before that
# (2 x its 50 MiB chunk). A multipart object's checksum is a checksum of part checksums, not the
# object's SHA-256, so only single-part writes and copies ask for one.
_SINGLE_PUT_MAX = 100 * 2**20
_SINGLE_COPY_MAX = 5 * 2**30


#: Packages whose exceptions are a store's failures (an endpoint that stopped answering, a
#: connection reset): s3fs turns the vendor's refusals into OSError, but not these.
_STORAGE_CLIENTS = frozenset({"botocore", "aiobotocore", "aiohttp", "s3fs", "fsspec", "urllib3", "requests", "gcsfs", "adlfs", "azure", "google"})


@contextlib.contextmanager
def client_errors() -> Iterator[None]:
    """Inside, an exception from a storage client library (not an OSError) is raised as an
    OSError (EIO) saying what it was, so that the code that handles a failed read or write
    handles it too. Anything else passes unchanged: vidflow's own bugs still surface."""
    try:
        yield
    except OSError:
        raise
    except Exception as e:
        if type(e).__module__.partition(".")[0] not in _STORAGE_CLIENTS:
            raise
        raise OSError(errno.EIO, f"{type(e).__name__}: {e}") from e


def url_to_fs(url: str, **options: Any) -> tuple[fsspec.AbstractFileSystem, str]:
    """Return ``(filesystem, root path)`` for a local path or URL."""
    fs, root = fsspec.core.url_to_fs(url, **options)
    return fs, root.rstrip("/") or root


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return isinstance(fs, LocalFileSystem)


def is_s3(fs: fsspec.AbstractFileSystem) -> bool:
    """True for an s3fs filesystem (whatever protocol name it is registered under)."""
    s3fs = sys.modules.get("s3fs")  # an S3 filesystem exists only if s3fs was imported
    return s3fs is not None and isinstance(fs, s3fs.S3FileSystem)


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 hex digest of a local file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_in_the_way(path: str | os.PathLike) -> str | None:
    """The file that stands where a folder of local ``path`` must be (``path`` itself excluded),
    or None: the nearest existing ancestor decides, since the rest can be made."""
    from pathlib import Path

    for parent in Path(path).absolute().parents:
        if parent.exists():
            return None if parent.is_dir() else str(parent)
    return None


def human_size(n: float) -> str:
    """``512 B``, ``3.4 MB``, ``1.2 GB`` (decimal units, as disks and buckets report them)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def join(*parts: str) -> str:
    return "/".join(p.strip("/") if i else p.rstrip("/") for i, p in enumerate(parts) if p)


# --------------------------------------------------------------------------- atomic writes


# write_local_atomic, replace_local and temp_suffix live in vidflow/atomicfile.py (standard
# library only: the local cache's file writer runs that file as its helper process).


def atomic_write(fs: fsspec.AbstractFileSystem, path: str, data: bytes, *, content_type: str | None = None) -> None:
    """Write ``data`` to ``path`` so readers see the old object or the whole new one."""
    if is_local(fs):
        write_local_atomic(path, data)
        return
    extra = _content_type(fs, content_type)
    if is_s3(fs) and len(data) < _SINGLE_PUT_MAX:
        extra["ChecksumAlgorithm"] = "SHA256"
    fs.pipe_file(path, data, **extra)


def atomic_put_file(fs: fsspec.AbstractFileSystem, local_path: str, path: str, *, content_type: str | None = None) -> None:
    """Copy a local file to ``path`` so that no reader ever sees part of it there.

    Local: a temp file beside it, renamed. Object stores: an upload to a temporary key, copied
    into place (one server-side copy, which on S3 also computes the object's SHA-256 checksum),
    then the temporary key removed: an upload killed partway leaves nothing at ``path``.
    """
    if is_local(fs):
        replace_local(path, lambda tmp: shutil.copyfile(local_path, tmp))
        return
    tmp = path + temp_suffix()
    copy_extra: dict[str, str] = {}
    if is_s3(fs) and os.path.getsize(local_path) <= _SINGLE_COPY_MAX:
        copy_extra["ChecksumAlgorithm"] = "SHA256"  # recomputed by S3 from the bytes it holds
    try:
        fs.put_file(local_path, tmp, **_content_type(fs, content_type))
        fs.copy(tmp, path, **copy_extra)
    finally:
        try:
            fs.rm_file(tmp)
        except (OSError, FileNotFoundError):
            pass


def pipe_with_checksum(fs: fsspec.AbstractFileSystem, path: str, data: bytes, *, content_type: str | None = None) -> str | None:
    """:func:`atomic_write`, then the SHA-256 the store now reports for ``path`` (hex), or None.

    Compare the answer with your own digest: a mismatch means the bytes stored are not the ones
    you meant (None: this store keeps no SHA-256, verify some other way).
    """
    atomic_write(fs, path, data, content_type=content_type)
    return stored_sha256(fs, path)


def put_file_with_checksum(fs: fsspec.AbstractFileSystem, local_path: str, path: str, *, content_type: str | None = None) -> str | None:
    """:func:`atomic_put_file`, then the SHA-256 the store reports for ``path`` (hex), or None."""
    atomic_put_file(fs, local_path, path, content_type=content_type)
    return stored_sha256(fs, path)


def _content_type(fs: fsspec.AbstractFileSystem, content_type: str | None) -> dict[str, str]:
    return {"ContentType": content_type} if content_type and is_s3(fs) else {}


# --------------------------------------------------------------------------- reading state


@dataclass(frozen=True)
class ObjectState:
    """What a store says about an object without reading its bytes.

    ``token`` changes whenever the bytes may have changed (local: mtime, ctime and inode; S3:
    ETag and LastModified); None when the store offers nothing but the size. ``sha256`` is the
    object's full SHA-256 (hex) when the store keeps one (S3 additional checksums), else None.
    """

    size: int
    token: tuple[str | int, ...] | None
    sha256: str | None = None


def object_state(fs: fsspec.AbstractFileSystem, path: str) -> ObjectState:
    """One stat or HEAD of ``path`` (FileNotFoundError if it is not there)."""
    if is_local(fs):
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError(path)
        return ObjectState(st.st_size, (st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev))
    if is_s3(fs):
        bucket, key, _ = fs.split_path(path)
        head = fs.call_s3("head_object", Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        etag = str(head.get("ETag", ""))
        modified = head.get("LastModified")
        token = (etag, modified.isoformat() if hasattr(modified, "isoformat") else str(modified or ""))
        return ObjectState(int(head["ContentLength"]), token if etag else None, _full_sha256(head, etag))
    info = fs.info(path)
    if info.get("type") not in (None, "file"):
        raise FileNotFoundError(path)
    parts = tuple(str(info[k]) for k in ("ETag", "LastModified", "mtime", "created") if info.get(k) is not None)
    return ObjectState(int(info["size"]), parts or None)


def stored_sha256(fs: fsspec.AbstractFileSystem, path: str) -> str | None:
    """The SHA-256 (hex) the store keeps for ``path`` (S3 checksum), else None; no body read.

    Raises FileNotFoundError if there is no object at ``path``.
    """
    if not is_s3(fs):
        if not fs.exists(path):
            raise FileNotFoundError(path)
        return None
    return object_state(fs, path).sha256


def _full_sha256(head: dict[str, Any], etag: str) -> str | None:
    """The object's own SHA-256 from a HEAD answer; None for none or a composite (multipart) one."""
    value = head.get("ChecksumSHA256")
    if not value or "-" in value or head.get("ChecksumType") == "COMPOSITE":
        return None
    if "-" in etag.strip('"'):  # uploaded in parts: some stores omit ChecksumType
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None
