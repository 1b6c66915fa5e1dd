"""Batches for CI: topic files, per-topic isolation, the JSON report, plan --check, and the
stage contract over stdin/stdout.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO
from vidflow.cli import main

pytestmark = [pytest.mark.ffmpeg]

RECIPE = """
vidflow: 1
name: nightly
topics_file: topics.csv
characters: [nova, pip]
providers:
  writer: {kind: text.offline}
  voice: {kind: speech.espeak}
  painter: {kind: image.procedural}
steps:
  script: {uses: writer, output: dialogue, lines: 4, scenes: 2, prompt: "Explain {{ topic }} for {{ audience }}"}
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
  art: {for_each: script.scenes, uses: painter, prompt: "{{ item.image_prompt }}", caption: "{{ item.caption }}"}
  video: {compose: vertical, width: 360, height: 640, preset: ultrafast}
  publish: {to: "out/{{ topic | slug }}.mp4"}
"""

TOPICS = "topic,audience\nWhy is the sky blue?,kids\nHow do bees make honey?,adults\nWhat is a black hole?,teens\nWhy do cats purr?,kids\nHow do magnets work?,adults\n"


@pytest.fixture
def nightly(project):
    (project / "recipe.yaml").write_text(RECIPE)
    (project / "topics.csv").write_text(TOPICS)
    return project


@pytest.fixture
def fakes_in_cli(registry, monkeypatch):
    """The CLI's registry with the test providers added (as a plugin's entry points would)."""
    import vidflow.providers.registry as reg

    monkeypatch.setattr(reg, "_DEFAULT", registry)
    return registry


def test_five_topic_batch_with_one_failing_topic_publishes_four_and_reports_it(nightly, fakes_in_cli, calls, capsys):
    # text.fake refuses (400) any prompt that says FAIL: that topic's script always fails
    (nightly / "recipe.yaml").write_text(RECIPE.replace("{kind: text.offline}", "{kind: text.fake}"))
    (nightly / "topics.csv").write_text(TOPICS.replace("What is a black hole?", "Please FAIL this one"))
    rc = main(["run", "recipe.yaml", "--report", "report.json", "--plain"])
    err = capsys.readouterr().err
    assert rc == 1
    report = json.loads((nightly / "report.json").read_text())
    assert report["exit_code"] == 1
    published = [t for t in report["topics"] if t["status"] == "published"]
    [bad] = [t for t in report["topics"] if t["status"] == "failed"]
    assert len(published) == 4 and len(list((nightly / "out").glob("*.mp4"))) == 4
    assert bad["id"] == "please-fail-this-one"
    assert bad["failed_nodes"] == [{"node": "please-fail-this-one/script", "step": "script", "error": "BadRequestError", "message": bad["failed_nodes"][0]["message"]}]
    assert "FAIL" in bad["failed_nodes"][0]["message"]
    for t in published:
        assert t["output"].endswith(".mp4") and t["duration"] > 1 and t["nodes"]["ran"] > 0 and t["failed_nodes"] == []
    assert report["totals"]["topics"] == 5 and report["totals"]["published"] == 4 and report["totals"]["failed"] == 1
    # the end of the run says which topic failed and why, in plain lines
    assert "topic failed: please-fail-this-one — please-fail-this-one/script: BadRequestError" in err
    assert "Traceback" not in err


def test_only_and_limit_pick_topics(nightly, capsys):
    assert main(["plan", "recipe.yaml", "--json", "--only", "why-do-cats-purr", "--only", "How do magnets work?"]) == 0
    assert json.loads(capsys.readouterr().out)["topics"] == 2
    assert main(["plan", "recipe.yaml", "--json", "--limit", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["topics"] == 3
    (nightly / "other.jsonl").write_text('{"topic": "Why is ice slippery?", "audience": "kids"}\n')
    assert main(["plan", "recipe.yaml", "--json", "--topics", "other.jsonl"]) == 0
    assert json.loads(capsys.readouterr().out)["topics"] == 1


def test_plan_check_is_0_after_a_full_run_and_1_after_a_topic_is_added(nightly, capsys):
    (nightly / "topics.csv").write_text("topic,audience\nWhy is the sky blue?,kids\n")
    assert main(["plan", "recipe.yaml", "--check"]) == 1
    assert main(["run", "recipe.yaml", "--plain"]) == 0
    assert main(["plan", "recipe.yaml", "--check"]) == 0
    with open(nightly / "topics.csv", "a") as f:
        f.write("Why do cats purr?,kids\n")
    assert main(["plan", "recipe.yaml", "--check"]) == 1
    out = capsys.readouterr().out
    assert "would run" in out


def _vidflow(args, cwd, stdin=None):
    return subprocess.run([sys.executable, "-m", "vidflow", *args], cwd=cwd, input=stdin, capture_output=True, text=True, env={**__import__("os").environ, "PYTHONPATH": str(REPO)}, timeout=600)


def test_stage_pipe_after_a_full_run_runs_nothing_then_one_edit_reruns_one_line(nightly):
    (nightly / "topics.csv").write_text("topic,audience\nWhy is the sky blue?,kids\nHow do bees make honey?,adults\n")
    assert _vidflow(["run", "recipe.yaml"], nightly).returncode == 0
    first = _vidflow(["run", "recipe.yaml", "--until", "script", "--emit", "json"], nightly)
    assert first.returncode == 0
    doc = json.loads(first.stdout)  # stdout is exactly one JSON document; logs went to stderr
    assert doc["vidflow_stage"] == 1 and doc["step"] == "script" and [t["id"] for t in doc["topics"]] == ["why-is-the-sky-blue", "how-do-bees-make-honey"]
    # the pipe, as a shell runs it
    pipe = subprocess.run(
        f"{sys.executable} -m vidflow run recipe.yaml --until script --emit json | {sys.executable} -m vidflow run recipe.yaml --input script=- --json",
        shell=True, cwd=nightly, capture_output=True, text=True, env={**__import__("os").environ, "PYTHONPATH": str(REPO)}, timeout=600,
    )
    assert pipe.returncode == 0, pipe.stderr[-2000:]
    summary = json.loads(pipe.stdout)
    assert summary["nodes"]["ran"] == 0 and summary["nodes"]["cached"] == summary["nodes"]["total"]
    # edit one line by hand: exactly one voice line and one scene segment run again
    line = doc["topics"][1]["value"]["lines"][2]
    line["text"] = "Bees turn nectar into honey by fanning it dry with their wings."
    edited = _vidflow(["run", "recipe.yaml", "--input", "script=-", "--json"], nightly, stdin=json.dumps(doc))
    assert edited.returncode == 0, edited.stderr[-2000:]
    ran = json.loads(edited.stdout)["steps"]
    assert ran["speech"]["ran"] == 1 and ran["script"]["ran"] == 0
    assert ran["video"]["ran"] == 4  # the scene segment holding that line, the audio track, the video, its QA check
    assert ran["publish"]["ran"] == 1 and ran["art"]["ran"] == 0
    manifest = json.loads((nightly / "out" / "how-do-bees-make-honey.json").read_text())
    assert line["text"] in [l["text"] for s in manifest["scenes"] for l in s["lines"]]


@pytest.mark.parametrize(
    "doc,fragment",
    [
        ("not json", "stdin:1:1: not a JSON document"),
        ('{"vidflow_stage": 1, "step": "script"}', "stdin: topics: Field required"),
        ('{"vidflow_stage": 2, "step": "script", "topics": []}', "vidflow_stage: version 2 is not supported"),
        ('{"vidflow_stage": 1, "step": "script", "topics": [{"id": "why-is-the-sky-blue", "value": {"lines": [{"speaker": "Zed", "text": "hi"}]}}]}', "topics[0].value: line 0 is spoken by `Zed`"),
        ('{"vidflow_stage": 1, "step": "script", "topics": [{"id": "why-is-the-sky-blue", "value": {"lines": []}}]}', "topics[0].value: `lines`"),
    ],
)
def test_a_malformed_stage_document_is_exit_2_naming_the_bad_field(nightly, monkeypatch, capsys, doc, fragment):
    (nightly / "topics.csv").write_text("topic,audience\nWhy is the sky blue?,kids\n")
    monkeypatch.setattr(sys, "stdin", io.StringIO(doc))
    assert main(["run", "recipe.yaml", "--input", "script=-"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
