"""Helpers for engine tests: write a recipe into the project, run it, collect statuses."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from vidflow.api import load_recipe_file, plan, run
from vidflow.settings import Settings

BASE = """
vidflow: 1
name: engine-test
topics: {topics}
characters: [nova, pip]
providers:
  writer: {{kind: text.fake}}
  voice: {{kind: speech.fake}}
  painter: {{kind: image.fake}}
steps:
  script:
    uses: writer
    output: dialogue
    lines: 4
    prompt: "Explain {{{{ topic }}}} with {{{{ characters | names }}}}"
  speech:
    for_each: script.lines
    uses: voice
    text: "{{{{ item.text }}}}"
    voice: "{{{{ item.speaker }}}}"
  art:
    for_each: script.scenes
    uses: painter
    prompt: "{{{{ item.image_prompt }}}}"
"""


def write(project: Path, text: str, name: str = "recipe.yaml") -> Path:
    p = project / name
    p.write_text(textwrap.dedent(text).lstrip())
    return p


def project_settings(project: Path, **kw) -> Settings:
    return Settings(cache_url=str(project / "cache"), runs_dir=str(project / "runs"), **kw)



def run_recipe(path: Path, registry, project: Path, *, settings: Settings | None = None, **kw):
    """Run a recipe in the project (its cache and runs folder unless ``settings`` says otherwise)."""
    loaded = load_recipe_file(path, registry=registry)
    return asyncio.run(run(loaded, settings=settings or project_settings(project), output_root=str(project), **kw))


def plan_recipe(path: Path, registry, project: Path, *, settings: Settings | None = None):
    loaded = load_recipe_file(path, registry=registry)
    return asyncio.run(plan(loaded, settings=settings or project_settings(project)))


def statuses(result) -> dict[str, str]:
    return dict(result.summary.nodes)


def ran(result) -> set[str]:
    return {n for n, s in result.summary.nodes.items() if s == "ran"}
