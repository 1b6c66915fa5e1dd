"""Approval gates end to end: a gated step holds its outputs for review (exit 4), decisions
live in the cache, a rejected item is made again with the note, approved ones are kept."""

from __future__ import annotations

import json

import pytest

from tests.engine.util import run_recipe, write
from vidflow.cli import main

RECIPE = """
vidflow: 1
name: gated
topics: ["Why is the sky blue?", "How do bees make honey?", "What is a rainbow?"]
characters: [nova, pip]
providers:
  writer: {kind: text.fake}
  voice: {kind: speech.fake}
  painter: {kind: image.fake}
steps:
  script:
    uses: writer
    output: dialogue
    lines: 2
    approve: true
    prompt: "Explain {{ topic }} with {{ characters | names }}. {{ review.note }}"
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
  video: {compose: vertical, width: 180, height: 320, preset: ultrafast, pause: 0.1}
  publish: {to: "out/{{ topic | slug }}.mp4"}
"""

T1, T2, T3 = "why-is-the-sky-blue", "how-do-bees-make-honey", "what-is-a-rainbow"


@pytest.mark.ffmpeg
def test_approve_two_reject_one_then_a_catchphrase_change_keeps_the_approved(project, registry, calls, capsys, monkeypatch):
    import vidflow.api as api

    monkeypatch.setattr(api, "default_registry", lambda: registry)
    cache = ["--cache", str(project / "cache")]
    path = write(project, RECIPE)
    first = run_recipe(path, registry, project)
    assert first.exit_code == 4
    assert sorted(r["node"] for r in first.summary.reviews) == sorted(f"{t}/script" for t in (T1, T2, T3))
    assert all(first.summary.topics[t]["status"] == "awaiting_review" for t in (T1, T2, T3))
    assert not (project / "out").exists()  # nothing downstream of a script ran
    assert {k for k, _ in calls} == {"text.fake"}

    assert main(["review", "recipe.yaml", *cache, "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert {(i["topic"], i["node"], i["status"]) for i in items} == {(t, "script", "pending") for t in (T1, T2, T3)}
    assert all("Nova:" in i["text"] or "Pip:" in i["text"] for i in items)

    assert main(["approve", "recipe.yaml", "script", "--topic", T1, *cache]) == 0
    assert main(["approve", "recipe.yaml", "script", "--topic", T2, *cache]) == 0
    assert main(["reject", "recipe.yaml", "script", "--topic", T3, "--note", "Make it funnier.", *cache]) == 0
    capsys.readouterr()

    calls.clear()
    second = run_recipe(path, registry, project)
    scripts = [req for kind, req in calls if kind == "text.fake"]
    assert len(scripts) == 1 and "Make it funnier." in scripts[0].prompt  # only the rejected one, with its note
    assert {t for t, d in second.summary.topics.items() if d["status"] == "published"} == {T1, T2}
    assert second.summary.topics[T3]["status"] == "awaiting_review" and second.exit_code == 4
    assert (project / "out" / f"{T1}.mp4").exists() and not (project / "out" / f"{T3}.mp4").exists()

    # a catchphrase change would make every script again: the approved ones are kept
    nova = project / "characters" / "nova.yaml"
    nova.write_text(nova.read_text().replace("Ooh, tell me more!", "Wait, what?"))
    calls.clear()
    third = run_recipe(path, registry, project)
    prompts = [req.prompt for kind, req in calls if kind == "text.fake"]
    assert all("Why is the sky blue" not in p and "How do bees" not in p for p in prompts)
    assert third.summary.nodes[f"{T1}/script"] == "cached" and third.summary.nodes[f"{T2}/script"] == "cached"
    assert third.summary.topics[T1]["status"] == "published"


def test_reject_needs_a_note_and_approve_names_a_gated_step(project, registry, calls, capsys, monkeypatch):
    import vidflow.api as api

    monkeypatch.setattr(api, "default_registry", lambda: registry)
    write(project, RECIPE)
    assert main(["reject", "recipe.yaml", "script", "--cache", str(project / "cache")]) == 2
    assert "--note" in capsys.readouterr().err
    assert main(["approve", "recipe.yaml", "speech", "--cache", str(project / "cache")]) == 2
    assert "approve: true" in capsys.readouterr().err
    assert main(["approve", "recipe.yaml", "script", "--cache", str(project / "cache")]) == 2
    assert "waits for review" in capsys.readouterr().err
