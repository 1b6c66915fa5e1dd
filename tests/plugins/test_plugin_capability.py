"""A capability and its provider added by a third-party package, through entry points only.

``tests/plugins/site`` is laid out like site-packages: the ``vidflow_acme`` package and its
``dist-info`` with entry points. The CLI runs in a subprocess with that folder on PYTHONPATH, so
vidflow discovers the plugin the way it would discover an installed one. Nothing in vidflow/
knows about it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SITE = Path(__file__).resolve().parent / "site"

RECIPE = """\
vidflow: 1
name: plugin
topics: ["Why is the sky blue?", "How do bees make honey?"]
characters: [nova, pip]
providers:
  writer: {kind: text.offline}
  crier: {kind: shout.crier, concurrency: 1}
steps:
  script: {uses: writer, output: dialogue, lines: 4, scenes: 2, prompt: "{{ topic }}"}
  shout:
    for_each: script.lines
    uses: crier
    text: "{{ item.speaker }}: {{ item.text }}"
    style: %(style)s
"""


def _vidflow(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDFLOW_")}
    env["PYTHONPATH"] = os.pathsep.join([str(SITE), str(REPO)])
    env["ACME_CALL_LOG"] = str(project / "calls.jsonl")
    return subprocess.run([sys.executable, "-m", "vidflow", *args], cwd=project, env=env, capture_output=True, text=True, timeout=120)


def _calls(project: Path) -> list[dict]:
    log = project / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.slow
def test_a_plugin_capability_is_validated_planned_cached_limited_and_run(project):
    (project / "recipe.yaml").write_text(RECIPE % {"style": "upper"})
    # planned: the plugin's nodes appear, counted from the script's line hint
    plan = _vidflow(project, "plan", "recipe.yaml", "--json")
    assert plan.returncode == 0, plan.stderr
    rows = {r["step"]: r for r in json.loads(plan.stdout)["rows"]}
    assert rows["shout"]["nodes"] == 8 and rows["shout"]["kind"] == "shout" and rows["shout"]["estimated"]
    # run: every line shouted by the plugin's provider, concurrency 1 held
    run = _vidflow(project, "run", "recipe.yaml", "--until", "shout", "--emit", "json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    captions = [item["caption"] for t in doc["topics"] for item in t["value"]]
    assert len(captions) == 8 and all(c == c.upper() and ":" in c for c in captions)
    calls = sorted(_calls(project), key=lambda c: c["start"])
    # one call per distinct line: a line both topics say is shouted once (same key)
    assert sorted(c["text"].upper() for c in calls) == sorted(set(captions))
    for a, b in zip(calls, calls[1:]):
        assert b["start"] >= a["end"] - 0.005, (a, b)
    # cached: a second run makes no call
    again = _vidflow(project, "run", "recipe.yaml", "--until", "shout", "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["nodes"]["ran"] == 0 and summary["nodes"]["cached"] == summary["nodes"]["total"] == 10
    assert len(_calls(project)) == len(calls)


def test_a_plugin_capabilitys_own_keys_are_validated_with_file_and_line(project):
    (project / "recipe.yaml").write_text(RECIPE % {"style": "loud"} + "    colour: red\n")
    out = _vidflow(project, "plan", "recipe.yaml")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert any("recipe.yaml:14:12: steps.shout.style" in line and "upper" in line for line in lines), lines
    assert any("recipe.yaml:15:5: steps.shout.colour: unknown key `colour`" in line for line in lines), lines
