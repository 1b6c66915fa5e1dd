"""Timings learnt from this cache's past runs, so a plan's time estimate tracks this machine.

A run records, per lane, how long its work took (``record``); a plan reads them back
(:meth:`Calibration.seconds`) and falls back to defaults for what it has never seen, and says
which (:attr:`Calibration.source`). What is learnt:

* ``provider:<kind>:<model>``: seconds of one call (the provider's own time, not the wait for
  a slot);
* ``cpu:<capability>.<role>``: seconds of local work per second of output it makes (ffmpeg
  encodes scale with the video's length), or per node when the work has no output length;
* ``speech:<kind>``: seconds of audio per spoken line (to size scenes before lines exist).

Averages are exponentially weighted (recent runs count more: a machine changes) and stored as
one small JSON document in the cache (``stats/timings.json``). Pure: no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections import abc
from typing import Any, Mapping

__all__ = ["Calibration", "DEFAULT_LINE_SECONDS", "STATS_PATH", "lane_key", "samples"]

#: Seconds of speech in one line, before any run measured it (espeak reads ~14 chars/s).
DEFAULT_LINE_SECONDS = 3.5
#: Weight of the newest run in every average.
NEW_WEIGHT = 0.5
STATS_PATH = "stats/timings.json"


def lane_key(task: Any, loaded: Any) -> str | None:
    """What a node's time is learnt under; None for nodes whose time is not worth learning."""
    if task.provider:
        info = loaded.providers[task.provider]
        return f"provider:{info.kind}:{info.model}"
    if task.capability == "publish":
        return None
    return f"cpu:{task.capability}.{task.role}" if task.role else f"cpu:{task.capability}"


@dataclass
class Calibration:
    """Learnt timings: key -> {"mean": seconds (or seconds per output second), "n": runs}."""

    timings: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> Calibration:
        if not isinstance(data, Mapping):
            return cls()
        ok = {k: {"mean": float(v["mean"]), "n": float(v.get("n", 1))} for k, v in data.items()
              if isinstance(k, str) and isinstance(v, Mapping) and isinstance(v.get("mean"), (int, float)) and v["mean"] >= 0}
        return cls(ok)

    def to_json(self) -> dict[str, Any]:
        return {k: {"mean": round(v["mean"], 6), "n": v["n"]} for k, v in sorted(self.timings.items())}

    @property
    def runs(self) -> int:
        return int(max((v["n"] for v in self.timings.values()), default=0))

    @property
    def source(self) -> str:
        n = self.runs
        return f"calibrated from {n} past run{'s' if n != 1 else ''} of this cache" if n else "defaults (no past run in this cache)"

    def mean(self, key: str | None) -> float | None:
        v = self.timings.get(key) if key else None
        return v["mean"] if v else None

    def seconds(self, key: str | None, default: float, *, output_seconds: float | None = None) -> float:
        """The expected seconds of a node: learnt (per output second when its output's length
        is known, ``key + "/s"``; else per node) or ``default``."""
        if key is None:
            return default
        if output_seconds:
            rate = self.mean(key + "/s")
            if rate is not None:
                return rate * output_seconds
        m = self.mean(key)
        return default if m is None else m

    def line_seconds(self, speech_kind: str | None) -> float:
        return self.mean(f"speech:{speech_kind}") or DEFAULT_LINE_SECONDS

    def record(self, samples: Mapping[str, list[float]]) -> Calibration:
        """A new calibration with this run's samples (key -> values) averaged in."""
        out = {k: dict(v) for k, v in self.timings.items()}
        for key, values in samples.items():
            if not values:
                continue
            run_mean = sum(values) / len(values)
            old = out.get(key)
            if old is None:
                out[key] = {"mean": run_mean, "n": 1}
            else:
                out[key] = {"mean": (1 - NEW_WEIGHT) * old["mean"] + NEW_WEIGHT * run_mean, "n": old["n"] + 1}
        return Calibration(out)


def samples(tasks: Mapping[str, Any], outcomes: Mapping[str, Any], loaded: Any) -> dict[str, list[float]]:
    """What a finished run teaches: per lane key, the seconds its nodes took (and per output
    second for work whose output has a length), and each speech kind's seconds per line.

    ``tasks``: node id -> its Task (a plan graph's ``task`` attributes)."""
    out: dict[str, list[float]] = {}
    lanes: dict[tuple[Any, str, str], str | None] = {}  # the nodes of one lane share its key
    for node, o in outcomes.items():
        if o.status != "ran" or o.placeholder or not o.seconds:
            continue
        task = tasks.get(node)
        if task is None:
            continue
        lane = (task.provider, task.capability, task.role)
        key = lanes[lane] if lane in lanes else lanes.setdefault(lane, lane_key(task, loaded))
        if key is None:
            continue
        out.setdefault(key, []).append(o.seconds)
        value = getattr(o.artifact, "value", None)
        duration = value.get("duration") if isinstance(value, abc.Mapping) else None
        if isinstance(duration, (int, float)) and duration > 0:
            if key.startswith("cpu:"):
                out.setdefault(key + "/s", []).append(o.seconds / duration)
            elif task.capability == "speech":
                out.setdefault(f"speech:{loaded.providers[task.provider].kind}", []).append(float(duration))
    return out
