"""The library API the CLI is a thin shell over: load, plan, run.

>>> loaded = load_recipe_file("recipes/quickstart.yaml")                      # doctest: +SKIP
>>> report, graph = asyncio.run(plan(loaded, settings=Settings.from_env()))   # doctest: +SKIP
>>> result = asyncio.run(run(loaded, settings=Settings.from_env()))           # doctest: +SKIP

``plan`` is the same walk as ``run`` with the dry-run executor: no provider call, no process.
``run`` picks its executor from ``executor=``: ``"local"`` (this process) or a
:class:`~vidflow.run.dask.DaskExecutor` (topics on a cluster); both return a :class:`RunResult`.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import networkx as nx

from .cache.store import CacheStore
from .capabilities.base import doomed_topics
from .capabilities.registry import CapabilityRegistry, default_capabilities
from .errors import ConfigError, Problem, RecipeError, UserError
from .notify import open_notifier
from .plan.estimate import PlanReport, build_report
from .plan.refresh import Refresh, parse_refresh
from .providers.registry import Registry, default_registry
from .recipe.load import LoadedRecipe, load_recipe
from .run.executors import DryRunExecutor, LocalExecutor
from .run.identity import RunFolder, key_run_id, load_snapshot, outputs_intact, restore_snapshot, save_snapshot, take_snapshot
from .run.ledger import EventSink, JsonlSink, MultiSink, NullSink, Summarizer
from .run.limits import Clock
from .run.result import RunResult
from .run.scheduler import Scheduler, fewer_collections
from .scratch import check_root as check_scratch
from .settings import Settings

__all__ = ["RunResult", "check_credentials", "preflight", "load_recipe_file", "new_run_id", "open_store", "plan", "recipe_warnings", "rerun", "run", "select_topics", "submit"]


def load_recipe_file(path: str | os.PathLike, *, registry: Registry | None = None, capabilities: CapabilityRegistry | None = None, topics_file: str | None = None) -> LoadedRecipe:
    """Load and validate a recipe (RecipeError lists every problem, with file:line:col)."""
    return load_recipe(
        path, registry=registry or default_registry(), catalog=capabilities or default_capabilities(),
        topics_override=Path(topics_file) if topics_file else None,
    )


def select_topics(loaded: LoadedRecipe, *, only: Iterable[str] = (), limit: int | None = None) -> LoadedRecipe:
    """Keep the topics named by ``only`` (ids or texts), then the first ``limit``."""
    topics = loaded.topics
    only = list(only)
    if only:
        wanted = set(only)
        known = {t.id for t in topics} | {t.text for t in topics}
        missing = [o for o in only if o not in known]
        if missing:
            raise UserError(f"--only {', '.join(missing)}: no such topic (ids: {', '.join(t.id for t in topics[:10])}{' ...' if len(topics) > 10 else ''})")
        topics = [t for t in topics if t.id in wanted or t.text in wanted]
    if limit is not None:
        if limit < 1:
            raise UserError("--limit must be at least 1")
        topics = topics[:limit]
    return loaded.with_topics(topics)


def open_store(settings: Settings, *, create: bool = True) -> CacheStore:
    """The cache ``settings`` name, checked usable (ConfigError with the fix if not; see
    :meth:`CacheStore.probe`). ``create=False`` for commands that only read (``plan``)."""
    try:
        store = CacheStore(settings.cache_url, storage_options=settings.storage_options(settings.cache_url), scratch=settings.scratch_dir)
    except Exception as e:  # noqa: BLE001 - an unknown protocol, a host that does not answer: the user's setup
        raise ConfigError(f"cache {settings.cache_url}: cannot open it ({e or type(e).__name__}); set --cache or VIDFLOW_CACHE to a folder or an s3:// URL") from None
    return store.probe(create=create)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


def check_credentials(loaded: LoadedRecipe, settings: Settings) -> None:
    """Every paid provider a step uses has its API key in the environment (else exit 2)."""
    used = set()
    for s in loaded.steps.values():
        if s.provider:
            used.add(s.provider)
            used.update(s.fallbacks)
    problems = []
    for name in sorted(used):
        info = loaded.providers[name]
        adapter = info.cls(info.options, settings=settings)
        missing = adapter.missing_credentials(settings.env)
        if missing:
            problems.append(Problem(loaded.loc("providers", name, "kind"), f"providers.{name}", f"`{info.kind}` needs an API key: set {' or '.join(missing)} in the environment"))
            continue
        try:  # a key with bytes that are not UTF-8 would fail every call, blamed on the vendor
            adapter.api_key()
        except ConfigError as e:
            problems.append(Problem(loaded.loc("providers", name, "kind"), f"providers.{name}", str(e)))
    if problems:
        raise RecipeError(problems)


def preflight(loaded: LoadedRecipe, output_root: str | None = None) -> None:
    """Refuse a run whose every topic is doomed by its own values (a publish path that cannot be
    written), before any work (RecipeError, exit 2): it would pay for every node, then fail each
    topic at the end. Some topics doomed and others not: the batch runs, and those fail alone,
    before their first node (the scheduler asks the same question per topic)."""
    doomed = doomed_topics(loaded, os.path.abspath(output_root or os.getcwd()))
    if loaded.topics and len(doomed) == len(loaded.topics):
        problems = [p for name in loaded.steps for t in loaded.topics for p in doomed[t.id].get(name, ())]
        if len(problems) > 10:  # (the same mistake, topic after topic: ten say it)
            last = problems[9]
            problems = [*problems[:9], Problem(last.location, last.path, f"{last.message} (and {len(problems) - 10} more like these)")]
        raise RecipeError(problems)


def _check_refresh(loaded: LoadedRecipe, refresh: Iterable[str] | Refresh) -> Refresh:
    """``--refresh`` specs (``art``, ``art[2]``, ``speech[0:3]``) checked against the recipe."""
    return parse_refresh(refresh, loaded.steps)


def recipe_warnings(loaded: LoadedRecipe) -> list[str]:
    """What runs, but maybe not as the user expects (a step param its provider ignores, emoji no
    font draws), each naming where in the user's files: `plan` reports them, `run` says them first."""
    return [w for name in loaded.order for w in loaded.capabilities[loaded.steps[name].capability].plan_warnings(loaded.steps[name], loaded)]


