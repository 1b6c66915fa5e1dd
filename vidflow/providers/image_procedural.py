"""Offline images: designed scene cards drawn with Pillow, and the placeholder card.

This module owns ``image.procedural`` (a free, deterministic stand-in for an image model) and
:func:`render_placeholder`, the card shown when an image provider failed and the step says
``on_failure: placeholder``. Both are pure functions of their arguments: same arguments, same
PNG bytes (fixed encoder settings, no metadata), so their outputs cache like any other.

A card is a palette picked from sha256(prompt, seed), a smooth gradient, soft glows, seeded
translucent shapes and a title set in the upper third of the frame (the lower half is left for
character sprites and subtitles).

Text is set in Roboto where Roboto has the characters (the cards' look) and in vidflow's
bundled font chain (:mod:`vidflow.fonts`: Noto for every script, CJK with the extra) where it
does not, run by run, so a Chinese, Arabic or Hindi title is drawn in its own glyphs, never as
missing-glyph boxes. Pillow's raqm layout (when present, as in Pillow's wheels) shapes each run
and orders right-to-left text; runs of different fonts are put in display order here.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal

from PIL import Image, ImageDraw, ImageFilter, ImageFont, features

from ..errors import BadRequestError
from ..fonts import FontChain, FontFace, default_chain, text_direction, visual_order
from .base import Capability, ImageRequest, ImageResult, Provider, ProviderOptions

__all__ = ["PALETTES", "ProceduralImage", "render_card", "render_placeholder"]

FONTS_DIR = Path(__file__).resolve().parent.parent / "media" / "fonts"
Style = Literal["bold", "soft"]
RGB = tuple[int, int, int]


def _hex(code: str) -> RGB:
    return (int(code[1:3], 16), int(code[3:5], 16), int(code[5:7], 16))


#: (three gradient stops top to bottom, three accents, plate ink). Hand-picked, all harmonious.
PALETTES: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = (
    (("#2B1055", "#7A2A8C", "#D53369"), ("#FFB88C", "#FF6F91", "#FFC75F"), "#1A0B33"),  # dusk
    (("#0F2027", "#203A43", "#2C5364"), ("#4FC3F7", "#A7FFEB", "#00B4D8"), "#07141A"),  # deep sea
    (("#134E5E", "#3F8A6E", "#71B280"), ("#D4FC79", "#96E6A1", "#F9F871"), "#0B2E37"),  # forest
    (("#12002E", "#41295A", "#6B2C91"), ("#C471ED", "#F64F59", "#12C2E9"), "#10002A"),  # grape
    (("#F7971E", "#FFB347", "#FFD200"), ("#FFFFFF", "#FF5E62", "#FF9966"), "#4A2300"),  # citrus
    (("#FF7E5F", "#FD9A6C", "#FEB47B"), ("#6A0572", "#FFFFFF", "#86E3CE"), "#3D0A2E"),  # coral
    (("#0F0C29", "#302B63", "#24243E"), ("#FF00CC", "#3F5EFB", "#FDBB2D"), "#0A0820"),  # midnight
    (("#1C6E8C", "#2193B0", "#6DD5ED"), ("#FFFFFF", "#FFD166", "#EF476F"), "#0B3345"),  # sky
)


@lru_cache(maxsize=4)
def _chain(bold: bool) -> FontChain:
    """Roboto first (the cards' look), then vidflow's bundled chain for what Roboto lacks."""
    name = "Roboto-Bold.ttf" if bold else "Roboto-Regular.ttf"
    return FontChain([FontFace(FONTS_DIR / name, 0, "Roboto"), *default_chain().faces])


@lru_cache(maxsize=256)
def _face(path: str, index: int, size: int, bold: bool) -> ImageFont.FreeTypeFont:
    font = ImageFont.truetype(path, size, index=index)
    if bold and not path.endswith("Bold.ttf"):  # a variable Noto face: its bold instance
        try:
            axes = font.get_variation_axes()
            font.set_variation_by_axes([min(max(700, a["minimum"]), a["maximum"]) if a.get("name") in (b"Weight", "Weight") else a["default"] for a in axes])
        except (OSError, KeyError):  # not a variable font, or FreeType without variations
            pass
    return font


RAQM = features.check("raqm")  # shaping and bidi inside a run; without it, RTL runs are reversed


@dataclass(frozen=True)
class _Type:
    """Text at one size in the card chain: each run in the first face that has its characters."""

    size: int
    bold: bool = True

    def runs(self, text: str) -> list[tuple[str, ImageFont.FreeTypeFont]]:
        return [(t, _face(str(f.path), f.index, self.size, self.bold)) for t, f in _chain(self.bold).runs(text)]

    def getlength(self, text: str) -> float:
        return sum(font.getlength(t) for t, font in self.runs(text))

    def draw(self, d: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, fill, *, anchor: str | None = None) -> None:
        """Like ``d.text``; a line of one face is exactly that call (Latin cards keep their bytes)."""
        runs = self.runs(text)
        if len(runs) == 1 and (RAQM or text_direction(text) != "R"):
            d.text(xy, text, font=runs[0][1], fill=fill, anchor=anchor)
            return
        x, y = xy
        if anchor == "mt":  # centred on x
            x -= self.getlength(text) / 2
        y += runs[0][1].getmetrics()[0]  # one baseline for every run: the first face's, top at y
        for t, font in _display_order(runs, text):
            if not RAQM and text_direction(t) == "R":
                t = t[::-1]
            d.text((x, y), t, font=font, fill=fill, anchor="ls")
            x += font.getlength(t)


def _display_order(runs: list[tuple[str, ImageFont.FreeTypeFont]], text: str) -> list[tuple[str, ImageFont.FreeTypeFont]]:
    """Runs of a line left to right: in a right-to-left line the runs' order is reversed, a
    left-to-right stretch inside it keeping its own order (and the converse). Runs without a
    strong character follow the run before them."""
    order = visual_order([t for t, _ in runs], text_direction(text) == "R", neutral_follows_previous=True)
    return [runs[i] for i in order]


def _font(size: int, bold: bool = True) -> _Type:
    return _Type(size, bold)


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False, compress_level=3)  # fixed: same image, same bytes
    return buf.getvalue()


def _check_size(width: int, height: int) -> None:
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise ValueError(f"image size {width}x{height} is outside 16..8192 pixels")


def _gradient(stops: list[RGB], size: tuple[int, int], angle: tuple[float, float]) -> Image.Image:
    """A multi-stop gradient along direction ``angle`` (dx, dy); made small, scaled up later."""
    (w, h), (dx, dy) = size, angle
    corners = [x * dx + y * dy for x in (0, w - 1) for y in (0, h - 1)]
    lo, span = min(corners), (max(corners) - min(corners)) or 1.0
    n = len(stops) - 1
    data: list[tuple[int, ...]] = []
    for y in range(h):
        for x in range(w):
            t = (x * dx + y * dy - lo) / span * n
            i = min(int(t), n - 1)
            a, b = stops[i], stops[i + 1]
            data.append(tuple(round(a[k] + (b[k] - a[k]) * (t - i)) for k in range(3)))
    im = Image.new("RGB", size)
    im.putdata(data)
    return im


def _vignette(im: Image.Image, strength: int) -> Image.Image:
    mask = Image.radial_gradient("L").resize((max(1, im.width // 4), max(1, im.height // 4)))
    mask = mask.resize(im.size).point(lambda v: max(0, v - 100) * strength // 155)
    return Image.composite(Image.new("RGB", im.size, (0, 0, 0)), im, mask)


@lru_cache(maxsize=8192)
def _len(font: _Type, text: str) -> float:
    return font.getlength(text)


def _wrap(text: str, font: _Type, max_w: float) -> list[str]:
    """Greedy word wrap; a word wider than a line is broken between characters."""
    lines: list[str] = []
    line: list[str] = []
    line_w, space = 0.0, _len(font, " ")
    for word in text.split():
        while _len(font, word) > max_w and len(word) > 1:
            lo, hi = 1, len(word) - 1  # binary search: the longest head that fits
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if _len(font, word[:mid]) <= max_w else (lo, mid - 1)
            lines += [" ".join(line), word[:lo]] if line else [word[:lo]]
            line, line_w, word = [], 0.0, word[lo:]
        if line and line_w + space + _len(font, word) > max_w:
            lines.append(" ".join(line))
            line, line_w = [], 0.0
        line_w += (space if line else 0.0) + _len(font, word)
        line.append(word)
    return lines + ([" ".join(line)] if line else [])


def _fit(text: str, max_w: float, max_h: float, start: int, bold: bool = True,
         max_lines: int = 4) -> tuple[_Type, list[str], int]:
    """The largest font (down from ``start``) whose wrapped text fits the box."""
    size = start
    while True:
        font = _font(size, bold)
        lines = _wrap(text, font, max_w)
        step = round(size * 1.18)
        if (len(lines) <= max_lines and step * len(lines) <= max_h) or size <= 12:
            narrow = max_w * 0.95  # balance the lines: no lone last word
            while len(lines) > 1 and len(_wrap(text, font, narrow)) == len(lines):
                lines, narrow = _wrap(text, font, narrow), narrow * 0.95
            if len(lines) > max_lines:
                lines = lines[:max_lines]
                lines[-1] = lines[-1].rstrip(".,;: ") + "…"
            return font, lines, step
        size = max(12, size - max(2, size // 12))


def _title(prompt: str) -> str:
    words = prompt.split()
    title = " ".join(words[:6])
    title = title if len(words) <= 6 else title.rstrip(".,;:!?-–—") + "…"
    return title[:1].upper() + title[1:]


def _shapes(draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int,
            accents: list[RGB], alpha: float) -> None:
    """Translucent bands, circles, rings, rounded rects and a dot grid; sizes relative to w."""
    def a(lo: int, hi: int) -> int:
        return round(rng.randint(lo, hi) * alpha)
    for _ in range(rng.randint(1, 2)):  # diagonal bands across the whole frame
        y0, thick = rng.uniform(-0.2, 0.9) * h, rng.uniform(0.05, 0.16) * h
        slope = rng.choice((-1, 1)) * rng.uniform(0.25, 0.6) * w
        draw.polygon([(0, y0), (w, y0 + slope), (w, y0 + slope + thick), (0, y0 + thick)],
                     fill=(*rng.choice(accents), a(18, 34)))
    for _ in range(rng.randint(3, 5)):  # filled circles
        r, cx, cy = rng.uniform(0.06, 0.3) * w, rng.uniform(0, 1) * w, rng.uniform(0, 1) * h
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*rng.choice(accents), a(30, 70)))
    for _ in range(rng.randint(1, 3)):  # rings
        r, cx, cy = rng.uniform(0.1, 0.35) * w, rng.uniform(0, 1) * w, rng.uniform(0, 1) * h
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(*rng.choice(accents), a(60, 110)),
                     width=max(2, round(rng.uniform(0.008, 0.02) * w)))
    for _ in range(rng.randint(1, 2)):  # rounded rects
        rw, rh = rng.uniform(0.2, 0.5) * w, rng.uniform(0.08, 0.25) * w
        x, y = rng.uniform(-0.1, 0.9) * w, rng.uniform(0.35, 1.0) * h
        draw.rounded_rectangle((x, y, x + rw, y + rh), radius=round(min(rw, rh) * 0.3),
                               fill=(*rng.choice(accents), a(25, 55)))
    step, dot = 0.035 * w, max(2, round(0.006 * w))  # a small dot grid, a designer's touch
    gx, gy = rng.uniform(0.05, 0.75) * w, rng.uniform(0.4, 0.9) * h
    colour = (*rng.choice(accents), a(90, 140))
    for x, y in ((gx + i * step, gy + j * step) for i in range(5) for j in range(5)):
        draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=colour)


def _draw_text_block(im: Image.Image, text: str, ink: RGB, accent: RGB) -> None:
    """Wrapped title on a translucent plate with a soft shadow, inside y in [10%, 35%]."""
    w, h = im.size
    top, bottom, pad_x, pad_y = 0.10 * h, 0.35 * h, round(0.05 * w), round(0.035 * w)
    bar_h = max(4, round(0.008 * w))
    font, lines, step = _fit(text, 0.80 * w - 2 * pad_x, bottom - top - 2 * pad_y - 3 * bar_h,
                             start=max(12, round(0.10 * w)))
    widths = [font.getlength(line) for line in lines]
    plate_w, plate_h = max(widths) + 2 * pad_x, step * len(lines) + 3 * bar_h + 2 * pad_y
    x0, y0 = (w - plate_w) / 2, (top + bottom) / 2 - plate_h / 2
    # Shadow and plate on a layer covering only the band, so the lower frame stays untouched.
    band = (0, round(0.05 * h), w, round(0.40 * h))
    layer = Image.new("RGBA", (w, band[3] - band[1]), (0, 0, 0, 0))
    radius, off, top = round(0.04 * w), round(0.012 * w), y0 - band[1]
    box = (round(x0), round(top + off), round(x0 + plate_w), round(top + off + plate_h))
    ImageDraw.Draw(layer).rounded_rectangle(box, radius=radius, fill=(0, 0, 0, 110))
    layer = layer.filter(ImageFilter.GaussianBlur(0.018 * w))
    box = (box[0], box[1] - off, box[2], box[3] - off)
    ImageDraw.Draw(layer).rounded_rectangle(box, radius=radius, fill=(*ink, 170))
    im.paste(Image.alpha_composite(im.crop(band).convert("RGBA"), layer).convert("RGB"), band[:2])
    d = ImageDraw.Draw(im, "RGBA")
    bar_w = round(0.12 * w)
    d.rounded_rectangle((w / 2 - bar_w / 2, y0 + pad_y, w / 2 + bar_w / 2, y0 + pad_y + bar_h),
                        radius=bar_h // 2, fill=accent)
    y = y0 + pad_y + 3 * bar_h
    shadow = max(2, round(0.004 * w))
    for line, x in zip(lines, ((w - lw) / 2 for lw in widths)):
        font.draw(d, (x + shadow, y + shadow), line, (0, 0, 0, 120))
        font.draw(d, (x, y), line, (255, 255, 255))
        y += step


def render_card(prompt: str, *, caption: str = "", seed: int | None = None, width: int = 1080,
                height: int = 1920, style: Style = "bold") -> bytes:
    """A designed scene card (PNG, RGB). Same arguments, same bytes."""
    _check_size(width, height)
    digest = hashlib.sha256(f"{prompt}\x00{seed!r}".encode()).digest()
    rng = random.Random(digest)  # palette and layout depend on prompt and seed only
    stops_hex, accents_hex, ink_hex = PALETTES[digest[0] % len(PALETTES)]
    stops, accents = [_hex(c) for c in stops_hex], [_hex(c) for c in accents_hex]
    if rng.random() < 0.5:
        stops.reverse()
    direction = rng.choice(((0.0, 1.0), (0.5, 1.0), (-0.5, 1.0), (1.0, 1.6)))
    # Background and soft glows at low resolution; they are smooth, so scaling up is free.
    sw, sh = max(8, width // 8), max(8, height // 8)
    small = _gradient(stops, (max(4, sw // 3), max(4, sh // 3)), direction)
    small = small.resize((sw, sh), Image.Resampling.BICUBIC).convert("RGBA")
    glow = Image.new("RGBA", (sw, sh), (0, 0, 0, 0))
    gd = ImageDraw.Draw(glow)
    for _ in range(2):
        r, cx, cy = rng.uniform(0.25, 0.5) * sw, rng.uniform(0, 1) * sw, rng.uniform(0, 1) * sh
        gd.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*rng.choice(accents), 110))
    small.alpha_composite(glow.filter(ImageFilter.GaussianBlur(sw * 0.12)))
    small = small.convert("RGB")
    if style == "soft":  # bokeh: shapes drawn at half size, blurred, then scaled up
        half = small.resize((width // 2, height // 2), Image.Resampling.BICUBIC)
        _shapes(ImageDraw.Draw(half, "RGBA"), rng, *half.size, accents, alpha=0.8)
        im = half.filter(ImageFilter.GaussianBlur(width * 0.006)).resize(
            (width, height), Image.Resampling.BICUBIC)
    else:  # crisp: shapes drawn at 2x and box-reduced for smooth edges
        big = small.resize((width, height), Image.Resampling.BICUBIC)
        big = big.resize((width * 2, height * 2), Image.Resampling.NEAREST)
        _shapes(ImageDraw.Draw(big, "RGBA"), rng, *big.size, accents, alpha=1.0)
        im = big.reduce(2)
    im = _vignette(im, 90 if style == "bold" else 60)
    text = caption.strip() or _title(prompt)
    if text:
        _draw_text_block(im, text, _hex(ink_hex), max(accents, key=sum))
    return _png(im)


def render_placeholder(caption: str = "", *, width: int = 1080, height: int = 1920) -> bytes:
    """The card for a failed image: grey gradient, an image glyph, "Image unavailable"."""
    _check_size(width, height)
    im = _gradient([(58, 61, 66), (40, 42, 46), (26, 27, 30)], (8, 16), (0.0, 1.0))
    im = _vignette(im.resize((width, height), Image.Resampling.BICUBIC), 70)
    # The glyph: a framed picture with a sun and two mountains, drawn at 2x.
    g = round(0.34 * width)
    tile = Image.new("RGBA", (2 * g, 2 * g), (0, 0, 0, 0))
    td, s = ImageDraw.Draw(tile), 2 * g / 100  # s: one unit of a 100-unit glyph
    light, mid = (150, 154, 160, 255), (104, 108, 114, 255)
    td.rounded_rectangle((4 * s, 14 * s, 96 * s, 86 * s), round(9 * s), None, light, round(5 * s))
    td.ellipse((64 * s, 26 * s, 80 * s, 42 * s), fill=light)
    for pts, fill in (((12, 78, 40, 40, 62, 78), light), ((46, 78, 66, 52, 88, 78), mid)):
        td.polygon([v * s for v in pts], fill=fill)
    tile = tile.resize((g, g), Image.Resampling.LANCZOS)
    im.paste(tile, (round((width - g) / 2), round(0.30 * height - g / 2)), tile)
    d = ImageDraw.Draw(im)
    y = 0.30 * height + g / 2 + 0.03 * height
    blocks = [("Image unavailable", 0.075, True, (220, 222, 226), 2)]
    if caption.strip():
        blocks.append((caption.strip(), 0.045, False, (160, 164, 170), 4))
    for text, rel, bold, ink, max_lines in blocks:
        font, lines, step = _fit(text, 0.82 * width, 0.16 * height, max(12, round(rel * width)),
                                 bold, max_lines)
        for line in lines:
            font.draw(d, (width / 2, y), line, ink, anchor="mt")
            y += step
        y += 0.015 * height
    return _png(im)


class ProceduralImage(Provider):
    """``image.procedural``: free, offline, deterministic scene cards (no model involved)."""

    kind: ClassVar[str] = "image.procedural"
    capability: ClassVar[Capability] = "image"
    version: ClassVar[str] = "2"  # 2: titles in every script (cards cached with boxes are redrawn)
    paid: ClassVar[bool] = False
    default_concurrency: ClassVar[int] = 2
    typical_latency: ClassVar[float] = 0.3

    class Options(ProviderOptions):
        style: Literal["bold", "soft"] = "bold"

    async def generate_image(self, req: ImageRequest) -> ImageResult:
        opts = self.options
        style: Style = opts.style if isinstance(opts, ProceduralImage.Options) else "bold"
        try:
            data = await asyncio.to_thread(render_card, req.prompt, caption=req.caption,
                                           seed=req.seed, width=req.width, height=req.height,
                                           style=style)
        except ValueError as exc:
            raise BadRequestError(str(exc), kind=self.kind) from exc
        return ImageResult(data=data, width=req.width, height=req.height, cost_usd=0.0,
                           model=f"{self.kind}/{style}")
