"""Limits as values: a rate (``N`` calls per period) and the sliding window that enforces it.

One model serves three places, so they can never disagree:

* the local limiter (``run/limits.py``) asks a :class:`RateWindow` when the next call may start;
* the Dask leases (``run/dask.py``) hold a rate lease for :meth:`RateWindow.hold` seconds;
* the plan's time simulation (``plan/estimate.py``) replays the same window on virtual time.

Pure arithmetic: no clock, no asyncio. Time is a float passed in by the caller.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

__all__ = ["Limits", "Rate", "RateWindow", "parse_rate", "window_margin"]

_PERIODS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
_RATE_RE = re.compile(r"^\s*(\d{1,9})\s*/\s*(\d{0,9}\.?\d{0,9})\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class Rate:
    """At most ``calls`` starts in any window of ``period`` seconds."""

    calls: int
    period: float

    def __str__(self) -> str:
        return f"{self.calls}/{self.period:g}s"


def parse_rate(text: str) -> Rate:
    """``"6/min"``, ``"2/s"``, ``"100/hour"``, ``"10/30s"`` -> Rate. ValueError with a fix."""
    m = _RATE_RE.match(str(text).lower())
    unit = m.group(3) if m else ""
    if unit.endswith("s") and unit not in _PERIODS:
        unit = unit[:-1]
    if not m or unit not in _PERIODS or int(m.group(1)) < 1:
        raise ValueError(f"rate {text!r} is not N/period; write e.g. `6/min`, `2/s`, `100/hour` or `10/30s`")
    mult = float(m.group(2)) if m.group(2) and m.group(2) != "." else 1.0
    if mult <= 0:
        raise ValueError(f"rate {text!r} has a zero period; write e.g. `6/min` or `10/30s`")
    return Rate(calls=int(m.group(1)), period=mult * _PERIODS[unit])


@dataclass(frozen=True)
class Limits:
    """How one provider instance may be called: calls in flight at once, and a rate window."""

    concurrency: int
    rate: Rate | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")


def window_margin(period: float) -> float:
    """Slack added to a rate window.

    The vendor sees a call start a little after vidflow grants it (event-loop work, TLS, the
    network), so a window must reopen for us a little later than for the vendor, or the call
    that refills it meets a 429 (measured by benchmarks/makespan.py).
    """
    return min(0.25, 0.05 + 0.02 * period)


class RateWindow:
    """Sliding window of call starts: no window of ``rate.period`` seconds holds more than
    ``rate.calls`` starts (plus the skew margin)."""

    __slots__ = ("rate", "margin", "_starts")

    def __init__(self, rate: Rate, *, margin: float | None = None):
        self.rate = rate
        self.margin = window_margin(rate.period) if margin is None else margin
        self._starts: list[float] = []  # sorted

    @property
    def hold(self) -> float:
        """How long one start occupies the window (a Dask rate lease is held this long)."""
        return self.rate.period + self.margin

    def earliest(self, now: float) -> float:
        """The earliest time >= ``now`` at which one more call may start."""
        starts = self._starts
        expired = bisect.bisect_right(starts, now - self.hold)
        if expired:
            del starts[:expired]
        if len(starts) < self.rate.calls:
            return now
        return max(now, starts[-self.rate.calls] + self.hold)

    def record(self, t: float) -> None:
        """A call started at ``t`` (the plan's simulation may record out of order)."""
        bisect.insort(self._starts, t)
