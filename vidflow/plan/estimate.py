"""What a plan says: per step, how many nodes, how many cached, what the rest will cost and take.

Computed from the Task graph a dry run leaves behind and each node's outcome (``cached``,
``run``, ``estimated`` or ``failed``). Wall time is estimated by simulating the run: the DAG
list-scheduled under each provider's concurrency and rate window (the same :class:`RateWindow`
the limiter uses) and the CPU slots for local work, every node to run taking its estimate.
"""

from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import networkx as nx

from ..limits import Limits, RateWindow

__all__ = ["PlanReport", "StepRow", "build_report", "simulate_makespan"]

TO_RUN = ("run", "estimated")


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
    units: dict[str, float] = field(default_factory=dict)


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
    # (per topic and per node: left out of the repr, which asyncio.run formats for its result)
    cost_by_topic: dict[str, float] = field(default_factory=dict, repr=False)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: where the time estimate comes from: this cache's past runs, or defaults
    timings: str = ""
    #: every node that would run, and why: {id, topic, step, reason, changed}
    nodes: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def simulate_makespan(graph: nx.DiGraph, status: Mapping[str, str], limits: Mapping[str, Limits], cpu_slots: int, *, order: list[str] | None = None) -> float:
    """Wall time of the nodes to run: list scheduling on the DAG under every lane's limits.

    A provider node holds one of its provider's slots and respects its rate window; local work
    holds a CPU slot; cached nodes take no time. A node starts when its inputs are done and a
    slot (and the window) allows. ``order``: the graph's topological order, if already known.
    """
    if graph.number_of_nodes() == 0:
        return 0.0
    topo = order if order is not None else list(nx.topological_sort(graph))
    rank = {n: i for i, n in enumerate(topo)}
    tasks = dict(graph.nodes(data="task"))
    pred, succ = graph.pred, graph.succ
    waiting = {n: len(pred[n]) for n in topo}
    slots: dict[str, list[float]] = {}  # lane -> a heap of the times its slots come free
    windows: dict[str, RateWindow] = {}
    done: list[tuple[float, int, str]] = []
    finish: dict[str, float] = {}

    def start(n: str, t: float) -> None:
        task = tasks[n]
        dur = task.estimate.seconds if status.get(n) in TO_RUN else 0.0
        lane = task.lane
        if lane and dur > 0:
            free = slots.get(lane)
            lim = limits.get(lane) or Limits(concurrency=cpu_slots if lane == "cpu" else 1)
            if free is None:
                free = slots[lane] = [0.0] * lim.concurrency  # (equal values: already a heap)
            t = max(t, free[0])  # the slot that comes free first
            if lim.rate is not None:
                w = windows.get(lane)
                if w is None:
                    w = windows[lane] = RateWindow(lim.rate)
                t = w.earliest(t)
                w.record(t)
            heapq.heapreplace(free, t + dur)
        finish[n] = t + dur
        heapq.heappush(done, (t + dur, rank[n], n))

    for n in topo:
        if waiting[n] == 0:
            start(n, 0.0)
    while done:
        _, _, n = heapq.heappop(done)
        for m in sorted(succ[n], key=rank.__getitem__):
            waiting[m] -= 1
            if waiting[m] == 0:
                start(m, max(finish[p] for p in pred[m]))
    return max(finish.values(), default=0.0)


def build_report(graph: nx.DiGraph, status: Mapping[str, str], *, recipe: str, topics: int, step_order: list[str], limits: Mapping[str, Limits], cpu_slots: int = 2, problems: list[str] | None = None) -> PlanReport:
    """``status``: node id -> its dry-run outcome; ``limits``: provider name -> Limits."""
    rows: dict[str, StepRow] = {s: StepRow(step=s, kind="") for s in step_order}
    report = PlanReport(recipe=recipe, topics=topics, problems=list(problems or []))
    lane_time: dict[str, list[float]] = {}
    for n, d in graph.nodes(data=True):
        task = d["task"]
        row = rows.setdefault(task.step, StepRow(step=task.step, kind=""))
        kind = f"{task.capability}.{task.role}" if task.role else task.capability
        row.kind = kind if not row.kind or row.kind == kind else task.capability
        row.nodes += 1
        st = status.get(n, "run")
        if st == "cached":
            row.cached += 1
            continue
        if st not in TO_RUN:  # failed, skipped or waiting for review: it will not run (its problem is listed)
            continue
        row.to_run += 1
        if task.estimated or st == "estimated":
            row.estimated = True
        cost = task.estimate.cost_usd
        row.cost_usd += cost
        for k, v in task.estimate.units.items():
            row.units[k] = row.units.get(k, 0.0) + v
        if cost:
            key = task.provider or task.capability
            report.cost_by_provider[key] = report.cost_by_provider.get(key, 0.0) + cost
            report.cost_by_topic[task.topic] = report.cost_by_topic.get(task.topic, 0.0) + cost
        if task.lane:
            lane_time.setdefault(task.lane, []).append(task.estimate.seconds)
    # Per lane: its throughput bound, shown on the steps that use the lane.
    bound: dict[str, float] = {}
    for lane, secs in lane_time.items():
        lim = limits.get(lane) or Limits(concurrency=cpu_slots if lane == "cpu" else 1)
        t = sum(secs) / lim.concurrency
        if lim.rate is not None and len(secs) > lim.rate.calls:
            t = max(t, (len(secs) - lim.rate.calls) / lim.rate.calls * lim.rate.period + max(secs))
        bound[lane] = t
    step_lanes: dict[str, set[str]] = {}
    for _, d in graph.nodes(data=True):
        step_lanes.setdefault(d["task"].step, set()).add(d["task"].lane)
    for row in rows.values():
        row.seconds = max((bound.get(lane, 0.0) for lane in step_lanes.get(row.step, ()) if lane), default=0.0)
    # Critical path over the nodes to run (no limits); none when everything is cached.
    anything = any(r.to_run for r in rows.values())
    topo = list(nx.topological_sort(graph)) if anything else []
    if topo:
        best: dict[str, float] = {}
        pred = graph.pred
        for n, task in zip(topo, (graph.nodes[n]["task"] for n in topo)):
            own = task.estimate.seconds if status.get(n) in TO_RUN else 0.0
            best[n] = own + max((best[p] for p in pred[n]), default=0.0)
        report.critical_path_seconds = max(best.values())
    report.rows = [r for r in rows.values() if r.nodes]
    report.total_nodes = sum(r.nodes for r in report.rows)
    report.cached = sum(r.cached for r in report.rows)
    report.to_run = sum(r.to_run for r in report.rows)
    report.estimated = any(r.estimated for r in report.rows)
    report.cost_usd = sum(r.cost_usd for r in report.rows)
    report.wall_seconds = simulate_makespan(graph, status, limits, cpu_slots, order=topo) if report.to_run else 0.0
    return report
