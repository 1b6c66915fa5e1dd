"""Casts of 1-4 characters and narrators, checked by ``vidflow plan`` (issue 11, build item 2).

A narrator (a voice and a colour, no sprites) is a valid character; a cast the frame cannot
hold is exit 2 at plan time with the recipe line to fix, before anything is paid for.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.cache.gcutil import cli

RECIPE = """\
vidflow: 1
name: cast
topics: ["Why is the sky blue?"]
characters: {cast}
providers:
  writer: {{kind: text.offline}}
  voice: {{kind: speech.espeak}}
steps:
  script: {{uses: writer, output: dialogue, lines: 4, scenes: 2, prompt: "{{{{ topic }}}}"}}
  speech: {{for_each: script.lines, uses: voice, text: "{{{{ item.text }}}}", voice: "{{{{ item.speaker }}}}"}}
  video:
    compose: vertical
{compose}  publish:
    to: "out/{{{{ topic | slug }}}}.mp4"
"""

NARRATOR = """\
name: Narrator
colour: "#FFFFFF"
voices: {espeak: en-us}
"""


def _characters(project: Path, n: int) -> list[str]:
    """``n`` drawn characters (copies of Nova with other names) and a narrator."""
    base = (project / "characters" / "nova.yaml").read_text()
    ids = []
    for i in range(n):
        ident = f"c{i}"
        (project / "characters" / f"{ident}.yaml").write_text(base.replace("name: Nova", f"name: C{i}").replace("nova/", "../characters/nova/"))
        ids.append(ident)
    (project / "characters" / "narrator.yaml").write_text(NARRATOR)
    return ids


def _write(project: Path, cast: list[str], compose: str = "") -> str:
    (project / "recipe.yaml").write_text(RECIPE.format(cast="[" + ", ".join(cast) + "]", compose=compose))
    return "recipe.yaml"


@pytest.mark.parametrize("n", [1, 4])
@pytest.mark.parametrize("frame", ["", "    width: 1080\n    height: 1080\n", "    width: 1920\n    height: 1080\n"])
def test_one_to_four_characters_and_a_narrator_plan(project, n, frame):
    cast = _characters(project, n) + ["narrator"]
    rc, out, err = cli("plan", _write(project, cast, frame))
    assert rc == 0, err
    assert "Traceback" not in err


def test_a_fifth_drawn_character_is_refused_at_the_characters_line(project):
    cast = _characters(project, 5)
    rc, out, err = cli("plan", _write(project, cast))
    assert rc == 2 and "Traceback" not in err
    assert re.search(r"recipe\.yaml:4(:\d+)?: .*5 characters with sprites: at most 4 fit on screen; make the others narrators", err), err
    # the same cast with one of them a narrator fits
    shutil.copy(project / "characters" / "narrator.yaml", project / "characters" / "c4.yaml")
    (project / "characters" / "c4.yaml").write_text(NARRATOR.replace("Narrator", "C4"))
    rc, _, err = cli("plan", "recipe.yaml")
    assert rc == 0, err


def test_a_frame_too_small_for_the_cast_names_the_compose_step(project):
    cast = _characters(project, 4)
    rc, _, err = cli("plan", _write(project, cast, "    width: 160\n    height: 160\n"))
    assert rc == 2 and "Traceback" not in err
    assert re.search(r"recipe\.yaml:\d+(:\d+)?: steps\.video.*the frame cannot hold this cast: a 160x160 frame leaves C\d's sprite \d+ px high", err), err


def test_captions_that_cannot_avoid_faces_are_refused(project):
    cast = _characters(project, 4)
    # platform UI over the top 45% leaves no room above the faces for two rows of 200 px
    compose = "    captions: {size: 200}\n    safe_area: {top: 0.45, bottom: 0.05, left: 0.05, right: 0.05}\n    width: 1920\n    height: 1080\n"
    rc, _, err = cli("plan", _write(project, cast, compose))
    assert rc == 2 and "Traceback" not in err
    assert "captions" in err and "without covering a face" in err, err
