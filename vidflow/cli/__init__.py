"""The ``vidflow`` command. Thin: parse, call :mod:`vidflow.api`, render.

Exit codes: 0 everything published · 1 some nodes failed (the rest published) · 2 user error
(one line per problem, no traceback) · 3 internal error (a bug: traceback) · 4 waiting for review
· 130 interrupted.
Imports are deferred to the command that needs them, so ``vidflow --help`` stays instant and
no command but a real provider call ever imports litellm.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any, Sequence

from .. import __version__

__all__ = ["main"]


def _cache_option(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--cache", metavar="URL", help="cache location (default: $VIDFLOW_CACHE or ./cache)")


def _runs_dir_option(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--runs-dir", metavar="DIR", help="where run records are (default: $VIDFLOW_RUNS_DIR or ./runs)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vidflow",
        description="Turn topics into finished vertical videos: recipe in, cached and concurrent run, mp4s out.",
    )
    p.add_argument("--version", action="version", version=f"vidflow {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("recipe", help="the recipe YAML file")
        sp.add_argument("--cache", metavar="URL", help="cache location: a path or s3://bucket/prefix (default: $VIDFLOW_CACHE or ./cache)")
        sp.add_argument("--topics", metavar="FILE", help="take topics from a .txt, .csv or .jsonl file instead of the recipe")
        sp.add_argument("--only", metavar="TOPIC", action="append", default=[], help="only this topic (id or text); repeatable")
        sp.add_argument("--limit", metavar="N", type=int, help="only the first N topics")
        sp.add_argument("--refresh", metavar="STEP", action="append", default=[], help="make STEP again (a new sample), or some of its items: art[2], speech[0:3]; repeatable")
        sp.add_argument("--force", action="store_true", help="with --refresh: make approved items again too")
        sp.add_argument("--json", action="store_true", help="print a machine-readable result on stdout")

    r = sub.add_parser("run", help="run a recipe: skip what is cached, make the rest, publish the videos")
    common(r)
    r.add_argument("--out-dir", metavar="DIR", help="root for relative `to:` paths (default: the current folder)")
    r.add_argument("--runs-dir", metavar="DIR", help="where run records go (default: $VIDFLOW_RUNS_DIR or ./runs)")
    r.add_argument("--plain", action="store_true", help="plain line-based progress even on a terminal")
    r.add_argument("--executor", choices=["local", "dask"], default="local", help="where topics run: this process (default) or a Dask cluster")
    r.add_argument("--address", metavar="URL", help="with --executor dask: the scheduler (tcp://host:8786); default: a local cluster")
    r.add_argument("--workers", metavar="N", type=int, default=2, help="with --executor dask and no --address: local workers (default 2)")
    r.add_argument("--report", metavar="FILE", help="write a report: JSON (per topic status, output, duration, cost, nodes, failures), or HTML if FILE ends in .html")
    r.add_argument("--until", metavar="STEP", help="run STEP and what it needs, nothing after it")
    r.add_argument("--emit", choices=["json"], help="with --until: print STEP's outputs for every topic as one JSON document on stdout")
    r.add_argument("--input", metavar="STEP=FILE", action="append", default=[], help="take STEP's outputs from a JSON document (FILE, or - for stdin) instead of running it")
    r.add_argument("--notify", metavar="URL", action="append", default=[], help="send signed webhooks of this run to URL too (see docs/webhooks.md); repeatable")

    r.add_argument("--idempotency-key", metavar="KEY", help="name this run KEY instead of the digest of its snapshot: submitting KEY again reports that run")
    r.add_argument("--wait", action="store_true", help="if this same run is being made by another process, wait for it and report its result")
    r.add_argument("--new-run", action="store_true", help="run even if this exact submission already finished (a new run id)")

    nt = sub.add_parser("notify", help="webhooks waiting in the outbox: list them, or --flush to send them now")
    nt.add_argument("--flush", action="store_true", help="send what is pending (each URL's events in order)")
    nt.add_argument("--runs-dir", metavar="DIR", help="where run records (and the outbox) are (default: $VIDFLOW_RUNS_DIR or ./runs)")
    nt.add_argument("--json", action="store_true", help="print the result as JSON")

    rr = sub.add_parser("rerun", help="run a recorded run again, exactly, from its stored snapshot")
    rr.add_argument("run_id", help="the run id (`vidflow status` shows it)")
    _runs_dir_option(rr)
    rr.add_argument("--cache", metavar="URL", help="the cache holding the snapshot (default: the run's own)")
    rr.add_argument("--plain", action="store_true", help="plain line-based progress even on a terminal")
    rr.add_argument("--json", action="store_true", help="print a machine-readable result on stdout")
    rr.add_argument("--report", metavar="FILE", help="write a JSON (or .html) report of the run")

    pl = sub.add_parser("plan", help="dry run: which nodes are cached, what the rest will cost and take")
    common(pl)
    pl.add_argument("--check", action="store_true", help="exit 1 if anything would run, 0 if everything is cached (CI cache-warm check)")

    st = sub.add_parser("status", help="summarise a past run from its event log (the latest by default)")
    st.add_argument("run_id", nargs="?", help="a run id (a folder under the runs dir); default: the latest")
    _runs_dir_option(st)
    st.add_argument("--json", action="store_true", help="print the summary as JSON")

    rp = sub.add_parser("report", help="write the HTML report of a past run (the latest by default)")
    rp.add_argument("run_id", nargs="?", help="a run id (a folder under the runs dir); default: the latest")
    rp.add_argument("--html", metavar="FILE", required=True, help="the HTML file to write (a path or URL)")
    _runs_dir_option(rp)
    rp.add_argument("--no-thumbnails", action="store_true", help="do not read the published videos for thumbnails")

    sub.add_parser("schema", help="print the JSON Schema of recipes (for editors: see docs/recipes.md)")

    ca = sub.add_parser("cache", help="look after the cache: `vidflow cache verify|stats|gc`")
    cache_sub = ca.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    cv = cache_sub.add_parser("verify", help="hash every blob and check every manifest; --repair removes what is bad")
    cv.add_argument("--repair", action="store_true", help="remove corrupt blobs, invalid manifests and leftovers (their nodes rebuild on the next run)")
    cs = cache_sub.add_parser("stats", help="size, entries by step and kind, hit rate of recent runs")
    cs.add_argument("--recent", metavar="N", type=int, default=10, help="hit rates of the N latest runs (default 10)")
    cg = cache_sub.add_parser("gc", help="remove entries that no kept run uses (see docs/caching.md)")
    cg.add_argument("--keep-runs", metavar="N", type=int, help="keep what the N latest runs of this cache used")
    cg.add_argument("--older-than", metavar="AGE", help="remove entries not used or written for AGE (30d, 12h)")
    cg.add_argument("--max-size", metavar="SIZE", help="then remove least recently used entries until the cache fits SIZE (20GB)")
    cg.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    for sp in (cv, cs, cg):
        sp.add_argument("--cache", metavar="URL", help="cache location: a path or s3://bucket/prefix (default: $VIDFLOW_CACHE or ./cache)")
        if sp is not cv:
            _runs_dir_option(sp)
        sp.add_argument("--json", action="store_true", help="print the report as JSON")

    rv = sub.add_parser("review", help="list what waits for review (steps with `approve: true`)")
    rv.add_argument("recipe", help="the recipe YAML file")
    _cache_option(rv)
    rv.add_argument("--all", action="store_true", help="decided items too")
    rv.add_argument("--json", action="store_true", help="print the items as JSON")
    for verb, what in (("approve", "release pending items of STEP: the next run uses them as they are"),
                       ("reject", "ask for a new sample of pending items of STEP on the next run (--note says what to change)")):
        d = sub.add_parser(verb, help=what)
        d.add_argument("recipe", help="the recipe YAML file")
        d.add_argument("step", help="a step with `approve: true`")
        d.add_argument("--topic", metavar="ID", help="only this topic (default: every topic)")
        d.add_argument("--item", metavar="N", type=int, help="only item N of a for_each step")
        _cache_option(d)
        d.add_argument("--note", default="", help="why (reject: required; the new sample's template sees it as review.note)")
    up = sub.add_parser("unpin", help="drop edits imported with --input, so STEP is made again")
    up.add_argument("recipe", help="the recipe YAML file")
    up.add_argument("step", help="the step whose edits to drop")
    up.add_argument("--topic", metavar="ID", help="only this topic (default: every topic)")
    _cache_option(up)

    sh = sub.add_parser("show", help="what the cache and run records know about a topic or one of its nodes")
    sh.add_argument("recipe", help="the recipe YAML file")
    sh.add_argument("target", metavar="TOPIC[/NODE]", help="a topic (id or text), or TOPIC/NODE such as why-is-the-sky-blue/art[2]")
    _cache_option(sh)
    _runs_dir_option(sh)
    sh.add_argument("--topics", metavar="FILE", help="the topics file the runs used, if not the recipe's")
    sh.add_argument("--json", action="store_true", help="print it as JSON")

    c = sub.add_parser("characters", help="list the characters a recipe folder can use")
    c.add_argument("--dir", metavar="DIR", default="characters", help="characters folder (default: ./characters)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    bad = _not_utf8(sys.argv[1:] if argv is None else list(argv))
    if bad:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    flush = True
    term = _term_as_interrupt()
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        flush = False  # Ctrl-C means stop now: what waits goes with the next command
        print("vidflow: interrupted; nothing half-written was kept (rerun to resume)", file=sys.stderr)
        return 130
    except Exception as e:  # the CLI boundary: user errors are one clean message, bugs a traceback
        import os

        from ..errors import UserError, VidflowError
        from ..redact import Redactor

        redact = Redactor.from_env(os.environ).redact  # whatever an error says, no secret is printed
        if isinstance(e, UserError):
            for line in e.lines():
                print(redact(f"error: {line}"), file=sys.stderr)
            return 2
        import traceback

        print(redact(traceback.format_exc()), file=sys.stderr, end="")
        kind = "error" if isinstance(e, VidflowError) else "internal error (this is a bug in vidflow, please report it)"
        print(redact(f"vidflow: {kind}: {e}"), file=sys.stderr)
        return 3
    finally:
        if term is not None:
            signal.signal(signal.SIGTERM, term)
        if flush:
            _flush_webhooks(args)


def _term_as_interrupt() -> Any:
    """SIGTERM (what ``timeout``, CI systems and container runtimes send to stop a job) stops a
    command as Ctrl-C does: the run is cancelled, its record says interrupted, nothing
    half-written is kept, exit 130. It used to kill the process where it stood.

    Returns the handler it replaced (None where none can be set: not the main thread)."""

    def on_term(signum: int, frame: Any) -> None:
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # (a background job: Ctrl-C is off, SIGTERM must still stop)
            raise KeyboardInterrupt
        signal.raise_signal(signal.SIGINT)  # asyncio's own Ctrl-C handling cancels the run gracefully

    try:
        return signal.signal(signal.SIGTERM, on_term)
    except ValueError:
        return None


def _not_utf8(argv: list[str]) -> str | None:
    """What is wrong with an argument whose bytes are not UTF-8 (a path or name from a system
    with another encoding), or None (``settings.utf8_problem`` says where)."""
    from ..settings import utf8_problem

    for i, arg in enumerate(argv):
        why = utf8_problem(arg)
        if why:
            flag = argv[i - 1] if i and argv[i - 1].startswith("--") and "=" not in argv[i - 1] else None
            try:
                shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")  # the bytes as given
            except UnicodeError:  # a lone surrogate from a Python caller
                shown = ascii(arg)
            where = f"{flag} {shown}" if flag else shown
            return f"{where}: not UTF-8 text ({why}); give it in UTF-8 (rename the file or folder if it is a path)"
    return None


def _flush_webhooks(args: argparse.Namespace) -> None:
    """Webhooks earlier runs could not deliver go out with the next command (bounded, silent)."""
    if args.command in ("characters", "schema", "notify"):
        return
    try:
        from ..notify import flush_pending
        from ..settings import Settings

        flush_pending(Settings.from_env().replace(runs_dir=getattr(args, "runs_dir", None)))
    except Exception:  # noqa: BLE001 - never let a receiver change a command's outcome
        pass


def _dispatch(args: argparse.Namespace) -> int:
    from ..settings import Settings

    if args.command == "characters":
        from .render import show_characters

        return show_characters(args.dir)
    if args.command == "status":
        from .render import show_status

        return show_status(Settings.from_env().replace(runs_dir=args.runs_dir).runs_dir, args.run_id, as_json=args.json)
    if args.command == "report":
        from .render import show_report_html

        return show_report_html(Settings.from_env().replace(runs_dir=args.runs_dir), args.run_id, args.html, thumbnails=not args.no_thumbnails)
    if args.command == "notify":
        from .notify import show_notify

        return show_notify(Settings.from_env().replace(runs_dir=args.runs_dir), flush=args.flush, as_json=args.json)
    if args.command == "rerun":
        from .render import do_rerun

        settings = Settings.from_env().replace(runs_dir=args.runs_dir)
        return do_rerun(settings, args.run_id, cache=args.cache, plain=args.plain, as_json=args.json, report=args.report)
    if args.command == "schema":
        from .render import show_schema

        return show_schema()
    if args.command == "cache":
        from .cache import show_cache_gc, show_cache_stats, show_cache_verify

        if args.cache_command == "verify":
            return show_cache_verify(args.cache, repair=args.repair, as_json=args.json)
        settings = Settings.from_env().replace(cache_url=args.cache, runs_dir=args.runs_dir)
        if args.cache_command == "stats":
            return show_cache_stats(settings, recent=args.recent, as_json=args.json)
        return show_cache_gc(settings, keep_runs=args.keep_runs, older_than=args.older_than, max_size=args.max_size, dry_run=args.dry_run, as_json=args.json)
    from ..api import load_recipe_file, select_topics

    settings = Settings.from_env().replace(cache_url=args.cache, runs_dir=getattr(args, "runs_dir", None), notify=tuple(getattr(args, "notify", ())) or None)
    if args.command == "show":
        from .render import do_show

        return do_show(load_recipe_file(args.recipe, topics_file=args.topics), settings, args.target, as_json=args.json)
    if args.command in ("review", "approve", "reject", "unpin"):
        from .render import do_review

        return do_review(load_recipe_file(args.recipe), settings, args)
    loaded = load_recipe_file(args.recipe, topics_file=args.topics)
    loaded = select_topics(loaded, only=args.only, limit=args.limit)
    if args.command == "plan":
        from .render import do_plan

        from ..plan.refresh import parse_refresh

        return do_plan(loaded, settings, refresh=parse_refresh(args.refresh, loaded.steps, force=args.force), check=args.check, as_json=args.json)
    from ..options import RunOptions
    from .render import do_run

    options = RunOptions(
        refresh=tuple(args.refresh), force=args.force, until=args.until, emit=args.emit, inputs=tuple(args.input), executor=args.executor,
        address=args.address, workers=args.workers, out_dir=args.out_dir, topics_file=args.topics,
        idempotency_key=args.idempotency_key, wait=args.wait, new_run=args.new_run,
    )
    return do_run(loaded, settings, options, plain=args.plain, as_json=args.json, report=args.report)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
