"""The HTML run report: one self-contained file drawn from a run's events.

``vidflow report RUN --html FILE`` and ``vidflow run ... --report FILE.html`` write it. It holds,
inline (CSS and SVG, no script, nothing fetched): a timeline with one lane per provider
instance and one for local work (``cpu``: compose, publish), one bar per node that ran (failed
attempts in red) and a tick per cached node; the cache hit rate; cost by topic, step and
provider; per topic its thumbnail (a frame of the published mp4, read with the imageio-ffmpeg
binary, embedded as a ``data:`` JPEG), duration, QA figures (``qa`` in the topic's event data)
and link; and every failure with its message.

Topics, error messages and QA notes are user or vendor text: every string goes through
:func:`html.escape`, links only keep ``http(s)``, ``s3``/``gs`` and local paths.
"""

from __future__ import annotations

import base64
import html
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import __version__
from .run.ledger import Event, EventType, Summary, summarize

__all__ = ["LANE_FILLS", "STEP_COLOURS", "Timeline", "render_html", "thumbnail", "timeline", "write_html_report"]

#: Lane backgrounds, alternating (tests find the lanes in a screenshot by these exact colours).
LANE_FILLS = ("#eef1f6", "#e1e6ef")
#: Bar colours, one per step in order of first appearance (saturated: never a lane colour).
STEP_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
FAILED_COLOUR = "#d62728"
_W, _LABEL, _ROW, _PAD = 1100, 170, 14, 8  # svg width, lane label column, bar row, lane padding


@dataclass
class Bar:
    node: str
    step: str
    lane: str
    start: float
    end: float
    status: str  # "ran" or "failed"
    detail: str
    row: int = 0


@dataclass
class Timeline:
    t0: float
    t1: float
    lanes: list[str]
    bars: list[Bar] = field(default_factory=list)
    cached: list[tuple[str, str, str, float]] = field(default_factory=list)  # node, step, lane, ts
    steps: list[str] = field(default_factory=list)


def timeline(events: Iterable[Event]) -> Timeline:
    """Bars (nodes that ran or failed) and marks (cached nodes) per lane, from events."""
    events = list(events)
    stamps = [e.ts for e in events] or [0.0]
    t0 = next((e.ts for e in events if e.type is EventType.RUN_STARTED), min(stamps))
    t1 = max(stamps)
    started: dict[str, float] = {}
    lanes: dict[str, None] = {}
    steps: dict[str, None] = {}
    tl = Timeline(t0, t1, [])
    for e in events:
        if not e.node:
            continue
        lane = e.provider or "cpu"
        if e.type is EventType.NODE_STARTED:
            started.setdefault(e.node, e.ts)
        elif e.type in (EventType.NODE_SUCCEEDED, EventType.NODE_FAILED):
            ok = e.type is EventType.NODE_SUCCEEDED
            if not ok and e.node not in started:
                continue  # failed before it started (a template, an upstream): listed under failures
            start = e.data.get("call_start") if isinstance(e.data.get("call_start"), (int, float)) else None
            start = start or started.get(e.node) or (e.ts - e.latency)
            what = f"{e.latency:.2f} s" + (f", ${e.cost_usd:.4f}" if e.cost_usd else "") + ("" if ok else f", {e.error}: {e.message}")
            tl.bars.append(Bar(e.node, e.step, lane, min(start, e.ts), e.ts, "ran" if ok else "failed", f"{e.node} ({lane}): {what}"))
        elif e.type is EventType.NODE_CACHED:
            tl.cached.append((e.node, e.step, lane, e.ts))
        else:
            continue
        lanes.setdefault(lane)
        steps.setdefault(e.step)
    tl.lanes = sorted(lanes, key=lambda lane: (lane == "cpu", list(lanes).index(lane)))
    tl.steps = list(steps)
    return tl


def _pack(bars: list[Bar]) -> int:
    """Give each bar of one lane a row so that bars in a row never overlap; the row count."""
    ends: list[float] = []
    for b in sorted(bars, key=lambda b: (b.start, b.end)):
        for i, end in enumerate(ends):
            if end <= b.start:
                ends[i], b.row = b.end, i
                break
        else:
            b.row = len(ends)
            ends.append(b.end)
    return max(1, len(ends))


