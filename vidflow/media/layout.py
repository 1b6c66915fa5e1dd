"""Where everything goes in a frame, by rules: safe area, sprites, faces, captions, art. Pure.

Every number is a fraction of the frame, so 1080x1920, 1080x1080, 1920x1080 and any other size
are laid out by the same rules:

* **Safe area** (what platform UI never covers). Portrait frames (height >= 1.5 x width: TikTok,
  Reels, Shorts) keep 8% free at the top (status and search bar), 20% at the bottom (the
  description, sound and progress bar) and 14% on the right (like, comment and share buttons),
  5% on the left: the union of the three platforms' published safe-zone templates, rounded up.
  Other frames use EBU R 95's graphics-safe area: 5% on every side.
* **Sprites**: one slot per drawn character (at most :data:`MAX_ON_SCREEN`), side by side inside
  the safe area's width with a 3% gap; a sprite is at most 40% of the width and 42% of the
  height. A character's ``side`` is a preference: ``left`` takes the leftmost free slot,
  ``right`` the rightmost, ``center`` the middle one, the rest fill in in cast order. A sprite
  stands at 97% of the height unless its face would then be under the bottom UI; it is raised
  until the face is inside the safe area. The **face** is the top 55% of a sprite's box (the
  head of a standing character drawn like the bundled ones).
* **Captions**: a box as wide as the safe area, ``caption_h`` high, never over a face. At the
  bottom it sits as low as it can; if faces are in the way, it moves to the widest face-free
  span (at least 60% of the safe width) or above the faces. ``center`` centres it in the safe
  area (then moves it off faces), ``top`` puts it at the safe area's top.
* **Art**: scaled to cover the frame and cropped, but never past its ``keep`` box (where the
  image's own caption card is); when cover would cut into it, the image is shown whole over a
  blurred copy of itself. Motion (zoom and pan) never leaves the keep box either.

A layout that cannot hold the cast (too many characters, a frame too small) raises
:class:`LayoutError` naming what does not fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import MediaError
from .timeline import CARD_KEEP

__all__ = [
    "ArtFit",
    "Box",
    "CastMember",
    "Layout",
    "LayoutError",
    "MAX_ON_SCREEN",
    "Placed",
    "Window",
    "fit_art",
    "layout",
    "motion_window",
    "safe_area",
]

MAX_ON_SCREEN = 4
PORTRAIT_MARGINS = (0.08, 0.20, 0.05, 0.14)  # top, bottom, left, right
EBU_MARGINS = (0.05, 0.05, 0.05, 0.05)
SPRITE_MAX_W, SPRITE_MAX_H = 0.40, 0.42  # of the frame width / height
SPRITE_GAP = 0.03  # between sprites, of the width
SPRITE_BOTTOM = 0.97  # of the height
FACE = 0.55  # top part of a sprite box that captions must not cover
MIN_SPRITE_PX = 48  # a sprite shorter than this is not a character any more
CAPTION_GAP = 0.01  # between a caption box and a face, of the height
MIN_SPAN = 0.6  # a caption between faces needs at least this part of the safe width
Position = Literal["bottom", "center", "top"]


class LayoutError(MediaError):
    """The cast or the captions do not fit the frame."""


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    def intersects(self, o: Box) -> bool:
        return self.x < o.right and o.x < self.right and self.y < o.bottom and o.y < self.bottom

    def contains(self, o: Box) -> bool:
        return self.x <= o.x and self.y <= o.y and o.right <= self.right and o.bottom <= self.bottom


@dataclass(frozen=True)
class CastMember:
    """A character as layout sees it: ``sprite`` is the telling sprite's (width, height) in
    pixels, None for a narrator (never drawn)."""

    name: str
    side: str | None = None
    sprite: tuple[int, int] | None = None


@dataclass(frozen=True)
class Placed:
    name: str
    box: Box  # the sprite, scaled, in frame pixels
    face: Box  # its top FACE part


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    safe: Box
    sprites: tuple[Placed, ...]
    caption: Box

    def placed(self, name: str) -> Placed | None:
        return next((p for p in self.sprites if p.name == name), None)


def safe_area(width: int, height: int, margins: Sequence[float] | None = None) -> Box:
    """The part of the frame no platform UI covers (see the module docstring)."""
    top, bottom, left, right = margins or (PORTRAIT_MARGINS if height >= 1.5 * width else EBU_MARGINS)
    x, y = round(width * left), round(height * top)
    return Box(x, y, width - round(width * right) - x, height - round(height * bottom) - y)


def _slots(n: int, cast: Sequence[CastMember]) -> list[int]:
    """Slot index (0 = leftmost) per drawn character, by side preference then cast order."""
    free, out = list(range(n)), {}
    for want in ("left", "right", "center"):
        for i, c in enumerate(cast):
            if c.side == want and free:
                pick = free[0] if want == "left" else free[-1] if want == "right" else free[(len(free) - 1) // 2]
                out[i] = pick
                free.remove(pick)
    for i in range(len(cast)):
        if i not in out:
            out[i] = free.pop(0)
    return [out[i] for i in range(len(cast))]


def _place_sprites(width: int, height: int, safe: Box, drawn: Sequence[CastMember]) -> list[Placed]:
    n = len(drawn)
    if n == 0:
        return []
    gap = round(width * SPRITE_GAP)
    slot_w = (safe.w - (n - 1) * gap) / n
    boxes = []
    for c in drawn:
        sw, sh = c.sprite  # type: ignore[misc]
        w = min(slot_w, width * SPRITE_MAX_W, height * SPRITE_MAX_H * sw / sh)
        w = max(2, 2 * math.floor(w / 2))
        h = max(2, 2 * round(w * sh / sw / 2))
        if h < MIN_SPRITE_PX:
            raise LayoutError(f"a {width}x{height} frame leaves {c.name}'s sprite {h} px high "
                              f"(at least {MIN_SPRITE_PX}); use a larger frame or fewer characters")
        boxes.append((w, h))
    slots = _slots(n, drawn)
    out = []
    for c, (w, h), slot in zip(drawn, boxes, slots):
        if n == 1:
            pos = {"left": safe.x, "right": safe.right - w}.get(c.side or "", safe.x + (safe.w - w) // 2)
        else:
            centre = safe.x + slot_w / 2 + slot * (slot_w + gap)
            pos = round(centre - w / 2)
        bottom = min(round(height * SPRITE_BOTTOM), safe.bottom + math.floor(h * (1 - FACE)))
        box = Box(pos, bottom - h, w, h)
        out.append(Placed(c.name, box, Box(box.x, box.y, w, math.ceil(h * FACE))))
    return out


def _free_span(safe: Box, y: int, h: int, faces: Sequence[Box]) -> Box | None:
    """The widest part of the safe width at rows [y, y+h) that no face touches."""
    band = Box(safe.x, y, safe.w, h)
    cuts = sorted((f.x, f.right) for f in faces if f.intersects(band))
    best, left = None, safe.x
    for a, b in cuts + [(safe.right, safe.right)]:
        if a - left > (best.w if best else 0):
            best = Box(left, y, a - left, h)
        left = max(left, b)
    return best


def _caption_box(safe: Box, height: int, faces: Sequence[Box], caption_h: int, position: Position) -> Box | None:
    gap = max(1, round(height * CAPTION_GAP))
    bottoms = sorted({safe.bottom, *(f.y - gap for f in faces)}, reverse=True)
    if position == "top":
        bottoms = [safe.y + caption_h]
    elif position == "center":
        centre = safe.y + (safe.h + caption_h) // 2
        bottoms = sorted({min(centre, b) for b in bottoms}, key=lambda b: abs(b - centre))
    for b in bottoms:
        y = b - caption_h
        if y < safe.y or b > safe.bottom:
            continue
        span = _free_span(safe, y, caption_h, faces)
        if span is not None and (span.w == safe.w or span.w >= safe.w * MIN_SPAN):
            return span
    return None


def layout(width: int, height: int, cast: Sequence[CastMember], *, caption_h: int,
           position: Position = "bottom", margins: Sequence[float] | None = None) -> Layout:
    """Lay out a frame for ``cast`` (narrators, with no sprite, take no place) and a caption box
    ``caption_h`` pixels high. Raises :class:`LayoutError` if it cannot fit."""
    drawn = [c for c in cast if c.sprite is not None]
    if len(drawn) > MAX_ON_SCREEN:
        raise LayoutError(f"{len(drawn)} characters with sprites: at most {MAX_ON_SCREEN} fit on screen; "
                          "make the others narrators (no sprites) or leave them out")
    safe = safe_area(width, height, margins)
    sprites = _place_sprites(width, height, safe, drawn)
    box = _caption_box(safe, height, [p.face for p in sprites], caption_h, position)
    if box is None:
        raise LayoutError(f"captions {caption_h} px high do not fit in a {width}x{height} frame "
                          f"at the {position} without covering a face; use a smaller caption size, "
                          "another position or fewer characters")
    return Layout(width, height, safe, tuple(sprites), box)


@dataclass(frozen=True)
class ArtFit:
    """How an image (or clip) fills the frame. ``mode`` cover: scaled to ``size`` and cropped
    at ``offset``; contain: scaled to ``size`` and placed at ``offset`` over a blurred cover
    copy. ``keep`` is the part of the frame that holds the image's keep box."""

    mode: Literal["cover", "contain"]
    size: tuple[int, int]
    offset: tuple[int, int]
    keep: Box


