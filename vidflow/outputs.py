"""Where a published video may go, and whether it is already there intact.

Owns the safety rules for outputs (DESIGN.md, "Bad input and safety"):

* The destination is the publish step's ``to:`` template, rendered. Only its *static prefix*
  (the text before the first ``{{``, ``{%`` or ``{#``) may choose the scheme and the root:
  ``s3://bucket/videos/`` in ``s3://bucket/videos/{{ topic | slug }}.mp4``, ``out/`` in
  ``out/{{ topic | slug }}.mp4``, or the output root itself when the prefix has no folder.
* What the template adds after that prefix comes from topics and variables, which may be
  hostile, so it must be a relative path of clean segments: no ``xxx://`` or ``::`` (fsspec
  would read a scheme or a chained URL there), not absolute, no ``..``, ``.`` or empty
  segments, no backslashes, no control characters, bounded length. Any script is fine
  (``out/为什么天空是蓝色的.mp4``).
* A local destination is checked after resolving symlinks: the real folder it lands in must be
  inside the real root, and the returned path *is* that real path, so the write goes there and
  not through a link. An object-store key is normalised and must stay under the static prefix.

:func:`already_published` says whether a destination holds exactly the video a run made: its
manifest names the digest, and the bytes there hash to it (a same-size corruption is caught).

Pure path logic plus file reads; it imports only :mod:`vidflow.errors` and :mod:`vidflow.storage`.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
import unicodedata
from typing import Any

from .errors import OutputPathError
from .storage import is_local, object_state, url_to_fs

__all__ = ["OutputPathError", "already_published", "resolve_destination", "sidecar_path", "static_prefix"]

MAX_SEGMENT_BYTES = 255  # NAME_MAX of common file systems, in UTF-8 bytes
MAX_RENDERED_BYTES = 1024  # the rendered part of a path; also S3's limit for a whole key
LOCAL_SCHEMES = ("file", "local")
_TAGS = ("{{", "{%", "{#")
# Text-direction overrides make a name read differently from what it is ("gpj.exe" shown as
# "exe.jpg"). Joiners (U+200C/U+200D), needed in Persian and Indic scripts, stay allowed.
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
_FIX = "put a per-topic part through the slug filter, e.g. `to: out/{{ topic | slug }}.mp4`, or change the topic"


def static_prefix(template: str) -> str:
    """The text of ``to:`` before its first template tag: the part a topic cannot change."""
    cut = min([i for i in (template.find(t) for t in _TAGS) if i >= 0], default=len(template))
    return template[:cut]


def resolve_destination(template: str, rendered: str, output_root: str, *, topic: str = "") -> str:
    """The destination of ``rendered`` (``template`` rendered for one topic), or OutputPathError.

    Local outputs come back as an absolute path with every symlink resolved; URLs keep their
    scheme (``s3://bucket/videos/why.mp4``). ``topic`` names the topic in error messages.
    """
    static = static_prefix(template)
    if not rendered.startswith(static):
        # `{{-` strips whitespace before the tag: the rendered text starts with less of the prefix
        static = static.rstrip()
        if not rendered.startswith(static):
            raise _error(topic, rendered, f"does not start with the fixed start of `to:` ({static!r})", "")
    scheme, _, after = static.partition("://") if "://" in static else ("", "", static)
    root_part, slash, name_head = after.rpartition("/")
    segments = _clean_segments(name_head + rendered[len(static) :], topic, rendered)
    if segments[-1].endswith(".json"):
        raise _error(topic, rendered, "names a .json file; the manifest goes beside the video as <name>.json", "")
    if scheme and scheme.lower() not in LOCAL_SCHEMES:
        return _url_destination(f"{scheme}://", root_part, segments, topic, rendered)
    if slash and not root_part:  # `/{{ topic }}.mp4` or `file:///{{ topic }}.mp4`
        root_part = "/"
    return _local_destination(os.path.join(os.path.abspath(output_root), root_part), segments, topic, rendered)


def sidecar_path(dest: str) -> str:
    """The manifest's path beside a video: ``out/why.mp4`` -> ``out/why.json``."""
    stem, _ = posixpath.splitext(dest) if "://" in dest else os.path.splitext(dest)
    return stem + ".json"


def already_published(dest: str, side: str, digest: str | None, storage_options: dict[str, Any] | None = None) -> bool:
    """True when ``dest`` holds exactly the video whose sha256 is ``digest``, with its manifest
    (``digest=None``: whatever video its manifest names, i.e. the published video is intact).

    The manifest beside it must name the digest and size, and the bytes at ``dest`` must hash to
    it: a video corrupted in place (even keeping its size) is not "published", it is written
    again. On S3 the object's SHA-256 checksum (computed by S3 from the bytes it stored) is
    compared when it has one, so a rerun downloads nothing; an object without one is hashed. A
    local destination must be a regular file, not a link. Anything unreadable is False.
    """
    opts = storage_options or {}
    try:
        fs, path = url_to_fs(dest, **opts)
        side_fs, side_path = url_to_fs(side, **opts)
        meta = json.loads(side_fs.cat_file(side_path))
        named = meta.get("video_digest") if isinstance(meta, dict) else None
        if not named or (digest is not None and named != digest):
            return False
        digest = named
        size = meta.get("size")
        if is_local(fs):
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_size != size:
                return False
        else:
            state = object_state(fs, path)
            if state.size != size:
                return False
            if state.sha256 is not None:  # S3 computed it from the bytes it holds: no download
                return state.sha256 == digest
        return _sha256(fs, path) == digest
    except (OSError, ValueError):  # missing, unreadable, not JSON
        return False


# --------------------------------------------------------------------------- internals


def _sha256(fs: Any, path: str) -> str:
    h = hashlib.sha256()
    with fs.open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _error(topic: str, rendered: str, problem: str, detail: str) -> OutputPathError:
    who = f"topic {topic!r}: " if topic else ""
    extra = f" {detail}" if detail else ""
    return OutputPathError(f"{who}publish `to:` rendered to {rendered!r}, which {problem}{extra}; {_FIX}")


def _clean_segments(rel: str, topic: str, rendered: str) -> list[str]:
    """The segments of the part of the path a topic controls, or OutputPathError saying why not."""
    if len(rel.encode("utf-8", "surrogatepass")) > MAX_RENDERED_BYTES:
        raise _error(topic, rendered, f"is longer than {MAX_RENDERED_BYTES} bytes", "")
    if "://" in rel or "::" in rel:
        raise _error(topic, rendered, "names a URL scheme or a chained URL", "(only the fixed start of `to:` may say where outputs go)")
    if "\\" in rel:
        raise _error(topic, rendered, "contains a backslash", "")
    for ch in rel:
        if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ch in _BIDI_CONTROLS:
            raise _error(topic, rendered, f"contains the control character U+{ord(ch):04X}", "")
    if rel.startswith("/"):
        raise _error(topic, rendered, "is an absolute path; it leaves its root", "")
    segments = rel.split("/")
    if segments[-1] == "":
        raise _error(topic, rendered, "is a folder; `to:` must name a file such as out/{{ topic | slug }}.mp4", "")
    for seg in segments:
        if seg == "..":
            raise _error(topic, rendered, "contains '..' and leaves its root", "")
        if seg in ("", "."):
            raise _error(topic, rendered, "has an empty or '.' path segment", "")
        if len(seg.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise _error(topic, rendered, f"has a name longer than {MAX_SEGMENT_BYTES} bytes", "")
    return segments


def _within(path: str, root: str, sep: str) -> bool:
    return path == root or path.startswith(root.rstrip(sep) + sep)


def _local_destination(root: str, segments: list[str], topic: str, rendered: str) -> str:
    """An absolute, symlink-free path inside the real ``root`` (OutputPathError otherwise)."""
    real_root = os.path.realpath(root)
    real_parent = os.path.realpath(os.path.join(root, *segments[:-1]))
    if not _within(real_parent, real_root, os.sep):
        raise _error(topic, rendered, f"leaves its root {real_root!r} through a symbolic link (it resolves to {real_parent!r})", "")
    dest = os.path.join(real_parent, segments[-1])
    if os.path.isdir(dest):
        raise _error(topic, rendered, "is a folder; `to:` must name a file such as out/{{ topic | slug }}.mp4", "")
    return dest


def _url_destination(scheme: str, root_part: str, segments: list[str], topic: str, rendered: str) -> str:
    """``scheme://root/segments``, the key normalised and still under the static root."""
    root = root_part.strip("/")
    key = posixpath.normpath("/".join([root, *segments]) if root else "/".join(segments))
    if root and not _within(key, root, "/"):
        raise _error(topic, rendered, f"leaves its root {scheme}{root}/", "")
    if len(key.encode("utf-8")) > MAX_RENDERED_BYTES:
        raise _error(topic, rendered, f"makes a key longer than {MAX_RENDERED_BYTES} bytes", "")
    return f"{scheme}{key}"
