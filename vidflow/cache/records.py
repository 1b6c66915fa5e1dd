"""Review decisions and pinned edits: small records kept in the cache, beside the outputs.

They live in the cache (not in a local folder) so they hold wherever the cache is shared: on
S3, across machines and CI jobs. Paths, per recipe name and topic id::

    reviews/<recipe>/<topic>/<node>.json   {"status": "pending"|"approved"|"rejected",
                                            "digest", "artifact" (a manifest), "note", "at"}
    pins/<recipe>/<topic>/<step>.json      {"value": ..., "at": ...}

A review is tied to the artifact's digest: an approved artifact is used as it is, whatever its
inputs become, until the user refreshes it; a rejected one is made again. A pin is a stage
document's value (``--input``) that plain runs keep using until ``vidflow unpin`` or a refresh.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

from .store import Artifact, CacheStore, _safe_name

__all__ = ["PENDING", "APPROVED", "REJECTED", "Records"]

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"


class Records:
    """Reviews and pins of one cache."""

    def __init__(self, store: CacheStore):
        self.store = store

    # ------------------------------------------------------------------ paths
    def _path(self, kind: str, recipe: str, topic: str, name: str) -> str:
        return self.store.doc_path(f"{kind}/{_safe_name(recipe)}/{_safe_name(topic)}/{_safe_name(name)}.json")

    # ------------------------------------------------------------------ reviews
    def review(self, recipe: str, topic: str, node: str) -> dict[str, Any] | None:
        data = self.store.read_doc(self._path("reviews", recipe, topic, node))
        if not isinstance(data, dict) or data.get("status") not in (PENDING, APPROVED, REJECTED):
            return None
        return data

    def put_review(self, recipe: str, topic: str, node: str, *, status: str, art: Artifact | None = None, key: str = "", note: str = "", previous: dict | None = None) -> dict[str, Any]:
        record = dict(previous or {})
        record.update(status=status, recipe=recipe, topic=topic, node=node, at=time.time())
        if art is not None:
            record.update(digest=art.digest, artifact=art.to_json(key or record.get("key", "")), key=key)
        if status == REJECTED or note:
            record["note"] = note
        elif status == PENDING:
            record.pop("note", None)
        self.store.write_doc(self._path("reviews", recipe, topic, node), record)
        return record

    def drop_review(self, recipe: str, topic: str, node: str) -> None:
        self.store.remove_doc(self._path("reviews", recipe, topic, node))

    def reviews(self, recipe: str) -> Iterator[dict[str, Any]]:
        """Every review record of a recipe (any topic, any status)."""
        for path in self.store.list_docs(f"reviews/{_safe_name(recipe)}"):
            data = self.store.read_doc(path)
            if isinstance(data, dict) and data.get("status") in (PENDING, APPROVED, REJECTED):
                yield data

    @staticmethod
    def artifact(record: dict[str, Any]) -> Artifact:
        """The artifact a review record holds (what was approved)."""
        return Artifact.from_json(record["artifact"])

    # ------------------------------------------------------------------ pins
    def pin(self, recipe: str, topic: str, step: str) -> dict[str, Any] | None:
        data = self.store.read_doc(self._path("pins", recipe, topic, step))
        return data if isinstance(data, dict) and "value" in data else None

    def put_pin(self, recipe: str, topic: str, step: str, value: Any) -> None:
        self.store.write_doc(self._path("pins", recipe, topic, step), {"value": value, "recipe": recipe, "topic": topic, "step": step, "at": time.time()})

    def drop_pin(self, recipe: str, topic: str, step: str) -> bool:
        return self.store.remove_doc(self._path("pins", recipe, topic, step))

    def pins(self, recipe: str) -> Iterator[dict[str, Any]]:
        for path in self.store.list_docs(f"pins/{_safe_name(recipe)}"):
            data = self.store.read_doc(path)
            if isinstance(data, dict) and "value" in data:
                yield data
