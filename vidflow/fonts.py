"""The fonts vidflow draws text with: a fallback chain that covers every script it can.

It sits below ``media`` (captions, via libass) and ``providers`` (``image.procedural``'s title
cards, via Pillow), so both draw with the same fonts, and order mixed-direction text the same
way (:func:`text_direction`, :func:`visual_order`).

Owns which font files exist (bundled Noto from the ``manimgx-fonts`` wheel, CJK from the optional
``noto-cjk-sans-otc`` wheel, and a recipe's own ``fonts:`` folder), what each can draw (its
cmap, read with fontTools), how wide a text is in it (its advances), how a text splits into runs
of one font each, and the folder of font files a segment's ``ass`` filter gets as ``fontsdir``.

Why runs: libass finds fallback fonts only through fontconfig, never among ``fontsdir`` fonts
(measured: "fontselect: failed to find any fallback"), so a line is cut into runs and each run
names its family with ``\\fn`` (libass still orders the whole line by the bidi algorithm,
across runs). libass also renders nothing when it
finds no font, so every ``ass`` filter gets a ``fontsdir`` holding only font files.

Variable fonts: libass draws a variable font's default instance (Regular, wght 400) and makes
bold by emboldening the outline (checked by pixels). Nothing here writes outside the folders
it is given; cmaps and digests are cached per process (``reset_fonts()`` clears them).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from .errors import MediaError
from .storage import file_sha256, write_local_atomic

__all__ = [
    "FONT_FAMILY",
    "FontChain",
    "FontFace",
    "cjk_file",
    "default_chain",
    "folder_fonts",
    "fonts_digest",
    "fonts_dir",
    "ignorable",
    "is_emoji",
    "reset_fonts",
    "text_direction",
    "visual_order",
]

#: Family of the first font of the default chain (Latin, Cyrillic, Greek); ASS ``Fontname``.
FONT_FAMILY = "Noto Sans"
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
#: Bundled faces that are never used for captions (an italic adds load time, no coverage).
_SKIP = ("Italic",)
#: Coverage order after Noto Sans: CJK before the symbol and emoji fonts, which cover a few
#: CJK punctuation marks badly; everything else by file name.
_LAST = ("NotoSansSymbols", "NotoEmoji")
_CJK_INDEX = 2  # NotoSansCJK-Regular.ttc: 0 JP, 1 KR, 2 SC, 3 TC, 4 HK (Simplified Chinese forms)
_BOLD_EXTRA = 0.06  # emboldened outlines are this much wider than the Regular advances


@dataclass(frozen=True, eq=False)
class FontFace:
    """One face of a font file: its path, face index (collections) and family (name ID 1,
    the name libass matches ``\\fn`` and ``Fontname`` against)."""

    path: Path
    index: int
    family: str

    def cmap(self) -> dict[int, str]:
        return _cmap(str(self.path), self.index)[0]

    def covers(self, ch: str) -> bool:
        return ord(ch) in self.cmap()

    def width(self, text: str, size: float) -> float:
        """Advance width of ``text`` in pixels at ASS font size ``size`` (bold, no kerning)."""
        cmap, advances, height = _cmap(str(self.path), self.index)
        units = sum(advances.get(cmap.get(ord(c), ".notdef"), 0) for c in text)
        return units * size / height * (1 + _BOLD_EXTRA)


@cache
def _faces_of(path: str) -> tuple[tuple[int, str], ...]:
    from fontTools.ttLib import TTCollection, TTFont, TTLibError

    try:
        # lazy fonts keep their file open until closed: close them here (the result is cached)
        with TTCollection(path, lazy=True) if path.lower().endswith((".ttc", ".otc")) else TTFont(path, lazy=True) as opened:
            fonts = opened.fonts if isinstance(opened, TTCollection) else [opened]
            return tuple((i, f["name"].getDebugName(1) or Path(path).stem) for i, f in enumerate(fonts))
    except (TTLibError, OSError, KeyError, AssertionError) as e:
        raise MediaError(f"cannot read font {path}: {e}") from None


@cache
def _cmap(path: str, index: int) -> tuple[dict[int, str], dict[str, int], int]:
    """(cmap, advance by glyph name, libass height units = usWinAscent + usWinDescent)."""
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True, fontNumber=index) as font:  # closes the file it keeps open
        cmap = dict(font.getBestCmap() or {})
        advances = {g: adv for g, (adv, _) in font["hmtx"].metrics.items()}
        os2 = font["OS/2"] if "OS/2" in font else None
        height = (os2.usWinAscent + os2.usWinDescent) if os2 else font["head"].unitsPerEm
    return cmap, advances, max(1, height)


_file_digest = cache(file_sha256)  # bundled fonts are hashed once per process


def ignorable(ch: str) -> bool:
    """Characters no font needs to draw: spaces, controls, joiners, bidi marks, variation
    selectors and tags (they shape or steer the text around them)."""
    cp = ord(ch)
    if ch.isspace() or 0xFE00 <= cp <= 0xFE0F or 0xE0000 <= cp <= 0xE01EF:
        return True
    return unicodedata.category(ch) in ("Cc", "Cf")


def is_emoji(ch: str) -> bool:
    """Pictographs that a recipe may lose with a warning rather than fail on."""
    cp = ord(ch)
    return 0x1F000 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF or 0x2B00 <= cp <= 0x2BFF


class FontChain:
    """Fonts in fallback order. The first face is the captions' main font.

    Build one with :func:`default_chain` (bundled fonts, then extras); it is immutable.
    """

    def __init__(self, faces: Sequence[FontFace]):
        if not faces:
            raise MediaError("no fonts: install vidflow's font wheels (pip install vidflow)")
        self.faces = tuple(faces)

    @property
    def primary(self) -> FontFace:
        return self.faces[0]

    def families(self) -> list[str]:
        return list(dict.fromkeys(f.family for f in self.faces))

    def with_primary(self, family: str) -> FontChain:
        """The same chain with ``family``'s faces first. Raises MediaError naming the families."""
        first = [f for f in self.faces if f.family.lower() == family.lower()]
        if not first:
            raise MediaError(f"no font family {family!r} (have: {', '.join(self.families())})")
        return FontChain(first + [f for f in self.faces if f not in first])

    def face_for(self, ch: str) -> FontFace | None:
        return next((f for f in self.faces if f.covers(ch)), None)

    def missing(self, text: str) -> list[str]:
        """Characters of ``text`` (in order, once each) that no face can draw."""
        out: dict[str, None] = {}
        for ch in text:
            if ch not in out and not ignorable(ch) and self.face_for(ch) is None:
                out[ch] = None
        return list(out)

    def runs(self, text: str) -> list[tuple[str, FontFace]]:
        """``text`` cut into runs of one face each. A character stays in the current run's face
        when that face has it (digits and punctuation inside Arabic stay Arabic), so runs
        change only where they must. Characters no face has go to the primary face (callers
        check :meth:`missing` first)."""
        runs: list[list] = []
        for ch in text:
            cur = runs[-1][1] if runs else None
            if cur is not None and (ignorable(ch) or unicodedata.category(ch).startswith("M") or cur.covers(ch)):
                runs[-1][0] += ch
                continue
            face = self.face_for(ch) if not ignorable(ch) else self.primary
            face = face or self.primary
            if cur is face:
                runs[-1][0] += ch
            else:
                runs.append([ch, face])
        return [(t, f) for t, f in runs]

    def width(self, text: str, size: float) -> float:
        """Width in pixels of ``text`` at ASS size ``size``, each run in its own face."""
        return sum(face.width(t, size) for t, face in self.runs(text))

    def digest(self) -> str:
        """sha256 over the chain's order, families and file bytes: part of every segment key."""
        h = hashlib.sha256()
        for f in self.faces:
            h.update(f"{f.family}\0{f.index}\0{_file_digest(str(f.path))}\n".encode())
        return h.hexdigest()

    def files(self, faces: Iterable[FontFace] | None = None) -> list[Path]:
        """The font files holding ``faces`` (default: all), each once, in chain order."""
        want = set(faces) if faces is not None else set(self.faces)
        return list(dict.fromkeys(f.path for f in self.faces if f in want))

    def make_fontsdir(self, folder: Path, faces: Iterable[FontFace] | None = None) -> Path:
        """A folder of links to the files of ``faces`` (libass loads every file in it, so
        giving it only the fonts a segment uses keeps its start-up short)."""
        folder.mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(self.files(faces)):
            link = folder / f"{i:02d}-{path.name}"
            if not link.exists():
                try:
                    os.symlink(path, link)
                except FileExistsError:  # another process made it just now
                    pass
                except OSError:  # no symlinks (some file systems): copy, atomically
                    write_local_atomic(link, path.read_bytes())
        return folder


