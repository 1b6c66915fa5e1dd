"""Selective regeneration (``--refresh art[2] --only T``) and edits that stick (``--input`` pins)."""

from __future__ import annotations

import asyncio
import io
import json
import sys

import pytest

from tests.engine.util import project_settings, ran, run_recipe, write
from tests.fakes import FakeImage
from vidflow.api import load_recipe_file, run, select_topics
from vidflow.cli import main
from vidflow.plan.refresh import parse_refresh

RECIPE = """
vidflow: 1
name: refresh
topics: ["Why is the sky blue?", "How do bees make honey?"]
characters: [nova, pip]
providers:
  writer: {kind: text.fake}
  voice: {kind: speech.fake}
  painter: {kind: image.fake}
steps:
  script: {uses: writer, output: json, prompt: "Facts about {{ topic }}"}
  art: {for_each: script.items, uses: painter, prompt: "{{ item }}"}
  caption: {for_each: art, uses: writer, prompt: "Describe an image {{ item.width }} wide about {{ topic }} ({{ index }})"}
  speech: {for_each: script.items, uses: voice, text: "{{ item }}", voice: nova}
"""
T = "how-do-bees-make-honey"


class SampledImage(FakeImage):
    """An image model that samples: every call gives another picture (a refresh is a new sample)."""

    kind = "image.sampled"
    n = 0

    async def generate_image(self, req):
        from PIL import Image

        res = await super().generate_image(req)
        type(self).n += 1
        buf = io.BytesIO()
        Image.new("RGB", (req.width, req.height), (type(self).n * 40 % 256, 80, 120)).save(buf, "PNG")
        res.data, res.media_type, res.extension = buf.getvalue(), "image/png", "png"
        return res


COMPOSED = """
vidflow: 1
name: refresh-composed
topics: ["Why is the sky blue?", "How do bees make honey?"]
characters: [nova, pip]
providers:
  writer: {kind: text.fake}
  voice: {kind: speech.fake}
  painter: {kind: image.sampled}
steps:
  script: {uses: writer, output: dialogue, lines: 4, prompt: "Explain {{ topic }}"}
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
  art: {for_each: script.scenes, uses: painter, prompt: "{{ item.image_prompt }}"}
  video: {compose: vertical, width: 180, height: 320, preset: ultrafast, pause: 0.1}
  publish: {to: "out/{{ topic | slug }}.mp4"}
"""


@pytest.mark.ffmpeg
def test_refresh_one_item_of_one_topic_makes_exactly_it_and_what_depends_on_it(project, registry, calls):
    registry.register(SampledImage.kind, SampledImage)
    path = write(project, COMPOSED)
    assert run_recipe(path, registry, project).exit_code == 0
    calls.clear()
    loaded = select_topics(load_recipe_file(path, registry=registry), only=[T])
    result = asyncio.run(run(loaded, settings=project_settings(project), output_root=str(project), refresh=parse_refresh(["art[1]"], loaded.steps)))
    assert result.exit_code == 0
    # the new image, the scene it is drawn in, the video joining the scenes, its publication
    assert ran(result) == {f"{T}/art[1]", f"{T}/video.scene[1]", f"{T}/video", f"{T}/publish"}
    assert [k for k, _ in calls] == ["image.sampled"]


def test_refresh_specs_are_checked(project, registry, capsys, monkeypatch):
    import vidflow.api as api

    monkeypatch.setattr(api, "default_registry", lambda: registry)
    write(project, RECIPE)
    for spec, fragment in (("art[x]", "write STEP, STEP[N] or STEP[A:B]"), ("script[1]", "has no items"), ("nope", "no such step"), ("art[3:1]", "range is empty")):
        assert main(["plan", "recipe.yaml", "--refresh", spec]) == 2, spec
        assert fragment in capsys.readouterr().err, spec


def test_an_imported_edit_survives_a_following_plain_run_until_unpinned(project, registry, calls, capsys, monkeypatch):
    import vidflow.api as api

    monkeypatch.setattr(api, "default_registry", lambda: registry)
    write(project, RECIPE)
    cache = ["--cache", str(project / "cache")]
    assert main(["run", "recipe.yaml", *cache, "--until", "script", "--emit", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    doc["topics"][1]["value"] = {"items": ["hand-written fact"], "title": "edited"}
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(doc)))
    assert main(["run", "recipe.yaml", *cache, "--input", "script=-", "--json"]) == 0
    capsys.readouterr()
    calls.clear()
    assert main(["run", "recipe.yaml", *cache, "--json"]) == 0  # a plain run: the edit stays
    summary = json.loads(capsys.readouterr().out)
    assert summary["nodes"]["ran"] == 0 and f"{T}/art[1]" not in summary["steps"] and calls == []
    assert main(["run", "recipe.yaml", *cache, "--until", "script", "--emit", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["topics"][1]["value"]["items"] == ["hand-written fact"]
    assert main(["unpin", "recipe.yaml", "script", *cache]) == 0
    capsys.readouterr()
    assert main(["run", "recipe.yaml", *cache, "--until", "script", "--emit", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["topics"][1]["value"]["items"] != ["hand-written fact"]
