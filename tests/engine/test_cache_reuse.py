"""A rerun is free; a change reruns exactly the nodes whose inputs changed."""

from __future__ import annotations

from pathlib import Path
import json

from tests.engine.util import BASE, plan_recipe, ran, run_recipe, write

TOPICS3 = '["Why is the sky blue?", "How do bees make honey?", "What is a black hole?"]'


def test_second_run_makes_zero_provider_calls_and_reports_all_cached(project, registry, calls):
    recipe = write(project, BASE.format(topics=TOPICS3))
    first = run_recipe(recipe, registry, project)
    assert first.exit_code == 0
    n_first = len(calls)
    # 3 scripts + 3*4 lines + 3*2 scenes
    assert n_first == 3 + 12 + 6
    calls.clear()
    second = run_recipe(recipe, registry, project)
    assert calls == []
    assert second.exit_code == 0
    assert set(second.summary.nodes.values()) == {"cached"}
    assert len(second.summary.nodes) == n_first
    # the run record says the same
    events = [json.loads(l) for l in Path(second.events_path).read_text().splitlines()]
    cached = {e["node"] for e in events if e["type"] == "node_cached"}
    assert cached == set(second.summary.nodes)


def test_changing_one_topic_reruns_only_that_topics_nodes(project, registry, calls):
    recipe = write(project, BASE.format(topics=TOPICS3))
    run_recipe(recipe, registry, project)
    write(project, BASE.format(topics='["Why is the sky blue?", "How do ants find food?", "What is a black hole?"]'))
    calls.clear()
    second = run_recipe(recipe, registry, project)
    assert {n.split("/")[0] for n in ran(second)} == {"how-do-ants-find-food"}
    assert ran(second) == {n for n in second.summary.nodes if n.startswith("how-do-ants-find-food/")}
    assert len(calls) == 1 + 4 + 2


def test_plan_after_run_shows_every_node_cached_exactly(project, registry, calls):
    recipe = write(project, BASE.format(topics=TOPICS3))
    report, graph = plan_recipe(recipe, registry, project)
    assert report.cached == 0 and report.estimated
    run_recipe(recipe, registry, project)
    calls.clear()
    report, graph = plan_recipe(recipe, registry, project)
    assert calls == []  # plan makes no provider call
    assert report.to_run == 0 and report.cached == report.total_nodes == 21
    assert not report.estimated


def test_plan_expands_fan_out_exactly_when_the_script_is_cached(project, registry, calls):
    recipe = write(project, BASE.format(topics='["A topic"]'))
    report, _ = plan_recipe(recipe, registry, project)
    speech = next(r for r in report.rows if r.step == "speech")
    assert speech.estimated and speech.nodes == 4  # from the step's `lines: 4` hint
    run_recipe(recipe, registry, project)
    # Drop the cached speech lines only: the script stays cached, so the plan knows its 4 lines.
    _, graph = plan_recipe(recipe, registry, project)
    for node, d in graph.nodes(data=True):
        if d["task"].step == "speech":
            (project / "cache" / "actions" / f"{d['task'].key}.json").unlink()
    report, _ = plan_recipe(recipe, registry, project)
    speech = next(r for r in report.rows if r.step == "speech")
    assert (speech.nodes, speech.cached, speech.to_run, speech.estimated) == (4, 0, 4, False)


def test_refresh_reruns_only_that_step(project, registry, calls):
    recipe = write(project, BASE.format(topics='["A topic"]'))
    run_recipe(recipe, registry, project)
    calls.clear()
    again = run_recipe(recipe, registry, project, refresh=["art"])
    assert {k for k, _ in calls} == {"image.fake"}
    assert ran(again) == {"a-topic/art[0]", "a-topic/art[1]"}


def test_status_summarises_the_latest_run_from_its_events(project, registry, calls, capsys):
    from vidflow.cli import main

    recipe = write(project, BASE.format(topics='["A topic"]'))
    first = run_recipe(recipe, registry, project)
    second = run_recipe(recipe, registry, project)
    assert main(["status", "--runs-dir", str(project / "runs"), "--json"]) == 0
    latest = json.loads(capsys.readouterr().out)
    assert latest["run_id"] == second.run_id and latest["nodes"]["cached"] == 7 and latest["nodes"]["ran"] == 0
    assert main(["status", first.run_id, "--runs-dir", str(project / "runs"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["nodes"]["ran"] == 7
    assert main(["status", "nope", "--runs-dir", str(project / "runs")]) == 2