async def plan(loaded: LoadedRecipe, *, settings: Settings, refresh: Iterable[str] | Refresh = (), store: CacheStore | None = None, output_root: str | None = None) -> tuple[PlanReport, nx.DiGraph]:
    """The dry run: every node named, looked up in the cache, priced and timed; nothing made.

    Each node that would run says why (``report.nodes``: new, changed and which key fields,
    refresh, missing, a corrupt cache entry, inputs not made yet). Templates that cannot render
    and outputs that cannot be written are reported in ``report.problems`` (the CLI exits 2 on
    them), with everything that could be planned. Missing API keys are warnings: only ``run``
    needs them.
    """
    refresh = _check_refresh(loaded, refresh)
    warnings = []
    try:
        check_credentials(loaded, settings)
    except RecipeError as e:
        warnings = [f"{line} (needed by `vidflow run`, not by the plan)" for line in e.lines()]
    with fewer_collections():
        return await _plan(loaded, settings=settings, refresh=refresh, store=store, output_root=output_root, warnings=warnings)


async def _plan(loaded: LoadedRecipe, *, settings: Settings, refresh: Refresh, store: CacheStore | None, output_root: str | None,
                warnings: list[str]) -> tuple[PlanReport, nx.DiGraph]:
    own = store is None
    store = store or open_store(settings, create=False)
    try:
        async with Scheduler(loaded, settings=settings, store=store, executor=DryRunExecutor(), sink=NullSink(), run_id="plan",
                             refresh=refresh, output_root=output_root) as s:
            await s.run()
    finally:
        if own:
            store.close()
    status = {n: o.status for n, o in s.outcomes.items()}
    problems = [o.error for n, o in sorted(s.outcomes.items()) if o.status == "failed"]
    limits = {name: s.limits(name) for name in loaded.providers}
    report = build_report(s.graph, status, recipe=loaded.name, topics=len(loaded.topics), step_order=loaded.order,
                          limits=limits, cpu_slots=settings.max_ffmpeg, problems=problems)
    report.warnings = warnings + recipe_warnings(loaded)
    report.timings = s.calibration.source
    for n in s.graph:
        o = s.outcomes.get(n)
        if o is not None and o.status in ("run", "estimated"):
            task = s.graph.nodes[n]["task"]
            report.nodes.append({"id": n, "topic": task.topic, "step": task.step, "reason": o.reason, "changed": list(o.changed)})
    return report, s.graph


