"""What the CLI shows for plan, run, rerun, review, show, status and reports: tables and summaries.

No decisions are taken here: flags are checked by ``vidflow.options``, reports are built by
``vidflow.report``, stage documents by ``vidflow.stage``; this module calls and prints. Run
progress is in ``cli/progress.py``, the cache commands in ``cli/cache.py``; rich is used only
in these three modules.
"""

from __future__ import annotations

import asyncio
import json
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import failure_text
from .progress import interactive, secs, with_progress

__all__ = ["do_plan", "do_rerun", "do_run", "do_show", "show_characters", "show_report_html", "show_schema", "show_status"]


def _console(stderr: bool = False) -> Console:
    con = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not con.is_terminal:  # logs and pipes: wide enough that tables are not truncated
        con = Console(stderr=stderr, highlight=False, soft_wrap=True, width=140)
    return con


def _money(x: float) -> str:
    return f"${x:,.4f}" if 0 < x < 0.01 else f"${x:,.2f}"


# --------------------------------------------------------------------------- plan


def do_plan(loaded, settings, *, refresh=(), check: bool = False, as_json: bool = False) -> int:
    from ..api import plan

    report, _graph = asyncio.run(plan(loaded, settings=settings, refresh=refresh))
    status = 2 if report.problems else (1 if check and report.to_run else 0)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
        _print_issues(report)
        return status
    con = _console()
    t = Table(title=f"plan: {report.recipe} — {report.topics} topic(s), cache {settings.cache_url}")
    for col, just in (("step", "left"), ("kind", "left"), ("nodes", "right"), ("cached", "right"), ("to run", "right"), ("count", "left"), ("est. cost", "right"), ("est. time", "right")):
        t.add_column(col, justify=just)
    for r in report.rows:
        t.add_row(r.step, r.kind, str(r.nodes), str(r.cached), str(r.to_run), "estimated" if r.estimated else "exact", _money(r.cost_usd), secs(r.seconds))
    t.add_section()
    t.add_row("total", "", str(report.total_nodes), str(report.cached), str(report.to_run), "estimated" if report.estimated else "exact", _money(report.cost_usd), secs(report.wall_seconds))
    con.print(t)
    if report.to_run:
        con.print(f"est. time: {secs(report.wall_seconds)} under the providers' limits and {settings.max_ffmpeg} CPU slot(s); timings {report.timings}")
    clip_seconds = sum(r.units.get("video_seconds", 0.0) for r in report.rows)
    if clip_seconds:  # video vendors bill by the second of clip
        con.print(f"video to make: {clip_seconds:g} s of clips in {sum(r.units.get('clips', 0.0) for r in report.rows):g} job(s)")
    if report.cost_by_provider:
        con.print("est. cost by provider: " + ", ".join(f"{k} {_money(v)}" for k, v in sorted(report.cost_by_provider.items())))
        con.print("est. cost by topic:    " + ", ".join(f"{k} {_money(v)}" for k, v in sorted(report.cost_by_topic.items())))
    if report.to_run == 0 and not report.problems:
        con.print("Everything is cached: `vidflow run` would make no provider call.")
    elif report.estimated:
        con.print("Counts marked [bold]estimated[/] depend on outputs that do not exist yet (e.g. lines of a script).")
    _print_reasons(con, report.nodes)
    if check and report.to_run:
        con.print(f"check: {report.to_run} node(s) would run")
    _print_issues(report)
    return status


def _print_issues(report) -> None:
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for p in report.problems:
        print(f"error: {p}", file=sys.stderr)


#: Lines of "what would run and why" printed before the rest is summarised.
MAX_REASON_LINES = 40


def _print_reasons(con: Console, nodes: list[dict]) -> None:
    """Which nodes would run and why, one line each (terraform plan style), then counts."""
    if not nodes:
        return
    from collections import Counter

    con.print("would run:")
    for n in nodes[:MAX_REASON_LINES]:
        why = n["reason"] + (f" ({', '.join(n['changed'])})" if n.get("changed") else "")
        con.print(f"  + {n['id']}  [dim]{why}[/]")
    if len(nodes) > MAX_REASON_LINES:
        counts = Counter(n["reason"] for n in nodes[MAX_REASON_LINES:])
        con.print(f"  ... and {len(nodes) - MAX_REASON_LINES} more: " + ", ".join(f"{v} {k}" for k, v in counts.most_common()) + " (--json lists them all)")


# --------------------------------------------------------------------------- run


