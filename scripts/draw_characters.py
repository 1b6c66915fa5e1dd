"""Draw the two example characters' sprites with Pillow: ``python scripts/draw_characters.py``.

Writes ``characters/{nova,pip}/{telling,hearing}.png``: RGBA, 480x600, transparent background,
deterministic (no randomness, fixed PNG settings), so re-running it changes no bytes.

* Nova (amber ``#FFB000``): a round-headed robot with antennae and a screen face; stands on the
  left, faces right.
* Pip (teal ``#2EC4B6``): a tall penguin-like bird with a tuft; stands on the right, faces left.

"telling" has an open mouth, bright eyes, a raised arm and motion marks; "hearing" has a closed
mouth, dimmer half-lidded eyes, arms down and a slight lean towards the other character.
Everything is drawn at 2x and downsampled with LANCZOS for smooth edges, with thick dark
outlines so the sprites read over any background.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

OUT_DIR = Path(__file__).resolve().parent.parent / "characters"
SIZE = (480, 600)
SCALE = 2
W, H = SIZE[0] * SCALE, SIZE[1] * SCALE
LINE = (27, 27, 47, 255)  # outline ink
OUTLINE = 18  # outline thickness at 2x (9 px in the final sprite)

Colour = tuple[int, int, int, int]
Point = tuple[float, float]
# A part draws itself grown by ``g`` pixels in ``colour``: once in ink (the outline), then filled.
Part = Callable[[ImageDraw.ImageDraw, float, Colour], None]


def rgba(code: str) -> Colour:
    return (int(code[1:3], 16), int(code[3:5], 16), int(code[5:7], 16), 255)


def ellipse(cx: float, cy: float, rx: float, ry: float) -> Part:
    return lambda d, g, c: d.ellipse((cx - rx - g, cy - ry - g, cx + rx + g, cy + ry + g), fill=c)


def rrect(x0: float, y0: float, x1: float, y1: float, r: float) -> Part:
    return lambda d, g, c: d.rounded_rectangle((x0 - g, y0 - g, x1 + g, y1 + g), r + g, fill=c)


def tilted(cx: float, cy: float, rx: float, ry: float, deg: float) -> Part:
    """An ellipse rotated by ``deg`` degrees (clockwise on screen)."""
    a = math.radians(deg)

    def draw(d: ImageDraw.ImageDraw, g: float, c: Colour) -> None:
        pts = []
        for i in range(96):
            t = 2 * math.pi * i / 96
            x, y = (rx + g) * math.cos(t), (ry + g) * math.sin(t)
            pts.append((cx + x * math.cos(a) - y * math.sin(a),
                        cy + x * math.sin(a) + y * math.cos(a)))
        d.polygon(pts, fill=c)
    return draw


def limb(p0: Point, p1: Point, thick: float) -> Part:
    """A capsule from ``p0`` to ``p1`` (an arm)."""
    def draw(d: ImageDraw.ImageDraw, g: float, c: Colour) -> None:
        r = thick / 2 + g
        d.line([p0, p1], fill=c, width=round(2 * r))
        for x, y in (p0, p1):
            d.ellipse((x - r, y - r, x + r, y + r), fill=c)
    return draw


def polygon(*pts: Point) -> Part:
    def draw(d: ImageDraw.ImageDraw, g: float, c: Colour) -> None:
        d.polygon(list(pts), fill=c)
        if g:
            d.line(list(pts) + [pts[0], pts[1]], fill=c, width=round(2 * g), joint="curve")
            for x, y in pts:
                d.ellipse((x - g, y - g, x + g, y + g), fill=c)
    return draw


def group(d: ImageDraw.ImageDraw, parts: list[tuple[Part, str]], outline: float = OUTLINE) -> None:
    """Outline the union of ``parts`` in ink, then fill each one: no lines inside the group."""
    for part, _ in parts:
        part(d, outline, LINE)
    for part, colour in parts:
        part(d, 0, rgba(colour))


def marks(d: ImageDraw.ImageDraw, centre: Point, radius: float, angles: list[float]) -> None:
    """Short motion / speech strokes radiating from ``centre``."""
    for deg in angles:
        a = math.radians(deg)
        p0 = (centre[0] + radius * math.cos(a), centre[1] + radius * math.sin(a))
        p1 = (centre[0] + (radius + 60) * math.cos(a), centre[1] + (radius + 60) * math.sin(a))
        limb(p0, p1, 16)(d, 0, LINE)


def finish(im: Image.Image, lean: float) -> Image.Image:
    """Lean the figure about its feet (degrees, positive = counter-clockwise), then downsample."""
    if lean:
        im = im.rotate(lean, resample=Image.Resampling.BICUBIC, center=(W / 2, H - 80))
    return im.resize(SIZE, Image.Resampling.LANCZOS)


# --------------------------------------------------------------------------- Nova


NOVA = "#FFB000"


def draw_nova(telling: bool) -> Image.Image:
    im = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    amber, shade = NOVA, "#E39A00"
    glow = "#FF5D73" if telling else "#B84A5C"
    group(d, [(limb((330, 730), (255, 930), 64), amber)])  # back arm, always down
    group(d, [(ellipse(375, 1090, 70, 38), shade), (ellipse(585, 1090, 70, 38), shade)])  # feet
    stalk = "#5A5A78"
    group(d, [  # antennae, body and head: one outline around the lot
        (limb((420, 215), (350, 110), 18), stalk), (limb((560, 215), (630, 110), 18), stalk),
        (ellipse(350, 104, 36, 36), glow), (ellipse(630, 104, 36, 36), glow),
        (rrect(300, 640, 660, 1080, 160), amber), (ellipse(480, 430, 255, 245), amber),
    ])
    d.arc((225, 185, 735, 675), 52, 128, fill=LINE, width=14)  # chin line over the body
    group(d, [(rrect(390, 770, 570, 960, 60), "#FFE3A3")], outline=12)  # belly panel
    d.ellipse((455, 830, 505, 880), fill=rgba(glow))
    d.ellipse((300, 250, 360, 300), fill=rgba("#FFD36B"))  # shine on the head
    group(d, [(rrect(300, 320, 700, 590, 115), "#22223A")], outline=12)  # screen face
    eye = "#8AF7FF" if telling else "#4EA9B5"
    for ex in (430, 595):  # eyes look right, towards Pip
        if telling:
            d.ellipse((ex - 40, 380, ex + 40, 480), fill=rgba(eye))
            d.ellipse((ex - 5, 395, ex + 20, 420), fill=rgba("#FFFFFF"))
        else:
            d.rounded_rectangle((ex - 38, 420, ex + 38, 466), 22, fill=rgba(eye))
            d.line([(ex - 46, 412), (ex + 46, 404)], fill=rgba("#22223A"), width=14)
    for bx in (350, 665):
        d.ellipse((bx - 26, 495, bx + 26, 525), fill=rgba("#FF7A8A" if telling else "#A8566A"))
    if telling:  # open mouth with a tongue
        d.chord((440, 470, 600, 580), 0, 180, fill=rgba(eye))
        d.chord((452, 480, 588, 568), 0, 180, fill=rgba("#0E0E1C"))
        d.chord((480, 530, 560, 580), 180, 360, fill=rgba("#FF5D73"))
    else:  # a small, closed smile
        d.arc((470, 480, 570, 540), 20, 160, fill=rgba(eye), width=12)
    if telling:  # front arm up, waving
        group(d, [(limb((640, 740), (790, 560), 64), amber), (ellipse(805, 535, 52, 52), amber)])
        marks(d, (805, 535), 85, [-80, -50, -20])
    else:
        group(d, [(limb((630, 730), (705, 930), 64), amber)])
    return finish(im, 0 if telling else -4)


# --------------------------------------------------------------------------- Pip


PIP = "#2EC4B6"


def draw_pip(telling: bool) -> Image.Image:
    im = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    teal, beak = PIP, "#FF9F1C"
    if telling:  # far flipper up, gesturing
        group(d, [(tilted(735, 520, 48, 150, 35), teal)])
    else:
        group(d, [(tilted(690, 760, 46, 150, -12), teal)])
    group(d, [(ellipse(400, 1090, 75, 36), beak), (ellipse(565, 1090, 75, 36), beak)])  # feet
    group(d, [
        (tilted(455, 190, 22, 60, -25), teal), (tilted(500, 180, 22, 66, 10), teal),
        (ellipse(480, 660, 215, 440), teal),
    ])
    group(d, [(ellipse(470, 790, 145, 280), "#FDF6E3")], outline=0)  # belly
    d.ellipse((392, 254, 452, 282), fill=rgba("#6FE0D4"))  # shine on the head
    for ex in (405, 540):  # eyes look left, towards Nova
        d.ellipse((ex - 60, 330, ex + 60, 450), fill=LINE)
        d.ellipse((ex - 50, 340, ex + 50, 440), fill=rgba("#FFFFFF"))
        d.ellipse((ex - 42, 362, ex + 6, 420), fill=rgba("#1B1B2F"))
        if telling:  # bright sparkle, eyebrows up
            d.ellipse((ex - 30, 370, ex - 10, 390), fill=rgba("#FFFFFF"))
            d.arc((ex - 50, 270, ex + 50, 330), 200, 340, fill=LINE, width=14)
        else:  # calm and attentive: a soft upper lid, brows relaxed
            d.chord((ex - 50, 340, ex + 50, 440), 215, 325, fill=rgba("#24A89C"))
            d.arc((ex - 50, 340, ex + 50, 440), 215, 325, fill=LINE, width=10)
            d.arc((ex - 46, 296, ex + 46, 336), 210, 330, fill=LINE, width=12)
    for bx in (345, 600):
        d.ellipse((bx - 28, 470, bx + 28, 500), fill=rgba("#FF8FA3" if telling else "#D98A99"))
    if telling:  # beak open: upper and lower halves apart, dark inside
        group(d, [(ellipse(470, 520, 48, 40), "#7A1F2B")], outline=10)
        group(d, [(polygon((410, 470), (530, 470), (455, 512)), beak)], outline=10)
        group(d, [(polygon((428, 540), (515, 540), (460, 585)), "#F28C0F")], outline=10)
        marks(d, (462, 520), 240, [165, 190, 215])
    else:  # beak closed
        group(d, [(polygon((412, 470), (532, 470), (462, 545)), beak)], outline=10)
        d.line([(430, 495), (505, 495)], fill=LINE, width=8)
    if not telling:  # near flipper, resting
        group(d, [(tilted(270, 760, 46, 150, 12), teal)])
    else:
        group(d, [(tilted(275, 770, 46, 150, 18), teal)])
    return finish(im, 0 if telling else 4)


def main() -> None:
    for name, draw in (("nova", draw_nova), ("pip", draw_pip)):
        folder = OUT_DIR / name
        folder.mkdir(parents=True, exist_ok=True)
        for pose, telling in (("telling", True), ("hearing", False)):
            path = folder / f"{pose}.png"
            draw(telling).save(path, format="PNG", optimize=True)
            print(f"wrote {path.relative_to(OUT_DIR.parent)}")


if __name__ == "__main__":
    main()
