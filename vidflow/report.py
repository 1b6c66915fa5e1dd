"""Run reports: the ``--report`` document, the JSON summary, and a past run's record.

Everything here is computed from a run's events (``runs/<id>/events.jsonl``), so a report of a
finished run and ``vidflow status`` of the same run agree. The CLI only prints what these return.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UserError
from .run.ledger import Event, Summary, read_events, summarize

__all__ = ["PastRun", "check_report_path", "load_past_run", "run_report", "summary_dict", "write_report"]


def run_report(result: Any, loaded: Any) -> dict[str, Any]:
    """The ``--report`` document: per topic, and totals."""
    s = result.summary
    topics = []
    for t in loaded.topics:
        prefix = f"{t.id}/"
        nodes = {n: st for n, st in s.nodes.items() if n.startswith(prefix)}
        info = s.topics.get(t.id, {})
        failed = [f for f in s.failures if f["topic"] == t.id]
        status = info.get("status") or ("failed" if failed or any(v == "skipped" for v in nodes.values()) else "done")
        topics.append({
            "id": t.id,
            "topic": t.text,
            "status": status,
            "output": info.get("output"),
            "manifest": info.get("manifest"),
            "duration": info.get("duration"),
            "qa": info.get("qa"),
            "cost_usd": round(s.cost_by_topic.get(t.id, 0.0), 6),
            "nodes": {k: sum(1 for v in nodes.values() if v == k) for k in ("cached", "ran", "failed", "skipped")},
            "failed_nodes": [{"node": f["node"], "step": f["step"], "error": f["error"], "message": f["message"]} for f in failed],
        })
    return {
        "vidflow_report": 1,
        "run_id": result.run_id,
        "recipe": loaded.name,
        "exit_code": s.exit_code,
        "events": result.events_path,
        "topics": topics,
        "totals": {
            "topics": len(topics),
            "published": sum(1 for t in topics if t["status"] == "published"),
            "failed": sum(1 for t in topics if t["status"] == "failed"),
            "nodes": _node_counts(s),
            "cost_usd": round(s.cost_usd, 6),
            "cost_by_step": s.cost_by_step,
            "cost_by_provider": s.cost_by_provider,
            "seconds": round(s.elapsed, 3),
        },
    }


def _node_counts(s: Summary) -> dict[str, int]:
    return {"total": len(s.nodes), **{k: s.count(k) for k in ("cached", "ran", "failed", "skipped")}}


def check_report_path(path: str, *, flag: str = "--report") -> None:
    """Refuse a local report path that cannot be a file (a folder, or under a file) before any
    work, so a long run does not end in an error for want of a file name."""
    if "://" in path:  # a URL: the store says at write time
        return
    from .storage import file_in_the_way

    target = Path(path)
    if target.is_dir():
        raise UserError(f"{flag} {path}: is a folder; give a file path, e.g. {flag} {target / 'report.html'}")
    if target.exists() and not target.is_file():  # a device, a pipe: a report would replace it
        raise UserError(f"{flag} {path}: is not a regular file (a device or a pipe); give a file path")
    blocker = file_in_the_way(target)
    if blocker:
        raise UserError(f"{flag} {path}: {blocker} is a file, not a folder; give a path in a folder")


def write_report(path: str, result: Any, loaded: Any, settings: Any) -> None:
    """Write the ``--report`` document to ``path`` (a local path or a URL), atomically.

    A path ending in ``.html`` gets the HTML report (:mod:`vidflow.report_html`), else JSON.
    A path that cannot be written is a :class:`UserError` naming it.
    """
    from .storage import atomic_write, url_to_fs

    if path.lower().endswith((".html", ".htm")):
        from .report_html import write_html_report

        if not result.events_path:
            raise UserError(f"--report {path}: this run kept no record to draw the report from")
        write_html_report(path, result.run_id, read_events(result.events_path), settings, flag="--report")
        return
    fs, p = url_to_fs(path, **settings.storage_options(path))
    try:
        atomic_write(fs, p, (json.dumps(run_report(result, loaded), indent=2) + "\n").encode(), content_type="application/json")
    except OSError as e:
        raise UserError(f"--report {path}: cannot write it ({e.strerror or e}); give a writable file path") from None


def summary_dict(run_id: str, summary: Summary, events_path: str | None) -> dict[str, Any]:
    """A run's summary as JSON (``vidflow run --json``, ``vidflow status --json``)."""
    s = summary
    return {
        "run_id": run_id,
        "events": events_path,
        "exit_code": s.exit_code,
        "finished": s.finished,
        "interrupted": s.interrupted or not s.finished,
        "nodes": _node_counts(s),
        "steps": {k: vars(v) for k, v in s.steps.items()},
        "cost_usd": s.cost_usd,
        "cost_by_topic": s.cost_by_topic,
        "cost_by_step": s.cost_by_step,
        "cost_by_provider": s.cost_by_provider,
        "topics": s.topics,
        "failures": s.failures,
        "placeholders": s.placeholders,
    }


@dataclass
class PastRun:
    run_id: str
    events_path: str
    events: list[Event]
    summary: Summary

    @property
    def steps(self) -> list[str]:
        return list(dict.fromkeys(e.step for e in self.events if e.step))


def load_past_run(runs_dir: str, run_id: str | None = None) -> PastRun:
    """A recorded run (the latest by default), summarised from its events."""
    root = Path(runs_dir)
    runs = sorted((p for p in root.glob("*/events.jsonl")), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    if run_id:
        path = root / run_id / "events.jsonl"
        if not path.is_file():
            raise UserError(f"no run {run_id!r} in {runs_dir}/ (latest: {runs[-1].parent.name if runs else 'none'})")
    elif runs:
        path = runs[-1]
    else:
        raise UserError(f"no runs recorded in {runs_dir}/ yet; `vidflow run RECIPE` makes one")
    try:
        events = read_events(str(path))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path}: the run record cannot be read ({type(e).__name__}); it may be from another vidflow version") from None
    return PastRun(path.parent.name, str(path), events, summarize(events))
