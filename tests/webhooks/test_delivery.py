"""Webhooks end to end (issue 12, must-show 3): a receiver on 127.0.0.1 that is down for the first
half of a run gets every event exactly once afterwards, each verified with `standardwebhooks`;
the run neither fails nor waits; the secret is nowhere on disk or in the output."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections import Counter
from typing import ClassVar

import pytest

from tests import fakes
from tests.engine.util import write
from tests.webhooks.receiver import Receiver
from vidflow.cli import main
from vidflow.notify import Outbox

RAW = b"CANARY-webhook-key-0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(RAW).decode()

RECIPE = """
vidflow: 1
name: hooked
topics: ["Why is the sky blue?", "How do bees make honey?"]
characters: [nova, pip]
providers:
  writer: {kind: text.fake}
  voice: {kind: speech.flip}
steps:
  script:
    uses: writer
    output: dialogue
    lines: 2
    prompt: "Explain {{ topic }} with {{ characters | names }}."
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
  video: {compose: vertical, width: 180, height: 320, preset: ultrafast, pause: 0.1, qa: false}  # the fake voice is silent
  publish: {to: "out/{{ topic | slug }}.mp4"}
"""
TOPICS = ("why-is-the-sky-blue", "how-do-bees-make-honey")


class FlipSpeech(fakes.PaidSpeech):
    """A paid voice whose first call brings the receiver back up, once it has refused a delivery:
    events before this point meet a receiver that is down, events after it one that is up."""

    kind: ClassVar[str] = "speech.flip"
    receiver: ClassVar[Receiver | None] = None

    async def synthesize(self, req):
        r = type(self).receiver
        if r is not None and r.down:
            await asyncio.to_thread(_wait_for_refusal, r)
            r.down = False
        return await super().synthesize(req)


def _wait_for_refusal(r: Receiver) -> None:
    for _ in range(3000):  # the deliverer was woken by the first events: it tries at once
        with r.lock:
            if r.refused:
                return
        threading.Event().wait(0.01)
    raise AssertionError("the background deliverer never tried while the receiver was down")


@pytest.fixture
def hooked(project, registry, monkeypatch):
    import vidflow.api as api

    registry.register(FlipSpeech.kind, FlipSpeech)
    monkeypatch.setattr(api, "default_registry", lambda: registry)
    monkeypatch.setenv("VIDFLOW_WEBHOOK_SECRET", SECRET)
    write(project, RECIPE)
    yield project
    FlipSpeech.receiver = None


def _everything_written(project) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in project.rglob("*") if p.is_file() and "characters" not in p.parts)


@pytest.mark.ffmpeg
def test_a_receiver_down_for_the_first_half_gets_every_event_once_signed(hooked, capsys):
    project = hooked
    receiver = Receiver(SECRET).start()
    receiver.down = True  # 503 until the first speech call
    FlipSpeech.receiver = receiver
    args = ["--cache", str(project / "cache"), "--runs-dir", str(project / "runs")]
    try:
        assert main(["run", "recipe.yaml", *args, "--notify", receiver.url, "--plain"]) == 0  # the receiver never fails the run
        assert receiver.refused, "the first half met a receiver that was down"
        assert main(["notify", "--flush", "--runs-dir", str(project / "runs")]) == 0
        out = capsys.readouterr()
        # a further command finds nothing to send: no event goes twice
        assert main(["status", "--runs-dir", str(project / "runs")]) == 0
        assert main(["notify", "--flush", "--runs-dir", str(project / "runs")]) == 0
    finally:
        receiver.stop()

    outbox = Outbox(str(project / "runs"))
    assert outbox.pending() == []
    delivered = outbox.delivered()
    ids = receiver.ids()
    assert set(ids) == {r.id for r in delivered} and all(n == 1 for n in ids.values())  # every event, exactly once
    assert all(d.verified for d in receiver.accepted + receiver.refused)
    types = receiver.types()
    assert types == Counter({"run.accepted": 1, "topic.accepted": 2, "run.started": 1, "topic.started": 2,
                             "topic.progress": 8, "topic.completed": 2, "run.completed": 1})
    # the events that met the outage carry their refused attempts, then the 2xx
    early = [r for r in delivered if r.type == "run.accepted"][0]
    assert [a["status"] for a in early.attempts][0] == 503 and early.attempts[-1]["status"] == 204
    assert all({"at", "status"} <= a.keys() for r in delivered for a in r.attempts)
    assert any(a.get("error") == "HTTP 503" for a in early.attempts)

    by_type = {}
    for d in receiver.accepted:
        by_type.setdefault(d.type, []).append(d.body["data"])
    run_id = by_type["run.completed"][0]["run_id"]
    summary = json.loads((project / "runs" / run_id / "events.jsonl").read_text().splitlines()[0])
    assert summary["type"] == "run_started"
    completed = {d["topic"]: d for d in by_type["topic.completed"]}
    assert set(completed) == set(TOPICS)
    for t in TOPICS:
        assert (project / "out" / f"{t}.mp4").exists() and completed[t]["output"].endswith(f"out/{t}.mp4")
        assert completed[t]["cost_usd"] > 0  # the paid voice's cost
    final = by_type["run.completed"][0]
    assert final["exit_code"] == 0 and final["published"] == 2
    assert final["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in completed.values()))
    assert sorted(o["topic"] for o in final["outputs"]) == sorted(TOPICS)
    steps = Counter((d["topic"], d["step"]) for d in by_type["topic.progress"])
    assert steps == Counter({(t, s): 1 for t in TOPICS for s in ("script", "speech", "video", "publish")})

    # the canary secret is in no record, no log line, no output
    written = _everything_written(project) + out.out + out.err
    for needle in (SECRET, SECRET.removeprefix("whsec_"), RAW.decode()):
        assert needle not in written
