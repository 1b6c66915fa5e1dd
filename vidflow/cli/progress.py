"""Run progress on the command line, fed by events (the same ones the ledger records).

On a terminal a rich display: an overall bar (done/total, a total that never shrinks, an ETA),
one bar per step, what runs right now, and a line per topic for small batches. Otherwise plain
lines, one per node that ran, failed or was retried and one per finished topic, so CI logs
stay readable.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from ..errors import failure_text
from ..run.ledger import Event, EventType, StepCounts

__all__ = ["PlainProgress", "RichProgress", "interactive", "secs", "with_progress"]


def secs(x: float) -> str:
    if x < 60:
        return f"{x:.1f}s"
    m, s = divmod(int(x), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


def _count(p) -> str:
    """``12/40`` (``~40`` while the total is a forecast) and the ETA once it can be told."""
    eta = p.eta()
    return f"[{p.done}/{'~' if p.estimated else ''}{p.total}{f' eta {secs(eta)}' if eta is not None else ''}]"


class PlainProgress:
    """Line-based progress for logs (stdout is not a terminal): one line per node that ran,
    failed or was retried and per finished topic, each prefixed with done/total (a total that
    never shrinks) and an ETA."""

    def __init__(self, stream=None):
        from ..run.progress import Progress

        self.stream = stream or sys.stderr
        self.state = Progress()

    def emit(self, e: Event) -> None:
        self.state.feed(e)
        line = None
        if e.type is EventType.NODE_SUCCEEDED:
            extra = " (placeholder)" if e.data.get("placeholder") else ""
            line = f"ran     {e.node}{extra} {e.latency:.2f}s"
        elif e.type is EventType.NODE_FAILED:
            line = f"FAILED  {e.node}: {failure_text(e.error, e.message)}"
        elif e.type is EventType.NODE_RETRY:
            line = f"retry   {e.node} attempt {e.attempt}: {e.error}"
        elif e.type is EventType.TOPIC_FINISHED:
            if e.data.get("status") == "published":
                line = f"published {e.topic} -> {e.data.get('output')}"
                line += "".join(f"\n  warning: topic {e.topic}: {w}" for w in e.data.get("warnings", ()))
            elif e.data.get("status") == "failed":
                line = f"topic FAILED {e.topic}: {e.data.get('error', '')}"
        if line:
            print(f"{_count(self.state)} {line}", file=self.stream, flush=True)


#: Batches up to this many topics get one progress line per topic.
TOPIC_LINES = 8


class RichProgress:
    """An overall bar (done/total, never shrinking, and an ETA), one bar per step, what runs
    right now (compose included), and a line per topic for small batches."""

    def __init__(self, console: Console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from ..run.progress import Progress as State

        self.state = State()
        self.progress = Progress(
            TextColumn("[bold]{task.fields[step]:<14}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"), TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
        )
        self.overall = self.progress.add_task("", total=None, step="all", note="")
        self.tasks: dict[str, Any] = {}
        self.topic_tasks: dict[str, Any] = {}
        self.counts: dict[str, StepCounts] = {}

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def emit(self, e: Event) -> None:
        st = self.state
        st.feed(e)
        if e.type is EventType.RUN_STARTED and len(st.topics) <= TOPIC_LINES:
            for t in st.topics:
                self.topic_tasks[t] = self.progress.add_task("", total=None, step=t[:14], note="")
        if e.node:
            self._step(e)
        elif e.type is EventType.TOPIC_FINISHED and e.data.get("status") == "failed":
            self.progress.console.print(f"[red]topic failed:[/] {e.topic}")
        running = ", ".join(st.running_now(3))
        note = ("[dim]running:[/] " + running) if running else ""
        self.progress.update(self.overall, total=st.total, completed=st.done, note=(("~ " if st.estimated else "") + note).strip())
        tp = st.topics.get(e.topic) if e.topic else None
        if tp is not None and e.topic in self.topic_tasks:
            colour = {"published": "green", "failed": "red"}.get(tp.status, "")
            label = f"[{colour}]{tp.status}[/]" if colour else tp.status
            self.progress.update(self.topic_tasks[e.topic], total=max(tp.queued, tp.done), completed=tp.done, note=label)

    def _step(self, e: Event) -> None:
        c = self.counts.setdefault(e.step, StepCounts())
        if e.step not in self.tasks:
            self.tasks[e.step] = self.progress.add_task("", total=0, step=e.step, note="")
        if e.type is EventType.NODE_QUEUED:
            c.total += 1
        elif e.type is EventType.NODE_CACHED:
            c.cached += 1
        elif e.type is EventType.NODE_SUCCEEDED:
            c.ran += 1
        elif e.type is EventType.NODE_FAILED:
            c.failed += 1
            self.progress.console.print(f"[red]failed[/] {e.node}: {escape(failure_text(e.error, e.message))}")
        elif e.type is EventType.NODE_SKIPPED:
            c.skipped += 1
        note = f"{c.cached} cached" + (f", [red]{c.failed} failed[/]" if c.failed else "") + (f", {c.skipped} skipped" if c.skipped else "")
        self.progress.update(self.tasks[e.step], total=c.total, completed=c.done, note=note)


def with_progress(err: Console, interactive: bool, call, *args, **kwargs):
    """``asyncio.run(call(*args, sink=..., **kwargs))`` with rich progress for a person
    watching both streams, plain lines for logs and pipes."""
    if interactive:
        with RichProgress(err) as progress:
            return asyncio.run(call(*args, sink=progress, **kwargs))
    return asyncio.run(call(*args, sink=PlainProgress(), **kwargs))


def interactive(err: Console, *, plain: bool, as_json: bool) -> bool:
    return err.is_terminal and sys.stdout.isatty() and not plain and not as_json
