"""Topic ids and the ``slug`` filter: short, file-name-safe names that keep distinct topics apart.

Text in the Latin script keeps the ASCII slug vidflow always made (``"Why is the sky blue?"`` ->
``why-is-the-sky-blue``, ``"Café"`` -> ``cafe``): caches, node names and published file names
depend on it, so that path is vidflow's own few lines, frozen. Text with letters of any other
script (Chinese, Arabic, Devanagari, Cyrillic, Greek...) is slugged by python-slugify in Unicode
mode (``"Почему небо голубое?"`` -> ``почему-небо-голубое``), so two Chinese topics get two ids
instead of both ``untitled``.

python-slugify is called with ``algorithm="modern"`` (9.2+): its legacy default splits Devanagari,
Tamil or Hebrew words at their vowel signs (``हिन्दी`` -> ``ह-न-द``), which loses text and makes
different topics collide; the modern algorithm keeps combining marks inside words. Its ASCII mode
is not used for Latin text because it would change today's ids (``ß`` -> ``ss``, ``1,000`` ->
``1000``).

A slug only ever holds letters, digits, combining marks and ``-``: no ``/``, no ``.``, no control
or bidi characters (checked here after python-slugify, not trusted), at most ``max_length``
characters and 200 UTF-8 bytes, so it is safe as a file or folder name everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

__all__ = ["MAX_SLUG_BYTES", "slug"]

#: A slug's UTF-8 size stays well below the 255-byte file name limit, with room for ``.mp4``.
MAX_SLUG_BYTES = 200

_MAX_INPUT = 1_000
_ASCII_RUNS = re.compile(r"[^a-zA-Z0-9]+")
_DASHES = re.compile(r"-{2,}")


def _ascii_slug(text: str) -> str:
    """The slug vidflow has always made for Latin text; do not change it (ids depend on it)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _ASCII_RUNS.sub("-", text).strip("-").lower()


def _is_latin(ch: str) -> bool:
    """Latin letters, and everything in Latin-1 and Latin Extended-A/B (``µ``, ``ª``, ``²``)."""
    return ord(ch) < 0x250 or unicodedata.name(ch, "").startswith("LATIN ")


def _needs_unicode(text: str) -> bool:
    """True if ``text`` has a letter or digit of a script other than Latin."""
    for ch in text:
        if ch.isascii() or _is_latin(ch):
            continue
        for part in unicodedata.normalize("NFKD", ch):  # fullwidth Ａ is an A, ① a 1
            if not part.isascii() and unicodedata.category(part)[0] in "LN" and not _is_latin(part):
                return True
    return False


def _unicode_slug(text: str) -> str:
    from slugify import slugify  # only text in other scripts needs it: Latin-only runs never import it

    # Only the first few hundred characters can reach an 80-character slug: bound the work.
    text = text[:_MAX_INPUT].encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> "?"
    out = slugify(text, allow_unicode=True, algorithm="modern", entities=False, decimal=False, hexadecimal=False)
    # keep Latin letters as the Latin path spells them (é -> e), and nothing that is not a word part
    parts = []
    for ch in out:
        if ch.isascii():
            parts.append(ch if ch.isalnum() else "-")
        elif _is_latin(ch):
            parts.append(_ascii_slug(ch))  # ß -> "" as in the Latin path
        elif unicodedata.category(ch)[0] in "LNM":
            parts.append(ch)
        else:
            parts.append("-")
    return _DASHES.sub("-", unicodedata.normalize("NFC", "".join(parts))).strip("-")


def _truncate(text: str, max_length: int) -> str:
    cut = min(len(text), max_length)
    while cut and len(text[:cut].encode("utf-8")) > MAX_SLUG_BYTES:
        cut -= 1
    # never end on half a letter: a base letter whose combining marks would be cut off
    while 0 < cut < len(text) and unicodedata.category(text[cut])[0] == "M":
        cut -= 1
    return text[:cut].rstrip("-")


def slug(value: Any, max_length: int = 80) -> str:
    """``"Why is the sky blue?"`` -> ``"why-is-the-sky-blue"``; other scripts keep their letters."""
    text = str(value)
    if not _needs_unicode(text):
        out = _ascii_slug(text)
    else:
        out = _unicode_slug(text)
    return _truncate(out, max_length) or "untitled"
