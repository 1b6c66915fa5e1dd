"""Helpers for the gc tests: a small offline recipe (no compose: seconds per run), the CLI in-process."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from vidflow.cli import main

TOPICS = [
    "Why is the sky blue?", "How do bees make honey?", "Why do cats purr?", "What makes a rainbow?",
    "How do plants drink?", "Why is the sea salty?", "How do birds fly?", "Why do we yawn?",
]

RECIPE = """
vidflow: 1
name: gc
topics: {topics}
characters: [nova, pip]
providers:
  writer: {{kind: text.offline, lines: 2, scenes: 1}}
  voice: {{kind: speech.espeak}}
  painter: {{kind: image.procedural}}
steps:
  script: {{uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "Explain {{{{ topic }}}}"}}
  speech: {{for_each: script.lines, uses: voice, text: "{{{{ item.text }}}}", voice: "{{{{ item.speaker }}}}"}}
  art: {{for_each: script.scenes, uses: painter, prompt: "{{{{ item.image_prompt }}}}", size: 96x160}}
"""


def write_recipe(project: Path, topics: list[str], name: str) -> str:
    (project / name).write_text(RECIPE.format(topics=json.dumps(topics)))
    return name


def cli(*argv: str) -> tuple[int, str, str]:
    """``vidflow <argv>`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