def _svg(tl: Timeline) -> str:
    e = html.escape
    span = max(tl.t1 - tl.t0, 1e-3)
    plot = _W - _LABEL - 20

    def x(t: float) -> float:
        return _LABEL + (t - tl.t0) / span * plot

    colour = {s: STEP_COLOURS[i % len(STEP_COLOURS)] for i, s in enumerate(tl.steps)}
    out, y = [], 24
    for i, lane in enumerate(tl.lanes):
        bars = [b for b in tl.bars if b.lane == lane]
        rows = _pack(bars)
        h = 6 + rows * _ROW + 2 * _PAD
        out.append(f'<g class="lane" data-lane="{e(lane)}"><rect class="lane-bg" x="0" y="{y}" width="{_W}" height="{h}" fill="{LANE_FILLS[i % 2]}"/>')
        out.append(f'<text class="lane-label" x="8" y="{y + h / 2 + 4:.1f}">{e(lane)}</text>')
        for node, step, _, ts in (c for c in tl.cached if c[2] == lane):
            out.append(f'<rect class="cached" data-cached="{e(node)}" x="{x(ts) - 1:.1f}" y="{y + 2}" width="2" height="6" fill="{colour[step]}"><title>{e(node)}: cached</title></rect>')
        for b in bars:
            w = max(2.0, x(b.end) - x(b.start))
            fill = FAILED_COLOUR if b.status == "failed" else colour[b.step]
            out.append(
                f'<rect class="bar" data-bar="{e(b.node)}" data-step="{e(b.step)}" data-lane="{e(lane)}" data-status="{b.status}" '
                f'x="{x(b.start):.1f}" y="{y + 8 + _PAD / 2 + b.row * _ROW}" width="{w:.1f}" height="{_ROW - 3}" fill="{fill}"><title>{e(b.detail)}</title></rect>'
            )
        out.append("</g>")
        y += h
    ticks = _ticks(span)
    axis = "".join(f'<text class="tick" x="{x(tl.t0 + t):.1f}" y="16">{t:g}s</text>' for t in ticks)
    grid = "".join(f'<line x1="{x(tl.t0 + t):.1f}" y1="20" x2="{x(tl.t0 + t):.1f}" y2="{y}" stroke="#c9ced8" stroke-width="0.5"/>' for t in ticks)
    legend = " ".join(f'<span class="key"><i style="background:{colour[s]}"></i>{e(s)}</span>' for s in tl.steps)
    svg = f'<svg id="timeline-svg" xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{y + 4}" viewBox="0 0 {_W} {y + 4}">{axis}{"".join(out)}{grid}</svg>'
    return svg + f'<p class="legend">{legend} <span class="key"><i style="background:{FAILED_COLOUR}"></i>failed</span> · thin ticks at the top of a lane: cached nodes</p>'


def _ticks(span: float) -> list[float]:
    step = next((s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600) if span / s <= 12), 7200)
    return [round(i * step, 3) for i in range(int(span / step) + 1)]


# --------------------------------------------------------------------------- thumbnails


