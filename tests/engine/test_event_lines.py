"""Event lines: the sink's fast encoding is the event, whole, as one JSON object per line."""

from __future__ import annotations

import json

import pytest

from vidflow.run.ledger import Event, EventType, JsonlSink, _LINE, read_events

EVENTS = [
    Event("r-1", EventType.RUN_STARTED, data={"recipe": "x", "topics": ["a"]}),
    Event("r-1", EventType.NODE_QUEUED, node="a/s", step="s", topic="a", kind="text.offline", provider="p"),
    Event("r-1", EventType.NODE_STARTED, node="a/s", step="s", topic="a", kind="text.offline", provider="p", attempt=1),
    Event("r-1", EventType.NODE_SUCCEEDED, node="a/s", step="s", topic="a", kind="text.offline", provider="p", attempt=1, latency=0.25, cost_usd=0.001, data={"key": "k" * 64}),
    Event("r-1", EventType.NODE_RETRY, node="a/s", step="s", topic="a", kind="text.offline", provider="q", attempt=2, error="RateLimitedError", message="429 \"slow\" é\u2028", data={"wait": 1.5}),
    Event("r-1", EventType.NODE_FAILED, node="é/ü[0]", step="ü", topic="é", kind="k"),
    Event("r-1", EventType.TOPIC_FINISHED, topic="a", data={"status": "done"}),
    Event("r-1", EventType.RUN_FINISHED, data={"interrupted": False}),
    Event('k-a,"b"', EventType.NODE_CACHED, node="a,b/s", step="s", topic="a,b", kind="k", provider="p"),  # commas and quotes in ids
]


def test_each_line_is_the_whole_event(tmp_path):
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(str(path))
    for e in EVENTS:
        sink.emit(e)
    sink.close()
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # (not splitlines: U+2028 is not a line end here)
    assert lines == [_LINE(e.as_dict()) for e in EVENTS]  # same keys, same order as as_dict
    assert [json.loads(line) for line in lines] == [e.as_dict() for e in EVENTS]
    assert [e.as_dict() for e in read_events(str(path))] == [e.as_dict() for e in EVENTS]


def test_a_last_line_cut_off_by_a_crash_is_left_out(tmp_path):
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(str(path))
    for e in EVENTS[:3]:
        sink.emit(e)
    sink.close()
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"run_id":"r-1","type":"node_su')  # the crash
    assert [e.as_dict() for e in read_events(str(path))] == [e.as_dict() for e in EVENTS[:3]]
    path.write_text(path.read_text(encoding="utf-8") + "\n" + _LINE(EVENTS[3].as_dict()) + "\n", encoding="utf-8")
    with pytest.raises(ValueError):  # a broken line in the middle is not a crash's trace: it is reported
        read_events(str(path))


def test_event_times_are_written_to_the_microsecond(tmp_path):
    """A run's times (event ``ts``) are the wall clock to the microsecond: short to write, and
    still within a microsecond of the clock."""
    import time

    from vidflow.run.ledger import stamp

    before = time.time()
    ts = stamp()
    assert before - 1e-6 <= ts <= time.time()
    assert round(ts, 6) == ts
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(str(path))
    sink.emit(Event("r-1", EventType.RUN_STARTED))
    sink.close()
    written = path.read_text(encoding="utf-8").split('"ts":')[1].split(",")[0].rstrip("}\n")
    assert len(written.split(".")[1]) <= 6, written


@pytest.mark.parametrize("ts", [1.0, 1.5, 2.000001, 1732860000.0, 1732860000.5, 1795940594.759567, 1795940594.000001, 8589934591.999999,
                                8589934592.5, 9453841537.628649, 0.25, 1e-05, 1.2345678901234567, 1732860000.123456789])
def test_a_time_is_written_as_its_repr(tmp_path, ts):
    """Times of whole microseconds are written without float's repr (integer arithmetic), and
    must read exactly as it: other times (below one second, past 2**33, finer than a
    microsecond) take the repr itself."""
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(str(path))
    e = Event("r-1", EventType.NODE_QUEUED, ts, node="a/s", step="s", topic="a", kind="k")
    sink.emit(e)
    sink.close()
    line = path.read_text(encoding="utf-8").rstrip("\n")
    assert line == _LINE(e.as_dict())
    assert f'"ts":{ts!r},' in line
