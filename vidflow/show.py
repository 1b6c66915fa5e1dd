"""``vidflow show RECIPE TOPIC[/NODE]``: what the cache and the run records know about a node.

For a node: the key it last had, the rendered request its manifest recorded (the key fields:
prompts, models, voices, upstream digests; never secrets, which never enter a key), attempts,
timing, cost, the run that made it, its outputs (value and blobs with their cache paths), and its
history across recorded runs (cached, ran, retried, failed, with the error). For a topic: each
node with its key and whether the cache holds it. Computed from the per-topic node index the
runs write (``<cache>/nodes/<recipe>/<topic>.json``), the manifests and ``runs/*/events*.jsonl``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError
from .run.ledger import EventType, read_events

__all__ = ["NodeRecord", "TopicRecord", "show_node", "show_topic"]


@dataclass
class NodeRecord:
    topic: str
    node: str
    key: str | None
    status: str  # hit | missing | invalid_manifest | corrupt_blob | missing_blob | never made
    value: Any = None
    blobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "node": self.node, "key": self.key, "status": self.status, "value": self.value,
                "blobs": self.blobs, "meta": self.meta, "history": self.history}


@dataclass
class TopicRecord:
    topic: str
    nodes: dict[str, dict[str, Any]]  # node -> {"key": ..., "status": ...}

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "nodes": self.nodes}


def _topic(loaded: Any, topic: str, store: Any) -> tuple[str, dict[str, str]]:
    """The topic's id and its node index (node -> key last used)."""
    for t in loaded.topics:
        if topic in (t.id, t.text):
            return t.id, store.read_index(loaded.name, t.id)
    index = store.read_index(loaded.name, topic)
    if index:  # a topic the recipe no longer lists, still recorded
        return topic, index
    known = ", ".join(t.id for t in loaded.topics[:10])
    raise UserError(f"{topic!r}: no such topic in {loaded.path} (ids: {known}{' ...' if len(loaded.topics) > 10 else ''})")


def show_topic(loaded: Any, store: Any, topic: str) -> TopicRecord:
    tid, index = _topic(loaded, topic, store)
    if not index:
        raise UserError(f"topic {tid!r} of {loaded.name} has not been run with cache {store.url} yet (`vidflow run` makes it)")
    nodes = {n: {"key": k, "status": store.lookup(k).status.value} for n, k in sorted(index.items())}
    return TopicRecord(tid, nodes)


def show_node(loaded: Any, store: Any, topic: str, node: str, *, runs_dir: str) -> NodeRecord:
    tid, index = _topic(loaded, topic, store)
    key = index.get(node)
    if key is None and node in loaded.steps:  # a for_each step named without its item
        items = sorted((n for n in index if n.startswith(node + "[")), key=lambda n: int(n[len(node) + 1:-1]) if n[len(node) + 1:-1].isdigit() else 0)
        if items:
            raise UserError(f"{tid}/{node} has items: {', '.join(items[:8])}{' ...' if len(items) > 8 else ''}; name one, e.g. {tid}/{items[0]}")
    if key is None:
        names = ", ".join(sorted(index)[:12]) or "none yet"
        raise UserError(f"{tid}/{node}: no such node recorded for {loaded.name} in cache {store.url} (nodes: {names})")
    found = store.lookup(key)
    rec = NodeRecord(tid, node, key, found.status.value)
    if found.artifact is not None:
        art = found.artifact
        rec.value, rec.meta = art.value, dict(art.meta or {})
        rec.blobs = {name: {**b.as_dict(), "path": store.blob_path(b.digest)} for name, b in art.blobs.items()}
    else:
        rec.meta = store.manifest_meta(key) or {}
    if "fields" in rec.meta:
        from .cache.fingerprint import decoded

        rec.meta["fields"] = decoded(rec.meta["fields"])
    rec.history = node_history(runs_dir, f"{tid}/{node}")
    return rec


def node_history(runs_dir: str, node_id: str) -> list[dict[str, Any]]:
    """What every recorded run did with ``node_id``, oldest first (attempts of a run included)."""
    out = []
    root = Path(runs_dir)
    for path in sorted(root.glob("*/events*.jsonl"), key=lambda p: p.stat().st_mtime) if root.is_dir() else ():
        try:
            events = read_events(str(path))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for e in events:
            if e.node != node_id or e.type is EventType.NODE_QUEUED:
                continue
            entry = {"run_id": e.run_id, "event": e.type.value, "ts": e.ts}
            for k in ("provider", "attempt", "error", "message", "latency", "cost_usd"):
                v = getattr(e, k)
                if v:
                    entry[k] = v
            if e.data.get("reason"):
                entry["reason"] = e.data["reason"]
            out.append(entry)
    return out


def render_value(value: Any, limit: int = 4000) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit} more characters; --json prints all)"
