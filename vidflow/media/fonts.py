"""The fonts vidflow hands to libass.

Owns one thing: where the bundled TTFs live and which family name the ASS styles ask for.
libass renders *nothing* (and says nothing) when it finds no font, so every ``ass`` filter gets
``fontsdir=fonts_dir()``; never rely on the machine's fontconfig. The folder holds only ``.ttf``
files because libass tries to load every file in it. No I/O happens here except hashing the bundled fonts once.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

__all__ = ["FONT_FAMILY", "fonts_digest", "fonts_dir"]

#: Family name of the bundled fonts (Roboto-Regular.ttf, Roboto-Bold.ttf); ASS ``Fontname``.
FONT_FAMILY = "Roboto"

_FONTS = Path(__file__).resolve().parent / "fonts"


def fonts_dir() -> Path:
    """The folder of bundled TTF files, to pass to libass as ``fontsdir``."""
    return _FONTS


@cache
def fonts_digest() -> str:
    """sha256 over the bundled fonts (names and bytes): part of every segment's key.

    Cached: the fonts are package data and never change while a process runs
    (``fonts_digest.cache_clear()`` resets it).
    """
    h = hashlib.sha256()
    for f in sorted(_FONTS.glob("*.ttf")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()