def _even(x: float) -> int:
    return max(2, 2 * math.ceil(x / 2 - 1e-9))


def fit_art(iw: int, ih: int, width: int, height: int, keep: Sequence[float] = CARD_KEEP) -> ArtFit:
    """Fit an ``iw`` x ``ih`` image to the frame; ``keep`` = (x0, y0, x1, y1), fractions of the
    image that must stay visible (its caption card)."""
    if iw <= 0 or ih <= 0:
        raise MediaError(f"an image must have a size, got {iw}x{ih}")
    s = max(width / iw, height / ih)
    sw, sh = max(width, _even(iw * s)), max(height, _even(ih * s))
    kx0, ky0, kx1, ky1 = keep[0] * sw, keep[1] * sh, keep[2] * sw, keep[3] * sh
    if kx1 - kx0 <= width and ky1 - ky0 <= height:
        cx = min(max((sw - width) // 2, math.ceil(kx1 - width)), math.floor(kx0))
        cy = min(max((sh - height) // 2, math.ceil(ky1 - height)), math.floor(ky0))
        cx, cy = min(max(0, cx), sw - width), min(max(0, cy), sh - height)
        kb = Box(math.floor(kx0) - cx, math.floor(ky0) - cy, math.ceil(kx1 - kx0), math.ceil(ky1 - ky0))
        return ArtFit("cover", (sw, sh), (cx, cy), kb)
    s = min(width / iw, height / ih)
    sw, sh = min(width, _even(iw * s)), min(height, _even(ih * s))
    ox, oy = (width - sw) // 2, (height - sh) // 2
    kb = Box(ox + math.floor(keep[0] * sw), oy + math.floor(keep[1] * sh),
             math.ceil((keep[2] - keep[0]) * sw), math.ceil((keep[3] - keep[1]) * sh))
    return ArtFit("contain", (sw, sh), (ox, oy), kb)


@dataclass(frozen=True)
class Window:
    """The visible part of the fitted frame at the end of a scene's motion (it starts whole)."""

    x: int
    y: int
    w: int
    h: int


_PANS = ((1, 0), (-1, 0), (0, -1), (0, 1))  # scene 0 drifts right, 1 left, 2 up, 3 down, ...


def motion_window(width: int, height: int, keep: Box, zoom: float, pan: float, scene: int) -> Window:
    """Where a still's slow zoom and pan end: zoomed in by ``zoom`` (0.06 = 6%), moved by
    ``pan`` of the frame in a direction that changes with ``scene``, never losing ``keep``."""
    limit = min(width / max(1, keep.w), height / max(1, keep.h)) - 1
    z = max(0.0, min(zoom, limit))
    w, h = _even(width / (1 + z)), _even(height / (1 + z))
    w, h = min(width, max(w, keep.w)), min(height, max(h, keep.h))
    dx, dy = _PANS[scene % len(_PANS)]
    x = (width - w) / 2 + dx * pan * width
    y = (height - h) / 2 + dy * pan * height
    x = min(max(x, keep.right - w, 0), keep.x, width - w)
    y = min(max(y, keep.bottom - h, 0), keep.y, height - h)
    return Window(round(max(0, x)), round(max(0, y)), w, h)
