"""``--refresh`` selections: a whole step, or some of its items (``art[2]``, ``speech[0:3]``).

A refreshed node ignores its cache entry (a new sample is asked for) and so does everything
that depends on what it makes, through the keys. An approved item (a review decision) is
kept unless the refresh is forced (``--force``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..errors import UserError

__all__ = ["Refresh", "parse_refresh"]

_SPEC = re.compile(r"^(?P<step>[A-Za-z0-9_-]+)(?:\[(?P<a>\d*)(?P<colon>:)?(?P<b>\d*)\])?$")


@dataclass(frozen=True)
class Refresh:
    """Which nodes to make again: step -> None (all of it) or the item ranges ``[a, b)``."""

    steps: Mapping[str, tuple[tuple[int, int | None], ...] | None] = field(default_factory=dict)
    force: bool = False

    def __bool__(self) -> bool:
        return bool(self.steps)

    def covers(self, step: str, item: int | None) -> bool:
        if step not in self.steps:
            return False
        ranges = self.steps[step]
        if ranges is None:
            return True
        return item is not None and any(a <= item and (b is None or item < b) for a, b in ranges)

    def names(self) -> list[str]:
        return sorted(self.steps)


def parse_refresh(specs: Iterable[str] | Refresh, steps: Mapping[str, Any], *, force: bool = False) -> Refresh:
    """``["script", "art[2]", "speech[0:3]"]`` -> Refresh. UserError naming the bad spec."""
    if isinstance(specs, Refresh):
        return specs
    out: dict[str, list[tuple[int, int | None]] | None] = {}
    for spec in specs:
        m = _SPEC.match(spec.strip())
        if not m:
            raise UserError(f"--refresh {spec!r}: write STEP, STEP[N] or STEP[A:B] (e.g. art[2], speech[0:3])")
        step = m["step"]
        if step not in steps:
            raise UserError(f"--refresh {spec}: no such step (steps: {', '.join(steps)})")
        if m["a"] is None and m["colon"] is None and spec.strip() == step:
            out[step] = None
            continue
        a = int(m["a"]) if m["a"] else 0
        b = int(m["b"]) if m["b"] else None
        if m["colon"] is None:
            if not m["a"]:
                raise UserError(f"--refresh {spec!r}: an empty index; write e.g. {step}[2]")
            b = a + 1
        if b is not None and b <= a:
            raise UserError(f"--refresh {spec!r}: the range is empty; write e.g. {step}[0:3]")
        if getattr(steps[step], "for_each", None) is None:
            raise UserError(f"--refresh {spec}: step `{step}` has no items (it has no for_each); write --refresh {step}")
        if out.get(step, ()) is not None:
            out.setdefault(step, []).append((a, b))  # type: ignore[union-attr]
    return Refresh({k: (None if v is None else tuple(v)) for k, v in out.items()}, force=force)
