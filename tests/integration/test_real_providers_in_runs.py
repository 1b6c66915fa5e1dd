"""Real adapters in real runs, against loopback vendor servers: 429 pauses, flaky 500s,
plan estimates against actual cost, and the budget.
"""

from __future__ import annotations

from pathlib import Path
import json
import textwrap

import pytest

from tests.servers import ElevenLabsServer, OpenAIServer
from tests.servers.dialogue import dialogue_responder
from tests.engine.util import plan_recipe, project_settings, run_recipe
from vidflow.providers.registry import default_registry
from vidflow.settings import Settings

ENV = {"OPENAI_API_KEY": "test-key", "ELEVENLABS_API_KEY": "test-key", "TOGETHERAI_API_KEY": "test-key"}

RECIPE = """
vidflow: 1
name: real
topics: {topics}
characters: [nova, pip]
{budget}
providers:
  writer: {{kind: text.litellm, model: openai/gpt-4o-mini, api_base: "{oai}/v1", timeout: 10}}
  voice: {{kind: speech.elevenlabs, api_base: "{xi}", concurrency: {voice_conc}, timeout: 10}}
  painter: {{kind: image.litellm, model: openai/gpt-image-1, api_base: "{oai}/v1", concurrency: 4, timeout: 10}}
steps:
  script:
    uses: writer
    output: dialogue
    lines: {lines}
    scenes: {scenes}
    prompt: "Write a short explainer. TOPIC: {{{{ topic }}}}"
  speech:
    for_each: script.lines
    uses: voice
    text: "{{{{ item.text }}}}"
    voice: "{{{{ item.speaker }}}}"
  art:
    for_each: script.scenes
    uses: painter
    prompt: "{{{{ item.image_prompt }}}}"
{compose}
"""

COMPOSE = """  video:
    compose: vertical
    width: 360
    height: 640
    preset: ultrafast
  publish:
    to: "out/{{ topic | slug }}.mp4"
"""

PRICES = textwrap.dedent(
    """
    text:
      openai/gpt-4o-mini: {input_per_mtok: 0.15, output_per_mtok: 0.60}
    speech:
      elevenlabs/eleven_multilingual_v2: {per_char: 0.0001}
    image:
      openai/gpt-image-1: {"*": 0.01}
    """
)


def _recipe(project, oai, xi, *, topics, lines=4, scenes=2, compose=False, budget="", voice_conc=2):
    text = RECIPE.format(
        topics=json.dumps(topics), oai=oai.url, xi=xi.url, lines=lines, scenes=scenes,
        compose=COMPOSE if compose else "", budget=budget, voice_conc=voice_conc,
    )
    path = project / "recipe.yaml"
    path.write_text(text)
    return path


def _settings(project) -> Settings:
    (project / "prices.yaml").write_text(PRICES)
    return project_settings(project, prices_file=str(project / "prices.yaml"), env=ENV)


def _run(path, settings, project):
    return run_recipe(path, default_registry(), project, settings=settings)


def _plan(path, settings):
    return plan_recipe(path, default_registry(), path.parent, settings=settings)


def test_429_pauses_that_provider_for_retry_after_while_others_keep_working(project):
    with OpenAIServer(responder=dialogue_responder, latency=0.15) as oai, ElevenLabsServer(latency=0.1) as xi:
        # one voice call at a time, so every later voice request was sent after the 429 arrived
        path = _recipe(project, oai, xi, topics=["Why is the sky blue?", "How do magnets work?"], lines=6, scenes=3, voice_conc=1)
        # the first voice request is told to wait 2 s
        xi.script(xi.error_reply(429, "too_many_concurrent_requests", "slow down", retry_after=2))
        result = _run(path, _settings(project), project)
    assert result.exit_code == 0, result.summary.failures
    voice = sorted(xi.requests, key=lambda r: r.t_start)
    limited = [r for r in voice if r.status == 429]
    assert len(limited) == 1
    t429 = limited[0].t_end
    later = [r for r in voice if r is not limited[0] and r.t_start > t429]
    assert later, "the voice provider was used again"
    # no request reached the voice provider until Retry-After had passed ...
    assert min(r.t_start for r in later) >= t429 + 2.0 - 0.01
    # while the other provider kept working during the pause
    images = [r for r in oai.requests if r.path.endswith("/images/generations")]
    assert any(t429 < r.t_start < t429 + 2.0 for r in images)
    # the retry is an event with the status and the wait
    events = [json.loads(l) for l in Path(result.events_path).read_text().splitlines()]
    [retry] = [e for e in events if e["type"] == "node_retry"]
    assert retry["data"]["status"] == 429 and retry["data"]["wait"] >= 2.0 and retry["error"] == "RateLimitedError"


