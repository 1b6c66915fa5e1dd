"""AI video through litellm against loopback vendors: pay once per clip, whatever happens while polling.

Two wire protocols litellm speaks (``tests/servers/video_gemini.py``: Veo ``:predictLongRunning``
+ operations; ``tests/servers/video_openai.py``: ``/v1/videos``); jobs go queued -> in progress ->
completed or failed, counted in polls so nothing here depends on timing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.util import plan_recipe, project_settings, run_recipe, write
from tests.servers.base import Reply
from tests.servers.video_gemini import GeminiVideoServer
from tests.servers.video_openai import OpenAIVideoServer
from vidflow.providers.registry import default_registry

ENV = {"OPENAI_API_KEY": "test-key", "GEMINI_API_KEY": "test-key"}
VEO = "gemini/veo-3.1-fast-generate-preview"
SORA = "openai/sora-2"

RECIPE = """
vidflow: 1
name: ai-video
topics: {topics}
characters: [nova, pip]
{budget}
providers:
  writer: {{kind: text.offline}}
  director: {{kind: video.litellm, model: {model}, api_base: "{base}", timeout: 10, poll_interval: 0.01, max_poll_interval: 0.05, retry: {{attempts: 4, backoff: 0.01, max_backoff: 0.05}}}}
steps:
  script: {{uses: writer, output: dialogue, lines: 2, scenes: {scenes}, prompt: "{{{{ topic }}}}"}}
  clip:
    for_each: script.scenes
    uses: director
    seconds: 4
    prompt: "{{{{ topic }}}}: {{{{ item.image_prompt }}}}"