async def run(
    loaded: LoadedRecipe,
    *,
    settings: Settings,
    sink: EventSink | None = None,
    refresh: Iterable[str] | Refresh = (),
    output_root: str | None = None,
    clock: Clock | None = None,
    store: CacheStore | None = None,
    record: bool = True,
    imports: Mapping[str, Mapping[str, Any]] | None = None,
    limiter_factory: Callable[..., Any] | None = None,
    run_id: str | None = None,
    executor: Any = "local",
) -> RunResult:
    """Run the recipe: cached nodes are skipped, the rest made; events go to the run record.

    ``executor``: ``"local"`` (this process) or a :class:`~vidflow.run.dask.DaskExecutor`.
    """
    refresh = _check_refresh(loaded, refresh)
    check_credentials(loaded, settings)
    preflight(loaded, output_root)
    if settings.scratch_dir:
        check_scratch(settings.scratch_dir)  # before any paid work, not when the first encode needs it
    run_id = run_id or new_run_id()
    notifier = open_notifier(loaded, settings)  # webhooks (docs/webhooks.md): one more sink, delivered in the background
    try:
        with fewer_collections():
            return await _run(loaded, settings=settings, sink=MultiSink(sink, notifier) if notifier else sink, refresh=refresh, output_root=output_root,
                              clock=clock, store=store, record=record, imports=imports, limiter_factory=limiter_factory, run_id=run_id, executor=executor)
    finally:
        if notifier is not None:
            notifier.close()


async def _run(loaded: LoadedRecipe, *, settings: Settings, sink: EventSink | None, refresh: Refresh, output_root: str | None, clock: Clock | None,
               store: CacheStore | None, record: bool, imports: Mapping[str, Mapping[str, Any]] | None, limiter_factory: Callable[..., Any] | None,
               run_id: str, executor: Any) -> RunResult:
    if executor != "local":
        return await executor.run(loaded, settings=settings, sink=sink, refresh=refresh, output_root=output_root, run_id=run_id)
    summary = Summarizer()
    jsonl = JsonlSink(os.path.join(settings.runs_dir, run_id, "events.jsonl")) if record else None
    own = store is None
    store = store or open_store(settings)
    try:
        async with Scheduler(
            loaded, settings=settings, store=store, executor=LocalExecutor(), sink=MultiSink(summary, jsonl, sink), run_id=run_id,
            clock=clock, refresh=refresh, output_root=output_root, imports=imports, limiter_factory=limiter_factory,
        ) as s:
            await s.run()
    finally:
        if jsonl is not None:
            jsonl.close()
        if own:
            store.close()
    if s.bugs:  # every topic that could finish has; now the bug surfaces (exit 3, with a traceback)
        raise s.bugs[0]
    values = {step: s.outputs(step) for step in loaded.order}
    return RunResult(run_id, summary.summary, jsonl.path if jsonl else None, s.graph, dict(s.calls), s.outcomes, values)


def _reusable(folder: RunFolder, settings: Settings) -> RunResult | None:
    """The finished, all-published result of ``folder`` if every output is still intact."""
    done = folder.finished()
    if done is None or done[0].exit_code != 0 or outputs_intact(done[1], settings.storage_options):
        return None
    return RunResult(folder.run_id, done[0], str(folder.events), nx.DiGraph(), {}, reused=True)


