"""URL -> fsspec filesystem, and the atomic writes everything else builds on.

Only this module and ``cache/`` touch fsspec. Local paths and any fsspec URL (``s3://``,
``memory://``, ...) work; S3 options (endpoint) come from :class:`~vidflow.settings.Settings`.
A write is never visible half-done: local files are written to a temp name in the same folder
and renamed; object stores get one PUT (an object appears whole or not at all).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

__all__ = ["atomic_write", "is_local", "join", "put_remote", "url_to_fs"]


def url_to_fs(url: str, **options: Any) -> tuple[fsspec.AbstractFileSystem, str]:
    """Return ``(filesystem, root path)`` for a local path or URL."""
    fs, root = fsspec.core.url_to_fs(url, **options)
    return fs, root.rstrip("/") or root


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return isinstance(fs, LocalFileSystem)


def join(*parts: str) -> str:
    return "/".join(p.strip("/") if i else p.rstrip("/") for i, p in enumerate(parts) if p)


_MADE_DIRS: set[str] = set()


def atomic_write(fs: fsspec.AbstractFileSystem, path: str, data: bytes, *, content_type: str | None = None) -> None:
    """Write ``data`` to ``path`` so readers see the old object or the whole new one."""
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    if is_local(fs):
        if parent and parent not in _MADE_DIRS:
            os.makedirs(parent, exist_ok=True)
            _MADE_DIRS.add(parent)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        try:
            try:
                f = open(tmp, "wb")
            except FileNotFoundError:  # the folder went away since we made it
                os.makedirs(parent, exist_ok=True)
                f = open(tmp, "wb")
            with f:
                f.write(data)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return
    kwargs = {"ContentType": content_type} if content_type and _is_s3(fs) else {}
    fs.pipe_file(path, data, **kwargs)


def put_remote(fs: fsspec.AbstractFileSystem, local_path: str, path: str, content_type: str | None = None) -> None:
    """Upload a local file (one PUT, or a multipart upload that appears only when complete)."""
    if content_type and _is_s3(fs):
        fs.put_file(local_path, path, ContentType=content_type)
    else:
        fs.put_file(local_path, path)


def _is_s3(fs: fsspec.AbstractFileSystem) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("s3", "s3a")
