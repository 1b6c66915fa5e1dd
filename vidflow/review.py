"""Review gates and pinned edits, for a person (``vidflow review/approve/reject/unpin``).

A step with ``approve: true`` holds what it makes until someone decides: ``vidflow review``
lists the pending items (text, file paths to look at), ``approve`` releases them for the next
run, ``reject --note`` asks for a new sample next run (the note is ``review.note`` in the
step's templates). Decisions live in the cache, tied to the artifact's digest
(``cache/records.py``). A pin is an edit imported with ``--input``: plain runs keep it until
``unpin`` or ``--refresh STEP``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .cache.records import APPROVED, PENDING, REJECTED, Records
from .cache.store import CacheStore
from .errors import UserError
from .recipe.load import LoadedRecipe

__all__ = ["ReviewItem", "decide", "pending", "unpin"]


@dataclass(frozen=True)
class ReviewItem:
    """One output that waits for (or got) a decision."""

    topic: str
    node: str  # script, art[2]
    status: str
    look: dict[str, Any]  # text, and the path of each file
    note: str = ""

    @property
    def step(self) -> str:
        return self.node.split("[", 1)[0]

    @property
    def item(self) -> int | None:
        return int(self.node.split("[", 1)[1].rstrip("]")) if "[" in self.node else None


def _items(loaded: LoadedRecipe, store: CacheStore) -> list[ReviewItem]:
    topics = {t.id for t in loaded.topics}
    out = []
    for r in Records(store).reviews(loaded.name):
        if r.get("topic") not in topics:
            continue
        look: dict[str, Any] = {}
        try:
            art = Records.artifact(r)
        except ValueError:
            continue
        v = art.value
        if isinstance(v, str):
            look["text"] = v
        elif isinstance(v, dict) and isinstance(v.get("lines"), list):
            look["title"] = v.get("title", "")
            look["text"] = "\n".join(f"{line.get('speaker', '')}: {line.get('text', '')}" for line in v["lines"] if isinstance(line, dict))
        for name, ref in art.blobs.items():
            look[name] = store.blob_path(ref.digest)
        out.append(ReviewItem(r["topic"], r["node"], r["status"], look, str(r.get("note", ""))))
    return sorted(out, key=lambda i: (i.topic, i.step, i.item or 0))


def pending(loaded: LoadedRecipe, store: CacheStore, *, all_statuses: bool = False) -> list[ReviewItem]:
    """The items waiting for a decision (every decided one too, with ``all_statuses``)."""
    return [i for i in _items(loaded, store) if all_statuses or i.status == PENDING]


def decide(loaded: LoadedRecipe, store: CacheStore, step: str, *, approve: bool, topic: str | None = None, item: int | None = None, note: str = "") -> list[ReviewItem]:
    """Approve or reject the pending items of ``step`` (one topic, one item, or all of them)."""
    if step not in loaded.steps:
        raise UserError(f"no step `{step}` in {loaded.path.name} (steps: {', '.join(loaded.order)})")
    if not loaded.steps[step].spec.approve:
        raise UserError(f"step `{step}` has no `approve: true`: nothing of it waits for review")
    if topic is not None and topic not in {t.id for t in loaded.topics}:
        _no_such_topic(loaded, topic)
    if not approve and not note.strip():
        raise UserError("reject needs --note \"what to change\": the next sample's template sees it as review.note")
    records = Records(store)
    chosen = [i for i in pending(loaded, store) if i.step == step and (topic is None or i.topic == topic) and (item is None or i.item == item)]
    if not chosen:
        where = " for topic " + topic if topic else ""
        raise UserError(f"nothing of `{step}`{where}{f' item {item}' if item is not None else ''} waits for review (`vidflow review` lists what does)")
    for i in chosen:
        previous = records.review(loaded.name, i.topic, i.node)
        records.put_review(loaded.name, i.topic, i.node, status=APPROVED if approve else REJECTED, note=note, previous=previous)
    return chosen


def unpin(loaded: LoadedRecipe, store: CacheStore, step: str, *, topic: str | None = None) -> int:
    """Drop the pinned edits of ``step`` (one topic or all); returns how many were dropped."""
    if step not in loaded.steps:
        raise UserError(f"no step `{step}` in {loaded.path.name} (steps: {', '.join(loaded.order)})")
    if topic is not None and topic not in {t.id for t in loaded.topics}:  # else a typo says "nothing was pinned"
        _no_such_topic(loaded, topic)
    records = Records(store)
    n = 0
    for t in loaded.topics:
        if topic in (None, t.id) and records.drop_pin(loaded.name, t.id, step):
            n += 1
    return n


def _no_such_topic(loaded: LoadedRecipe, topic: str) -> None:
    raise UserError(f"--topic {topic}: no such topic (ids: {', '.join(t.id for t in loaded.topics[:10])})")


__all__ += ["APPROVED", "PENDING", "REJECTED"]
