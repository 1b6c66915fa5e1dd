"""A run is named by its snapshot (or --idempotency-key): the same submission twice is one run.

Through the real CLI in subprocesses, against a loopback OpenAI server that counts calls.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time


from tests.conftest import REPO
from tests.servers import OpenAIServer
from tests.servers.dialogue import dialogue_responder

TOPICS = ["Why is the sky blue?", "How do bees make honey?"]


def _recipe(project, oai, topics=TOPICS) -> None:
    (project / "recipe.yaml").write_text(f"""
vidflow: 1
name: identity
topics: {json.dumps(topics)}
characters: [nova, pip]
providers:
  writer: {{kind: text.litellm, model: openai/gpt-4o-mini, api_base: "{oai.url}/v1"}}
steps:
  script: {{uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "Explain. TOPIC: {{{{ topic }}}}"}}
""")


def _env(project) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDFLOW_")}
    env.update(PYTHONPATH=str(REPO), OPENAI_API_KEY="test-key", VIDFLOW_CACHE=str(project / "cache"), VIDFLOW_RUNS_DIR=str(project / "runs"))
    return env


def _run(project, *args: str, check: bool = True) -> tuple[int, dict | None, str]:
    p = subprocess.run([sys.executable, "-m", "vidflow", *args, "--json"], cwd=project, env=_env(project), capture_output=True, text=True, timeout=240)
    if check:
        assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, out, p.stderr


def _chat_calls(oai) -> int:
    return sum(1 for r in oai.requests if r.path.endswith("/chat/completions"))


def test_the_same_submission_twice_is_one_run_and_pays_once(project):
    with OpenAIServer(responder=dialogue_responder) as oai:
        _recipe(project, oai)
        _, first, _ = _run(project, "run", "recipe.yaml")
        assert _chat_calls(oai) == 2 and first["reused"] is False
        shutil.rmtree(project / "cache" / "ac", ignore_errors=True)  # even with the work gone from the cache
        _, again, err = _run(project, "run", "recipe.yaml")
        assert _chat_calls(oai) == 2  # zero provider calls the second time
        assert again["run_id"] == first["run_id"] and again["reused"] is True
        assert "already finished" in err
        # a different submission (another topic) is another run
        _recipe(project, oai, TOPICS[:1])
        _, other, _ = _run(project, "run", "recipe.yaml")
        assert other["run_id"] != first["run_id"] and other["reused"] is False


def test_an_idempotency_key_names_the_run_and_refuses_other_work(project):
    with OpenAIServer(responder=dialogue_responder) as oai:
        _recipe(project, oai)
        _, first, _ = _run(project, "run", "recipe.yaml", "--idempotency-key", "nightly-2026-11-28")
        _, again, _ = _run(project, "run", "recipe.yaml", "--idempotency-key", "nightly-2026-11-28")
        assert again["run_id"] == first["run_id"] and again["reused"] is True and _chat_calls(oai) == 2
        _recipe(project, oai, TOPICS[:1])
        code, _, err = _run(project, "run", "recipe.yaml", "--idempotency-key", "nightly-2026-11-28", check=False)
        assert code == 2 and "was used for a different submission" in err and "Traceback" not in err
        _, forced, _ = _run(project, "run", "recipe.yaml", "--new-run")
        assert forced["run_id"] not in (first["run_id"],) and forced["reused"] is False


def test_a_run_being_made_elsewhere_is_waited_for_not_made_twice(project):
    with OpenAIServer(responder=dialogue_responder, latency=15) as oai:  # the holder stays inside its first call
        _recipe(project, oai)
        env = _env(project)
        holder = subprocess.Popen([sys.executable, "-m", "vidflow", "run", "recipe.yaml", "--json"], cwd=project, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not oai.requests and time.monotonic() < deadline:  # the holder owns the run now
            time.sleep(0.05)
        code, _, err = _run(project, "run", "recipe.yaml", check=False)
        assert code == 2 and "being made by another process" in err and "--wait" in err
        _, waited, _ = _run(project, "run", "recipe.yaml", "--wait")
        out, herr = holder.communicate(timeout=120)
        assert holder.returncode == 0, herr[-2000:]
        assert waited["reused"] is True and waited["run_id"] == json.loads(out)["run_id"]
        assert _chat_calls(oai) == 2


def test_an_interrupted_run_runs_again_under_its_id_keeping_the_old_attempt(project):
    with OpenAIServer(responder=dialogue_responder, latency=30) as oai:
        _recipe(project, oai)
        holder = subprocess.Popen([sys.executable, "-m", "vidflow", "run", "recipe.yaml", "--json"], cwd=project, env=_env(project),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not oai.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        oai.latency = 0.0
        _, again, _ = _run(project, "run", "recipe.yaml")
    assert again["reused"] is False and again["exit_code"] == 0
    folder = project / "runs" / again["run_id"]
    assert (folder / "events.1.jsonl").is_file() and (folder / "events.jsonl").is_file()


def test_rerun_repeats_the_recorded_snapshot_even_after_the_files_changed(project):
    with OpenAIServer(responder=dialogue_responder) as oai:
        _recipe(project, oai)
        _, first, _ = _run(project, "run", "recipe.yaml")
        _recipe(project, oai, ["Something else entirely"])
        (project / "characters" / "nova.yaml").write_text("broken: [")  # the files now differ, even broken
        _, again, _ = _run(project, "rerun", first["run_id"])
    assert again["run_id"] == first["run_id"] and again["exit_code"] == 0
    assert sorted(again["topics"]) == sorted(["why-is-the-sky-blue", "how-do-bees-make-honey"])
    assert _chat_calls(oai) == 2  # the cache still had the snapshot's work: nothing paid again
    restored = (project / "runs" / first["run_id"] / "snapshot" / "recipe.yaml").read_text()
    assert "Why is the sky blue?" in restored


def test_rerun_of_an_unknown_run_is_a_clear_error(project):
    code, _, err = _run(project, "rerun", "r-0000000000000000", check=False)
    assert code == 2 and "no stored snapshot" in err and "Traceback" not in err


OFFLINE = """
vidflow: 1
name: intact
topics: ["Why is the sky blue?"]
characters: [nova, pip]
providers:
  writer: {kind: text.offline}
  voice: {kind: speech.espeak}
  painter: {kind: image.procedural}
steps:
  script: {uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "{{ topic }}"}
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
  art: {for_each: script.scenes, uses: painter, prompt: "{{ item.image_prompt }}"}
  video: {compose: vertical}
  publish: {to: "out/{{ topic | slug }}.mp4"}
"""


def test_a_finished_run_is_reported_only_while_its_outputs_are_intact(project, capsys):
    from vidflow.cli import main

    def run() -> dict:
        assert main(["run", "recipe.yaml", "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    (project / "recipe.yaml").write_text(OFFLINE)
    first = run()
    assert run()["reused"] is True
    video = project / "out" / "why-is-the-sky-blue.mp4"
    data = bytearray(video.read_bytes())
    data[len(data) // 2] ^= 0xFF  # corrupted in place, same size
    video.write_bytes(bytes(data))
    again = run()
    assert again["reused"] is False and again["run_id"] == first["run_id"]
    assert again["nodes"]["ran"] == 1  # only publish: the video came from the cache, written again
    assert run()["reused"] is True
