"""A node's resolved inputs, as its capability sees them (``TaskInputs``): the artifacts of
the nodes it depends on, and the template context built from their views (the topic's own
values, each input step's view, the ``for_each`` item, a rejected output's review note).

The scheduler owns the state read here (the topic's context, review notes, output claims);
this is the narrow view of it a capability gets.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..calibration import Calibration
from ..capabilities.base import UNKNOWN
from ..errors import BadOutputError
from ..plan.task import Task

__all__ = ["NodeInputs"]


class NodeInputs:
    """A node's resolved inputs (``TaskInputs`` for capabilities)."""

    __slots__ = ("_s", "_task", "_arts")

    def __init__(self, scheduler: Any, task: Task, arts: dict[str, Any]):
        self._s, self._task, self._arts = scheduler, task, arts

    @property
    def output_root(self) -> str:
        return self._s.output_root

    @property
    def calibration(self) -> Calibration:
        return self._s.calibration

    def artifact(self, node_id: str) -> Any:
        return self._arts[node_id]

    def known(self) -> bool:
        return all(a is not UNKNOWN for a in self._arts.values())

    def claim_output(self, dest: str) -> str | None:
        other = self._s._claims.setdefault(dest, self._task.topic)
        return None if other == self._task.topic else other

    def template_context(self, *, partial: bool = False) -> dict[str, Any] | None:
        s, task = self._s, self._task
        ctx = dict(s._topics[task.topic].ctx)
        note = s._notes.get(task.id)
        if note is not None:
            ctx["review"] = {"note": note}
        steps = s.loaded.steps
        for name, ids in task.inputs:
            info = steps[name]
            views = []
            for i in ids:
                art = self._arts[i]
                if art is UNKNOWN:
                    if not partial:
                        return None
                    views.append({})
                else:
                    views.append(s.loaded.capability(info).view(info, art))
            ctx[name] = views if info.for_each is not None else (views[0] if views else {})
        if task.item_from is not None:
            src, fld = task.item_from
            art = self._arts[src]
            if art is UNKNOWN:
                if not partial:
                    return None
                item: Any = {}
            else:
                info = steps[s._tasks[src].step]
                view = s.loaded.capability(info).view(info, art)
                if fld:
                    seq = view.get(fld) if isinstance(view, Mapping) else None
                    if not isinstance(seq, list) or task.item >= len(seq):
                        raise BadOutputError(f"`{src}` has no item {task.item} in `{fld}`")
                    item = seq[task.item]
                else:
                    item = view
            ctx["item"], ctx["index"] = item, task.item
        return ctx
