"""Every broken recipe: exit 2, one line per problem naming file:line, no traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from vidflow.cli import main

BROKEN = REPO / "tests" / "data" / "broken"

# file -> (how many problem lines, a fragment each run must contain, the file the first names)
CASES = {
    "unknown_key.yaml": (1, "unknown key `promt`, did you mean `prompt`?", "unknown_key.yaml:10"),
    "wrong_type.yaml": (1, "steps.script.lines: Input should be a valid integer", "wrong_type.yaml:11"),
    "undefined_variable.yaml": (1, "undefined name `topc` in template; did you mean `topic`?", "undefined_variable.yaml:12"),
    "unknown_kind.yaml": (1, "unknown provider kind `speech.espeek`; did you mean `speech.espeak`?", "unknown_kind.yaml:6"),
    "cycle.yaml": (1, "steps form a cycle: outline -> draft -> outline", "cycle.yaml:8"),
    "missing_character.yaml": (1, "character `nvoa` not found", "missing_character.yaml:7"),
    "bad_topics_file.yaml": (1, "CSV header has no `topic` column", "topics_no_column.csv:1"),
    "bad_topics_jsonl.yaml": (2, "invalid JSON", "topics_bad.jsonl:2"),
    "empty_topics.yaml": (1, "no topics", "empty_topics.yaml:3"),
    "bad_rate.yaml": (1, "rate 'six per minute' is not N/period; write e.g. `6/min`", "bad_rate.yaml:5"),
    "for_each_not_a_list.yaml": (2, "for_each over `script.title`, which is text, not a list", "for_each_not_a_list.yaml:14"),
    "unknown_provider.yaml": (1, "`uses: writter` names no provider; did you mean `writer`?", "unknown_provider.yaml:9"),
    "yaml_syntax.yaml": (1, "YAML syntax error", "yaml_syntax.yaml:4"),
    "bad_character.yaml": (2, "colour 'orange' is not #RRGGBB", "badcolour.yaml:2"),
    "several_problems.yaml": (4, "did you mean `style`?", "several_problems.yaml:5"),
    "missing_sprite.yaml": (2, "sprite nosprite/telling.png not found", "nosprite.yaml:5"),
    "missing_voice.yaml": (1, "character `novoice` has no voice for `espeak`", "novoice.yaml:3"),
    # an image request has no place for params: they were accepted and silently dropped
    "image_params.yaml": (1, "an image step passes no `params:` to its provider", "image_params.yaml:14"),
    # it failed every line at run time, after the script was paid for
    # each was hidden by the name templates already have (the step's output, the review note, the cast)
    "shadowed_variable.yaml": (3, "vars.script: `script` is a step of this recipe: templates see the step's output under that name, never this variable", "shadowed_variable.yaml:4"),
    "speech_param_range.yaml": (1, "steps.speech.params.rate: must be a whole number from 80 to 450, got 1000 (read by `speech.espeak`", "speech_param_range.yaml:15"),
}

LINE = re.compile(r"^error: (?P<file>[^:]+):(?P<line>\d+)(:\d+)?: .+")


def test_there_are_at_least_ten_broken_recipes():
    assert len(list(BROKEN.glob("*.yaml"))) >= 10
    assert set(CASES) == {p.name for p in BROKEN.glob("*.yaml")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_recipe_exits_2_with_one_line_per_problem(name, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    count, fragment, first_at = CASES[name]
    rc = main(["plan", str((BROKEN / name).relative_to(REPO))])
    out, err = capsys.readouterr()
    assert rc == 2
    assert "Traceback" not in err and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == count, lines
    for line in lines:
        m = LINE.match(line)
        assert m, f"not file:line: {line}"
        assert Path(REPO / m["file"]).exists()
    assert fragment in err
    assert first_at in lines[0]


def test_broken_recipe_in_a_real_process_prints_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "vidflow", "run", "tests/data/broken/cycle.yaml"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: tests/data/broken/cycle.yaml:8:3: ")


def test_bad_cli_flags_exit_2(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["run", "recipes/quickstart.yaml", "--refresh", "scirpt"]) == 2
    assert "--refresh scirpt: no such step" in capsys.readouterr().err
    assert main(["plan", "recipes/quickstart.yaml", "--only", "nope"]) == 2
    assert "--only nope: no such topic" in capsys.readouterr().err
    assert main(["plan", "recipes/quickstart.yaml", "--limit", "0"]) == 2
    assert main(["plan", "does/not/exist.yaml"]) == 2
    assert "does/not/exist.yaml: recipe file not found" in capsys.readouterr().err


PARAMS = """vidflow: 1
name: params
topics: ["Why is the sky blue?"]
characters: [nova, pip]
providers:
  writer: {kind: text.offline}
  voice: {kind: speech.espeak}
  mover: {kind: video.procedural}
