"""kill -9 while a clip's job is being polled, then run again: the same job is polled, paid once,
and the video made from the clip publishes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO
from tests.servers.video_openai import OpenAIVideoServer

pytestmark = [pytest.mark.slow]

RECIPE = """
vidflow: 1
name: killed
topics: ["Why is the sky blue?"]
characters: [nova, pip]
providers:
  writer: {{kind: text.offline}}
  voice: {{kind: speech.espeak}}
  director: {{kind: video.litellm, model: openai/sora-2, api_base: "{url}/v1", timeout: 10, poll_interval: 0.02, max_poll_interval: 0.05}}
steps:
  script: {{uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "{{{{ topic }}}}"}}
  clip: {{for_each: script.scenes, uses: director, seconds: 4, prompt: "{{{{ item.image_prompt }}}}"}}
  speech: {{for_each: script.lines, uses: voice, text: "{{{{ item.text }}}}", voice: "{{{{ item.speaker }}}}"}}
  video: {{compose: vertical, visuals: clip, width: 180, height: 320, fps: 12, preset: ultrafast, qa: false}}
  publish: {{to: "out/{{{{ topic | slug }}}}.mp4"}}
"""


def _start(project, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDFLOW_")}
    env.update(PYTHONPATH=str(REPO), OPENAI_API_KEY="test-key", VIDFLOW_CACHE=str(project / "cache"))
    return subprocess.Popen([sys.executable, "-m", "vidflow", "run", "recipe.yaml", *(args or ("--json",))],
                            cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_while_polling_then_rerun_submits_once_and_makes_the_clip(project):
    with OpenAIVideoServer(polls_to_complete=2) as srv:
        (project / "recipe.yaml").write_text(RECIPE.format(url=srv.url))
        srv.hold()
        first = _start(project)
        deadline = time.monotonic() + 60
        while sum(srv.polls.values()) < 3 and time.monotonic() < deadline:  # submitted, and being polled
            time.sleep(0.05)
        assert sum(srv.polls.values()) >= 3, first.communicate(timeout=5)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
        assert srv.submitted() == 1
        assert len(list((project / "cache" / "jobs").glob("*.json"))) == 1  # the job id survived the kill
        srv.release()
        second = _start(project)
        out, err = second.communicate(timeout=180)
        assert second.returncode == 0, err[-2000:]
        assert srv.submitted() == 1  # exactly one submit for the node, over both runs
        (job,) = srv.downloads
        published = json.loads(out)["topics"]["why-is-the-sky-blue"]
        assert published["status"] == "published" and (project / "out" / "why-is-the-sky-blue.mp4").stat().st_size > 0
        shown = subprocess.run([sys.executable, "-m", "vidflow", "show", "recipe.yaml", "why-is-the-sky-blue/clip[0]", "--json"], cwd=project,
                               env={**os.environ, "PYTHONPATH": str(REPO), "VIDFLOW_CACHE": str(project / "cache")}, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and srv.submitted() == 1, shown.stderr[-2000:]
    clip = json.loads(shown.stdout)["value"]  # the clip as cached
    assert clip["duration"] > 1.5 and clip["width"] == 96
    assert not list((project / "cache" / "jobs").glob("*.json"))