@pytest.mark.ffmpeg
@pytest.mark.slow
def test_twenty_percent_500s_still_finish_every_video(project):
    with OpenAIServer(responder=dialogue_responder, fail_rate=0.2, seed=3) as oai, ElevenLabsServer(fail_rate=0.2, seed=4) as xi:
        path = _recipe(project, oai, xi, topics=["Why is the sky blue?", "How do bees make honey?", "What is a black hole?"], compose=True)
        result = _run(path, _settings(project), project)
        failed_500 = sum(1 for r in [*oai.requests, *xi.requests] if r.status == 500)
    assert result.exit_code == 0, result.summary.failures
    assert sorted(t for t, d in result.summary.topics.items() if d["status"] == "published") == ["how-do-bees-make-honey", "what-is-a-black-hole", "why-is-the-sky-blue"]
    assert len(list((project / "out").glob("*.mp4"))) == 3
    events = [json.loads(l) for l in Path(result.events_path).read_text().splitlines()]
    retries = [e for e in events if e["type"] == "node_retry"]
    assert failed_500 > 0 and len(retries) == failed_500
    assert all(e["data"]["status"] == 500 for e in retries)


def test_plan_cost_estimate_matches_actual_cost(project):
    topics = ["Why is the sky blue?", "How do bees make honey?", "What is a black hole?"]
    settings = _settings(project)
    with OpenAIServer(responder=dialogue_responder) as oai, ElevenLabsServer() as xi:
        path = _recipe(project, oai, xi, topics=topics, lines=8, scenes=4)
        # 1. nothing cached: the estimate is within 30% of what the run costs
        cold, _ = _plan(path, settings)
        assert cold.estimated
        # 2. only the scripts cached: the estimate equals the actual cost within 1%
        script_only = project / "script.yaml"
        script_only.write_text(path.read_text().split("  speech:")[0])
        first = _run(script_only, settings, project)
        assert first.exit_code == 0
        warm, _ = _plan(path, settings)
        assert not warm.estimated
        second = _run(path, settings, project)
        assert second.exit_code == 0
    total_actual = first.summary.cost_usd + second.summary.cost_usd
    assert abs(cold.cost_usd - total_actual) / total_actual <= 0.30, (cold.cost_usd, total_actual)
    assert warm.cost_usd == pytest.approx(second.summary.cost_usd, rel=0.01)
    # cached nodes cost nothing now, but their original cost is still on record
    third = _run(path, settings, project)
    assert third.summary.cost_usd == 0
    manifests = [json.loads(p.read_text()) for p in (project / "cache" / "actions").glob("*.json")]
    assert sum(m["meta"].get("cost_usd", 0) for m in manifests) == pytest.approx(total_actual)


def test_budget_below_full_cost_stops_before_the_cap(project):
    settings = _settings(project)
    with OpenAIServer(responder=dialogue_responder) as oai, ElevenLabsServer() as xi:
        path = _recipe(project, oai, xi, topics=["Why is the sky blue?", "How do bees make honey?"], lines=8, scenes=4)
        full, _ = _plan(path, settings)
        cap = round(full.cost_usd * 0.6, 4)
        path.write_text(path.read_text().replace("characters: [nova, pip]\n", f"characters: [nova, pip]\nbudget: {{max_usd: {cap}}}\n"))
        result = _run(path, settings, project)
    assert result.exit_code == 1
    assert 0 < result.summary.cost_usd <= cap
    assert any(f["error"] == "BudgetExceededError" for f in result.summary.failures)
    assert "budget reached" in next(f["message"] for f in result.summary.failures if f["error"] == "BudgetExceededError")

