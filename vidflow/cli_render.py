"""Everything the CLI shows: plan tables, run progress, the summary. The only module using rich.

Progress is fed by events (the same ones the ledger records). On a terminal it is a rich
progress display, one bar per step (done/total, cached); otherwise plain lines, one per node
that ran, failed or was skipped, and one per published topic, so CI logs stay readable.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from .run.ledger import Event, EventType, StepCounts

__all__ = ["do_plan", "do_run", "show_characters"]


def _console(stderr: bool = False) -> Console:
    con = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not con.is_terminal:  # logs and pipes: wide enough that tables are not truncated
        con = Console(stderr=stderr, highlight=False, soft_wrap=True, width=140)
    return con


def _money(x: float) -> str:
    return f"${x:,.4f}" if 0 < x < 0.01 else f"${x:,.2f}"


def _secs(x: float) -> str:
    if x < 60:
        return f"{x:.1f}s"
    m, s = divmod(int(x), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


# --------------------------------------------------------------------------- plan


def do_plan(loaded, settings, args) -> int:
    from .api import plan

    report, _graph = asyncio.run(plan(loaded, settings=settings, refresh=args.refresh))
    status = 1 if args.check and report.to_run else 0
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return status
    con = _console()
    t = Table(title=f"plan: {report.recipe} — {report.topics} topic(s), cache {settings.cache_url}")
    for col, just in (("step", "left"), ("kind", "left"), ("nodes", "right"), ("cached", "right"), ("to run", "right"), ("count", "left"), ("est. cost", "right"), ("est. time", "right")):
        t.add_column(col, justify=just)
    for r in report.rows:
        t.add_row(r.step, r.kind, str(r.nodes), str(r.cached), str(r.to_run), "estimated" if r.estimated else "exact", _money(r.cost_usd), _secs(r.seconds))
    t.add_section()
    t.add_row("total", "", str(report.total_nodes), str(report.cached), str(report.to_run), "estimated" if report.estimated else "exact", _money(report.cost_usd), _secs(report.wall_seconds))
    con.print(t)
    if report.cost_by_provider:
        con.print("est. cost by provider: " + ", ".join(f"{k} {_money(v)}" for k, v in sorted(report.cost_by_provider.items())))
        con.print("est. cost by topic:    " + ", ".join(f"{k} {_money(v)}" for k, v in sorted(report.cost_by_topic.items())))
    if report.to_run == 0:
        con.print("Everything is cached: `vidflow run` would make no provider call.")
    elif report.estimated:
        con.print("Counts marked [bold]estimated[/] depend on outputs that do not exist yet (e.g. lines of a script).")
    if args.check and report.to_run:
        con.print(f"check: {report.to_run} node(s) would run")
    return status


# --------------------------------------------------------------------------- run


class PlainProgress:
    """Line-based progress for logs (stdout is not a terminal)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr

    def emit(self, e: Event) -> None:
        line = None
        if e.type is EventType.NODE_SUCCEEDED:
            extra = " (placeholder)" if e.data.get("placeholder") else ""
            line = f"ran     {e.node}{extra} {e.latency:.2f}s"
        elif e.type is EventType.NODE_FAILED:
            line = f"FAILED  {e.node}: {e.error}: {e.message}"
        elif e.type is EventType.NODE_RETRY:
            line = f"retry   {e.node} attempt {e.attempt}: {e.error}"
        elif e.type is EventType.TOPIC_FINISHED:
            if e.data.get("status") == "published":
                line = f"published {e.topic} -> {e.data.get('output')}"
            else:
                line = f"topic FAILED {e.topic}"
        if line:
            print(line, file=self.stream, flush=True)


class RichProgress:
    """One bar per step: done/total and how many were cached."""

    def __init__(self, console: Console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]{task.fields[step]:<12}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=console, transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.counts: dict[str, StepCounts] = {}

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def emit(self, e: Event) -> None:
        if not e.node:
            if e.type is EventType.TOPIC_FINISHED and e.data.get("status") != "published":
                self.progress.console.print(f"[red]topic failed:[/] {e.topic}")
            return
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
            self.progress.console.print(f"[red]failed[/] {e.node}: {e.error}: {e.message}")
        elif e.type is EventType.NODE_SKIPPED:
            c.skipped += 1
        note = f"{c.cached} cached" + (f", [red]{c.failed} failed[/]" if c.failed else "") + (f", {c.skipped} skipped" if c.skipped else "")
        self.progress.update(self.tasks[e.step], total=c.total, completed=c.done, note=note)