steps:
  script: {uses: writer, output: dialogue, prompt: "Explain {{ topic }}", params: {temperature: 0.2}}
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}", params: {rate: 190%(speech)s}}
  clip: {for_each: script.scenes, uses: mover, prompt: "{{ item.image_prompt }}"%(clip)s}
"""


def test_params_on_a_video_step_are_an_error_and_on_text_and_speech_steps_are_passed(project, capsys):
    """`params:` is refused where the request cannot carry it (video), kept where it can."""
    (project / "recipe.yaml").write_text(PARAMS % {"speech": "", "clip": ""})
    assert main(["plan", "recipe.yaml"]) == 0, capsys.readouterr().err
    assert "warning" not in capsys.readouterr().err  # each param is read by its provider
    (project / "recipe.yaml").write_text(PARAMS % {"speech": "", "clip": ", params: {fps: 30}"})
    assert main(["plan", "recipe.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: recipe.yaml:12:") and "a video step passes no `params:`" in err and "Traceback" not in err


def test_a_param_the_provider_does_not_read_is_a_plan_warning_naming_the_line(project, capsys):
    """espeak's `gap_ms` is a provider option, not a step param: it was dropped without a word.
    A warning, not an error: a recipe may keep params for a provider it switches back to."""
    (project / "recipe.yaml").write_text(PARAMS % {"speech": ", gap_ms: 40", "clip": ""})
    assert main(["plan", "recipe.yaml"]) == 0
    warnings = [w for w in capsys.readouterr().err.splitlines() if w.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: recipe.yaml:11:"), warnings
    assert warnings[0].endswith(": steps.speech.params.gap_ms: `speech.espeak` (provider `voice`) does not read `gap_ms` and ignores it "
                                "(params it reads: `pitch`, `rate`; its own options go under `providers.voice`, docs/providers.md)")
    assert main(["run", "recipe.yaml", "--until", "speech"]) == 0  # a run says it first too, and goes on
    assert [w for w in capsys.readouterr().err.splitlines() if w.startswith("warning:")] == warnings


@pytest.mark.parametrize("name", ["Pip", "pip", "PIP"])
def test_two_characters_answering_to_the_same_speaker_name(project, capsys, name):
    """A copy of Nova named `Pip` loaded: dialogue lines find their speaker by name or id, so
    both characters' lines got one voice and one sprite, silently."""
    nova = (project / "characters" / "nova.yaml").read_text()
    (project / "characters" / "twin.yaml").write_text(nova.replace("name: Nova", f"name: {name}"))
    (project / "recipe.yaml").write_text(PARAMS.replace("[nova, pip]", "[twin, pip]") % {"speech": "", "clip": ""})
    assert main(["plan", "recipe.yaml"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"error: characters/twin.yaml:1:7: name: character `twin` is named `{name}`, and `pip` also answers to `pip` (dialogue lines find "
                     "their speaker by name or id): their lines would share one voice and sprite; give `twin` another name"]


@pytest.mark.parametrize("kind", ["device", "pipe"])
def test_a_sprite_that_is_not_a_file_is_refused_not_read(project, capsys, kind):
    """A sprite linked to /dev/zero was read until the kernel killed vidflow (exit 137); a sprite
    that was a named pipe hung `vidflow plan` for good."""
    sprite = project / "characters" / "nova" / "telling.png"
    sprite.unlink()
    if kind == "device":
        sprite.symlink_to("/dev/zero")
    else:
        os.mkfifo(sprite)
    (project / "recipe.yaml").write_text(PARAMS % {"speech": "", "clip": ""})
    assert main(["plan", "recipe.yaml"]) == 2
    what = {"device": "a device", "pipe": "a named pipe"}[kind]
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: characters/nova.yaml:10:12: sprites.telling: nova/telling.png: sprite file is {what}, not a regular file; give the path of a sprite file"]
