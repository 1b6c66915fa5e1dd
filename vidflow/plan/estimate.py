"""What a plan says: per step, how many nodes, how many cached, what the rest will take.

Computed from the graph a plan-mode walk leaves behind (``Engine.graph``): each node carries its
step, provider, status (``cached``, ``run``, ``estimated``) and expected latency. Wall time is
estimated as the larger of the critical path (longest chain of to-run latencies) and, per
provider, its to-run work spread over its concurrency and held to its rate window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import networkx as nx

__all__ = ["PlanReport", "StepRow", "build_report"]


@dataclass
class StepRow:
    step: str
    kind: str
    nodes: int = 0
    cached: int = 0
    to_run: int = 0
    estimated: bool = False
    cost_usd: float = 0.0
    seconds: float = 0.0


@dataclass
class PlanReport:
    recipe: str
    topics: int
    rows: list[StepRow] = field(default_factory=list)
    total_nodes: int = 0
    cached: int = 0
    to_run: int = 0
    estimated: bool = False
    cost_usd: float = 0.0
    wall_seconds: float = 0.0
    critical_path_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_report(graph: nx.DiGraph, *, recipe: str, topics: int, step_order: list[str], limits: dict[str, tuple[int, Any]]) -> PlanReport:
    """``limits``: provider name -> (concurrency, Rate | None)."""
    rows: dict[str, StepRow] = {s: StepRow(step=s, kind="") for s in step_order}
    per_provider: dict[str, list[float]] = {}
    for n, d in graph.nodes(data=True):
        row = rows.setdefault(d.get("step", "?"), StepRow(step=d.get("step", "?"), kind=""))
        row.kind = row.kind or d.get("kind", "")
        row.nodes += 1
        status = d.get("status")
        if status == "cached":
            row.cached += 1
            continue
        row.to_run += 1
        if d.get("estimated") or status == "estimated":
            row.estimated = True
        row.cost_usd += float(d.get("cost_estimate", 0.0))
        lat = float(d.get("latency", 0.0))
        if d.get("provider"):
            per_provider.setdefault(d["provider"], []).append(lat)
    # Per-provider throughput bound.
    provider_time: dict[str, float] = {}
    for p, lats in per_provider.items():
        conc, rate = limits.get(p, (1, None))
        t = sum(lats) / max(1, conc)
        if rate is not None and len(lats) > rate.calls:
            t = max(t, (len(lats) - rate.calls) / rate.calls * rate.period + max(lats))
        provider_time[p] = t
    # Critical path over to-run latencies.
    crit = 0.0
    if graph.number_of_nodes():
        best: dict[str, float] = {}
        for n in nx.topological_sort(graph):
            d = graph.nodes[n]
            own = 0.0 if d.get("status") == "cached" else float(d.get("latency", 0.0))
            best[n] = own + max((best[p] for p in graph.predecessors(n)), default=0.0)
        crit = max(best.values())
    for row in rows.values():
        provs = {graph.nodes[n].get("provider") for n in graph.nodes if graph.nodes[n].get("step") == row.step}
        row.seconds = max((provider_time.get(p, 0.0) for p in provs if p), default=0.0)
    report = PlanReport(recipe=recipe, topics=topics, rows=[r for r in rows.values() if r.nodes])
    report.total_nodes = sum(r.nodes for r in report.rows)
    report.cached = sum(r.cached for r in report.rows)
    report.to_run = sum(r.to_run for r in report.rows)
    report.estimated = any(r.estimated for r in report.rows)
    report.cost_usd = sum(r.cost_usd for r in report.rows)
    report.critical_path_seconds = crit
    report.wall_seconds = max([crit, *provider_time.values()]) if report.to_run else 0.0
    return report
