"""Retries (tenacity, full jitter, Retry-After), fallbacks and the budget, on an injected clock."""

from __future__ import annotations

from pathlib import Path
import random

import pytest

from tests import fakes
from tests.engine.util import run_recipe, write
from vidflow.errors import AuthError, ProviderUnavailableError, RateLimitedError
from vidflow.run.retry import RetryPolicy


async def test_retry_waits_are_full_jitter_exponential_and_bounded():
    waits = []
    calls = 0

    async def sleep(s):
        waits.append(s)

    async def flaky():
        nonlocal calls
        calls += 1
        raise ProviderUnavailableError("503")

    policy = RetryPolicy(attempts=4, base=1.0, cap=3.0, rng=random.Random(7))
    with pytest.raises(ProviderUnavailableError):
        await policy.call(flaky, sleep=sleep)
    assert calls == 4 and len(waits) == 3
    expected = random.Random(7)
    assert waits == [expected.uniform(0, min(3.0, 1.0 * 2**i)) for i in range(3)]


async def test_retry_after_is_a_floor_on_the_wait_and_is_reported():
    seen = []

    async def sleep(s):
        pass

    attempts = 0

    async def limited():
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RateLimitedError("429", retry_after=7.0)
        return "ok"

    policy = RetryPolicy(base=0.1, rng=random.Random(1))
    assert await policy.call(limited, sleep=sleep, on_retry=lambda e, n, d: seen.append((type(e).__name__, n, d))) == "ok"
    assert seen == [("RateLimitedError", 1, 7.0)]


async def test_permanent_errors_are_not_retried():
    calls = 0

    async def denied():
        nonlocal calls
        calls += 1
        raise AuthError("401")

    async def sleep(s):
        raise AssertionError("must not sleep")

    with pytest.raises(AuthError):
        await RetryPolicy().call(denied, sleep=sleep)
    assert calls == 1


RECIPE = """
vidflow: 1
name: money
topics: ["Topic one", "Topic two", "Topic three"]
characters: [nova, pip]
providers:
  writer: {kind: text.fake}
  voice: {kind: %(voice)s}
  backup: {kind: speech.fake}
%(budget)s
steps:
  script:
    uses: writer
    output: dialogue
    lines: 4
    prompt: "Explain {{ topic }}"
  speech:
    for_each: script.lines
    uses: voice
    %(fallback)s
    text: "{{ item.text }}"
    voice: "{{ item.speaker }}"
"""


def test_transient_failures_are_retried_and_every_attempt_is_an_event(project, registry, calls):
    fakes.FlakySpeech.seen = set()
    recipe = write(project, RECIPE % {"voice": "speech.flaky", "budget": "", "fallback": ""})
    result = run_recipe(recipe, registry, project, clock=fakes.FakeClock())
    assert result.exit_code == 0
    assert result.summary.steps["speech"].ran == 12
    assert result.summary.steps["speech"].retries == 12  # every line failed once, then worked
    import json

    events = [json.loads(l) for l in Path(result.events_path).read_text().splitlines()]
    retries = [e for e in events if e["type"] == "node_retry"]
    assert all(e["error"] == "ProviderUnavailableError" and e["data"]["status"] == 503 for e in retries)
    started = [e for e in events if e["type"] == "node_started" and e["step"] == "speech"]
    assert sorted({e["attempt"] for e in started}) == [1, 2]


def test_budget_below_full_cost_stops_paid_calls_before_the_cap(project, registry, calls):
    recipe = write(project, RECIPE % {"voice": "speech.paid", "budget": "budget: {max_usd: 0.2}", "fallback": ""})
    result = run_recipe(recipe, registry, project)
    assert result.exit_code == 1
    spent = result.summary.cost_usd
    assert 0 < spent <= 0.2
    paid_calls = [r for k, r in calls if k == "speech.paid"]
    assert sum(len(r.text) for r in paid_calls) * fakes.PaidSpeech.PER_CHAR == pytest.approx(spent)
    assert any(f["error"] == "BudgetExceededError" for f in result.summary.failures)
    # what could not be afforded never started: fewer paid calls than lines
    assert len(paid_calls) < 12


def test_per_topic_budget_caps_each_topic(project, registry, calls):
    recipe = write(project, RECIPE % {"voice": "speech.paid", "budget": "budget: {per_topic_usd: 0.05}", "fallback": ""})
    result = run_recipe(recipe, registry, project)
    assert result.exit_code == 1
    for topic, cost in result.summary.cost_by_topic.items():
        assert cost <= 0.05 + 1e-9


def test_a_fallback_of_another_capability_is_a_load_error(project, registry, calls):
    text = RECIPE % {"voice": "speech.fake", "budget": "", "fallback": "fallback: [painter]"}
    text = text.replace("  backup: {kind: speech.fake}", "  backup: {kind: speech.fake}\n  painter: {kind: image.fake}")
    recipe = write(project, text)
    from vidflow.errors import RecipeError

    with pytest.raises(RecipeError, match="fallback `painter` is a image provider; step `speech` needs a speech one"):
        run_recipe(recipe, registry, project)
    assert calls == []


class DeniedSpeech(fakes.FakeSpeech):
    kind = "speech.denied"

    async def synthesize(self, req):
        fakes.CALLS.append((self.kind, req))
        raise AuthError("401 invalid key", kind=self.kind, status=401)


def test_fallback_provider_makes_the_artifact_and_the_manifest_says_so(project, registry, calls):
    registry.register(DeniedSpeech.kind, DeniedSpeech)
    recipe = write(project, RECIPE % {"voice": "speech.denied", "budget": "", "fallback": "fallback: [backup]"})
    result = run_recipe(recipe, registry, project, clock=fakes.FakeClock())
    assert result.exit_code == 0
    kinds = [k for k, _ in calls]
    assert kinds.count("speech.denied") == 12  # permanent: one attempt each, no retries
    assert kinds.count("speech.fake") == 12
    made_by = {n: o.provider for n, o in result.outcomes.items() if result.graph.nodes[n]["task"].step == "speech"}
    assert set(made_by.values()) == {"backup"}


def test_a_missing_api_key_is_a_plan_warning_and_a_run_error_naming_the_variable(project, capsys):
    write(project, """
vidflow: 1
name: keys
topics: ["A"]
providers:
  writer: {kind: text.litellm, model: openai/gpt-4o-mini}
steps:
  script: {uses: writer, prompt: "Hi {{ topic }}"}
""")
    from vidflow.cli import main

    # plan prices it without a key (nobody should need to sign up to see a price) and warns
    assert main(["plan", "recipe.yaml"]) == 0
    out, err = capsys.readouterr()
    assert "warning: recipe.yaml:5:" in err and "set OPENAI_API_KEY in the environment" in err and "Traceback" not in err
    assert "$" in out
    # run needs it: exit 2 before any call
    assert main(["run", "recipe.yaml"]) == 2
    err = capsys.readouterr().err
    assert "error: recipe.yaml:5:" in err and "set OPENAI_API_KEY in the environment" in err and "Traceback" not in err
