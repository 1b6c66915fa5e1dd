"""Topics on a Dask LocalCluster (127.0.0.1, 2 worker processes): one cache, cluster-wide limits."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO
from vidflow.cli import main

pytestmark = [pytest.mark.slow]

RECIPE = """
vidflow: 1
name: dask
topics: ["One topic", "Two topic", "Three topic", "Four topic"]
characters: [nova, pip]
providers:
  writer: {kind: text.offline}
  voice: {kind: speech.espeak, concurrency: 1}
  painter: {kind: image.procedural, concurrency: 4, rate: 2/3s}
steps:
  script: {uses: writer, output: dialogue, lines: 3, scenes: 2, prompt: "{{ topic }}"}
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
  art: {for_each: script.scenes, uses: painter, prompt: "{{ item.image_prompt }}"}
"""


def test_topics_spread_over_two_workers_share_one_cache_and_cluster_wide_limits(project, monkeypatch, capsys):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # worker processes import this checkout
    (project / "recipe.yaml").write_text(RECIPE)
    assert main(["run", "recipe.yaml", "--executor", "dask", "--workers", "2", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["nodes"]["failed"] == 0 and first["nodes"]["ran"] > 0
    [events_path] = list((project / "runs").glob("*/events.jsonl"))
    events = [json.loads(l) for l in events_path.read_text().splitlines()]
    done = [e for e in events if e["type"] == "node_succeeded"]
    # the topics really ran in two worker processes
    assert len({e["data"]["worker_pid"] for e in done}) == 2
    # concurrency 1 held across both workers: no two voice calls overlapped
    voice = sorted((e["data"]["call_start"], e["data"]["call_start"] + e["latency"]) for e in done if e["step"] == "speech")
    assert len(voice) >= 10
    for (a0, a1), (b0, b1) in zip(voice, voice[1:]):
        assert b0 >= a1 - 0.005, (a0, a1, b0, b1)
    # rate 2 per 3 s held across both workers
    starts = sorted(e["data"]["call_start"] for e in done if e["step"] == "art")
    assert len(starts) == 8
    for t in starts:
        assert sum(1 for s in starts if t <= s < t + 3.0) <= 2
    # a second run on the cluster finds everything in the shared cache
    assert main(["run", "recipe.yaml", "--executor", "dask", "--workers", "2", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["nodes"]["ran"] == 0 and second["nodes"]["cached"] == second["nodes"]["total"] == first["nodes"]["total"]


def test_dask_executor_refuses_stage_flags(project, capsys):
    (project / "recipe.yaml").write_text(RECIPE)
    assert main(["run", "recipe.yaml", "--executor", "dask", "--until", "script", "--emit", "json"]) == 2
    assert "drop --executor dask" in capsys.readouterr().err