def _bundled_files() -> list[Path]:
    try:
        root = Path(str(resources.files("manimgx_fonts")))
    except ModuleNotFoundError:
        raise MediaError("vidflow's fonts are missing: pip install manimgx-fonts (a vidflow dependency)") from None
    files = sorted(p for p in root.iterdir() if p.suffix == ".ttf" and not any(s in p.name for s in _SKIP))
    first = [p for p in files if p.name.startswith("NotoSans[")]
    last = [p for name in _LAST for p in files if p.name.startswith(name + "[")]
    return first + [p for p in files if p not in first and p not in last] + [p for p in last]


def cjk_file() -> Path | None:
    """The CJK font of the optional ``cjk`` extra (``pip install 'vidflow[cjk]'``), if installed."""
    try:
        root = Path(str(resources.files("noto_cjk_sans_otc")))
    except ModuleNotFoundError:
        return None
    path = root / "NotoSansCJK-Regular.ttc"
    return path if path.is_file() else None


def folder_fonts(folder: Path) -> list[Path]:
    """Font files of a recipe's ``fonts:`` folder, by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FONT_SUFFIXES)


def _faces(paths: Iterable[Path], *, only: int | None = None) -> list[FontFace]:
    out = []
    for p in paths:
        for i, family in _faces_of(str(p)):
            if only is None or i == only:
                out.append(FontFace(p, i, family))
    return out


@cache
def _default(extra: tuple[str, ...]) -> FontChain:
    files = _bundled_files()
    faces = _faces(Path(p) for p in extra) + _faces(files[:-len(_LAST)])
    cjk = cjk_file()
    if cjk is not None:
        faces += _faces([cjk], only=_CJK_INDEX)
    return FontChain(faces + _faces(files[-len(_LAST):]))


def default_chain(extra: Sequence[str | os.PathLike[str]] = ()) -> FontChain:
    """Fonts of ``extra`` files first (a recipe's ``fonts:`` folder), then the bundled Noto
    fonts (Noto Sans first), the CJK extra if installed, symbols and emoji last."""
    return _default(tuple(os.fspath(p) for p in extra))


def fonts_digest(chain: FontChain | None = None) -> str:
    """Digest of ``chain`` (default: the bundled chain)."""
    return (chain or default_chain()).digest()


def fonts_dir(chain: FontChain | None = None) -> Path:
    """A folder holding every font of ``chain`` (default: the bundled chain), for ``fontsdir``.

    It lives in the user's cache folder (``$XDG_CACHE_HOME/vidflow``, else ``~/.cache/vidflow``;
    the temp folder if that cannot be written) under the chain's digest, so it is made once per
    machine and never changes under a running ffmpeg. It holds links, not copies, where it can.
    """
    chain = chain or default_chain()
    name = f"fonts-{chain.digest()[:16]}"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    try:
        return chain.make_fontsdir(Path(base) / "vidflow" / name)
    except OSError:  # no writable home (a locked-down CI user): the temp folder
        return chain.make_fontsdir(Path(tempfile.gettempdir()) / f"vidflow-{name}")


def reset_fonts() -> None:
    """Forget cached cmaps, digests and chains (tests that swap font files)."""
    for f in (_faces_of, _cmap, _file_digest, _default):
        f.cache_clear()


# --------------------------------------------------------------------------- direction
# Caption words (media/captions.py) and title-card runs (image.procedural) are ordered the same
# way: a word-level bidi reorder, enough for lines that mix scripts (shaping inside a word is
# libass's or raqm's job).


def text_direction(text: str) -> str | None:
    """``"R"`` if the first strong character of ``text`` is right-to-left, ``"L"`` if it is
    left-to-right, None if it has none (digits, punctuation, spaces)."""
    for ch in text:
        d = unicodedata.bidirectional(ch)
        if d == "L":
            return "L"
        if d in ("R", "AL"):
            return "R"
    return None


def visual_order(parts: Sequence[str], rtl: bool, *, neutral_follows_previous: bool = False) -> list[int]:
    """Indices of ``parts`` (words or runs, logical order) in left-to-right display order.
    Parts without a strong character take the paragraph's direction, or with
    ``neutral_follows_previous`` the direction of the part before them."""
    base = "R" if rtl else "L"
    dirs: list[str] = []
    for p in parts:
        dirs.append(text_direction(p) or (dirs[-1] if neutral_follows_previous and dirs else base))
    groups: list[list[int]] = []
    for i, d in enumerate(dirs):
        if groups and dirs[groups[-1][-1]] == d:
            groups[-1].append(i)
        else:
            groups.append([i])
    out: list[int] = []
    for g in (reversed(groups) if rtl else groups):
        out += list(reversed(g)) if dirs[g[0]] == "R" else g
    return out
