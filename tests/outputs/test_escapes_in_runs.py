"""Hostile topics in whole runs: each escaping topic fails alone, the good one publishes.

``vidflow run`` and ``vidflow plan`` (the CLI, in-process) of a recipe whose topics are a good
one and one per escape form of issue 8 §4 (a URL, ``..``, an absolute path, a symlinked folder
that points outside), with ``to: "{{ topic }}.mp4"`` and ``to: "out/{{ topic }}.mp4"``.
"""

from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tests.conftest import REPO

# --------------------------------------------------------------------------- vidflow run and plan

RUN_RECIPE = """\
vidflow: 1
name: hostile
topics: {topics}
characters: [nova, pip]
providers:
  writer: {{kind: text.offline}}
  voice: {{kind: speech.espeak}}
steps:
  script: {{uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "Say {{{{ topic }}}}"}}
  speech: {{for_each: script.lines, uses: voice, text: "{{{{ item.text }}}}", voice: "{{{{ item.speaker }}}}"}}
  video: {{compose: vertical, width: 180, height: 320, preset: ultrafast, subtitles: none}}
  publish: {{to: "{to}"}}
"""


def _cli(argv: list[str]) -> tuple[int, str, str]:
    from vidflow.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def _files_outside(tmp_path: Path, project: Path) -> list[Path]:
    return [p for p in tmp_path.rglob("*") if not p.is_dir() and project not in p.parents and p != project]


@pytest.mark.ffmpeg
@pytest.mark.slow
@pytest.mark.parametrize("to", ["{{ topic }}.mp4", "out/{{ topic }}.mp4"])
def test_hostile_topics_fail_alone_and_write_nothing_outside_the_root(tmp_path, monkeypatch, to):
    """`vidflow run` with a good topic and one topic per escape form: exit 1, each hostile topic
    named, the good one published, and not one file anywhere outside the project."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    outside.mkdir()
    shutil.copytree(REPO / "characters", project / "characters")
    root = project / "out" if to.startswith("out/") else project
    root.mkdir(exist_ok=True)
    (root / "link").symlink_to(outside)
    up = "../" * (len(root.relative_to(tmp_path).parts))
    forms = [f"file://{outside}/a", f"{up}outside/b", f"{outside}/c", "link/d"]  # a URL, `..`, absolute, a symlink out
    (project / "recipe.yaml").write_text(RUN_RECIPE.format(topics=json.dumps(["good", *forms]), to=to))
    monkeypatch.chdir(project)
    from vidflow.api import load_recipe_file

    hostile = {t.id: t.text for t in load_recipe_file("recipe.yaml").topics if t.text in forms}
    assert len(hostile) == len(forms)
    rc, out, err = _cli(["run", "recipe.yaml", "--json"])
    assert rc == 1, err
    assert "Traceback" not in err
    result = json.loads(out)
    assert result["topics"]["good"]["status"] == "published"
    assert (root / "good.mp4").stat().st_size > 0 and (root / "good.json").is_file()
    failures = {f["node"]: f["message"] for f in result["failures"]}
    assert set(failures) == {f"{tid}/publish" for tid in hostile}, failures
    for tid, topic in hostile.items():
        assert result["topics"][tid]["status"] == "failed"
        assert f"topic {tid!r}" in failures[f"{tid}/publish"] and topic in failures[f"{tid}/publish"]
        assert "topic | slug" in failures[f"{tid}/publish"]
        assert tid in err  # named on stderr too, where a person reads it
    assert list(outside.iterdir()) == []
    assert _files_outside(tmp_path, project) == []
    assert not list(project.rglob("*.tmp-*"))


@pytest.mark.parametrize("to", ["{{ topic }}.mp4", "out/{{ topic }}.mp4"])
def test_plan_reports_every_escaping_topic_with_exit_2_and_plans_the_good_one(tmp_path, monkeypatch, to):
    """`vidflow plan` renders `to:` for each topic: each escape form is a problem naming the
    recipe line, the topic and the fix (exit 2); the good topic is still planned; nothing written."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    outside.mkdir()
    shutil.copytree(REPO / "characters", project / "characters")
    root = project / "out" if to.startswith("out/") else project
    root.mkdir(exist_ok=True)
    (root / "link").symlink_to(outside)
    up = "../" * (len(root.relative_to(tmp_path).parts))
    forms = [f"file://{outside}/a", f"{up}outside/b", f"{outside}/c", "link/d"]
    (project / "recipe.yaml").write_text(RUN_RECIPE.format(topics=json.dumps(["good", *forms]), to=to))
    monkeypatch.chdir(project)
    from vidflow.api import load_recipe_file

    hostile = {t.id for t in load_recipe_file("recipe.yaml").topics if t.text in forms}
    rc, out, err = _cli(["plan", "recipe.yaml", "--json"])
    assert rc == 2, err
    assert "Traceback" not in err
    report = json.loads(out)
    problems = report["problems"]
    assert len(problems) == len(forms), problems
    for tid in hostile:
        (msg,) = [p for p in problems if f"topic {tid!r}" in p]
        assert "recipe.yaml:12:" in msg and "steps.publish.to" in msg and "topic | slug" in msg
    assert "good/publish" in {n["id"] for n in report["nodes"]}
    assert list(outside.iterdir()) == []
    assert _files_outside(tmp_path, project) == []
