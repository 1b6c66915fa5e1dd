"""The budget: no paid call starts if it could push spending past the cap.

Before a paid call, its estimated cost is *reserved*; the call starts only if what was spent,
plus what is reserved by calls in flight, plus this estimate stays within the run's cap (and the
topic's, if given). After the call the reservation is replaced by the actual cost. Once a call
is refused, the run stops launching paid calls (free ones and cached nodes go on) and says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BudgetExceededError

__all__ = ["Budget"]


@dataclass
class Budget:
    max_usd: float | None = None
    per_topic_usd: float | None = None
    spent: float = 0.0
    reserved: float = 0.0
    spent_by_topic: dict[str, float] = field(default_factory=dict)
    reserved_by_topic: dict[str, float] = field(default_factory=dict)
    stopped: str = ""

    def reserve(self, topic: str, estimate: float) -> None:
        """Reserve ``estimate`` USD for a call of ``topic``, or raise BudgetExceededError."""
        if self.stopped:
            raise BudgetExceededError(self.stopped)
        if self.max_usd is not None and self.spent + self.reserved + estimate > self.max_usd + 1e-12:
            self.stopped = (
                f"budget reached: ${self.spent:.4f} spent + ${self.reserved:.4f} in flight + ${estimate:.4f} for this call "
                f"would pass max_usd ${self.max_usd:.2f}; no further paid calls were started"
            )
            raise BudgetExceededError(self.stopped)
        if self.per_topic_usd is not None:
            used = self.spent_by_topic.get(topic, 0.0) + self.reserved_by_topic.get(topic, 0.0)
            if used + estimate > self.per_topic_usd + 1e-12:
                raise BudgetExceededError(
                    f"topic budget reached: ${used:.4f} used + ${estimate:.4f} for this call would pass per_topic_usd ${self.per_topic_usd:.2f}"
                )
        self.reserved += estimate
        self.reserved_by_topic[topic] = self.reserved_by_topic.get(topic, 0.0) + estimate

    def settle(self, topic: str, estimate: float, actual: float) -> None:
        """Replace a reservation by what the call actually cost (0 if it failed)."""
        self.reserved -= estimate
        self.reserved_by_topic[topic] = self.reserved_by_topic.get(topic, 0.0) - estimate
        self.spent += actual
        self.spent_by_topic[topic] = self.spent_by_topic.get(topic, 0.0) + actual