def do_run(loaded, settings, args) -> int:
    from .api import run
    from .errors import UserError
    from .stage import emit_document, parse_input_spec, read_document

    if args.emit and not args.until:
        raise UserError("--emit json needs --until STEP (which step's outputs to print)")
    if args.executor == "dask" and (args.until or args.input or args.emit):
        raise UserError("--until, --emit and --input run in this process; drop --executor dask for them")
    if args.executor != "dask" and args.address:
        raise UserError("--address goes with --executor dask")
    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    if args.until:
        loaded = loaded.until(args.until)
    imports = {}
    for spec in args.input:
        step, source = parse_input_spec(spec, loaded)
        imports[step] = read_document(step, source, loaded)
    err = _console(stderr=True)
    # Rich progress only when a person watches both streams; logs and pipes get plain lines.
    interactive = err.is_terminal and sys.stdout.isatty() and not args.plain and not args.json and not args.emit
    kwargs = dict(settings=settings, refresh=args.refresh, output_root=args.out_dir, imports=imports)
    if args.executor == "dask":
        from .run.dask import run_on_dask

        result = run_on_dask(loaded, settings=settings, address=args.address, workers=args.workers, refresh=args.refresh,
                             output_root=args.out_dir, sink=PlainProgress(), topics_file=args.topics)
    elif interactive:
        with RichProgress(err) as progress:
            result = asyncio.run(run(loaded, sink=progress, **kwargs))
    else:
        result = asyncio.run(run(loaded, sink=PlainProgress(), **kwargs))
    s = result.summary
    if args.report:
        _write_report(args.report, result, loaded, settings)
    if args.emit:
        sys.stdout.write(emit_document(loaded, args.until, result.outputs(args.until)))
        _print_summary(err, result, loaded.order)
    elif args.json:
        print(json.dumps(_summary_dict(result), indent=2))
    else:
        _print_summary(err, result, loaded.order)
    return s.exit_code


def run_report(result, loaded) -> dict[str, Any]:
    """The --report document: per topic, and totals. Computed from the run's events."""
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
            "cost_usd": round(s.cost_by_topic.get(t.id, 0.0), 6),
            "nodes": {"cached": sum(1 for v in nodes.values() if v == "cached"), "ran": sum(1 for v in nodes.values() if v == "ran"),
                      "failed": sum(1 for v in nodes.values() if v == "failed"), "skipped": sum(1 for v in nodes.values() if v == "skipped")},
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
            "nodes": {"total": len(s.nodes), "cached": s.count("cached"), "ran": s.count("ran"), "failed": s.count("failed"), "skipped": s.count("skipped")},
            "cost_usd": round(s.cost_usd, 6),
            "cost_by_step": s.cost_by_step,
            "cost_by_provider": s.cost_by_provider,
            "seconds": round(s.elapsed, 3),
        },
    }


def _write_report(path: str, result, loaded, settings) -> None:
    from .storage import atomic_write, url_to_fs

    fs, p = url_to_fs(path, **settings.storage_options(path))
    atomic_write(fs, p, (json.dumps(run_report(result, loaded), indent=2) + "\n").encode(), content_type="application/json")


def _summary_dict(result) -> dict[str, Any]:
    s = result.summary
    return {
        "run_id": result.run_id,
        "events": result.events_path,
        "exit_code": s.exit_code,
        "nodes": {"total": len(s.nodes), "cached": s.count("cached"), "ran": s.count("ran"), "failed": s.count("failed"), "skipped": s.count("skipped")},
        "steps": {k: vars(v) for k, v in s.steps.items()},
        "cost_usd": s.cost_usd,
        "cost_by_topic": s.cost_by_topic,
        "cost_by_step": s.cost_by_step,
        "cost_by_provider": s.cost_by_provider,
        "topics": s.topics,
        "failures": s.failures,
        "placeholders": s.placeholders,
    }


