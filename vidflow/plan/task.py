"""The plan's unit: a frozen :class:`Task`, one node of a topic's graph.

A Task is named when its step expands (``plan/build.py``): its id, step, capability, provider,
dependencies and an estimate. Its key fields are not part of it, because they depend on its
inputs' contents; the scheduler computes them once the inputs exist (in a dry run, only for
inputs already in the cache). A Task never holds a live client or an output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..frozen import fast_init

__all__ = ["Estimate", "Task", "new_task"]


@dataclass(frozen=True, slots=True)
class Estimate:
    """What making a node probably costs (USD), takes (seconds of its lane) and consists of."""

    cost_usd: float = 0.0
    seconds: float = 0.0
    units: Mapping[str, float] = field(default_factory=dict)


@fast_init
@dataclass(frozen=True)
class Task:
    """One node: a provider call, a local step, or a capability's sub-node (a scene segment).

    Attributes:
        id: ``<topic id>/<name>``, e.g. ``why-is-the-sky-blue/speech[3]``.
        topic: the topic id.
        step: the recipe step it belongs to.
        capability: the step's capability name.
        role: the node's role inside its capability ("" for a step's plain node).
        provider: the provider instance it calls (its limits lane), if any.
        item: the ``for_each`` index, if any.
        deps: ids of the nodes it needs.
        inputs: for templates: step name -> node ids that name stands for.
        item_from: (node id, field) the ``item`` comes from.
        params: capability-private static facts.
        estimated: exists by an estimate (its list's length was not known when it was named).
        result: downstream steps see it as its step's output.
        estimate: cost, time and units.
        fields: everything that decides its output, once its inputs exist (None: unknown yet).
        key: the hash of ``fields`` (None: unknown yet; "" for nodes never cached).
    """

    id: str
    topic: str
    step: str
    capability: str
    role: str = ""
    provider: str | None = None
    item: int | None = None
    deps: tuple[str, ...] = ()
    inputs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    item_from: tuple[str, str | None] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    estimated: bool = False
    result: bool = True
    estimate: Estimate = Estimate()
    fields: Mapping[str, Any] | None = None
    key: str | None = None

    def keyed(self, fields: Mapping[str, Any] | None, key: str, estimate: Estimate) -> Task:
        """This Task once its inputs exist: with its key fields, key and the real request's
        estimate (``dataclasses.replace``, without re-running ``__init__``: every node takes
        this step)."""
        task = _new(Task)
        values = self.__dict__.copy()
        values["estimate"], values["fields"], values["key"] = estimate, fields, key
        _set(task, "__dict__", values)
        return task

    @property
    def lane(self) -> str:
        """Which resource it waits for: its provider, the CPU (local work), or nothing."""
        if self.provider:
            return self.provider
        return "" if self.capability == "publish" else "cpu"


_new, _set = object.__new__, object.__setattr__


def new_task(id: str, topic: str, step: str, capability: str, role: str, provider: str | None, item: int | None,
             deps: tuple[str, ...], inputs: tuple[tuple[str, tuple[str, ...]], ...], item_from: tuple[str, str | None] | None,
             params: Mapping[str, Any], estimated: bool, result: bool, estimate: Estimate) -> Task:
    """``Task(...)`` with every field but the key's given (the planner names every node with it)."""
    return Task(id, topic, step, capability, role, provider, item, deps, inputs, item_from, params, estimated, result, estimate)
