"""`vidflow show RECIPE TOPIC[/NODE]`: the recorded request, outputs and history of a node."""

from __future__ import annotations

import json

from vidflow.cli import main

RECIPE = """
vidflow: 1
name: showme
topics: ["Why is the sky blue?"]
characters: [nova, pip]
providers:
  writer: {kind: text.offline}
  painter: {kind: image.procedural}
steps:
  script: {uses: writer, output: dialogue, lines: 2, scenes: 2, prompt: "Explain {{ topic }}"}
  art: {for_each: script.scenes, uses: painter, prompt: "{{ item.image_prompt }}"}
"""


def _show(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["show", "recipe.yaml", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_show_prints_the_rendered_request_outputs_and_history(project, capsys):
    (project / "recipe.yaml").write_text(RECIPE)
    assert main(["run", "recipe.yaml", "--plain"]) == 0
    assert main(["run", "recipe.yaml", "--plain", "--new-run"]) == 0
    capsys.readouterr()

    code, out, _ = _show(capsys, "why-is-the-sky-blue", "--json")
    assert code == 0
    nodes = json.loads(out)["nodes"]
    assert set(nodes) == {"script", "art[0]", "art[1]"} and all(n["status"] == "hit" for n in nodes.values())

    code, out, _ = _show(capsys, "why-is-the-sky-blue/art[1]", "--json")
    rec = json.loads(out)
    assert code == 0 and rec["status"] == "hit" and rec["key"] == nodes["art[1]"]["key"]
    assert rec["meta"]["fields"]["request"]["record"] == "image.request"  # the rendered request, readable
    assert rec["meta"]["fields"]["request"]["prompt"]  # the prompt as rendered for this item
    assert rec["blobs"]["image"]["media_type"] == "image/png" and (project / rec["blobs"]["image"]["path"]).is_file()
    events = [h["event"] for h in rec["history"]]
    assert events.count("node_succeeded") == 1 and events.count("node_cached") == 1  # made once, then reused
    assert len({h["run_id"] for h in rec["history"]}) == 2

    code, out, _ = _show(capsys, "why-is-the-sky-blue/script")
    assert code == 0 and "request (the key's fields)" in out and "history:" in out


def test_show_names_what_exists_when_the_target_is_wrong(project, capsys):
    (project / "recipe.yaml").write_text(RECIPE)
    assert main(["run", "recipe.yaml", "--plain"]) == 0
    capsys.readouterr()
    code, _, err = _show(capsys, "why-is-the-sky-blue/art")
    assert code == 2 and "art[0]" in err
    code, _, err = _show(capsys, "why-is-the-sky-blue/nothing")
    assert code == 2 and "no such node" in err and "script" in err
    code, _, err = _show(capsys, "no-such-topic")
    assert code == 2 and "no such topic" in err and "Traceback" not in err
