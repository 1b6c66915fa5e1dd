"""image.procedural title cards in every script: Chinese, Arabic and Hindi titles are drawn in
their own glyphs, not the missing-glyph box, and an Arabic title reads right to left.

How a box is told from a glyph, by pixels: every character no font has is drawn as the same
``.notdef`` box, so a title of N such characters (Phoenician, which no bundled font has) gives
the same card whatever the characters are. A title drawn as boxes would therefore look exactly
like that card; one drawn in its own glyphs does not, and two different titles differ.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageStat

from vidflow.fonts import default_chain
from vidflow.providers.image_procedural import render_card

W, H = 360, 640
BOXES = "".join(chr(0x10900 + i) for i in range(8))  # Phoenician letters: no bundled font has them


def card(caption: str, width: int = W, height: int = H) -> Image.Image:
    return Image.open(io.BytesIO(render_card("sky", caption=caption, seed=1, width=width, height=height))).convert("RGB")


def changed(a: Image.Image, b: Image.Image) -> float:
    """Share of pixels that differ clearly (more than 24 of 255 in some channel)."""
    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > 24 else 0)
    return ImageStat.Stat(diff).mean[0] / 255


def test_characters_no_font_has_all_look_the_same():
    """The premise: boxes do not depend on the characters (so a boxed title is detectable)."""
    assert all(default_chain().face_for(c) is None for c in BOXES)
    assert changed(card(BOXES[:4]), card(BOXES[4:])) == 0


@pytest.mark.parametrize("one, two", [("天空蓝色", "蜜蜂酿蜜"), ("السماء", "زرقاء"), ("आसमान", "मधुमक्खी")], ids=["zh", "ar", "hi"])
def test_titles_in_other_scripts_are_glyphs_not_boxes(one: str, two: str):
    first, second = card(one), card(two)
    for text, im in ((one, first), (two, second)):
        assert changed(im, card(BOXES[: len(text)])) > 0.003, f"{text!r} is drawn as missing-glyph boxes"
    assert changed(first, second) > 0.003  # and two titles differ: something is written


def _white(im: Image.Image) -> Image.Image:
    """The title's pixels (it is drawn in pure white)."""
    return im.convert("L").point(lambda v: 255 if v >= 250 else 0)


def _columns(mask: Image.Image) -> list[bool]:
    w, h = mask.size
    px = mask.load()
    return [any(px[x, y] for y in range(h)) for x in range(w)]


def _width(mask: Image.Image) -> int:
    box = mask.getbbox()
    assert box, "no title drawn"
    return box[2] - box[0]


def test_an_arabic_title_reads_right_to_left():
    """"بيت الشمس" on one line: the first word (بيت, the narrower) ends the line on the right."""
    first, second = "بيت", "الشمس"
    wa, wb = _width(_white(card(first, 720, 1280))), _width(_white(card(second, 720, 1280)))
    assert abs(wa - wb) > 40  # the words are told apart by width
    line = _white(card(f"{first} {second}", 720, 1280))
    cols = _columns(line)
    x0, _, x1, _ = line.getbbox()
    # the space between the words: the widest run of empty columns inside the line
    gaps, start = [], None
    for x in range(x0, x1 + 1):
        if not cols[x] and start is None:
            start = x
        elif cols[x] and start is not None:
            gaps.append((x - start, start, x))
            start = None
    _, gap_start, gap_end = max(gaps)
    left, right = gap_start - x0, x1 - gap_end
    assert abs(right - wa) <= 6 and abs(left - wb) <= 6, (left, right, wa, wb)
