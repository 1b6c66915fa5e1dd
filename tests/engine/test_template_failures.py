"""Templates that cannot render: `plan` reports them (exit 2) with everything it could plan;
at run time such a template fails its own topic only, never the batch."""

from __future__ import annotations

import json

from tests.engine.util import BASE, run_recipe, write
from vidflow.cli import main

# `vars.lang` exists for one topic only: its template renders for that topic and fails for the
# other (StrictUndefined), which no static check can know.
RECIPE = BASE.replace(
    'prompt: "Explain {{{{ topic }}}} with {{{{ characters | names }}}}"',
    'prompt: "Explain {{{{ topic }}}} in {{{{ lang.upper() }}}}"',
).format(topics='[{topic: "Good topic", lang: "en"}, {topic: "Bad topic", lang: 5}]')


def test_plan_reports_a_template_that_cannot_render_and_plans_the_rest(project, registry, capsys, monkeypatch):
    import vidflow.api as api

    path = write(project, RECIPE)
    monkeypatch.setattr(api, "default_registry", lambda: registry)
    rc = main(["plan", str(path), "--cache", str(project / "cache"), "--json"])
    out, err = capsys.readouterr()
    assert rc == 2
    report = json.loads(out)
    assert report["problems"] and all("recipe.yaml:" in p and "bad-topic" in p for p in report["problems"])
    assert "good-topic" not in err
    rows = {r["step"]: r for r in report["rows"]}
    # the good topic is planned in full (4 lines from the hint); the bad topic's lines cannot be
    # named without its script: one stand-in node
    assert rows["script"]["nodes"] == 2 and rows["speech"]["nodes"] == 4 + 1
    assert "Traceback" not in err and all(line.startswith("error: ") for line in err.strip().splitlines())


def test_a_template_error_at_run_time_fails_its_topic_only(project, registry, calls):
    result = run_recipe(write(project, RECIPE), registry, project)
    assert result.exit_code == 1
    topics = result.summary.topics
    assert topics["bad-topic"]["status"] == "failed" and "recipe.yaml:" in topics["bad-topic"]["error"]
    assert topics["good-topic"]["status"] == "done"
    assert result.summary.nodes["good-topic/script"] == "ran" and result.summary.nodes["bad-topic/script"] == "failed"
    assert all(s == "ran" for n, s in result.summary.nodes.items() if n.startswith("good-topic/"))


def test_status_of_a_run_that_was_killed_says_interrupted_and_exits_non_zero(project, registry, calls, capsys):
    result = run_recipe(write(project, BASE.format(topics='["A topic"]')), registry, project)
    events = project / "runs" / result.run_id / "events.jsonl"
    lines = events.read_text().splitlines()
    events.write_text("\n".join(lines[: len(lines) // 2]) + "\n")  # what a SIGKILL leaves: no run_finished
    rc = main(["status", "--runs-dir", str(project / "runs"), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert rc == 130 and summary["exit_code"] == 130 and summary["interrupted"] and not summary["finished"]
    assert main(["status", "--runs-dir", str(project / "runs")]) == 130
    assert "killed (interrupted)" in capsys.readouterr().out
