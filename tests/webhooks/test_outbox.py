"""`notify:` in a recipe: events filtered per endpoint, kept in the outbox while the receiver is
unreachable (every attempt recorded), sent by the next command; failures and reviews reported;
bad settings are one clear message; concurrent senders never send an event twice."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections import Counter


from tests.engine.util import project_settings, run_recipe, write
from tests.webhooks.receiver import Receiver
from vidflow.cli import main
from vidflow.notify import Outbox
from vidflow.notify.deliver import flush

RAW = b"another-CANARY-key-for-hooks-42"
SECRET = "whsec_" + base64.b64encode(RAW).decode()

RECIPE = """
vidflow: 1
name: hooks-{name}
topics: ["Why is the sky blue?", "How do bees make honey?"]
characters: [nova, pip]
notify:
  url: {url}
  secret_env: HOOKS_SIGNING
  events: {events}
providers:
  writer: {{kind: text.fake}}
  voice: {{kind: speech.fake}}
  painter: {{kind: {painter}}}
steps:
  script:
    uses: writer
    output: dialogue
    lines: 2
    approve: {approve}
    prompt: "Explain {{{{ topic }}}} with {{{{ characters | names }}}}"
  speech: {{for_each: script.lines, uses: voice, text: "{{{{ item.text }}}}", voice: "{{{{ item.speaker }}}}"}}
  art: {{for_each: script.scenes, uses: painter, prompt: "{{{{ item.image_prompt }}}}"}}
