"""Per-provider ``retry: {attempts, backoff, max_backoff}`` and ``timeout:`` in a recipe's provider
block: validated like any recipe key (file:line), turned into a RetryPolicy, and ``timeout`` is the
adapter's HTTP timeout too (one knob), never part of a cache key."""

from __future__ import annotations

import asyncio
import random
import textwrap
from pathlib import Path

import pytest

from tests.servers import ElevenLabsServer
from vidflow.errors import ProviderTimeoutError, ProviderUnavailableError, RecipeError
from vidflow.providers.base import SpeechRequest
from vidflow.api import load_recipe_file
from vidflow.run.retry import RetryPolicy
from vidflow.settings import Settings

RECIPE = """\
vidflow: 1
name: retry-test
topics: [tides]
characters: [nova, pip]
providers:
  writer:
    kind: text.offline
{writer}
  voice:
    kind: speech.elevenlabs
    api_base: "{api_base}"
{voice}
steps:
  script:
    uses: writer
    output: dialogue
    prompt: "Explain {{{{ topic }}}}"
  speech:
    for_each: script.lines
    uses: voice
    text: "{{{{ item.text }}}}"
    voice: "{{{{ item.speaker }}}}"
"""


def _load(project: Path, writer: str = "", voice: str = "", api_base: str = "http://127.0.0.1:9"):
    indent = lambda block: textwrap.indent(textwrap.dedent(block).strip("\n"), "    ") if block else ""  # noqa: E731
    path = project / "recipe.yaml"
    path.write_text(RECIPE.format(writer=indent(writer), voice=indent(voice), api_base=api_base))
    return load_recipe_file(path)


def test_retry_and_timeout_reach_the_policy_and_the_adapter(project):
    loaded = _load(project, voice="retry: {attempts: 2, backoff: 0.25, max_backoff: 4}\ntimeout: 7.5")
    voice = loaded.providers["voice"]
    policy = RetryPolicy.from_spec(voice.spec)
    assert (policy.attempts, policy.base, policy.cap, policy.timeout) == (2, 0.25, 4.0, 7.5)
    assert voice.options.timeout == 7.5  # the same seconds are the adapter's HTTP timeout
    adapter = voice.cls(voice.options, settings=Settings(env={"ELEVENLABS_API_KEY": "k" * 10}))
    assert adapter._http().timeout.read == 7.5


def test_without_retry_or_timeout_the_defaults_apply(project):
    loaded = _load(project)
    writer, voice = loaded.providers["writer"], loaded.providers["voice"]
    assert RetryPolicy.from_spec(writer.spec) == RetryPolicy() == RetryPolicy(attempts=5, base=0.5, cap=30.0, timeout=None)
    assert writer.options.timeout is None  # free adapters: no limit unless the recipe sets one
    assert voice.options.timeout == 60.0  # each paid adapter documents its own default
    assert RetryPolicy.from_spec(voice.spec, timeout=voice.options.timeout).timeout == 60.0
    partial = _load(project, voice="retry: {attempts: 3}").providers["voice"]
    assert RetryPolicy.from_spec(partial.spec) == RetryPolicy(attempts=3)


def test_timeout_never_changes_a_cache_key(project):
    plain = _load(project)
    timed = _load(project, writer="timeout: 3", voice="timeout: 9")
    for name in ("writer", "voice"):
        a, b = plain.providers[name], timed.providers[name]
        assert a.cls(a.options).identity() == b.cls(b.options).identity()
    assert timed.providers["writer"].options.timeout == 3


@pytest.mark.parametrize(
    "voice, line, words",
    [
        ("retry: {attempts: 0}", 12, "greater than or equal to 1"),
        ("retry: {attempts: 2.5}", 12, "valid integer"),
        ("retry: {backoff: -1}", 12, "greater than or equal to 0"),
        ("retry: {backoff: 5, max_backoff: 1}", 12, "max_backoff (1) is shorter than backoff (5)"),
        ("retry:\n  attempt: 3", 13, "unknown key `attempt`, did you mean `attempts`?"),
        ("retry: 3", 12, "valid dictionary"),
        ("timeout: 0", 12, "greater than 0"),
        ("timeout: soon", 12, "valid number"),
    ],
)
def test_bad_retry_or_timeout_is_a_recipe_problem_with_its_line(project, voice, line, words):
    with pytest.raises(RecipeError) as ei:
        _load(project, voice=voice)
    [problem] = ei.value.problems
    assert problem.location.startswith(f"recipe.yaml:{line}:"), problem
    assert problem.path.startswith("providers.voice.") and words in problem.message, problem


async def test_attempts_and_backoff_are_obeyed_against_a_failing_server(project):
    with ElevenLabsServer(fail_rate=1.0) as srv:  # every call is a 500
        loaded = _load(project, voice="retry: {attempts: 3, backoff: 0.2, max_backoff: 0.3}", api_base=srv.url)
        voice = loaded.providers["voice"]
        adapter = voice.cls(voice.options, settings=Settings(env={"ELEVENLABS_API_KEY": "test-key"}))
        policy = RetryPolicy.from_spec(voice.spec, rng=random.Random(3))
        waits: list[float] = []

        async def sleep(s: float) -> None:
            waits.append(s)

        async def attempt():
            return await policy.bounded(lambda: adapter.synthesize(SpeechRequest("Hello", "v" * 20)), kind=adapter.kind)

        with pytest.raises(ProviderUnavailableError):
            await policy.call(attempt, sleep=sleep)
        assert [r.status for r in srv.requests] == [500, 500, 500]
    assert len(waits) == 2 and 0 <= waits[0] <= 0.2 and 0 <= waits[1] <= 0.3


async def test_bounded_turns_a_hung_attempt_into_a_retried_timeout():
    policy = RetryPolicy(attempts=2, timeout=0.05)
    hung = asyncio.Event()
    calls = 0

    async def attempt():
        nonlocal calls
        calls += 1
        return await policy.bounded(hung.wait, kind="text.slow")

    async def no_sleep(_: float) -> None:
        pass

    with pytest.raises(ProviderTimeoutError) as ei:
        await policy.call(attempt, sleep=no_sleep)
    assert calls == 2 and ei.value.kind == "text.slow" and "0.05 s timeout" in str(ei.value)


async def test_bounded_without_a_timeout_or_with_the_calls_own_timeout_error():
    async def answer():
        return 42

    assert await RetryPolicy().bounded(answer) == 42

    async def own_timeout():
        raise TimeoutError("the call's own")

    with pytest.raises(TimeoutError, match="the call's own"):
        await RetryPolicy(timeout=30).bounded(own_timeout)
