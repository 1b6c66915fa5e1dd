"""`vidflow plan` explains itself: which nodes would run and why, naming the changed field."""

from __future__ import annotations

import json

from tests.engine.util import run_recipe, write
from vidflow.cli import main

RECIPE = """
vidflow: 1
name: explain
topics:
  - {topic: "Why is the sky blue?", style: watercolour}
  - {topic: "How do bees make honey?", style: watercolour}
characters: [nova, pip]
providers:
  writer: {kind: text.fake}
  voice: {kind: speech.fake}
  painter: {kind: image.fake}
steps:
  script: {uses: writer, output: json, prompt: "Facts about {{ topic }}"}
  intro: {uses: writer, prompt: "Open with {{ characters[0].catchphrases[0] }} about {{ topic }}"}
  speech: {for_each: script.items, uses: voice, text: "{{ item }}", voice: nova}
  art: {for_each: script.items, uses: painter, prompt: "{{ item }} in {{ style }}"}
"""


def _plan_json(project, capsys) -> dict:
    capsys.readouterr()
    assert main(["plan", "recipe.yaml", "--cache", str(project / "cache"), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_lists_exactly_the_nodes_that_will_run_with_the_changed_field(project, registry, calls, capsys, monkeypatch):
    import vidflow.api as api

    monkeypatch.setattr(api, "default_registry", lambda: registry)
    path = write(project, RECIPE)
    first = run_recipe(path, registry, project)
    assert first.exit_code == 0
    # one topic's variable and one catchphrase change
    write(project, RECIPE.replace("style: watercolour}\n  - {topic: \"How", "style: charcoal}\n  - {topic: \"How", 1))
    nova = project / "characters" / "nova.yaml"
    nova.write_text(nova.read_text().replace("Ooh, tell me more!", "Wait, what?"))
    report = _plan_json(project, capsys)
    would_run = {n["id"]: n for n in report["nodes"]}
    assert set(would_run) == {
        *(f"why-is-the-sky-blue/art[{i}]" for i in range(3)),  # the topic's style variable
        "why-is-the-sky-blue/intro", "how-do-bees-make-honey/intro",  # the catchphrase
    }
    assert all(n["reason"] == "changed" and n["changed"] == ["request.prompt"] for n in would_run.values())
    # and the run makes exactly those
    calls.clear()
    second = run_recipe(project / "recipe.yaml", registry, project)
    assert {n for n, s in second.summary.nodes.items() if s == "ran"} == set(would_run)


def test_plan_says_new_refresh_and_corrupt(project, registry, calls, capsys, monkeypatch):
    import vidflow.api as api

    monkeypatch.setattr(api, "default_registry", lambda: registry)
    write(project, RECIPE)
    capsys.readouterr()
    assert main(["plan", "recipe.yaml", "--cache", str(project / "cache"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    reasons = {n["id"]: n["reason"] for n in report["nodes"]}
    assert reasons["why-is-the-sky-blue/script"] == "new"
    assert reasons["why-is-the-sky-blue/speech[0]"] == "inputs not made yet"
    first = run_recipe(project / "recipe.yaml", registry, project)
    key = first.graph.nodes["why-is-the-sky-blue/intro"]["task"].key
    (project / "cache" / "actions" / f"{key}.json").write_text("[]")
    assert main(["plan", "recipe.yaml", "--cache", str(project / "cache"), "--json", "--refresh", "art"]) == 0
    reasons = {n["id"]: n["reason"] for n in json.loads(capsys.readouterr().out)["nodes"]}
    assert reasons == {
        "why-is-the-sky-blue/intro": "invalid_manifest",
        **{f"{t}/art[{i}]": "refresh" for t in ("why-is-the-sky-blue", "how-do-bees-make-honey") for i in range(3)},
    }


def test_a_paid_recipe_is_priced_without_api_keys(capsys, monkeypatch):
    from tests.conftest import REPO

    monkeypatch.chdir(REPO)
    assert main(["plan", "recipes/openai.yaml", "--cache", "/nonexistent-vidflow-cache", "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["cost_usd"] > 0 and report["warnings"]
    assert "OPENAI_API_KEY" in err and err.startswith("warning: ")