def thumbnail(output: str, *, duration: float | None = None, storage_options: Mapping[str, Any] | None = None, width: int = 240) -> tuple[str | None, str]:
    """A ``data:image/jpeg`` URI of one frame of ``output`` (a path or URL), or (None, why not)."""
    from .media.ffmpeg import ffmpeg_exe

    local, tmp = output, None
    try:
        if "://" in output and not output.startswith("file://"):
            from .storage import url_to_fs

            fs, path = url_to_fs(output, **(storage_options or {}))
            fd, tmp = tempfile.mkstemp(suffix=".mp4")
            os.close(fd)
            fs.get_file(path, tmp)
            local = tmp
        elif not os.path.isfile(output.removeprefix("file://")):
            return None, "the published file is not there any more"
        at = min(1.0, (duration or 0.0) / 2)
        argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-ss", f"{at:.2f}", "-i", local.removeprefix("file://"),
                "-frames:v", "1", "-vf", f"scale={width}:-2", "-q:v", "5", "-f", "image2", "-c:v", "mjpeg", "pipe:1"]
        proc = subprocess.run(argv, check=False, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        if proc.returncode != 0 or not proc.stdout.startswith(b"\xff\xd8"):
            return None, "ffmpeg could not read a frame: " + proc.stderr.decode("utf-8", "replace").strip()[-200:]
        return "data:image/jpeg;base64," + base64.b64encode(proc.stdout).decode("ascii"), ""
    except (OSError, subprocess.SubprocessError, ValueError) as err:
        return None, f"no thumbnail: {type(err).__name__}: {err}"[:300]
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


# --------------------------------------------------------------------------- the page


def render_html(run_id: str, events: list[Event], *, thumbs: Mapping[str, tuple[str | None, str]] | None = None, summary: Summary | None = None) -> str:
    """The report page. ``thumbs``: topic id -> (data URI or None, why not)."""
    e = html.escape
    s = summary or summarize(events)
    thumbs = thumbs or {}
    tl = timeline(events)
    start = next((ev for ev in events if ev.type is EventType.RUN_STARTED), None)
    recipe = str(start.data.get("recipe", "")) if start else ""
    when = datetime.fromtimestamp(tl.t0, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if events else ""
    ran, cached, failed, skipped = (s.count(k) for k in ("ran", "cached", "failed", "skipped"))
    rate = f"{cached / (cached + ran + failed):.0%}" if cached + ran + failed else "n/a"
    state = "finished" if s.finished and not s.interrupted else ("interrupted" if s.interrupted else "no end recorded: still running, or killed")
    published = sum(1 for d in s.topics.values() if d.get("status") == "published")
    figures = [
        ("topics published", f"{published} of {len(s.topics) or len({n.split('/', 1)[0] for n in s.nodes})}"),
        ("nodes", f"{ran} ran, {cached} cached, {failed} failed, {skipped} skipped"),
        ("cache hit rate", f"{rate} ({cached} of {cached + ran + failed} nodes)"),
        ("cost", f"${s.cost_usd:.4f}"),
        ("wall time", f"{s.elapsed:.1f} s"),
    ]
    head = "".join(f'<div class="fig"><b>{e(v)}</b><span>{e(k)}</span></div>' for k, v in figures)
    parts = [
        (f"<header><h1>vidflow run {e(run_id)}</h1><p>recipe <b>{e(recipe)}</b> · {e(when)} · {e(state)} · exit code {s.exit_code}</p>"
         f'<div class="figs">{head}</div></header>'),
        f'<section id="timeline"><h2>Timeline</h2>{_svg(tl) if tl.lanes else "<p>No node ran or was cached.</p>"}</section>',
        f'<section id="topics"><h2>Topics</h2><div class="cards">{"".join(_topic_card(t, d, s, thumbs.get(t)) for t, d in s.topics.items())}</div></section>',
        '<section id="cost"><h2>Cost</h2><div class="tables">'
        + _table("by topic", s.cost_by_topic) + _table("by step", s.cost_by_step) + _table("by provider", s.cost_by_provider) + "</div></section>",
        _failures(s),
    ]
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="vidflow {e(__version__)}">'
        f"<title>vidflow run {e(run_id)}</title><style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def _topic_card(topic_id: str, d: Mapping[str, Any], s: Summary, thumb: tuple[str | None, str] | None) -> str:
    e = html.escape
    uri, why = thumb or (None, "no published video")
    img = f'<img class="thumb" alt="first seconds of {e(topic_id)}" src="{e(uri)}">' if uri else f'<div class="thumb none">{e(why)}</div>'
    status = str(d.get("status", ""))
    rows = [("status", status), ("duration", f"{d['duration']:.1f} s" if isinstance(d.get("duration"), (int, float)) else "—"),
            ("cost", f"${s.cost_by_topic.get(topic_id, 0.0):.4f}")]
    qa = d.get("qa")
    if isinstance(qa, Mapping):
        rows += [(f"QA {k}", v if isinstance(v, str) else f"{v:.3g}" if isinstance(v, float) else str(v)) for k, v in qa.items()]
    if d.get("error"):
        rows.append(("error", str(d["error"])))
    table = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in rows)
    link = _link(d.get("output"))
    return (f'<div class="card {e(status)}" data-topic="{e(topic_id)}">{img}<h3>{e(str(d.get("topic") or topic_id))}</h3>'
            f'<p class="id">{e(topic_id)}</p><table>{table}</table>{link}</div>')


def _link(output: Any) -> str:
    if not isinstance(output, str) or not output:
        return ""
    e = html.escape
    scheme = output.split("://", 1)[0].lower() if "://" in output else ""
    if scheme in ("http", "https", "s3", "gs", "file"):
        href = output
    elif not scheme and os.path.isabs(output):
        href = Path(output).as_uri()
    else:
        return f'<p class="link">{e(output)}</p>'
    return f'<p class="link"><a href="{e(href)}">{e(output)}</a></p>'


def _table(title: str, costs: Mapping[str, float]) -> str:
    e = html.escape
    rows = "".join(f"<tr><th>{e(k)}</th><td>${v:.4f}</td></tr>" for k, v in sorted(costs.items(), key=lambda kv: -kv[1]))
    return f'<table class="cost"><caption>{e(title)}</caption>{rows or "<tr><td>nothing was paid</td></tr>"}</table>'


def _failures(s: Summary) -> str:
    e = html.escape
    if not s.failures:
        return '<section id="failures"><h2>Failures</h2><p>None.</p></section>'
    rows = "".join(f'<tr class="failure"><td>{e(f["node"])}</td><td>{e(f["error"])}</td><td>{e(f["message"])}</td></tr>' for f in s.failures)
    return f'<section id="failures"><h2>Failures</h2><table><tr><th>node</th><th>error</th><th>message</th></tr>{rows}</table></section>'


_CSS = """
body{margin:0;padding:16px 24px;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 8px}header p{margin:0 0 8px;color:#4a5263}
.figs{display:flex;gap:12px;flex-wrap:wrap}.fig{background:#f7f8fa;border:1px solid #dde1e8;border-radius:6px;padding:6px 10px}
.fig b{display:block;font-size:15px}.fig span{color:#5b6475;font-size:12px}
svg text{font:11px system-ui,sans-serif;fill:#1d2330}.legend{font-size:12px;color:#4a5263}
.key{margin-right:10px;white-space:nowrap}.key i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:-1px}
.cards{display:flex;flex-wrap:wrap;gap:14px}.card{width:260px;border:1px solid #dde1e8;border-radius:8px;padding:10px}
.card.failed{border-color:#d62728}.card h3{font-size:14px;margin:8px 0 0}.card .id{color:#5b6475;margin:0 0 6px;font-size:12px}
.thumb{width:240px;display:block;border-radius:4px}.thumb.none{height:80px;background:#f3f4f6;color:#5b6475;font-size:12px;padding:8px;box-sizing:border-box}
table{border-collapse:collapse;font-size:13px}th,td{text-align:left;padding:2px 8px 2px 0;vertical-align:top}
.tables{display:flex;gap:32px;flex-wrap:wrap}caption{text-align:left;font-weight:600;padding-bottom:4px}
.link{word-break:break-all;font-size:12px}tr.failure td{border-top:1px solid #eee}
"""


def write_html_report(path: str, run_id: str, events: list[Event], settings: Any, *, thumbnails: bool = True, flag: str = "--html") -> None:
    """Write the report of a run (its events) to ``path`` (a local path or URL), atomically.
    A path that cannot be written is a :class:`UserError` naming ``flag`` and the path."""
    from .storage import atomic_write, url_to_fs

    s = summarize(events)
    thumbs: dict[str, tuple[str | None, str]] = {}
    if thumbnails:
        wanted = {t: d for t, d in s.topics.items() if d.get("status") == "published" and isinstance(d.get("output"), str)}

        def get(item: tuple[str, Mapping[str, Any]]) -> tuple[str | None, str]:
            out = item[1]["output"]
            return thumbnail(out, duration=item[1].get("duration"), storage_options=settings.storage_options(out))

        with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
            thumbs = dict(zip(wanted, pool.map(get, wanted.items())))
    page = render_html(run_id, events, thumbs=thumbs, summary=s)
    fs, p = url_to_fs(path, **settings.storage_options(path))
    try:
        atomic_write(fs, p, page.encode("utf-8"), content_type="text/html; charset=utf-8")
    except OSError as e:
        from .errors import UserError

        raise UserError(f"{flag} {path}: cannot write it ({e.strerror or e}); give a writable file path") from None