def do_run(loaded, settings, options, *, plain: bool = False, as_json: bool = False, report: str | None = None) -> int:
    from ..api import recipe_warnings, run, submit
    from ..options import prepare_run, submission_options

    prepared = prepare_run(loaded, options)
    loaded = prepared.loaded
    if report:
        from ..report import check_report_path

        check_report_path(report)
    err = _console(stderr=True)
    for w in recipe_warnings(loaded):  # (as `plan` prints them)
        print(f"warning: {w}", file=sys.stderr)
    live = interactive(err, plain=plain, as_json=as_json) and not options.emit and prepared.executor == "local"
    kwargs = dict(settings=settings, refresh=prepared.refresh, output_root=options.out_dir, imports=prepared.imports, executor=prepared.executor)
    if options.emit:  # the values are printed, so they are made (or read from the cache) now
        call = run
    else:  # an idempotent submission: the same one again reports the run that made it
        kwargs.update(options=submission_options(options), idempotency_key=options.idempotency_key, wait=options.wait, new=options.new_run)
        call = submit
    result = with_progress(err, live, call, loaded, **kwargs)
    return _finish_run(err, result, loaded, settings, options, as_json=as_json, report=report)


def do_rerun(settings, run_id: str, *, cache: str | None = None, plain: bool = False, as_json: bool = False, report: str | None = None) -> int:
    """``vidflow rerun RUN``: the recorded run again, from its stored snapshot."""
    from ..api import rerun
    from ..options import RunOptions

    if report:
        from ..report import check_report_path

        check_report_path(report)
    err = _console(stderr=True)
    result, loaded = with_progress(err, interactive(err, plain=plain, as_json=as_json), rerun, run_id, settings=settings, cache=cache)
    return _finish_run(err, result, loaded, settings, RunOptions(), as_json=as_json, report=report)


def _finish_run(err, result, loaded, settings, options, *, as_json: bool, report: str | None) -> int:
    from ..report import summary_dict, write_report
    from ..stage import emit_document

    if result.reused:
        err.print(f"run {result.run_id}: this exact submission already finished and its outputs are intact; nothing to do (its result follows; --new-run runs it anyway)")
    if report:
        write_report(report, result, loaded, settings)
    if options.emit:
        sys.stdout.write(emit_document(loaded, options.until, result.outputs(options.until)))
        _print_summary(err, result.run_id, result.summary, result.events_path, loaded.order)
    elif as_json:
        print(json.dumps({**summary_dict(result.run_id, result.summary, result.events_path), "reused": result.reused}, indent=2))
    else:
        _print_summary(err, result.run_id, result.summary, result.events_path, loaded.order)
    return result.summary.exit_code


def _print_summary(con: Console, run_id: str, s, events_path: str | None, order: list[str]) -> None:
    t = Table(title=f"run {run_id}")
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
    for t, d in s.topics.items():
        for w in d.get("warnings", ()):
            con.print(f"[yellow]warning:[/] topic {escape(t)}: {escape(w)}", highlight=False)
    for node in s.placeholders:
        con.print(f"[yellow]placeholder image used for {node}[/]")
    failed_topics = [t for t, d in s.topics.items() if d.get("status") == "failed"]
    waiting_topics = [t for t, d in s.topics.items() if d.get("status") == "awaiting_review"]
    for t in failed_topics:
        why = next((f"{f['node']}: {failure_text(f['error'], f['message'])}" for f in s.failures if f["topic"] == t), s.topics[t].get("error", ""))
        con.print(f"[red]topic failed:[/] {t} — {escape(why)}")
    if s.cost_by_provider:
        con.print("cost by provider: " + ", ".join(f"{k} {_money(v)}" for k, v in sorted(s.cost_by_provider.items())))
        con.print("cost by topic:    " + ", ".join(f"{k} {_money(v)}" for k, v in sorted(s.cost_by_topic.items())))
    for r in s.reviews:
        files = ", ".join(f"{k}: {v}" for k, v in r["look"].items() if k != "text")
        text = str(r["look"].get("text", "")).splitlines()
        con.print(f"[yellow]awaits review[/] {r['node']}" + (f" — {text[0][:80]}" + (" ..." if len(text) > 1 else "") if text else "") + (f" ({files})" if files else ""))
    if s.reviews:
        con.print("[yellow]waiting for review[/] (exit 4): `vidflow review RECIPE` shows each item; `vidflow approve`/`reject` decide; the next run goes on")
    for f in s.failures:
        con.print(f"[red]failed[/] {f['node']}: {escape(failure_text(f['error'], f['message']))}")
    con.print(
        f"{len(published)} published, {len(failed_topics)} failed" + (f", {len(waiting_topics)} awaiting review" if waiting_topics else "")
        + f" · {s.count('ran')} nodes ran, {s.count('cached')} cached"
        f" · cost {_money(s.cost_usd)} · {secs(s.elapsed)} · record: {events_path}"
    )


# --------------------------------------------------------------------------- characters


def show_characters(folder: str) -> int:
    from pathlib import Path

    from ..errors import RecipeError
    from ..recipe.characters import find_characters, load_character

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
    from ..report import load_past_run, summary_dict

    past = load_past_run(runs_dir, run_id)
    if as_json:
        print(json.dumps(summary_dict(past.run_id, past.summary, past.events_path), indent=2))
    else:
        _print_summary(_console(), past.run_id, past.summary, past.events_path, past.steps)
        if not past.summary.finished:
            _console().print("[yellow]this run has no end in its log: it is still going, or it was killed (interrupted)[/]")
    return past.summary.exit_code


