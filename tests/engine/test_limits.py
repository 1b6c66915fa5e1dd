"""Provider limits hold, measured on an injected clock (no real sleeps)."""

from __future__ import annotations

import asyncio

import pytest

from tests import fakes
from tests.engine.util import run_recipe, write
from vidflow.limits import Limits, Rate, parse_rate
from vidflow.run.limits import Limiter

RECIPE = """
vidflow: 1
name: limits
topics: {topics}
providers:
  slow: {{kind: text.slow, {limits}}}
steps:
  a:
    uses: slow
    prompt: "first {{{{ topic }}}}"
  b:
    uses: slow
    prompt: "second {{{{ topic }}}}"
"""


@pytest.fixture
def clock():
    c = fakes.FakeClock()
    fakes.SlowText.clock = c
    fakes.SlowText.starts = []
    fakes.SlowText.in_flight = 0
    fakes.SlowText.max_in_flight = 0
    return c


def _topics(n):
    return "[" + ", ".join(f'"topic {i}"' for i in range(n)) + "]"


def test_concurrency_2_never_has_more_than_2_calls_in_flight(project, registry, calls, clock):
    recipe = write(project, RECIPE.format(topics=_topics(10), limits="concurrency: 2"))
    result = run_recipe(recipe, registry, project, clock=clock)
    assert result.exit_code == 0 and len(calls) == 20
    assert fakes.SlowText.max_in_flight == 2


def test_concurrency_is_used_up_to_its_limit(project, registry, calls, clock):
    recipe = write(project, RECIPE.format(topics=_topics(10), limits="concurrency: 5"))
    run_recipe(recipe, registry, project, clock=clock)
    assert fakes.SlowText.max_in_flight == 5


def test_rate_6_per_min_never_starts_more_than_6_in_any_60s_window(project, registry, calls, clock):
    fakes.SlowText.seconds = 0.5
    recipe = write(project, RECIPE.format(topics=_topics(10), limits="concurrency: 20, rate: 6/min"))
    result = run_recipe(recipe, registry, project, clock=clock)
    assert result.exit_code == 0
    starts = sorted(fakes.SlowText.starts)
    assert len(starts) == 20
    for i, t in enumerate(starts):
        in_window = [s for s in starts if t <= s < t + 60.0]
        assert len(in_window) <= 6, (t, in_window)
    # and the limiter does not waste capacity: 20 calls need 3 full windows, not more
    assert starts[-1] - starts[0] < 4 * 60.0
    fakes.SlowText.seconds = 1.0


async def test_limiter_pause_holds_every_call_until_it_ends():
    clock = fakes.FakeClock()
    lim = Limiter("p", limits=Limits(concurrency=3), clock=clock)
    lim.pause(2.0)
    starts = []

    async def call():
        async with lim:
            starts.append(clock.now())

    await asyncio.gather(*(call() for _ in range(3)))
    assert min(starts) >= 2.0


@pytest.mark.parametrize(
    "text,calls,period",
    [("6/min", 6, 60.0), ("2/s", 2, 1.0), ("100/hour", 100, 3600.0), ("10/30s", 10, 30.0), ("5 / minute", 5, 60.0)],
)
def test_rate_syntax(text, calls, period):
    assert parse_rate(text) == Rate(calls=calls, period=period)


@pytest.mark.parametrize("text", ["6", "six/min", "6/fortnight", "0/min", "6/0s", ""])
def test_bad_rate_syntax_is_rejected_with_a_fix(text):
    with pytest.raises(ValueError, match="6/min"):
        parse_rate(text)
