"""Plan's time estimate against the actual run, once one run of history exists (within 30%),
for the quickstart batch (CPU-bound composing) and for loopback vendors with latency."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from tests.conftest import REPO
from tests.engine.util import project_settings
from tests.servers import ElevenLabsServer, OpenAIServer
from tests.servers.dialogue import dialogue_responder
from vidflow.api import load_recipe_file, plan, run
from vidflow.providers.registry import default_registry

pytestmark = [pytest.mark.slow]


def _estimate_then_run(path, settings, project, topics: list[str]):
    loaded = load_recipe_file(path, registry=default_registry())
    loaded = loaded.with_topics([t for t in loaded.topics if t.text in topics])
    report, _ = asyncio.run(plan(loaded, settings=settings, output_root=str(project)))
    result = asyncio.run(run(loaded, settings=settings, output_root=str(project)))
    assert result.exit_code == 0, result.summary.failures
    return report, result


def test_the_quickstart_estimate_is_within_30_percent_after_one_run(project):
    shutil.copy(REPO / "recipes" / "quickstart.yaml", project / "quickstart.yaml")
    text = (project / "quickstart.yaml").read_text()
    (project / "quickstart.yaml").write_text(text.replace("  - How do bees make honey?", "  - How do bees make honey?\n  - What is a rainbow?"))
    settings = project_settings(project)
    # One topic of history, then another topic of the same recipe: the timings learnt per lane
    # (seconds of encoding per second of video, seconds per call) carry over to new work.
    first, _ = _estimate_then_run(project / "quickstart.yaml", settings, project, ["Why is the sky blue?"])
    assert "defaults" in first.timings
    report, result = _estimate_then_run(project / "quickstart.yaml", settings, project, ["What is a rainbow?"])
    assert "calibrated from 1 past run" in report.timings
    actual = result.summary.elapsed
    assert abs(report.wall_seconds - actual) <= 0.3 * actual, (report.wall_seconds, actual)


def test_a_loopback_vendor_batch_estimate_is_within_30_percent_after_one_run(project):
    with OpenAIServer(responder=dialogue_responder, latency=0.8) as oai, ElevenLabsServer(latency=0.6) as xi:
        recipe = f"""
vidflow: 1
name: estimate
topics: ["Why is the sky blue?", "How do magnets work?", "What is a rainbow?", "Why do cats purr?", "How do tides work?"]
characters: [nova, pip]
providers:
  writer: {{kind: text.litellm, model: openai/gpt-4o-mini, api_base: "{oai.url}/v1"}}
  voice: {{kind: speech.elevenlabs, api_base: "{xi.url}", concurrency: 2}}
  painter: {{kind: image.litellm, model: openai/gpt-image-1, api_base: "{oai.url}/v1", concurrency: 2}}
steps:
  script: {{uses: writer, output: dialogue, lines: 3, scenes: 2, prompt: "Explain. TOPIC: {{{{ topic }}}}"}}
  speech: {{for_each: script.lines, uses: voice, text: "{{{{ item.text }}}}", voice: "{{{{ item.speaker }}}}"}}
  art: {{for_each: script.scenes, uses: painter, prompt: "{{{{ item.image_prompt }}}}"}}
"""
        (project / "recipe.yaml").write_text(recipe)
        env = {"OPENAI_API_KEY": "test-key", "ELEVENLABS_API_KEY": "test-key"}
        settings = project_settings(project, env=env)
        _estimate_then_run(project / "recipe.yaml", settings, project, ["Why is the sky blue?", "How do magnets work?"])
        report, result = _estimate_then_run(project / "recipe.yaml", settings, project, ["What is a rainbow?", "Why do cats purr?", "How do tides work?"])
    assert "calibrated" in report.timings
    actual = result.summary.elapsed
    assert abs(report.wall_seconds - actual) <= 0.3 * actual, (report.wall_seconds, actual)
    assert json.dumps(report.as_dict())  # the estimate is in the JSON report too