async def submit(
    loaded: LoadedRecipe,
    *,
    settings: Settings,
    options: Mapping[str, Any] | None = None,
    imports: Mapping[str, Mapping[str, Any]] | None = None,
    idempotency_key: str | None = None,
    wait: bool = False,
    new: bool = False,
    **run_kwargs: Any,
) -> RunResult:
    """Run ``loaded`` as an idempotent submission (see :mod:`vidflow.run.identity`).

    The run id is the digest of the snapshot (recipe, characters, topics, ``options`` that
    change what is made) or of ``idempotency_key``. If that run finished with everything
    published and its outputs are intact, its result comes back (``reused=True``) and nothing
    runs. If another process is making it, UserError, or with ``wait`` the result once it ends.
    Otherwise it runs (again) under that id. ``new`` always starts a new run id.
    """
    check_credentials(loaded, settings)  # before anything is written: a refused run leaves no trace
    preflight(loaded, run_kwargs.get("output_root"))
    snap = take_snapshot(loaded, options={**(options or {}), "cache": settings.cache_url}, imports=imports)
    run_id = new_run_id() if new else key_run_id(idempotency_key) if idempotency_key is not None else snap.run_id
    folder = RunFolder(settings.runs_dir, run_id)
    recorded = folder.meta().get("snapshot")
    if idempotency_key is not None and recorded and recorded != snap.digest:
        raise UserError(f"--idempotency-key {idempotency_key!r} was used for a different submission (run {run_id}, {folder.path}); use a new key for new work")
    if wait:
        await asyncio.to_thread(folder.wait)
    reused = _reusable(folder, settings)
    if reused is not None:
        return reused
    # The cache is opened (and checked) first: one that cannot be used stops the run before its
    # folder is made. The folder is this process's until the run ends (UserError if another owns it).
    with open_store(settings) as store, folder:
        save_snapshot(store, snap)
        folder.write_meta(run_id=run_id, snapshot=snap.digest, recipe=str(loaded.path), cache=settings.cache_url, options=dict(options or {}),
                          idempotency_key_given=idempotency_key is not None, started=time.time())
        return await run(loaded, settings=settings, imports=imports, run_id=run_id, **{"store": store, **run_kwargs})


async def rerun(run_id: str, *, settings: Settings, cache: str | None = None, capabilities: CapabilityRegistry | None = None,
                **run_kwargs: Any) -> tuple[RunResult, LoadedRecipe]:
    """Run a recorded run again, exactly: its stored snapshot (recipe, characters, topics,
    options, imported documents) under the same run id, whatever the files say now.

    The snapshot is restored into ``<runs_dir>/<run_id>/snapshot/`` (kept for inspection); the
    cache is the run's own unless ``cache`` names another one that holds the snapshot. Returns
    the result and the recipe as restored (for reports).
    """
    import shutil

    from .recipe.topics import Topic

    folder = RunFolder(settings.runs_dir, run_id)
    meta = folder.meta()
    if not meta.get("snapshot"):
        raise UserError(f"run {run_id!r} has no stored snapshot in {settings.runs_dir}/ (`vidflow status` lists runs; only runs with a snapshot id, r-... or k-..., can be rerun)")
    settings = settings.replace(cache_url=cache or meta.get("cache"))
    with folder:
        where = folder.path / "snapshot"
        shutil.rmtree(where, ignore_errors=True)
        with open_store(settings) as store:
            data = load_snapshot(store, meta["snapshot"])
            recipe_path, _chars = restore_snapshot(store, data, where)
        loaded = load_recipe_file(recipe_path, capabilities=capabilities)
        loaded = loaded.with_topics([Topic(t["id"], t["text"], t.get("vars") or {}) for t in data["topics"]])
        opts = data.get("options") or {}
        if opts.get("until"):
            loaded = loaded.until(opts["until"])
        refresh = parse_refresh(opts.get("refresh") or (), loaded.steps, force=bool(opts.get("force")))
        result = await run(loaded, settings=settings, imports=data.get("imports") or None, run_id=run_id, refresh=refresh,
                           output_root=opts.get("out_dir"), **run_kwargs)
    return result, loaded
