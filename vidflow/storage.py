"""URL -> fsspec filesystem, and the atomic writes everything else builds on.

Only this module and ``cache/`` touch fsspec. Local paths and any fsspec URL (``s3://``,
``memory://``, ...) work; S3 options (endpoint) come from :class:`~vidflow.settings.Settings`.
A write is never visible half-done: local files are written to a temp name in the same folder
and renamed; object stores get one PUT (an object appears whole or not at all).
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import Any, Callable

import fsspec
from fsspec.implementations.local import LocalFileSystem

__all__ = ["atomic_put_file", "atomic_write", "is_local", "join", "url_to_fs"]


def url_to_fs(url: str, **options: Any) -> tuple[fsspec.AbstractFileSystem, str]:
    """Return ``(filesystem, root path)`` for a local path or URL."""
    fs, root = fsspec.core.url_to_fs(url, **options)
    return fs, root.rstrip("/") or root


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return isinstance(fs, LocalFileSystem)


def join(*parts: str) -> str:
    return "/".join(p.strip("/") if i else p.rstrip("/") for i, p in enumerate(parts) if p)


_MADE_DIRS: set[str] = set()


def _replace_local(path: str, fill: Callable[[str], None]) -> None:
    """Make ``path`` by filling a temp file beside it and renaming it into place."""
    parent = os.path.dirname(path)
    if parent and parent not in _MADE_DIRS:
        os.makedirs(parent, exist_ok=True)
        _MADE_DIRS.add(parent)
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        try:
            fill(tmp)
        except FileNotFoundError:  # the folder went away since we made it
            os.makedirs(parent, exist_ok=True)
            fill(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(fs: fsspec.AbstractFileSystem, path: str, data: bytes, *, content_type: str | None = None) -> None:
    """Write ``data`` to ``path`` so readers see the old object or the whole new one."""
    if is_local(fs):

        def fill(tmp: str) -> None:
            with open(tmp, "wb") as f:
                f.write(data)

        _replace_local(path, fill)
        return
    fs.pipe_file(path, data, **_content_type(fs, content_type))


def atomic_put_file(fs: fsspec.AbstractFileSystem, local_path: str, path: str, *, content_type: str | None = None) -> None:
    """Copy a local file to ``path`` so that no reader ever sees part of it there.

    Local: a temp file beside it, renamed. Object stores: an upload to a temporary key, copied
    into place (one server-side copy), then the temporary key removed: an upload killed partway
    leaves nothing at ``path``.
    """
    if is_local(fs):
        _replace_local(path, lambda tmp: shutil.copyfile(local_path, tmp))
        return
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        fs.put_file(local_path, tmp, **_content_type(fs, content_type))
        fs.copy(tmp, path)
    finally:
        try:
            fs.rm_file(tmp)
        except (OSError, FileNotFoundError):
            pass


def _content_type(fs: fsspec.AbstractFileSystem, content_type: str | None) -> dict[str, str]:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return {"ContentType": content_type} if content_type and protocol in ("s3", "s3a") else {}
