"""Topics on a Dask LocalCluster (127.0.0.1, 2 worker processes): one cache, cluster-wide limits."""

from __future__ import annotations

import json
import re

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
    # a second run on the cluster finds everything in the shared cache (--new-run: the same
    # submission would otherwise be reported as the finished first run)
    assert main(["run", "recipe.yaml", "--executor", "dask", "--workers", "2", "--json", "--new-run"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["nodes"]["ran"] == 0 and second["nodes"]["cached"] == second["nodes"]["total"] == first["nodes"]["total"]


def test_dask_executor_refuses_stage_flags(project, capsys):
    (project / "recipe.yaml").write_text(RECIPE)
    assert main(["run", "recipe.yaml", "--executor", "dask", "--until", "script", "--emit", "json"]) == 2
    assert "drop --executor dask" in capsys.readouterr().err


def _run_local_and_on_dask(project, recipe_text: str, **dask_kw):
    import asyncio

    from vidflow.api import load_recipe_file, run
    from vidflow.run.dask import DaskExecutor
    from vidflow.settings import Settings

    (project / "recipe.yaml").write_text(recipe_text)
    loaded = load_recipe_file(project / "recipe.yaml")
    local = asyncio.run(run(loaded, settings=Settings(cache_url=str(project / "cache-local"), runs_dir=str(project / "runs")), output_root=str(project / "local")))
    remote = asyncio.run(run(loaded, settings=Settings(cache_url=str(project / "cache-dask"), runs_dir=str(project / "runs")), output_root=str(project / "dask"),
                             executor=DaskExecutor(**dask_kw)))
    return loaded, local, remote


def test_dask_returns_the_same_graph_and_outputs_as_a_local_run(project, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    loaded, local, remote = _run_local_and_on_dask(project, RECIPE, workers=2)
    assert local.exit_code == remote.exit_code == 0
    # the dask run made everything itself (a line two topics share may be made once per worker
    # process: single-flight is per process; the cross-process lease is what prevents that)
    assert remote.summary.count("ran") >= local.summary.count("ran") > 0
    assert set(remote.graph.nodes) == set(local.graph.nodes)
    assert set(remote.graph.edges) == set(local.graph.edges)
    assert {n: remote.graph.nodes[n]["task"].key for n in remote.graph} == {n: local.graph.nodes[n]["task"].key for n in local.graph}
    for step in loaded.order:
        assert remote.outputs(step) == local.outputs(step), step
    assert {o.status for o in remote.outcomes.values()} <= {"ran", "cached"} and set(remote.outcomes) == set(local.outcomes)


def _cache_is_consistent(cache) -> int:
    """Every manifest parses and names blobs whose bytes hash to their names; returns manifests."""
    import hashlib

    manifests = list((cache / "actions").glob("*.json"))
    for m in manifests:
        data = json.loads(m.read_text())
        for blob in data["blobs"].values():
            path = cache / "blobs" / "sha256" / blob["digest"][:2] / blob["digest"][2:]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == blob["digest"], m
    # A worker SIGKILLed while writing leaves its temporary file (never under a real name, so no
    # reader sees it; `cache gc` sweeps those older than an hour). Only that may be left over.
    for tmp in cache.rglob("*.tmp-*"):
        assert re.search(r"\.tmp-[0-9a-f]{32}$", tmp.name), tmp
    return len(manifests)


def test_the_quickstart_on_two_workers_completes_even_when_a_worker_is_killed(project, monkeypatch):
    """Every quickstart node waits on a provider or CPU slot: the batch must not deadlock, and a
    worker SIGKILLed mid-run only costs a retry of its topic."""
    import asyncio
    import os
    import signal
    import threading
    import time

    import dask
    from distributed import Client, LocalCluster

    from vidflow.api import load_recipe_file, run
    from vidflow.run.dask import DaskExecutor
    from vidflow.settings import Settings

    monkeypatch.setenv("PYTHONPATH", str(REPO))
    recipe = project / "quickstart.yaml"
    recipe.write_text((REPO / "recipes" / "quickstart.yaml").read_text().replace(
        "  - How do bees make honey?", "  - How do bees make honey?\n  - What is a rainbow?\n  - Why do cats purr?"))
    settings = Settings(cache_url=str(project / "cache"), runs_dir=str(project / "runs"))
    with dask.config.set({"distributed.scheduler.locks.lease-timeout": "2s", "distributed.scheduler.locks.lease-validation-interval": "0.5s"}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, Client(cluster) as client:
            pids = list(client.run(os.getpid).values())
            killed = []

            def kill_one_mid_run() -> None:
                deadline = time.time() + 120
                while time.time() < deadline and len(list((project / "cache" / "actions").glob("*.json"))) < 12:
                    time.sleep(0.05)
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

            killer = threading.Thread(target=kill_one_mid_run, daemon=True)
            killer.start()
            result = asyncio.run(run(load_recipe_file(recipe), settings=settings, output_root=str(project), executor=DaskExecutor(address=cluster.scheduler_address)))
            killer.join(timeout=5)
    assert killed, "the worker was never killed: the test did not exercise a failure"
    assert result.exit_code == 0, result.summary.failures
    published = sorted(d["output"] for d in result.summary.topics.values() if d["status"] == "published")
    assert len(published) == 4 and all(os.path.getsize(p) > 100_000 for p in published)
    assert _cache_is_consistent(project / "cache") >= 4 * 10
