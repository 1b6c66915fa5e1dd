"""Canary keys never reach anything a run writes, even when every vendor echoes them.

A real recipe runs through the CLI (``python -m vidflow run ... --report``, a real process)
with canary API keys in its environment, against loopback OpenAI and ElevenLabs servers that
answer every call with an error echoing the credentials header: whole, truncated, as the
request id and in response headers; first as transient errors (retried), then permanent ones.
Text, speech (with a fallback), images (with a placeholder) all fail that way. Then no file under
the project (events, report, manifests, cache), nothing on stdout or stderr, and nothing
``vidflow status`` prints holds any 6+ character prefix or suffix of any canary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.servers import ElevenLabsServer, OpenAIServer
from tests.servers.canary import CANARIES, leaked, leaked_in_tree

RECIPE = """\
vidflow: 1
name: canary
topics: ["Why is the sky blue?"]
characters: [nova, pip]
providers:
  offline: {{kind: text.offline}}
  writer: {{kind: text.litellm, model: openai/gpt-4o-mini, api_base: "{oai}/v1", timeout: 10}}
  voice: {{kind: speech.elevenlabs, api_base: "{xi}", timeout: 10}}
  tts: {{kind: speech.openai, api_base: "{oai}/v1", timeout: 10}}
  painter: {{kind: image.litellm, model: openai/gpt-image-1, api_base: "{oai}/v1", timeout: 10}}
steps:
  hook:
    uses: writer
    prompt: "One catchy opening line about {{{{ topic }}}}"
  script:
    uses: offline
    output: dialogue
    lines: 2
    scenes: 1
    prompt: "Explain {{{{ topic }}}}"
  speech:
    for_each: script.lines
    uses: voice
    fallback: [tts]
    text: "{{{{ item.text }}}}"
    voice: "{{{{ item.speaker }}}}"
  art:
    for_each: script.scenes
    uses: painter
    on_failure: placeholder
    prompt: "{{{{ item.image_prompt }}}}"
"""


def _vidflow(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vidflow", *args], cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_canary_keys_echoed_by_every_vendor_reach_no_file_and_no_stream(project):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDFLOW_")}
    env.update(CANARIES)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    with OpenAIServer(api_key=CANARIES["OPENAI_API_KEY"]) as oai, ElevenLabsServer(api_key=CANARIES["ELEVENLABS_API_KEY"]) as xi:
        oai.echo_auth(500, 401)  # one transient echo (a retry event records it), then permanent ones
        xi.echo_auth(429, 400)
        (project / "recipe.yaml").write_text(RECIPE.format(oai=oai.url, xi=xi.url))
        run = _vidflow(project, env, "run", "recipe.yaml", "--report", "report.json", "--json")
        sent = [*oai.requests, *xi.requests]
    status = _vidflow(project, env, "status")
    status_json = _vidflow(project, env, "status", "--json")

    # the run really sent the canaries and really got them echoed back, and recorded the errors
    assert run.returncode == 1, run.stderr[-3000:]
    assert {r.path for r in sent} >= {"/v1/chat/completions", "/v1/images/generations", "/v1/audio/speech"}
    assert any(r.path.startswith("/v1/text-to-speech/") for r in sent)
    assert all((r.headers.get("authorization") or r.headers.get("xi-api-key", "")).endswith(tuple(CANARIES.values())) for r in sent)
    events = (next((project / "runs").glob("*/events.jsonl"))).read_text()
    assert "Invalid credentials" in events and '"node_retry"' in events and '"node_failed"' in events
    report = json.loads((project / "report.json").read_text())
    assert "Invalid credentials" in json.dumps(report)

    streams = {
        "run stdout": run.stdout, "run stderr": run.stderr, "status stdout": status.stdout, "status stderr": status.stderr,
        "status --json stdout": status_json.stdout, "status --json stderr": status_json.stderr,
    }  # fmt: skip
    leaks = {name: leaked(text, CANARIES.values()) for name, text in streams.items()}
    leaks = {name: found for name, found in leaks.items() if found}
    leaks.update(leaked_in_tree(project, CANARIES.values()))
    assert not leaks, f"canary fragments leaked: {leaks}"