"""
ENDS = "[topic.completed, topic.failed, topic.awaiting_review, run.completed, run.failed, run.awaiting_review]"


def _recipe(project, url, *, name="a", events=ENDS, painter="image.fake", approve="false"):
    return write(project, RECIPE.format(name=name, url=url, events=events, painter=painter, approve=approve))


def _run(path, registry, project):
    """A run through the library: secrets come from the settings' environment, as from the CLI's."""
    return run_recipe(path, registry, project, settings=project_settings(project, env={"HOOKS_SIGNING": SECRET}))


def _bodies(outbox: Outbox) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in outbox.pending() + outbox.delivered():
        out.setdefault(r.type, []).append(json.loads(r.body)["data"])
    return out


def test_an_unreachable_receiver_keeps_events_in_the_outbox_until_the_next_command(project, registry, monkeypatch, capsys):
    monkeypatch.setenv("HOOKS_SIGNING", SECRET)  # a name the redactor would not guess: still never written
    receiver = Receiver.reserve(SECRET)  # nothing listens yet: connection refused
    path = _recipe(project, receiver.url)
    result = _run(path, registry, project)
    assert result.exit_code == 0

    outbox = Outbox(str(project / "runs"))
    pending = outbox.pending()
    assert Counter(r.type for r in pending) == Counter({"topic.completed": 2, "run.completed": 1})  # the recipe's filter
    tried = [a for r in pending for a in r.attempts]
    assert tried and all(a["status"] is None and "Connect" in a["error"] and a["at"] > 0 for a in tried)
    assert all(r.url == receiver.url and r.secret_env == "HOOKS_SIGNING" for r in pending)
    on_disk = "".join(p.read_text() for p in (project / "runs").rglob("*.json*"))
    assert SECRET.removeprefix("whsec_") not in on_disk and RAW.decode() not in on_disk

    assert main(["notify", "--runs-dir", str(project / "runs")]) == 1  # lists what waits, and why
    listing = capsys.readouterr()
    assert "3 webhook event(s) waiting" in listing.err and "Connect" in listing.out
    assert main(["notify", "--json", "--runs-dir", str(project / "runs")]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [p["type"] for p in doc["pending"]] == ["topic.completed", "topic.completed", "run.completed"]
    assert doc["pending"][0]["attempts"] and doc["pending"][0]["url"] == receiver.url

    receiver.start()
    try:
        assert main(["status", "--runs-dir", str(project / "runs")]) == 0  # any next command sends them
        assert main(["status", "--runs-dir", str(project / "runs")]) == 0
    finally:
        receiver.stop()
    assert outbox.pending() == []
    assert sorted(receiver.ids().values()) == [1, 1, 1] and all(d.verified for d in receiver.accepted)
    assert [d.type for d in receiver.accepted][-1] == "run.completed"  # in order: the run's end last
    done = [d.body["data"] for d in receiver.accepted if d.type == "topic.completed"]
    assert {d["status"] for d in done} == {"done"} and all(d["run_id"] == result.run_id for d in done)


def test_failed_and_awaiting_review_topics_are_reported(project, registry, monkeypatch):
    monkeypatch.setenv("HOOKS_SIGNING", SECRET)
    url = Receiver.reserve(SECRET).url
    failing = _run(_recipe(project, url, name="f", painter="image.failing", events="[]"), registry, project)
    assert failing.exit_code == 1
    bodies = _bodies(Outbox(str(project / "runs")))
    assert len(bodies["topic.failed"]) == 2 and all("test image service is down" in d["error"] for d in bodies["topic.failed"])
    (end,) = bodies["run.failed"]
    assert end["exit_code"] == 1 and end["failed"] == 2 and "image service is down" in end["error"]
    art = [d for d in bodies["topic.progress"] if d["step"] == "art"]
    assert len(art) == 2 and all(d["failed"] == d["nodes"] > 0 for d in art)
    assert "run.completed" not in bodies

    for p in (project / "runs" / "outbox").glob("*.json"):
        p.unlink()
    gated = _run(_recipe(project, url, name="g", approve="true", events="[]"), registry, project)
    assert gated.exit_code == 4
    bodies = _bodies(Outbox(str(project / "runs")))
    assert len(bodies["topic.awaiting_review"]) == 2
    assert all(d["awaiting"][0]["step"] == "script" and d["awaiting"][0]["look"] for d in bodies["topic.awaiting_review"])
    assert bodies["run.awaiting_review"][0]["exit_code"] == 4
    script = [d for d in bodies["topic.progress"] if d["step"] == "script"]
    assert len(script) == 2 and all(d["review"] == 1 for d in script)


def test_bad_notify_settings_are_one_clear_message(project, registry, monkeypatch, capsys):
    import vidflow.api as api

    monkeypatch.setattr(api, "default_registry", lambda: registry)
    _recipe(project, "ftp://example.com/hooks")
    assert main(["plan", "recipe.yaml", "--cache", str(project / "cache")]) == 2
    err = capsys.readouterr().err
    assert "recipe.yaml:" in err and "http:// or https://" in err and "Traceback" not in err

    _recipe(project, "http://127.0.0.1:9/hooks")
    assert main(["run", "recipe.yaml", "--cache", str(project / "cache")]) == 2  # $HOOKS_SIGNING not set
    err = capsys.readouterr().err
    assert "recipe.yaml:" in err and "$HOOKS_SIGNING is not set" in err and "Traceback" not in err

    monkeypatch.setenv("HOOKS_SIGNING", "whsec_not base64 at all!")
    assert main(["run", "recipe.yaml", "--cache", str(project / "cache")]) == 2
    err = capsys.readouterr().err
    assert "not a Standard Webhooks secret" in err and "not base64 at all" not in err
    assert not (project / "runs" / "outbox").exists()  # refused before anything ran

    monkeypatch.setenv("HOOKS_SIGNING", SECRET)
    _recipe(project, "http://127.0.0.1:9/hooks", events="[topic.finished]")
    assert main(["plan", "recipe.yaml", "--cache", str(project / "cache")]) == 2
    assert "unknown event topic.finished" in capsys.readouterr().err


def test_two_senders_at_once_send_each_event_once(project, registry, monkeypatch):
    monkeypatch.setenv("HOOKS_SIGNING", SECRET)
    receiver = Receiver.reserve(SECRET)
    _run(_recipe(project, receiver.url, events="[]"), registry, project)
    outbox = Outbox(str(project / "runs"))
    waiting = {r.id for r in outbox.pending()}
    assert len(waiting) > 10
    receiver.start()
    try:
        env = {"HOOKS_SIGNING": SECRET}.get
        threads = [threading.Thread(target=flush, args=(outbox, env), kwargs={"seconds": 60}) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        receiver.stop()
    assert receiver.ids() == Counter({i: 1 for i in waiting})
    assert outbox.pending() == []


def test_a_record_marked_delivered_before_a_crash_is_not_sent_again(project, registry, monkeypatch):
    monkeypatch.setenv("HOOKS_SIGNING", SECRET)
    receiver = Receiver.reserve(SECRET)
    _run(_recipe(project, receiver.url), registry, project)
    outbox = Outbox(str(project / "runs"))
    first, *rest = outbox.pending()
    # vidflow died after recording the 2xx, before moving the record out of the pending folder
    first.attempts.append({"at": time.time(), "status": 200})
    first.delivered = time.time()
    outbox._write(str(project / "runs" / "outbox" / first.name), first)
    receiver.start()
    try:
        result = flush(outbox, {"HOOKS_SIGNING": SECRET}.get)
    finally:
        receiver.stop()
    assert result == {"delivered": len(rest), "failed": 0, "pending": 0}
    assert first.id not in receiver.ids() and set(receiver.ids()) == {r.id for r in rest}
    assert first.name in {r.name for r in outbox.delivered()}
    # delivered records are kept a week, then pruned
    old, *recent = outbox.delivered()
    week = 8 * 86_400
    os.utime(project / "runs" / "outbox" / "delivered" / old.name, (time.time() - week, time.time() - week))
    assert outbox.prune() == 1
    assert {r.name for r in outbox.delivered()} == {r.name for r in recent}
