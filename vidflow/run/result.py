"""What a run returns, whichever executor ran it: summary, Task graph, outcomes, outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .ledger import Summary
from .outcome import Outcome

__all__ = ["RunResult"]


@dataclass
class RunResult:
    """What a run did: its summary (from events), the Task graph, each node's outcome."""

    run_id: str
    summary: Summary
    events_path: str | None
    graph: nx.DiGraph
    calls: dict[str, int]
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> topic id -> value
    reused: bool = False  # an identical submission had finished: its result, nothing ran now

    def __repr__(self) -> str:
        # Short on purpose: asyncio.run formats the main task's result (a RunResult) when it
        # restores the SIGINT handler, and the generated repr of 10,000 outcomes took ~0.2 s.
        return f"RunResult(run_id={self.run_id!r}, exit_code={self.exit_code}, nodes={self.graph.number_of_nodes()}, reused={self.reused})"

    @property
    def exit_code(self) -> int:
        return self.summary.exit_code

    def outputs(self, step: str) -> dict[str, Any]:
        """Topic id -> what ``step`` produced (a list for for_each steps); failed topics left out."""
        return dict(self.values.get(step, {}))