# --------------------------------------------------------------------------- cache


# --------------------------------------------------------------------------- review


def do_review(loaded, settings, args) -> int:
    """``vidflow review | approve | reject | unpin``."""
    from ..api import open_store
    from ..review import decide, pending, unpin

    with open_store(settings) as store:
        if args.command == "unpin":
            n = unpin(loaded, store, args.step, topic=args.topic)
            print(f"{n} pinned edit(s) of `{args.step}` dropped; the next run makes them again" if n else f"nothing of `{args.step}` was pinned")
            return 0
        if args.command in ("approve", "reject"):
            done = decide(loaded, store, args.step, approve=args.command == "approve", topic=args.topic, item=args.item, note=args.note)
            for i in done:
                print(f"{args.command}d {i.topic}/{i.node}")
            return 0
        items = pending(loaded, store, all_statuses=args.all)
    if args.json:
        print(json.dumps([{"topic": i.topic, "node": i.node, "status": i.status, "note": i.note, **i.look} for i in items], indent=2, ensure_ascii=False))
        return 0
    con = _console()
    if not items:
        con.print("nothing waits for review")
        return 0
    for i in items:
        con.print(f"[bold]{i.topic}/{i.node}[/] [{'yellow' if i.status == 'pending' else 'dim'}]{i.status}[/]" + (f" — note: {i.note}" if i.note else ""))
        for k, v in i.look.items():
            text = str(v)
            con.print(f"  {k}: " + (text if "\n" not in text else "\n    " + text.replace("\n", "\n    ")), highlight=False, markup=False)
    con.print(f"{sum(1 for i in items if i.status == 'pending')} item(s) wait: `vidflow approve RECIPE STEP [--topic ID] [--item N]` or `vidflow reject ... --note ...`")


# --------------------------------------------------------------------------- report, schema


def show_report_html(settings, run_id: str | None, path: str, *, thumbnails: bool = True) -> int:
    """``vidflow report [RUN] --html FILE``: the HTML report of a recorded run."""
    from ..report import check_report_path, load_past_run
    from ..report_html import write_html_report

    check_report_path(path, flag="--html")
    past = load_past_run(settings.runs_dir, run_id)
    write_html_report(path, past.run_id, past.events, settings, thumbnails=thumbnails)
    print(f"wrote {path} (run {past.run_id})", file=sys.stderr)
    return 0


def show_schema() -> int:
    """``vidflow schema``: the recipe JSON Schema on stdout."""
    from ..schema_json import recipe_json_schema

    text = json.dumps(recipe_json_schema(), indent=2) + "\n"
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `vidflow schema | head`: the reader had enough
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


# --------------------------------------------------------------------------- show


def do_show(loaded, settings, target: str, *, as_json: bool = False) -> int:
    """``vidflow show RECIPE TOPIC[/NODE]``."""
    from ..api import open_store
    from ..show import render_value, show_node, show_topic

    topic, _, node = target.partition("/")
    with open_store(settings, create=False) as store:
        rec = show_node(loaded, store, topic, node, runs_dir=settings.runs_dir) if node else show_topic(loaded, store, topic)
    if as_json:
        print(json.dumps(rec.as_dict(), indent=2, ensure_ascii=False, default=str))
        return 0
    con = _console()
    if not node:
        t = Table(title=f"{rec.topic}: nodes last used (cache {settings.cache_url})")
        for col in ("node", "in cache", "key"):
            t.add_column(col)
        for n, info in rec.nodes.items():
            t.add_row(n, info["status"], info["key"][:16])
        con.print(t)
        return 0
    meta = rec.meta
    con.print(f"[bold]{rec.topic}/{rec.node}[/]  key {rec.key}  ({rec.status})")
    for label, k in (("provider", "provider"), ("made by run", "run_id"), ("attempts", "attempts"), ("seconds", "seconds"), ("cost", "cost_usd")):
        if meta.get(k) not in (None, ""):
            con.print(f"  {label}: {meta[k]}")
    if meta.get("fields"):
        con.print("  request (the key's fields):")
        con.print("    " + render_value(meta["fields"]).replace("\n", "\n    "), markup=False)
    if rec.value is not None:
        con.print("  value:")
        con.print("    " + render_value(rec.value).replace("\n", "\n    "), markup=False)
    for name, b in rec.blobs.items():
        con.print(f"  {name}: {b['media_type']} {b['size']} bytes  {b['path']}", markup=False)
    if rec.history:
        con.print("  history:")
        for h in rec.history:
            extra = " ".join(f"{k}={h[k]}" for k in ("provider", "attempt", "error", "reason") if h.get(k))
            msg = f" — {h['message']}" if h.get("message") else ""
            con.print(f"    {_when(h['ts'])}  {h['run_id']}  {h['event']} {extra}{msg}", markup=False)
    return 0


def _when(ts: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
