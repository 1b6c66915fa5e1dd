"""Two vidflow processes on one cache never pay twice for a node (local and S3), and a holder
killed mid-call does not block the other one beyond its lease."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.conftest import REPO
from tests.servers import OpenAIServer
from tests.servers.dialogue import dialogue_responder

pytestmark = [pytest.mark.slow]

TOPICS = ["Why is the sky blue?", "How do bees make honey?", "What is a rainbow?", "Why do cats purr?"]


def _recipe(project, oai) -> None:
    (project / "recipe.yaml").write_text(f"""
vidflow: 1
name: leases
topics: {json.dumps(TOPICS)}
characters: [nova, pip]
providers:
  writer: {{kind: text.litellm, model: openai/gpt-4o-mini, api_base: "{oai.url}/v1", concurrency: 4}}
  painter: {{kind: image.litellm, model: openai/gpt-image-1, api_base: "{oai.url}/v1", concurrency: 4}}
steps:
  script: {{uses: writer, output: dialogue, lines: 2, scenes: 2, prompt: "Explain. TOPIC: {{{{ topic }}}}"}}
  art: {{for_each: script.scenes, uses: painter, prompt: "{{{{ item.image_prompt }}}}"}}
""")


def _env(cache: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDFLOW_")}
    env.update(PYTHONPATH=str(REPO), OPENAI_API_KEY="test-key", VIDFLOW_CACHE=cache, **extra)
    return env


def _start(project, env, *topics: str) -> subprocess.Popen:
    only = [a for t in topics for a in ("--only", t)]
    return subprocess.Popen([sys.executable, "-m", "vidflow", "run", "recipe.yaml", "--json", *only], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _calls(oai) -> Counter:
    """Vendor calls per distinct request body (a retried call would count twice)."""
    return Counter(json.dumps(r.json, sort_keys=True) for r in oai.requests if r.json is not None and r.status == 200)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_two_processes_with_overlapping_topics_pay_each_call_once(project, where, request):
    cache, extra = str(project / "cache"), {}
    if where == "s3":
        request.getfixturevalue("s3")  # (the moto server, for its endpoint)
        cache, extra = "s3://vidflow-test/cache", {"VIDFLOW_S3_ENDPOINT_URL": os.environ["VIDFLOW_S3_ENDPOINT_URL"]}
    with OpenAIServer(responder=dialogue_responder, latency=0.5) as oai:
        _recipe(project, oai)
        env = _env(cache, **extra)
        a = _start(project, env, *TOPICS[:3])
        b = _start(project, env, *TOPICS[1:])
        outs = [p.communicate(timeout=240) for p in (a, b)]
        assert a.returncode == 0 and b.returncode == 0, [o[1][-2000:] for o in outs]
        calls = _calls(oai)
    assert calls and max(calls.values()) == 1, calls.most_common(3)
    assert len(calls) == 4 * (1 + 2)  # every topic's script and its two images, once
    waited = [json.loads(o[0])["nodes"]["cached"] for o in outs]
    assert sum(waited) > 0  # the overlap was served from the other process's work


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_killed_lease_holder_blocks_the_other_process_only_until_its_lease_ends(project, where, request):
    cache, extra = str(project / "cache"), {"VIDFLOW_LEASE_TTL": "3"}
    if where == "s3":
        request.getfixturevalue("s3")
        cache, extra = "s3://vidflow-test/cache", {**extra, "VIDFLOW_S3_ENDPOINT_URL": os.environ["VIDFLOW_S3_ENDPOINT_URL"]}
    with OpenAIServer(responder=dialogue_responder, latency=60) as oai:
        _recipe(project, oai)
        env = _env(cache, **extra)
        holder = _start(project, env, TOPICS[0])
        deadline = time.monotonic() + 60
        while not oai.requests and time.monotonic() < deadline:  # the holder is inside its call
            time.sleep(0.05)
        assert oai.requests, holder.communicate(timeout=5)
        killed_at = time.monotonic()
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=10)  # reaps it and closes its pipes (wait() would leave them open)
        oai.latency = 0.1
        other = _start(project, env, TOPICS[0])
        out, err = other.communicate(timeout=120)
        assert other.returncode == 0, err[-2000:]
        script_calls = [r for r in oai.requests if r.path.endswith("/chat/completions")]
    assert len(script_calls) == 2  # the killed holder's call and the other process's, no more
    waited = script_calls[1].t_start - killed_at
    # local: the kernel dropped the dead holder's lock at once; S3: its lease had to expire (3 s)
    assert waited < 30 and (where == "local" or waited >= 2.5), waited
