"""``vidflow cache verify | stats | gc``: the cache's health, size and housekeeping, printed.

The work is the library's (``vidflow.cache.verify``, ``vidflow.cache.usage``,
``vidflow.cache.gc``); this module calls it and prints tables or JSON.
"""

from __future__ import annotations

import json

from rich.table import Table

from ..storage import human_size
from .render import _console

__all__ = ["show_cache_gc", "show_cache_stats", "show_cache_verify"]


def show_cache_verify(cache: str | None, *, repair: bool = False, as_json: bool = False) -> int:
    """The ``vidflow cache verify`` command: 0 clean (or all repaired), 1 problems left, 2 no cache."""
    from ..cache.verify import format_report, verify_cache
    from ..errors import UserError
    from ..settings import Settings

    settings = Settings.from_env().replace(cache_url=cache)
    from ..api import open_store

    with open_store(settings, create=False) as store:
        if not store.fs.exists(store.root):
            raise UserError(f"{settings.cache_url}: there is no cache there (set --cache or VIDFLOW_CACHE)")
        report = verify_cache(store, repair=repair)
    print(json.dumps(report.as_dict(), indent=2) if as_json else format_report(report))
    return 0 if report.ok else 1


def _open_cache(settings):
    """The cache store of ``settings``; UserError when there is no cache there."""
    from ..errors import UserError

    from ..api import open_store

    store = open_store(settings, create=False)
    if not store.fs.exists(store.root):
        store.close()
        raise UserError(f"{settings.cache_url}: there is no cache there (set --cache or VIDFLOW_CACHE)")
    return store


def show_cache_stats(settings, *, recent: int = 10, as_json: bool = False) -> int:
    """``vidflow cache stats``: size, entries by step and kind, hit rate of recent runs."""
    from ..cache.usage import cache_stats
    from ..errors import UserError

    if recent < 1:  # 0 or less would show no run and say none is recorded
        raise UserError(f"cache stats: --recent must be at least 1 (the number of latest runs to show hit rates for), not {recent}")
    with _open_cache(settings) as store:
        stats = cache_stats(store, runs_dir=settings.runs_dir, recent=recent)
    if as_json:
        print(json.dumps(stats.as_dict(), indent=2))
        return 0
    con = _console()
    con.print(f"cache {stats.url}: {human_size(stats.bytes)} · {stats.manifests} entries · {stats.blobs} blobs ({human_size(stats.blob_bytes)})"
              + (f" · {stats.unreferenced_blobs} blobs no entry uses (`vidflow cache gc` removes them)" if stats.unreferenced_blobs else ""))
    for title, rows in (("entries by step", stats.by_step), ("entries by kind", stats.by_kind)):
        t = Table(title=title)
        for col, just in ((title.rsplit(" ", 1)[1], "left"), ("entries", "right"), ("bytes used", "right")):
            t.add_column(col, justify=just)
        for name, (n, size) in sorted(rows.items(), key=lambda kv: -kv[1][1]):
            t.add_row(name, str(n), human_size(size))
        con.print(t)
    if stats.runs:
        t = Table(title=f"hit rate of the {len(stats.runs)} latest runs of this cache")
        for col in ("run", "cached", "made", "hit rate"):
            t.add_column(col, justify="left" if col == "run" else "right")
        for r in stats.runs:
            t.add_row(r["run_id"], str(r["hits"]), str(r["misses"]), "—" if r["hit_rate"] is None else f"{r['hit_rate']:.0%}")
        con.print(t)
        if stats.hit_rate is not None:
            con.print(f"overall: {stats.hit_rate:.0%} of nodes came from the cache")
    else:
        con.print(f"no run of this cache is recorded in {settings.runs_dir}/ (hit rates come from run records)")
    return 0


def show_cache_gc(settings, *, keep_runs=None, older_than=None, max_size=None, dry_run: bool = False, as_json: bool = False) -> int:
    """``vidflow cache gc``: remove entries no kept run uses; 0 done, 2 bad flags or no cache."""
    from ..cache.gc import GcPolicy, collect_garbage, parse_age, parse_size
    from ..errors import UserError

    try:
        policy = GcPolicy(
            keep_runs=keep_runs,
            older_than=parse_age(older_than) if older_than is not None else None,
            max_size=parse_size(max_size) if max_size is not None else None,
        )
    except ValueError as e:
        raise UserError(f"cache gc: {e}") from None
    with _open_cache(settings) as store:
        report = collect_garbage(store, policy, runs_dir=settings.runs_dir, dry_run=dry_run)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0
    con = _console()
    verb = "would remove" if dry_run else "removed"
    # without --keep-runs no run's entries are kept as such: only age, size and protection decide
    kept = f"kept the entries of {len(report.kept_runs)} run(s)" if keep_runs is not None else "no --keep-runs: no run's entries are kept as such"
    live = f" and of {len(report.live_runs)} running: {', '.join(report.live_runs)}" if report.live_runs else ""
    con.print(f"cache {report.url}: {kept}{live}")
    con.print(
        f"{verb} {report.manifests_removed} of {report.manifests} entries, {report.blobs_removed} blobs, {report.other_removed} other files:"
        f" {human_size(report.bytes_freed)} of {human_size(report.bytes_before)} (now {human_size(report.bytes_after)})"
        + (f"; {report.kept_new} files newer than this gc left alone" if report.kept_new else "")
    )
    for w in report.warnings:
        con.print(f"[yellow]{w}[/]")
    return 0