def _print_summary(con: Console, result, order: list[str]) -> None:
    s = result.summary
    t = Table(title=f"run {result.run_id}")
    for col in ("step", "nodes", "cached", "ran", "failed", "skipped", "cost"):
        t.add_column(col, justify="left" if col == "step" else "right")
    for step in order:
        c = s.steps.get(step)
        if c:
            t.add_row(step, str(c.total), str(c.cached), str(c.ran), str(c.failed), str(c.skipped), _money(c.cost_usd))
    con.print(t)
    published = [d for d in s.topics.values() if d.get("status") == "published"]
    for d in published:
        con.print(f"published {d.get('output')} ({d.get('duration', 0):.1f}s)")
    for node in s.placeholders:
        con.print(f"[yellow]placeholder image used for {node}[/]")
    failed_topics = [t for t, d in s.topics.items() if d.get("status") != "published"]
    for t in failed_topics:
        why = next((f"{f['node']}: {f['error']}: {f['message']}" for f in s.failures if f["topic"] == t), s.topics[t].get("error", ""))
        con.print(f"[red]topic failed:[/] {t} — {why}")
    if s.cost_by_provider:
        con.print("cost by provider: " + ", ".join(f"{k} {_money(v)}" for k, v in sorted(s.cost_by_provider.items())))
        con.print("cost by topic:    " + ", ".join(f"{k} {_money(v)}" for k, v in sorted(s.cost_by_topic.items())))
    for f in s.failures:
        con.print(f"[red]failed[/] {f['node']}: {f['error']}: {f['message']}")
    con.print(
        f"{len(published)} published, {len(failed_topics)} failed · {s.count('ran')} nodes ran, {s.count('cached')} cached"
        f" · cost {_money(s.cost_usd)} · {_secs(s.elapsed)} · record: {result.events_path}"
    )


# --------------------------------------------------------------------------- characters


def show_characters(folder: str) -> int:
    from pathlib import Path

    from .characters import find_characters, load_character
    from .errors import RecipeError

    found = find_characters([Path(folder)])
    if not found:
        print(f"no characters in {folder}/ (add <name>.yaml files)", file=sys.stderr)
        return 2
    con = _console()
    t = Table(title=f"characters in {folder}/")
    for col in ("id", "name", "colour", "side", "voices", "catchphrases"):
        t.add_column(col)
    problems = []
    for ident, path in found.items():
        try:
            c = load_character(ident, path)
        except RecipeError as e:
            problems.extend(e.lines())
            continue
        p = c.profile
        t.add_row(ident, p.name, f"[{p.colour}]■[/] {p.colour}", p.side, ", ".join(f"{k}: {v}" for k, v in p.voices.items()), str(len(p.catchphrases)))
    con.print(t)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    return 2 if problems else 0


# --------------------------------------------------------------------------- status


def show_status(runs_dir: str, run_id: str | None, *, as_json: bool = False) -> int:
    """Print a past run's summary, computed from its events.jsonl. Exit code: the run's own."""
    from pathlib import Path
    from types import SimpleNamespace

    from .errors import UserError
    from .run.ledger import read_events, summarize

    root = Path(runs_dir)
    runs = sorted((p for p in root.glob("*/events.jsonl")), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    if run_id:
        path = root / run_id / "events.jsonl"
        if not path.exists():
            raise UserError(f"no run {run_id!r} in {runs_dir}/ (latest: {runs[-1].parent.name if runs else 'none'})")
    elif runs:
        path = runs[-1]
    else:
        raise UserError(f"no runs recorded in {runs_dir}/ yet; `vidflow run RECIPE` makes one")
    events = read_events(str(path))
    result = SimpleNamespace(run_id=path.parent.name, summary=summarize(events), events_path=str(path))
    if as_json:
        print(json.dumps(_summary_dict(result), indent=2))
    else:
        steps = list(dict.fromkeys(e.step for e in events if e.step))
        _print_summary(_console(), result, steps)
        if not any(e.type is EventType.RUN_FINISHED for e in events):
            _console().print("[yellow]this run has no end in its log: it is still going, or it was killed[/]")
    return result.summary.exit_code
