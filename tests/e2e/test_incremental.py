"""Incremental re-runs with the real providers and ffmpeg; placeholders for failed images."""

from __future__ import annotations

import json

import pytest

from tests.engine.util import ran, run_recipe, write
from tests.fakes import FakeClock
from vidflow.media.probe import probe

pytestmark = [pytest.mark.ffmpeg]

RECIPE = """
vidflow: 1
name: incremental
topics: ["Why do cats purr?"]
characters: [nova, pip]
providers:
  writer: {kind: text.offline}
  voice: {kind: speech.espeak}
  painter: {kind: %(painter)s}
steps:
  script:
    uses: writer
    output: dialogue
    lines: 4
    scenes: 2
    prompt: "Explain {{ topic }}"
  speech:
    for_each: script.lines
    uses: voice
    text: "{{ item.text }}"
    voice: "{{ item.speaker }}"
  art:
    for_each: script.scenes
    uses: painter
    prompt: "{{ item.image_prompt }}"
    caption: "{{ item.caption }}"
    %(on_failure)s
  video:
    compose: vertical
    width: 540
    height: 960
    preset: ultrafast
  publish:
    to: "out/{{ topic | slug }}.mp4"
"""


def test_changing_one_line_revoices_one_line_and_reencodes_one_scene(project, registry, calls):
    recipe = write(project, RECIPE % {"painter": "image.procedural", "on_failure": ""})
    first = run_recipe(recipe, registry, project)
    assert first.exit_code == 0
    manifest = json.loads((project / "out" / "why-do-cats-purr.json").read_text())
    lines = [(s["scene"], l) for s in manifest["scenes"] for l in s["lines"]]
    # the offline writer opens line 1 with the speaker's catchphrase: change that one phrase
    import yaml

    chars = {yaml.safe_load(p.read_text())["name"]: p for p in (project / "characters").glob("*.yaml")}
    idx, (scene, line) = next((i, sl) for i, sl in enumerate(lines) if any(c in sl[1]["text"] for c in yaml.safe_load(chars[sl[1]["speaker"]].read_text())["catchphrases"]))
    path = chars[line["speaker"]]
    phrase = next(c for c in yaml.safe_load(path.read_text())["catchphrases"] if c in line["text"])
    path.write_text(path.read_text().replace(phrase, "Here is a brand new catchphrase."))
    second = run_recipe(recipe, registry, project)
    assert second.exit_code == 0
    t = "why-do-cats-purr"
    # one voice line, the one scene segment holding it, then the audio track, the final mux
    # (and its measurement), the QA check of the new video
    assert ran(second) == {f"{t}/script", f"{t}/speech[{idx}]", f"{t}/video.scene[{scene}]", f"{t}/video.audio", f"{t}/video", f"{t}/video.qa", f"{t}/publish"}
    after = json.loads((project / "out" / f"{t}.json").read_text())
    new_lines = [l["text"] for s in after["scenes"] for l in s["lines"]]
    assert "Here is a brand new catchphrase." in new_lines[idx]
    assert [l for i, l in enumerate(new_lines) if i != idx] == [l["text"] for i, (_, l) in enumerate(lines) if i != idx]


def test_failed_image_with_placeholder_still_makes_a_complete_video(project, registry, calls):
    recipe = write(project, RECIPE % {"painter": "image.failing", "on_failure": "on_failure: placeholder"})
    result = run_recipe(recipe, registry, project, clock=FakeClock())
    assert result.exit_code == 0
    t = "why-do-cats-purr"
    assert sorted(result.summary.placeholders) == [f"{t}/art[0]", f"{t}/art[1]"]
    video = project / "out" / f"{t}.mp4"
    info = probe(video)
    assert {s.type for s in info.streams} == {"video", "audio"}
    manifest = json.loads((project / "out" / f"{t}.json").read_text())
    assert manifest["placeholders"] == [f"{t}/art[0]", f"{t}/art[1]"]
    # transient failures were retried before giving up on the image
    from vidflow.run.retry import RetryPolicy

    tries = RetryPolicy().attempts
    assert sum(1 for k, _ in calls if k == "image.failing") == 2 * tries
    # placeholders are not cached: the next run asks the provider again
    calls.clear()
    again = run_recipe(recipe, registry, project, clock=FakeClock())
    assert sum(1 for k, _ in calls if k == "image.failing") == 2 * tries and again.exit_code == 0


def test_failed_image_without_placeholder_fails_only_that_topic(project, registry, calls):
    text = RECIPE % {"painter": "image.failing", "on_failure": ""}
    text = text.replace('topics: ["Why do cats purr?"]', 'topics: ["Why do cats purr?"]\nvars: {}')
    recipe = write(project, text)
    result = run_recipe(recipe, registry, project, clock=FakeClock())
    assert result.exit_code == 1
    assert result.summary.topics["why-do-cats-purr"]["status"] == "failed"
    assert not (project / "out" / "why-do-cats-purr.mp4").exists()
    assert {f["node"] for f in result.summary.failures} == {"why-do-cats-purr/art[0]", "why-do-cats-purr/art[1]"}
