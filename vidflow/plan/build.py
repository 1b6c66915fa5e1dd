"""Pure builders: a recipe's steps -> frozen Tasks, one topic and one step at a time.

A step's nodes can be named once what it needs upstream is known (Hamilton's parameterized
groups, realised at run time): a ``for_each`` over ``script.lines`` needs the script's output,
a chained ``for_each`` needs its source's nodes, a plain step only its inputs' node ids. The
scheduler (``run/scheduler.py``) awaits those and calls :func:`expand_step`; a dry run calls it
with what the cache holds and estimates what it does not (those nodes are marked estimated).

Nothing here does I/O: no provider call, no subprocess, no cache access.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import networkx as nx

from ..capabilities.base import Expansion
from ..recipe.load import LoadedRecipe, StepInfo
from ..calibration import Calibration
from .task import Estimate, Task, new_task

__all__ = ["add_tasks", "expand_step", "expansion_needs"]


def expansion_needs(loaded: LoadedRecipe, step: StepInfo) -> dict[str, str]:
    """Upstream step -> ``"nodes"`` (their ids) or ``"value"`` (their output) to name ``step``'s nodes."""
    needs = step.memo.get("expand.needs")  # the same for every topic: asked once per step
    if needs is None:
        needs = step.memo["expand.needs"] = loaded.capability(step).expand_needs(step)
    return needs


def expand_step(
    loaded: LoadedRecipe,
    step: StepInfo,
    topic_id: str,
    *,
    values: Mapping[str, Any],
    results: Mapping[str, tuple[str, ...]],
    estimated: Mapping[str, bool],
    adapters: Callable[[str], Any],
    calibration: Calibration | None = None,
    memo: dict[tuple[str, str, str | None], Estimate] | None = None,
) -> list[Task]:
    """The Tasks of ``step`` for one topic. May raise BadOutputError (a for_each over a non-list).

    ``memo``: estimates kept across the topics of one run, for capabilities whose estimate
    depends only on the step, role and provider (``Capability.estimate_per_step``).
    """
    cap = loaded.capability(step)
    x = Expansion(topic_id=topic_id, values=values, results=results, estimated=estimated, loaded=loaded, adapters=adapters)
    tasks = []
    upstream_estimated = bool(results) and any(estimated.get(n, False) for n in results)
    estimates: dict[tuple[str, str, str | None], Estimate] = memo if memo is not None and cap.estimate_per_step else {}
    for spec in cap.expand(step, x):
        est = estimates.get((step.name, spec.role, spec.provider))  # nodes of a step share it
        task = new_task(f"{topic_id}/{spec.name}", topic_id, step.name, cap.name, spec.role, spec.provider, spec.item, spec.deps,
                        spec.inputs, spec.item_from, spec.params, spec.estimated or upstream_estimated, spec.result, est or Estimate())
        if est is None:
            e = cap.estimate(task, step, loaded, adapters(task.provider) if task.provider else None, calibration or Calibration())
            est = estimates[(step.name, task.role, task.provider)] = Estimate(e.cost, e.seconds, dict(e.units))
            object.__setattr__(task, "estimate", est)  # (the task is new: nobody has seen it yet)
        tasks.append(task)
    return tasks


def add_tasks(graph: nx.DiGraph, tasks: list[Task]) -> None:
    """Add Tasks and their dependency edges to a plan graph (node attribute ``task``)."""
    for t in tasks:
        graph.add_node(t.id, task=t)
        for d in t.deps:
            graph.add_edge(d, t.id)


def expected_nodes(loaded: LoadedRecipe, adapters: Callable[[str], Any], calibration: Calibration | None = None) -> int:
    """How many nodes one topic of ``loaded`` will probably have, before anything exists.

    The same expansion as a dry run with every upstream output unknown (lists sized from the
    steps' hints): progress displays start from it, so their totals need not grow much later.
    """
    from ..capabilities.base import UNKNOWN

    results: dict[str, tuple[str, ...]] = {}
    count = 0
    for name in loaded.order:
        step = loaded.steps[name]
        needs = expansion_needs(loaded, step)
        tasks = expand_step(
            loaded, step, "t", values={n: UNKNOWN for n, w in needs.items() if w == "value"},
            results={n: results.get(n, ("t/?",)) for n in needs}, estimated={n: True for n in needs}, adapters=adapters,
            calibration=calibration,
        )
        results[name] = tuple(t.id for t in tasks if t.result) or ("t/?",)
        count += len(tasks)
    return count
