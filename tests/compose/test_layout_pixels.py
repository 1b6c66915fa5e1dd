"""Layouts from the frame, checked on decoded pixels (issue 11, must show 1).

9:16, 1:1 and 16:9 frames with casts of 1 to 4 characters are rendered by the real ffmpeg at a
small size (the layout is in fractions of the frame, so the rules are the same at 1080p). Each
sprite is a solid colour, the caption is the speaker's yellow, and the art (a 9:16 picture, as
the first compose step of a recipe would have asked for) has a caption card marked by four
cyan squares at its corners. In the first and last frame of the scene (the still zooms and
pans): sprites do not overlap, every caption pixel lies inside the safe area and off every
face, and all four corners of the art's caption card are on screen.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.media.helpers import make_tone, words_for
from vidflow.media.compose import CharacterLook, LineClip, VideoSettings, render_segment
from vidflow.media.layout import safe_area
from vidflow.media.subtitles import frame_layout

from .helpers import bbox, box_of, count, frames, mask, overlap, solid_sprite, yellowish

pytestmark = pytest.mark.ffmpeg

FRAMES = {"9:16": (270, 480), "1:1": (320, 320), "16:9": (384, 216)}
CYAN = (0, 255, 255)
# (telling, hearing) per character, far from each other, from yellow, cyan and the grey art
SPRITES = [((255, 0, 0), (255, 0, 255)), ((0, 0, 255), (0, 110, 0)),
           ((130, 0, 255), (255, 150, 200)), ((255, 110, 0), (0, 200, 90))]
SIDES = ["left", "right", "left", "right"]


def art(path: Path) -> Path:
    """A 270x480 grey picture with a light caption card where image.procedural draws its card
    (inside the CARD_KEEP box) and a 24 px cyan square in each of the card's corners."""
    w, h = 270, 480
    im = Image.new("RGB", (w, h), (110, 110, 110))
    d = ImageDraw.Draw(im)
    x0, y0, x1, y1 = round(0.10 * w), round(0.08 * h), round(0.90 * w), round(0.38 * h)
    d.rectangle([x0, y0, x1, y1], fill=(225, 225, 225))
    for cx, cy in ((x0, y0), (x1 - 24, y0), (x0, y1 - 24), (x1 - 24, y1 - 24)):
        d.rectangle([cx, cy, cx + 24, cy + 24], fill=CYAN)
    im.save(path)
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("layout")
    art(d / "art.png")
    make_tone(d / "line.wav", 0.6)
    for i, (tell, hear) in enumerate(SPRITES):
        solid_sprite(d / f"c{i}_t.png", tell)
        solid_sprite(d / f"c{i}_h.png", hear)
    return d


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", list(FRAMES))
def test_sprites_captions_and_art_fit_the_frame(inputs: Path, tmp_path: Path, shape: str, n: int):
    w, h = FRAMES[shape]
    # a large caption size (pixels of a 1920-high frame) keeps the yellow fill solid at this size
    s = VideoSettings(width=w, height=h, fps=10, subtitles="plain", font_size=150, zoom=0.06, pan=0.03)
    cast = [CharacterLook(f"C{i}", "#FFFF00" if i == 0 else "#FFFFFF", SIDES[i],
                          str(inputs / f"c{i}_t.png"), str(inputs / f"c{i}_h.png")) for i in range(n)]
    text = "Look at this sky"
    lines = [LineClip("C0", text, str(inputs / "line.wav"), 0.6, words_for(text, 0.6))]
    out = tmp_path / "seg.mp4"
    asyncio.run(render_segment(str(inputs / "art.png"), lines, cast, s, out, tmp_path / "work"))

    lay = frame_layout(cast, s)
    safe = box_of(safe_area(w, h))
    assert len(lay.sprites) == n
    shots = frames(out, w, h)
    assert len(shots) == 9  # 0.6 s + 0.3 s pause at 10 fps
    for k in (0, len(shots) - 1):
        im = shots[k]
        speaking = k * 0.1 < 0.6
        boxes = []
        for i in range(n):
            found = bbox(mask(im, SPRITES[i][0 if (i == 0 and speaking) else 1], tol=60))
            assert found is not None, (shape, n, i, k)
            placed = lay.placed(f"C{i}").box
            # the sprite is drawn in its layout box (a pixel of scaling and chroma slack)
            assert placed.x - 2 <= found[0] and found[2] <= placed.right + 2, (shape, n, i, found, placed)
            assert placed.y - 2 <= found[1] and found[3] <= placed.bottom + 2, (shape, n, i, found, placed)
            boxes.append(found)
        assert not any(overlap(a, b) for j, a in enumerate(boxes) for b in boxes[j + 1:]), (shape, n, boxes)
        if speaking:
            caption = yellowish(im)
            assert count(caption) > 30, (shape, n)  # the caption is drawn
            cb = bbox(caption)
            assert safe[0] <= cb[0] and safe[1] <= cb[1] and cb[2] <= safe[2] and cb[3] <= safe[3], (shape, n, cb, safe)
            for p in lay.sprites:
                assert count(caption, box_of(p.face)) == 0, (shape, n, p.name, cb, p.face)
        # the card's four corner squares are all on screen: one cluster per quadrant of the card
        corners = mask(im, CYAN, tol=90)
        x0, y0, x1, y1 = bbox(corners)
        # the squares span the whole card: its 216x144 shape (a crop would leave a thin strip)
        assert 1.35 <= (x1 - x0) / (y1 - y0) <= 1.65, (shape, n, k, (x0, y0, x1, y1))
        mx, my = (x0 + x1) // 2, (y0 + y1) // 2
        for q in ((x0, y0, mx, my), (mx, y0, x1, my), (x0, my, mx, y1), (mx, my, x1, y1)):
            assert count(corners, q) >= 12, (shape, n, k, q)
