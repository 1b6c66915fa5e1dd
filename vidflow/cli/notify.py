"""``vidflow notify``: what waits in the webhook outbox, and ``--flush`` to send it now."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

__all__ = ["show_notify"]


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ") if ts else "-"


def show_notify(settings, *, flush: bool = False, as_json: bool = False) -> int:
    """Exit 0 when nothing is left pending, 1 when some events still wait (a receiver is down)."""
    from ..notify import Outbox
    from ..notify.deliver import flush as send

    outbox = Outbox(settings.runs_dir)
    result = send(outbox, dict(settings.env).get, redactor=settings.redactor, seconds=60.0) if flush else None
    left = outbox.pending()
    if as_json:
        doc = {"outbox": outbox.path, "pending": [{"id": r.id, "type": r.type, "url": r.url, "run_id": r.run_id, "attempts": r.attempts} for r in left]}
        if result is not None:
            doc["delivered"] = result["delivered"]
        print(json.dumps(doc, indent=2))
        return 1 if left else 0
    if result is not None:
        print(f"delivered {result['delivered']} webhook event(s)", file=sys.stderr)
    if not left:
        print(f"no webhook events waiting ({outbox.path})", file=sys.stderr)
        return 0
    for r in left:
        last = r.attempts[-1] if r.attempts else {}
        why = last.get("error") or (f"HTTP {last['status']}" if last.get("status") else "not tried yet")
        print(f"{r.id} {r.type:<22} {r.url}  attempts {len(r.attempts)}, last {_when(last.get('at'))}: {why}")
    print(f"{len(left)} webhook event(s) waiting; `vidflow notify --flush` sends them (the next vidflow command tries too)", file=sys.stderr)
    return 1