"""


def recipe(project: Path, srv, model: str, *, topics=("Why is the sky blue?",), scenes: int = 1, budget: str = "") -> Path:
    base = srv.url + "/v1" if model.startswith("openai/") else srv.url
    return write(project, RECIPE.format(topics=json.dumps(list(topics)), model=model, base=base, scenes=scenes, budget=budget))


def settings(project: Path):
    return project_settings(project, env=ENV)


def events(result) -> list[dict]:
    return [json.loads(line) for line in Path(result.events_path).read_text().splitlines()]


@pytest.mark.parametrize("server,model", [(GeminiVideoServer, VEO), (OpenAIVideoServer, SORA)])
def test_a_clip_is_submitted_once_polled_through_429s_and_500s_and_probed(project, server, model):
    with server(polls_to_complete=3, latency=0.01) as srv:
        srv.poll_faults(Reply(429, {"retry-after": "0"}, {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}),
                        Reply(500, {}, {"error": {"code": 500, "message": "internal", "status": "INTERNAL"}}))
        result = run_recipe(recipe(project, srv, model), default_registry(), project, settings=settings(project))
        assert result.exit_code == 0, [e["message"] for e in events(result) if e["type"] == "node_failed"]
        assert srv.submitted() == 1  # polling errors never submit again
        (job,) = srv.polls
        assert srv.polls[job] >= 3 and srv.downloads[job] == 1
    clip = result.outputs("clip")
    (value,) = clip.values()
    item = value[0] if isinstance(value, list) else value
    assert item["width"] == 96 and item["height"] == 160 and item["duration"] == pytest.approx(2.0, abs=0.1)
    retries = [e for e in events(result) if e["type"] == "node_retry"]
    assert {e["data"].get("status") for e in retries} >= {429, 500}
    # the second run is a cache hit: no submit, no poll
    with server(polls_to_complete=3) as srv2:
        again = run_recipe(recipe(project, srv2, model), default_registry(), project, settings=settings(project))
        assert again.exit_code == 0 and srv2.submitted() == 0 and not srv2.requests


def test_a_500_on_status_never_submits_again_and_the_job_id_is_recorded_before_polling(project):
    with GeminiVideoServer(polls_to_complete=2) as srv:
        srv.poll_faults(*[Reply(500, {}, {"error": {"code": 500, "message": "internal", "status": "INTERNAL"}})] * 3)
        result = run_recipe(recipe(project, srv, VEO), default_registry(), project, settings=settings(project))
        assert result.exit_code == 0, result.summary
        assert srv.submitted() == 1
    # the job record is gone once the clip is cached
    assert not list((project / "cache" / "jobs").glob("*.json"))


def test_polls_failing_past_every_retry_keep_the_job_and_the_next_run_resumes_it(project):
    with GeminiVideoServer(polls_to_complete=2) as srv:
        srv.poll_faults(*[Reply(500, {}, {"error": {"code": 500, "message": "internal", "status": "INTERNAL"}})] * 4)  # attempts: 4
        path = recipe(project, srv, VEO)
        first = run_recipe(path, default_registry(), project, settings=settings(project))
        assert first.exit_code != 0 and srv.submitted() == 1
        assert "HTTP 500" in next(e["message"] for e in events(first) if e["type"] == "node_failed")
        second = run_recipe(path, default_registry(), project, settings=settings(project))
        assert second.exit_code == 0 and srv.submitted() == 1  # resumed, never submitted again


def test_a_vendor_failed_job_fails_only_its_topic_with_the_vendors_reason(project):
    topics = ("Why is the sky blue?", "How do dogs dream?")
    with OpenAIVideoServer(polls_to_complete=2, fail_when={"dogs": "The prompt was blocked by our moderation system"}) as srv:
        result = run_recipe(recipe(project, srv, SORA, topics=topics), default_registry(), project, settings=settings(project))
        assert srv.submitted() == 2
    assert result.exit_code != 0
    failed = [e for e in events(result) if e["type"] == "node_failed" and e["step"] == "clip"]
    assert len(failed) == 1 and "dogs" in failed[0]["topic"]
    assert "moderation system" in failed[0]["message"] and failed[0]["error"] == "ContentRejectedError"
    clips = result.outputs("clip")
    assert len(clips) == 1 and "sky" in next(iter(clips))


def test_a_job_past_the_timeout_is_resumed_and_a_forgotten_one_submitted_again_with_the_reason(project):
    with GeminiVideoServer(polls_to_complete=2) as srv:
        path = recipe(project, srv, VEO)
        text = path.read_text().replace("seconds: 4", "seconds: 4\n    timeout: 0.2")
        path.write_text(text)
        srv.hold()  # every poll answers "in progress": the step's timeout ends this run's wait
        first = run_recipe(path, default_registry(), project, settings=settings(project))
        assert first.exit_code != 0 and srv.submitted() == 1
        failed = [e for e in events(first) if e["type"] == "node_failed"]
        assert "did not finish within" in failed[0]["message"]
        assert len(list((project / "cache" / "jobs").glob("*.json"))) == 1  # kept: the next run resumes it
        srv.release()
        second = run_recipe(path, default_registry(), project, settings=settings(project))
        assert second.exit_code == 0 and srv.submitted() == 1  # the same job, paid once
        assert len([e for e in events(second) if e["type"] == "node_retry" and e.get("data", {}).get("resumed")]) == 1
        # a new clip whose job the vendor then forgets (expired): submitted again, and the log says why
        path.write_text(text.replace("{{ topic }}: ", "{{ topic }} - "))
        srv.hold()
        third = run_recipe(path, default_registry(), project, settings=settings(project))
        assert third.exit_code != 0 and srv.submitted() == 2
        srv.forget()
        srv.release()
        fourth = run_recipe(path, default_registry(), project, settings=settings(project))
        assert fourth.exit_code == 0, [e["message"] for e in events(fourth) if e["type"] == "node_failed"]
        assert srv.submitted() == 3
        why = [e for e in events(fourth) if e["type"] == "node_retry" and e.get("data", {}).get("resubmit")]
        assert len(why) == 1 and "unknown to the vendor" in why[0]["message"]


def test_budget_refuses_a_clip_that_would_pass_the_cap(project):
    with GeminiVideoServer(polls_to_complete=1) as srv:
        # veo fast at 720p: 0.10 USD a second; one 4 s clip is 0.40 USD, two would pass 0.5
        path = recipe(project, srv, VEO, scenes=2, budget="budget: {max_usd: 0.5}")
        result = run_recipe(path, default_registry(), project, settings=settings(project))
        assert srv.submitted() == 1
    failed = [e for e in events(result) if e["type"] == "node_failed" and e["step"] == "clip"]
    assert len(failed) == 1 and failed[0]["error"] == "BudgetExceededError"


def test_plan_shows_video_seconds_cost_and_time(project):
    with GeminiVideoServer() as srv:
        path = recipe(project, srv, VEO, topics=("A", "B"), scenes=3)
        report, _ = plan_recipe(path, default_registry(), project, settings=settings(project))
        assert not srv.requests
    row = next(r for r in report.rows if r.step == "clip")
    assert row.to_run >= 2 and row.units["clips"] == row.to_run and row.units["video_seconds"] == 4 * row.to_run
    assert row.cost_usd == pytest.approx(0.10 * 4 * row.to_run)  # veo fast, 720p: 0.10 USD a second
    assert row.seconds > 0 and report.wall_seconds >= 90  # the adapter's typical job time


def test_polling_does_not_hold_the_providers_concurrency_slot(project):
    import threading
    import time

    with OpenAIVideoServer(polls_to_complete=2) as srv:
        path = recipe(project, srv, SORA, scenes=2)
        path.write_text(path.read_text().replace("timeout: 10,", "timeout: 10, concurrency: 1,"))
        srv.hold()  # no job finishes until both are submitted (or 60 s pass)
        out: dict = {}
        runner = threading.Thread(target=lambda: out.setdefault("r", run_recipe(path, default_registry(), project, settings=settings(project))))
        runner.start()
        deadline = time.monotonic() + 60
        while srv.submitted() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        both_in_flight = srv.submitted() == 2 and not srv.downloads
        srv.release()
        runner.join(timeout=120)
    assert both_in_flight  # the second clip was submitted while the first was still being polled
    assert out["r"].exit_code == 0


def test_a_fallbacks_job_never_replaces_the_record_of_a_primary_job_still_running(project):
    """The primary's job outlives this run's wait (it may still finish, and it was paid for); the
    fallback makes the clip. The primary's job record is kept, and the fallback's is its own."""
    with GeminiVideoServer(polls_to_complete=2) as primary, GeminiVideoServer(polls_to_complete=2) as backup:
        path = recipe(project, primary, VEO)
        text = path.read_text().replace("seconds: 4", "seconds: 4\n    timeout: 0.2\n    fallback: [backup]")
        text = text.replace("steps:", f'  backup: {{kind: video.litellm, model: {VEO}, api_base: "{backup.url}", timeout: 10, poll_interval: 0.01}}\nsteps:')
        path.write_text(text)
        primary.hold()  # the primary's job stays "in progress" past the step's timeout
        result = run_recipe(path, default_registry(), project, settings=settings(project))
        assert result.exit_code == 0, [e["message"] for e in events(result) if e["type"] == "node_failed"]
        assert primary.submitted() == 1 and backup.submitted() == 1
        made = [e for e in events(result) if e["type"] == "node_succeeded" and "/clip" in e["node"]]
        assert made[0].get("data", {}).get("fallback") == "backup"
        [record] = [json.loads(p.read_text()) for p in (project / "cache" / "jobs").glob("*.json")]
        assert record["provider"] == "director"  # the primary's job, still resumable
