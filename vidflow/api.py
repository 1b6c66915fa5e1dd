"""The library API the CLI is a thin shell over: load, plan, run.

>>> loaded = load_recipe_file("recipes/quickstart.yaml")          # doctest: +SKIP
>>> report, graph = asyncio.run(plan(loaded, settings=Settings.from_env()))  # doctest: +SKIP
>>> result = asyncio.run(run(loaded, settings=Settings.from_env()))          # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import networkx as nx

from .cache.store import CacheStore
from .errors import Problem, RecipeError, UserError
from .plan.estimate import PlanReport, build_report
from .providers.registry import Registry, default_registry
from .recipe.load import LoadedRecipe, load_recipe
from .settings import Settings
from .run.engine import Engine, new_run_id
from .run.ledger import EventSink, JsonlSink, MemorySink, MultiSink, Summary, summarize
from .run.limits import Clock

__all__ = ["RunResult", "load_recipe_file", "open_store", "plan", "run", "select_topics"]


def load_recipe_file(path: str | os.PathLike, *, registry: Registry | None = None, topics_file: str | None = None) -> LoadedRecipe:
    return load_recipe(path, registry=registry or default_registry(), topics_override=Path(topics_file) if topics_file else None)


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


def open_store(settings: Settings) -> CacheStore:
    return CacheStore(settings.cache_url, storage_options=settings.storage_options(settings.cache_url))


async def plan(loaded: LoadedRecipe, *, settings: Settings, registry: Registry | None = None, refresh: Iterable[str] = (), store: CacheStore | None = None) -> tuple[PlanReport, nx.DiGraph]:
    """Walk the recipe without running anything; returns the report and the node graph."""
    _check_refresh(loaded, refresh)
    check_credentials(loaded, settings)
    store = store or open_store(settings)
    engine = Engine(loaded, settings=settings, registry=registry or default_registry(), store=store, mode="plan", refresh=set(refresh))
    await engine.run()
    limits = {}
    for name, info in loaded.providers.items():
        limits[name] = (info.spec.concurrency or info.cls.default_concurrency, info.spec.rate)
    report = build_report(engine.graph, recipe=loaded.name, topics=len(loaded.topics), step_order=loaded.order, limits=limits, cpu_slots=settings.max_ffmpeg)
    return report, engine.graph


def check_credentials(loaded: LoadedRecipe, settings: Settings) -> None:
    """Every paid provider a step uses has its API key in the environment (else exit 2)."""
    used = set()
    for s in loaded.steps.values():
        if s.provider:
            used.add(s.provider)
            used.update(getattr(s.spec, "fallback", []))
    problems = []
    for name in sorted(used):
        info = loaded.providers[name]
        missing = info.cls(info.options, settings=settings).missing_credentials(settings.env)
        if missing:
            problems.append(Problem(loaded.loc("providers", name, "kind"), f"providers.{name}", f"`{info.kind}` needs an API key: set {' or '.join(missing)} in the environment"))
    if problems:
        raise RecipeError(problems)


@dataclass
class RunResult:
    run_id: str
    summary: Summary
    events_path: str | None
    graph: nx.DiGraph
    calls: dict[str, int]
    outputs: Callable[[str], dict] = lambda step: {}

    @property
    def exit_code(self) -> int:
        return self.summary.exit_code


async def run(
    loaded: LoadedRecipe,
    *,
    settings: Settings,
    registry: Registry | None = None,
    sink: EventSink | None = None,
    refresh: Iterable[str] = (),
    output_root: str | None = None,
    clock: Clock | None = None,
    store: CacheStore | None = None,
    record: bool = True,
    imports: dict[str, dict] | None = None,
    limiter_factory: Callable[..., object] | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Run the recipe: cached nodes are skipped, the rest run; events go to the run record."""
    _check_refresh(loaded, refresh)
    check_credentials(loaded, settings)
    run_id = run_id or new_run_id()
    memory = MemorySink()
    jsonl = None
    events_path = None
    if record:
        events_path = os.path.join(settings.runs_dir, run_id, "events.jsonl")
        jsonl = JsonlSink(events_path)
    store = store or open_store(settings)
    engine = Engine(
        loaded, settings=settings, registry=registry or default_registry(), store=store,
        sink=MultiSink(memory, jsonl, sink), mode="run", refresh=set(refresh), run_id=run_id,
        output_root=output_root, clock=clock, imports=imports, limiter_factory=limiter_factory,
    )
    try:
        await engine.run()
    finally:
        if jsonl is not None:
            jsonl.close()
    return RunResult(run_id, summarize(memory.events), events_path, engine.graph, dict(engine.calls), engine.outputs)


def _check_refresh(loaded: LoadedRecipe, refresh: Iterable[str]) -> None:
    bad = [s for s in refresh if s not in loaded.steps]
    if bad:
        raise UserError(f"--refresh {', '.join(bad)}: no such step (steps: {', '.join(loaded.order)})")
