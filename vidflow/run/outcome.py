"""What happened to a node (:class:`Outcome`) and a provider call's answer (:class:`CallResult`).

Outcomes live in the scheduler's ``outcomes``, never on the plan graph (which holds only
frozen Tasks); results, reports and the plan's summary read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CallResult", "Outcome"]


@dataclass(slots=True)
class Outcome:
    """What happened to one node. ``status``: cached, ran, failed, skipped (a run);
    cached, run, estimated, failed (a dry run)."""

    status: str
    artifact: Any = None
    reason: str = ""
    error: str = ""
    provider: str = ""
    cost_usd: float = 0.0  # spent by this run
    cost_recorded: float = 0.0  # what the output cost when it was made
    placeholder: bool = False
    imported: bool = False
    changed: tuple[str, ...] = ()  # a dry run's "changed" reason: which key fields differ
    seconds: float = 0.0  # how long making it took (the provider's or the work's own time)


@dataclass(slots=True)
class CallResult:
    """A provider call's answer, and when and how long the provider itself took."""

    value: Any
    seconds: float
    started_at: float
