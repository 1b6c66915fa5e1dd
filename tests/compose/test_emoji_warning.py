"""Emoji no bundled font draws are left out of the captions with a warning the user sees
(issue 11, build item 4): ``vidflow plan`` warns about a topic that has one (naming the topic's
line), and ``vidflow run`` names the topic and the script line that lost it, in its output and
in the published video's manifest. The run still publishes (exit 0).

U+1FAE9 (face with bags under the eyes, Emoji 16) is newer than the bundled Noto Emoji; the
tests check that first, so they fail loudly rather than pass vacuously if the font grows it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cache.gcutil import cli
from vidflow.fonts import default_chain, is_emoji

pytestmark = pytest.mark.ffmpeg

UNDRAWN = "\U0001FAE9"  # 🫩
DRAWN = "\U0001F600"  # 😀, in Noto Emoji: drawn, no warning

RECIPE = """\
vidflow: 1
name: emoji
topics:
  - Why is the sky blue?
  - Tired of rain {undrawn}
characters: [nova, pip]
providers:
  writer: {{kind: text.offline}}
  voice: {{kind: speech.espeak}}
steps:
  script: {{uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "{{{{ topic }}}}"}}
  speech: {{for_each: script.lines, uses: voice, text: "{{{{ item.text }}}}", voice: "{{{{ item.speaker }}}}"}}
  video: {{compose: vertical, width: 360, height: 640, qa: false}}
  publish: {{to: "out/{{{{ topic | slug }}}}.mp4"}}
"""


def test_the_emoji_is_one_no_font_draws():
    chain = default_chain()
    assert is_emoji(UNDRAWN) and chain.face_for(UNDRAWN) is None
    assert chain.face_for(DRAWN) is not None


def test_plan_warns_about_a_topic_with_an_emoji_no_font_draws(project: Path):
    (project / "recipe.yaml").write_text(RECIPE.format(undrawn=UNDRAWN), encoding="utf-8")
    rc, out, err = cli("plan", "recipe.yaml")
    assert rc == 0, err
    # the topic's own line (line 5), the character, what happens to it and the way out (texts
    # as repr() shows them: Python's own Unicode data may not know an Emoji 16 character yet)
    said = (f"topic {'Tired of rain ' + UNDRAWN!r}: emoji {UNDRAWN!r} (U+1FAE9) will be left out of the captions of "
            "step `video`: no configured font draws them (add a font that has them in `fonts:`)")
    assert re.search(r"warning: recipe\.yaml:5(:\d+)?: " + re.escape(said), err), err
    assert "Why is the sky blue" not in err  # only the topic concerned


def test_plan_does_not_warn_about_emoji_the_fonts_draw(project: Path):
    (project / "recipe.yaml").write_text(RECIPE.format(undrawn=DRAWN), encoding="utf-8")
    rc, out, err = cli("plan", "recipe.yaml")
    assert rc == 0, err
    assert "emoji" not in err, err


def test_run_names_the_topic_and_the_line_that_lost_an_emoji(project: Path):
    recipe = RECIPE.format(undrawn=DRAWN).replace("  - Tired of rain 😀\n", "")
    (project / "recipe.yaml").write_text(recipe, encoding="utf-8")
    doc = {"vidflow_stage": 1, "step": "script", "topics": [{"id": "why-is-the-sky-blue", "value": {
        "title": "Sky", "scenes": [{"caption": "Sky", "image_prompt": "sky"}],
        "lines": [{"speaker": "Nova", "text": "Hello sky 😀", "scene": 0},
                  {"speaker": "Pip", "text": f"So tired {UNDRAWN} of rain", "scene": 0}]}}]}
    (project / "doc.json").write_text(json.dumps(doc), encoding="utf-8")
    rc, out, err = cli("run", "recipe.yaml", "--input", "script=doc.json", "--plain")
    assert rc == 0 and "Traceback" not in err, err
    said = (f"topic why-is-the-sky-blue: line 1 (Pip: {'So tired ' + UNDRAWN + ' of rain'!r}): emoji {UNDRAWN!r} (U+1FAE9) "
            "left out of the captions: no configured font draws them (add a font that has them in `fonts:`)")
    # once where the topic is published (progress) and once in the run's summary
    assert err.count(f"warning: {said}") == 2, err
    assert "line 0" not in err  # the drawn emoji of line 0 is no warning
    manifest = json.loads((project / "out" / "why-is-the-sky-blue.json").read_text(encoding="utf-8"))
    assert manifest["warnings"] == [said.split(": ", 1)[1]]
