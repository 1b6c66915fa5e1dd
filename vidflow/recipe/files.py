"""Reading a user's input file (recipe, character, topics) safely: regular files only, size-capped,
UTF-8 text without NUL bytes. Every refusal is a RecipeError naming the file (and line:col).

``/dev/zero`` would be read forever and a named pipe blocks the first ``open()``, so the file's
type is checked with ``os.stat`` before opening, and again with ``fstat`` on a descriptor opened
with ``O_NONBLOCK`` (the path may be swapped in between).
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path

from ..errors import Problem, RecipeError

__all__ = ["decode_text", "read_user_file", "where_in_bytes"]

_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFSOCK: "a socket",
}


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def _not_regular(display: str, what: str, mode: int) -> RecipeError:
    kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
    return RecipeError(Problem(display, "", f"{what} file is {kind}, not a regular file; give the path of a {what} file"))


def read_user_file(path: str | os.PathLike, display: str, *, what: str, limit: int, missing: str | None = None) -> bytes:
    """The bytes of ``path``: a regular file of at most ``limit`` bytes, or a RecipeError."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise RecipeError(Problem(display, "", missing or f"{what} file not found")) from None
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise RecipeError(Problem(display, "", f"cannot read {what} file: {getattr(e, 'strerror', None) or e}")) from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(display, what, st.st_mode)
    too_big = f"{what} file is larger than {_size(limit)}; split it or trim it"
    if st.st_size > limit:
        raise RecipeError(Problem(display, "", f"{what} file is {_size(st.st_size)}, larger than {_size(limit)}; split it or trim it"))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise RecipeError(Problem(display, "", f"cannot read {what} file: {e.strerror}")) from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(display, what, mode)
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise RecipeError(Problem(display, "", f"cannot read {what} file: {e.strerror}")) from None
    if len(data) > limit:
        raise RecipeError(Problem(display, "", too_big))
    return data


def where_in_bytes(data: bytes, pos: int, display: str) -> str:
    """``file:line:col`` of byte offset ``pos`` (the column counts characters, 1-based)."""
    line = data.count(b"\n", 0, pos) + 1
    start = data.rfind(b"\n", 0, pos) + 1
    col = len(data[start:pos].decode("utf-8", "replace")) + 1
    return f"{display}:{line}:{col}"


def decode_text(data: bytes, display: str, *, what: str, bom: bool = False) -> str:
    """UTF-8 text (a leading BOM is dropped if ``bom``); NUL bytes and bad UTF-8 name their line:col."""
    nul = data.find(b"\0")
    if nul >= 0:
        raise RecipeError(
            Problem(where_in_bytes(data, nul, display), "", f"{what} file has a NUL byte here, so it is not text; save it as UTF-8 text")
        )
    skip = len(codecs.BOM_UTF8) if bom and data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        pos = e.start + skip
        raise RecipeError(
            Problem(where_in_bytes(data, pos, display), "", f"{what} file is not UTF-8 text (byte 0x{data[pos]:02x} here); save it as UTF-8")
        ) from None
