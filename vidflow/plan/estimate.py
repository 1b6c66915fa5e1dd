"""What a plan says: per step, how many nodes, how many cached, what the rest will take.

Computed from the graph a plan-mode walk leaves behind (``Engine.graph``): each node carries its
step, provider, status (``cached``, ``run``, ``estimated``) and expected latency. Wall time is
estimated by simulating the run: the DAG list-scheduled under each provider's concurrency and
rate window (and the CPU slots for ffmpeg), every to-run node taking its expected latency.
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
    cost_by_provider: dict[str, float] = field(default_factory=dict)
    cost_by_topic: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def simulate_makespan(graph: nx.DiGraph, limits: dict[str, tuple[int, Any]], cpu_slots: int) -> float:
    """Wall time of the to-run nodes under provider limits: list scheduling on the DAG.

    Each to-run node takes its ``latency``; a provider node holds one of its provider's
    ``concurrency`` slots and respects its rate window; compose nodes hold a CPU slot; cached
    nodes take no time. Nodes start as soon as their inputs are done and a slot is free.
    """
    import heapq

    if graph.number_of_nodes() == 0:
        return 0.0
    order = {n: i for i, n in enumerate(nx.topological_sort(graph))}
    waiting = {n: graph.in_degree(n) for n in graph}
    ready_at: dict[str, float] = {n: 0.0 for n in graph if waiting[n] == 0}
    free: dict[str, list[float]] = {}
    starts: dict[str, list[float]] = {}
    queue = sorted(ready_at, key=lambda n: (0.0, order[n]))
    done_events: list[tuple[float, int, str]] = []
    finish: dict[str, float] = {}

    def resource(n: str) -> tuple[str, int, Any]:
        d = graph.nodes[n]
        if d.get("provider"):
            conc, rate = limits.get(d["provider"], (1, None))
            return d["provider"], conc, rate
        if str(d.get("kind", "")).startswith("compose"):
            return "cpu", cpu_slots, None
        return "", 0, None

    def start(n: str, t: float) -> None:
        d = graph.nodes[n]
        dur = 0.0 if d.get("status") == "cached" else float(d.get("latency", 0.0))
        name, conc, rate = resource(n)
        if name and dur > 0:
            slots = free.setdefault(name, [0.0] * conc)
            i = min(range(len(slots)), key=lambda k: slots[k])
            t = max(t, slots[i])
            if rate is not None:
                hist = starts.setdefault(name, [])
                window = [s for s in hist if s > t - rate.period]
                if len(window) >= rate.calls:
                    t = max(t, sorted(window)[-rate.calls] + rate.period)
                hist.append(t)
            slots[i] = t + dur
        finish[n] = t + dur
        heapq.heappush(done_events, (t + dur, order[n], n))

    for n in queue:
        start(n, 0.0)
    while done_events:
        t, _, n = heapq.heappop(done_events)
        for m in sorted(graph.successors(n), key=order.get):
            waiting[m] -= 1
            if waiting[m] == 0:
                start(m, max(finish[p] for p in graph.predecessors(m)))
    return max(finish.values(), default=0.0)


def build_report(graph: nx.DiGraph, *, recipe: str, topics: int, step_order: list[str], limits: dict[str, tuple[int, Any]], cpu_slots: int = 2) -> PlanReport:
    """``limits``: provider name -> (concurrency, Rate | None)."""
    rows: dict[str, StepRow] = {s: StepRow(step=s, kind="") for s in step_order}
    per_provider: dict[str, list[float]] = {}
    report = PlanReport(recipe=recipe, topics=topics)
    for n, d in graph.nodes(data=True):
        row = rows.setdefault(d.get("step", "?"), StepRow(step=d.get("step", "?"), kind=""))
        kind = d.get("kind", "")
        row.kind = kind if not row.kind or row.kind == kind else row.kind.split(".")[0]
        row.nodes += 1
        status = d.get("status")
        if status == "cached":
            row.cached += 1
            continue
        row.to_run += 1
        if d.get("estimated") or status == "estimated":
            row.estimated = True
        cost = float(d.get("cost_estimate", 0.0))
        row.cost_usd += cost
        if cost:
            key = d.get("provider") or d.get("kind", "")
            report.cost_by_provider[key] = report.cost_by_provider.get(key, 0.0) + cost
            report.cost_by_topic[d.get("topic", "")] = report.cost_by_topic.get(d.get("topic", ""), 0.0) + cost
        lat = float(d.get("latency", 0.0))
        if d.get("provider"):
            per_provider.setdefault(d["provider"], []).append(lat)
    # Per-provider throughput bound (shown per step).
    provider_time: dict[str, float] = {}
    for p, lats in per_provider.items():
        conc, rate = limits.get(p, (1, None))
        t = sum(lats) / max(1, conc)
        if rate is not None and len(lats) > rate.calls:
            t = max(t, (len(lats) - rate.calls) / rate.calls * rate.period + max(lats))
        provider_time[p] = t
    # Critical path over to-run latencies (no limits).
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
    report.rows = [r for r in rows.values() if r.nodes]
    report.total_nodes = sum(r.nodes for r in report.rows)
    report.cached = sum(r.cached for r in report.rows)
    report.to_run = sum(r.to_run for r in report.rows)
    report.estimated = any(r.estimated for r in report.rows)
    report.cost_usd = sum(r.cost_usd for r in report.rows)
    report.critical_path_seconds = crit
    report.wall_seconds = simulate_makespan(graph, limits, cpu_slots) if report.to_run else 0.0
    return report
