"""Captions in every script (issue 11, must show 2).

Rendered by the real ffmpeg/libass with vidflow's font chain (no system fonts are involved:
libass only sees the ``fontsdir`` compose makes): Chinese, Arabic and Hindi captions draw their
own glyphs, not the missing-glyph box (two different texts give different pixels; the box
would make them identical), Arabic words run right to left, and a topic with a character no
font can draw is exit 2 at plan time naming the topic's line. Topics in those scripts get
distinct output names.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageFilter

from tests.cache.gcutil import cli
from tests.media.helpers import make_tone, words_for
from vidflow.media.compose import LineClip, VideoSettings, render_segment
from vidflow.recipe.templating import slug

from .helpers import bbox, count, frames, mask

W, H = 960, 540
# captions about 100 px high: strokes thick enough to compare shapes across renders
S = VideoSettings(width=W, height=H, fps=10, subtitles="plain", font_size=360, zoom=0, pan=0)


def caption(tmp: Path, text: str, name: str) -> Image.Image:
    """The white caption mask of a one-line scene saying ``text`` on a black still."""
    still = tmp / "black.png"
    if not still.exists():
        Image.new("RGB", (W, H), (0, 0, 0)).save(still)
        make_tone(tmp / "tone.wav", 0.2)
    ln = LineClip("Narrator", text, str(tmp / "tone.wav"), 0.2, words_for(text, 0.2))
    out = tmp / f"{name}.mp4"
    asyncio.run(render_segment(str(still), [ln], [], S, out, tmp / "work"))
    return mask(frames(out, W, H)[0], (255, 255, 255), tol=200)


def differ(a: Image.Image, b: Image.Image) -> int:
    """How much two masks differ, forgiving the sub-pixel placement of glyphs (blurred first)."""
    a, b = (m.filter(ImageFilter.GaussianBlur(2)) for m in (a, b))
    return sum(i * n for i, n in enumerate(ImageChops.difference(a, b).histogram())) // 255


pytestmark = pytest.mark.ffmpeg

SAMPLES = {"zh": ("天空蓝色", "蜜蜂酿蜜"), "ar": ("السماء زرقاء", "النحل يصنع"), "hi": ("आसमान नीला", "मधुमक्खी शहद"),
           "emoji": ("sky 🌍🐝", "sky 🚀😀")}  # emoji are drawn (Noto Emoji, monochrome)


@pytest.mark.parametrize("script", list(SAMPLES))
def test_glyphs_are_drawn_not_boxes(tmp_path: Path, script: str):
    one, two = (caption(tmp_path, t, f"{script}{i}") for i, t in enumerate(SAMPLES[script]))
    assert count(one) > 500 and count(two) > 500  # something is written
    # missing glyphs would all be the same box: two different texts would look alike
    assert differ(one, two) > 0.5 * min(count(one), count(two)), script


def test_arabic_words_run_right_to_left(tmp_path: Path):
    first, second = "السماء", "زرقاء"
    a = caption(tmp_path, first, "a")
    b = caption(tmp_path, second, "b")
    line = caption(tmp_path, f"{first} {second}", "ab")
    (ax0, _, ax1, _), (bx0, _, bx1, _), (lx0, _, lx1, _) = bbox(a), bbox(b), bbox(line)

    def shifted(word: Image.Image, x0: int, to: int) -> Image.Image:
        return ImageChops.offset(word, to - x0, 0)

    # right to left: the first word ends the line on the right, the second starts it on the left
    rtl = differ(line, ImageChops.lighter(shifted(a, ax1, lx1), shifted(b, bx0, lx0)))
    ltr = differ(line, ImageChops.lighter(shifted(a, ax0, lx0), shifted(b, bx1, lx1)))
    assert rtl < 0.35 * ltr, (rtl, ltr)


def test_topics_in_other_scripts_get_distinct_names():
    names = [slug(t) for t in ("天空为什么是蓝色的？", "لماذا السماء زرقاء؟", "आसमान नीला क्यों है?", "Why is the sky blue?")]
    assert names == ["天空为什么是蓝色的", "لماذا-السماء-زرقاء", "आसमान-नीला-क्यों-है", "why-is-the-sky-blue"]


RECIPE = """\
vidflow: 1
name: scripts
topics:
  - 天空为什么是蓝色的？
  - لماذا السماء زرقاء؟
  - आसमान नीला क्यों है?
  - {extra}
characters: [nova, pip]
providers:
  writer: {{kind: text.offline}}
  voice: {{kind: speech.espeak}}
steps:
  script: {{uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "{{{{ topic }}}}"}}
  speech: {{for_each: script.lines, uses: voice, text: "{{{{ item.text }}}}", voice: "{{{{ item.speaker }}}}"}}
  video: {{compose: vertical}}
  publish: {{to: "out/{{{{ topic | slug }}}}.mp4"}}
"""


def test_plan_accepts_every_script_and_refuses_a_character_no_font_has(project):
    (project / "recipe.yaml").write_text(RECIPE.format(extra="Emoji are fine 😀"), encoding="utf-8")
    rc, out, err = cli("plan", "recipe.yaml")
    assert rc == 0, err
    (project / "recipe.yaml").write_text(RECIPE.format(extra="Phoenician 𐤀𐤁"), encoding="utf-8")
    rc, out, err = cli("plan", "recipe.yaml")
    assert rc == 2 and "Traceback" not in err
    # the topic's own line (the fourth topic is on line 7), the character and the way out
    assert re.search(r"recipe\.yaml:7(:\d+)?: .*topic 'Phoenician 𐤀𐤁': no configured font can draw '𐤀' \(U\+10900\), '𐤁' \(U\+10901\); add a font that has them in `fonts:`", err), err


def test_a_generated_line_no_font_can_draw_fails_its_topic_naming_the_line(project):
    """The script comes from outside (``--input``) with a character no font has: that topic
    fails at compose with the line named; nothing is drawn as a box."""
    (project / "recipe.yaml").write_text(RECIPE.format(extra="Why is the sky blue?").replace("  - 天空为什么是蓝色的？\n  - لماذا السماء زرقاء؟\n  - आसमान नीला क्यों है?\n", ""), encoding="utf-8")
    doc = {"vidflow_stage": 1, "step": "script", "topics": [{"id": "why-is-the-sky-blue", "value": {
        "title": "Sky", "scenes": [{"caption": "Sky", "image_prompt": "sky"}],
        "lines": [{"speaker": "Nova", "text": "Hello sky.", "scene": 0}, {"speaker": "Pip", "text": "It says 𐤀 here.", "scene": 0}]}}]}
    (project / "doc.json").write_text(json.dumps(doc), encoding="utf-8")
    rc, out, err = cli("run", "recipe.yaml", "--input", "script=doc.json")
    assert rc == 1 and "Traceback" not in err, err
    assert "line 1 (Pip: 'It says 𐤀 here.') has '𐤀' (U+10900), which no configured font can draw" in err, err
    assert not (project / "out" / "why-is-the-sky-blue.mp4").exists()
