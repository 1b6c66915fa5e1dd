"""Where outputs go: ``to:`` destinations that stay inside their root, and their sidecars.

The destination is a ``to:`` template, rendered; it must stay inside its root: the part of
``to:`` before the first template tag (``out/`` in ``out/{{ topic | slug }}.mp4``), or the
output root (the working directory) when that part is empty.
"""

from __future__ import annotations

import json
import os
import posixpath

from .errors import TemplateError
from .storage import url_to_fs

__all__ = ["already_published", "resolve_destination", "sidecar_path"]


def _is_url(path: str) -> bool:
    return "://" in path


def resolve_destination(template: str, rendered: str, output_root: str) -> str:
    """The absolute destination for ``rendered``, or TemplateError if it leaves its root."""
    cut = min([i for i in (template.find("{{"), template.find("{%")) if i >= 0], default=len(template))
    static = template[:cut]
    if _is_url(rendered):
        root = static.rsplit("/", 1)[0] if "/" in static else static
        proto, _, rest = rendered.partition("://")
        norm = posixpath.normpath(rest)
        root_rest = posixpath.normpath(root.partition("://")[2]) if "://" in root else ""
        if ".." in rest.split("/") or not (norm == root_rest or norm.startswith(root_rest.rstrip("/") + "/")):
            raise TemplateError(f"output {rendered!r} leaves its root {root!r}; a topic or variable must not contain '..' or '/'")
        return f"{proto}://{norm}"
    base = os.path.abspath(output_root)
    static_dir = os.path.dirname(static) if static else ""
    root = os.path.normpath(os.path.join(base, static_dir))
    dest = os.path.normpath(os.path.join(base, rendered))
    if not (dest == root or dest.startswith(root.rstrip(os.sep) + os.sep)):
        raise TemplateError(f"output {rendered!r} leaves its root {root!r}; a topic or variable must not contain '..' or '/'")
    if os.path.isdir(dest) or rendered.endswith(("/", os.sep)):
        raise TemplateError(f"output {rendered!r} is a folder; `to:` must name a file such as out/{{{{ topic | slug }}}}.mp4")
    return dest


def sidecar_path(dest: str) -> str:
    stem, _ = posixpath.splitext(dest) if _is_url(dest) else os.path.splitext(dest)
    return stem + ".json"


def already_published(dest: str, side: str, digest: str, opts: dict) -> bool:
    fs, path = url_to_fs(dest, **opts)
    _, side_path = url_to_fs(side, **opts)
    try:
        meta = json.loads(fs.cat_file(side_path))
        if meta.get("video_digest") == digest and fs.exists(path) and fs.size(path) == meta.get("size"):
            return True
    except (OSError, ValueError):
        pass
    return False


