"""``music:`` in a recipe: checked at load time, a folder dealt per topic, a step as the bed.

Bad values are one message naming the file, the line and the fix (exit 2 through the CLI).
Runs use the loopback-free offline writer and the silent fake voice (``qa: false``), at a tiny
frame size; the bed each topic got is read back from its manifest and checked against the file.
"""

from __future__ import annotations

import json
import math
import struct
import wave
from pathlib import Path

import pytest

from tests.engine.util import run_recipe, write
from vidflow.api import load_recipe_file
from vidflow.cli import main
from vidflow.errors import RecipeError
from vidflow.media.audio import music_digest, music_files, pick_music

RECIPE = """
vidflow: 1
name: music
topics: {topics}
characters: [nova, pip]
providers:
  writer: {{kind: text.offline}}
  voice: {{kind: speech.fake}}
steps:
  script: {{uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "Say {{{{ topic }}}}"}}
  speech: {{for_each: script.lines, uses: voice, text: "{{{{ item.text }}}}", voice: "{{{{ item.speaker }}}}"}}
{extra}  video: {{compose: vertical, width: 108, height: 192, fps: 15, preset: ultrafast, subtitles: none, qa: false, music: {music}}}
  publish: {{to: "out/{{{{ topic | slug }}}}.mp4"}}
"""


def _tone(path: Path, hz: float, seconds: float = 1.0, rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / rate))) for i in range(int(seconds * rate))))
    return path


@pytest.mark.parametrize(
    "music, setup, expected",
    [
        ("nope.mp3", None, "steps.video.music: `music: nope.mp3` is not a step, a bundled bed (`vidflow:gentle`), or a file or folder beside the recipe"),
        ("notes.txt", "file", "`music: notes.txt` is not an audio file vidflow reads (.aac, .flac"),
        ("beds", "dir", "the music folder"),
        ("vidflow:jazz", None, "no bundled music `vidflow:jazz` (bundled: vidflow:gentle)"),
        ("speech", None, "`music: speech` must name a step that makes one audio file, not a for_each step"),
    ],
)
def test_bad_music_is_one_message_with_file_and_line(project, registry, music, setup, expected):
    if setup == "file":
        (project / "notes.txt").write_text("not music")
    elif setup == "dir":
        (project / "beds").mkdir()
        (project / "beds" / "README.md").write_text("no audio here")
    recipe = write(project, RECIPE.format(topics='["a"]', extra="", music=music))
    with pytest.raises(RecipeError) as e:
        load_recipe_file(recipe, registry=registry)
    assert expected in str(e.value) and "recipe.yaml:11:118:" in str(e.value), str(e.value)


def test_bad_music_exits_2_without_traceback(project, capsys):
    recipe = write(project, RECIPE.format(topics='["a"]', extra="", music="nope.mp3").replace("speech.fake", "speech.espeak"))
    assert main(["plan", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "recipe.yaml:11:118:" in err and "nope.mp3" in err and "Traceback" not in err


def test_a_folder_deals_one_bed_per_topic_and_the_manifest_names_it(project, registry):
    beds = project / "beds"
    for n, hz in (("a.wav", 220), ("b.wav", 330), ("c.wav", 440)):
        _tone(beds / n, hz)
    (beds / "LICENSE.txt").write_text("CC0")  # ignored: not audio
    topics = ["one", "two", "three", "four"]
    recipe = write(project, RECIPE.format(topics=json.dumps(topics), extra="", music="beds"))
    result = run_recipe(recipe, registry, project)
    assert result.exit_code == 0
    for t in topics:
        want = pick_music(music_files(beds), t)
        music = json.loads((project / "out" / f"{t}.json").read_text())["music"]
        assert music == {"name": want.name, "digest": music_digest(want)}


def test_changing_the_bed_file_remixes_only_the_sound(project, registry):
    bed = _tone(project / "bed.wav", 220)
    recipe = write(project, RECIPE.format(topics='["t"]', extra="", music="bed.wav"))
    assert run_recipe(recipe, registry, project).exit_code == 0
    _tone(bed, 660)
    second = run_recipe(recipe, registry, project)
    ran = {n for n, st in second.summary.nodes.items() if st == "ran"}
    assert ran == {"t/video.audio", "t/video", "t/publish"}
    assert json.loads((project / "out" / "t.json").read_text())["music"]["digest"] == music_digest(bed)


def test_a_step_can_make_the_bed(project, registry):
    # any single-node step whose output has an audio file: here a speech step reading a line
    extra = '  bed: {uses: voice, text: "la la la", voice: nova}\n'
    recipe = write(project, RECIPE.format(topics='["t"]', extra=extra, music="bed"))
    result = run_recipe(recipe, registry, project)
    assert result.exit_code == 0
    assert "t/bed" in result.summary.nodes
    assert json.loads((project / "out" / "t.json").read_text())["music"]["name"] == "step bed"
