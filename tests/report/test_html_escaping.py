"""The HTML report treats every text from a run as text: topics, vendor errors, QA notes, paths."""

from __future__ import annotations

import time

from tests.report.chromium import Elements, dump_dom
from vidflow.report_html import render_html, timeline
from vidflow.run.ledger import Event, EventType

EVIL = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&'


def _events() -> list[Event]:
    t = time.time()
    run = "r1"
    node = f"{EVIL}/script"
    return [
        Event(run, EventType.RUN_STARTED, t, data={"recipe": EVIL, "topics": [EVIL]}),
        Event(run, EventType.NODE_QUEUED, t, node=node, step=EVIL, topic=EVIL, kind="text.offline", provider=EVIL),
        Event(run, EventType.NODE_STARTED, t + 0.1, node=node, step=EVIL, topic=EVIL, provider=EVIL, attempt=1),
        Event(run, EventType.NODE_FAILED, t + 0.5, node=node, step=EVIL, topic=EVIL, provider=EVIL, error=EVIL, message=f"vendor said: {EVIL}", latency=0.4),
        Event(run, EventType.NODE_QUEUED, t, node="ok/video", step="video", topic="ok"),
        Event(run, EventType.NODE_STARTED, t + 0.2, node="ok/video", step="video", topic="ok", attempt=1),
        Event(run, EventType.NODE_SUCCEEDED, t + 0.9, node="ok/video", step="video", topic="ok", latency=0.7, data={"key": "a" * 64}),
        Event(run, EventType.NODE_QUEUED, t, node="ok/speech[0]", step="speech", topic="ok", provider="voice"),
        Event(run, EventType.NODE_CACHED, t + 0.05, node="ok/speech[0]", step="speech", topic="ok", provider="voice", data={"key": "b" * 64}),
        Event(run, EventType.TOPIC_FINISHED, t + 1, topic=EVIL, data={"status": "failed", "topic": EVIL, "error": EVIL}),
        Event(run, EventType.TOPIC_FINISHED, t + 1, topic="ok", data={
            "status": "published", "topic": "ok", "output": f"javascript:alert(3)//{EVIL}", "duration": 3.0,
            "qa": {"note": EVIL, "loudness_lufs": -14.2},
        }),
        Event(run, EventType.RUN_FINISHED, t + 1.1, data={"interrupted": False}),
    ]


def _check(doc: str) -> None:
    page = Elements(doc)
    assert not [t for t, _ in page.tags if t == "script"], "a <script> element got in"
    assert not [a for _, a in page.tags for k in a if k.startswith("on")], "an event handler attribute got in"
    assert not [a for _, a in page.tags if (a.get("href") or "").lower().startswith("javascript:")]
    assert not [a for t, a in page.tags if t == "img" and a.get("src") == "x"]
    text = "".join(page.text)
    assert EVIL in text and f"vendor said: {EVIL}" in text  # shown, as text


def test_every_text_is_escaped():
    doc = render_html(EVIL, _events())
    _check(doc)
    assert doc.count("<script") == 0 and "&lt;script&gt;" in doc


def test_the_browser_builds_no_element_from_run_text(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(EVIL, _events()), encoding="utf-8")
    _check(dump_dom(page, tmp_path / "profile"))


def test_timeline_lanes_bars_and_marks():
    tl = timeline(_events())
    assert tl.lanes == [EVIL, "voice", "cpu"]  # provider lanes first, local work last
    assert [(b.node, b.status) for b in tl.bars] == [(f"{EVIL}/script", "failed"), ("ok/video", "ran")]
    assert [c[0] for c in tl.cached] == ["ok/speech[0]"]
    video = tl.bars[1]
    assert video.lane == "cpu" and round(video.end - video.start, 3) == 0.7


def test_a_node_that_failed_before_starting_has_no_bar():
    t = time.time()
    events = [
        Event("r", EventType.RUN_STARTED, t),
        Event("r", EventType.NODE_FAILED, t + 1, node="x/script", step="script", topic="x", error="TemplateError", message="undefined"),
        Event("r", EventType.RUN_FINISHED, t + 2),
    ]
    assert timeline(events).bars == []
    assert "undefined" in render_html("r", events)
