"""What a cache holds and what runs used of it: the facts ``cache stats`` and ``cache gc`` use.

What runs used comes from their records (``<runs>/<id>/events.jsonl``): every ``node_cached``
and ``node_succeeded`` event names the node's full key (records written before keys were
recorded whole carry a 16-character prefix, which is matched as a prefix). This module reads
those lines as plain JSON: it sits below the run layer and knows only the record's format.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from ..errors import UserError
from ..storage import join
from .manifest import ManifestError, parse_manifest
from .store import CacheStore

__all__ = ["ACTION", "BLOB", "CacheStats", "Entry", "LIVE_WINDOW", "Protection", "RunUsage", "cache_stats", "key_index", "last_use", "list_files", "protected_records", "read_entries", "read_runs", "same_cache"]

#: An unfinished run whose record changed this recently is taken to be running.
LIVE_WINDOW = 3600.0

ACTION = re.compile(r"^actions/([^/]+)\.json$")
BLOB = re.compile(r"^blobs/sha256/([0-9a-f]{2})/([0-9a-f]{62})$")
_USED = {"node_cached": "hit", "node_succeeded": "miss"}


# --------------------------------------------------------------------------- run records


@dataclass
class RunUsage:
    """What one recorded run used of a cache."""

    run_id: str
    started: float
    modified: float
    finished: bool
    cache: str | None
    keys: dict[str, float] = field(default_factory=dict)  # key (or 16-char prefix) -> last use
    steps: dict[str, str] = field(default_factory=dict)  # key -> step
    kinds: dict[str, str] = field(default_factory=dict)  # key -> kind
    hits: int = 0
    misses: int = 0

    def live(self, now: float) -> bool:
        return not self.finished and now - self.modified < LIVE_WINDOW

    @property
    def hit_rate(self) -> float | None:
        n = self.hits + self.misses
        return self.hits / n if n else None


def read_runs(runs_dir: str | os.PathLike, cache_url: str | None = None) -> list[RunUsage]:
    """Every run recorded under ``runs_dir`` (of cache ``cache_url`` if given), oldest first.

    A run whose record names no cache counts for every cache (protecting too much is safe).
    A record that cannot be read at all is skipped; a torn last line (a run being written) is
    ignored.
    """
    root = Path(runs_dir)
    out = []
    for path in sorted(root.glob("*/events.jsonl")) if root.is_dir() else ():
        try:
            run = _read_run(path)
        except OSError:
            continue
        if cache_url is None or run.cache is None or same_cache(run.cache, cache_url):
            out.append(run)
    return sorted(out, key=lambda r: (r.started, r.run_id))


def _read_run(path: Path) -> RunUsage:
    modified = path.stat().st_mtime
    run = RunUsage(path.parent.name, modified, modified, False, None)
    first = True
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if not isinstance(e, dict):
                continue
            ts = float(e.get("ts") or 0.0)
            kind = e.get("type")
            if first:
                run.started, first = ts, False
            if kind == "run_started":
                run.started = ts
                cache = (e.get("data") or {}).get("cache")
                run.cache = cache if isinstance(cache, str) else None
            elif kind == "run_finished":
                run.finished = True
            elif kind in _USED:
                data = e.get("data") or {}
                key = data.get("key")
                if not isinstance(key, str) or not key:
                    continue
                run.keys[key] = max(ts, run.keys.get(key, 0.0))
                run.steps[key] = str(e.get("step") or "")
                run.kinds[key] = str(e.get("kind") or "")
                if _USED[kind] == "hit":  # `shared` ones too: made once in this run, as the run counts them
                    run.hits += 1
                elif _USED[kind] == "miss":
                    run.misses += 1
    return run


def same_cache(a: str, b: str) -> bool:
    """Whether two cache URLs name the same cache (local paths resolved from the current folder)."""
    if "://" in a or "://" in b:
        return a.rstrip("/") == b.rstrip("/")
    return os.path.realpath(a) == os.path.realpath(b)


def key_index(runs: Iterable[RunUsage]) -> tuple[dict[str, float], dict[str, float]]:
    """(full key -> last use, 16-char prefix -> last use) over ``runs``."""
    full: dict[str, float] = {}
    prefix: dict[str, float] = {}
    for r in runs:
        for k, ts in r.keys.items():
            bucket = full if len(k) == 64 else prefix
            k = k if len(k) == 64 else k[:16]
            bucket[k] = max(ts, bucket.get(k, 0.0))
    return full, prefix


def last_use(key: str, index: tuple[dict[str, float], dict[str, float]]) -> float | None:
    full, prefix = index
    a, b = full.get(key), prefix.get(key[:16])
    return max(a or 0.0, b or 0.0) if (a is not None or b is not None) else None


# --------------------------------------------------------------------------- stats


@dataclass
class CacheStats:
    """What ``vidflow cache stats`` prints: sizes, entries by step and kind, recent hit rates.

    ``by_kind``/``by_step``: name -> [entries, bytes of the blobs they reference] (a blob shared
    by two entries counts for both). A step is known from the run records that used the entry.
    """

    url: str
    bytes: int = 0
    manifests: int = 0
    blobs: int = 0
    blob_bytes: int = 0
    unreferenced_blobs: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)
    by_step: dict[str, list[int]] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)  # recent runs, newest last

    @property
    def hit_rate(self) -> float | None:
        hits, misses = sum(r["hits"] for r in self.runs), sum(r["misses"] for r in self.runs)
        return hits / (hits + misses) if hits + misses else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hit_rate": self.hit_rate}


@dataclass(frozen=True)
class Protection:
    """Keys and blob digests gc must keep whatever its policy says."""

    keys: frozenset[str] = frozenset()
    digests: frozenset[str] = frozenset()

    def __or__(self, other: Protection) -> Protection:
        return Protection(self.keys | other.keys, self.digests | other.digests)


def protected_records(store: CacheStore) -> Protection:
    """The union of ``<cache>/protected/**/*.json`` records: ``{"keys": [...], "digests": [...]}``.

    A record that cannot be read stops gc (UserError): guessing could remove an approved item.
    """
    fs, root = store.fs, join(store.root, "protected")
    keys: set[str] = set()
    digests: set[str] = set()
    fs.invalidate_cache(root)
    try:
        paths = [p for p, info in fs.find(root, detail=True).items() if info.get("type", "file") == "file" and p.endswith(".json")]
    except FileNotFoundError:
        return Protection()
    for p in sorted(paths):
        try:
            record = json.loads(fs.cat_file(p))
            k, d = record.get("keys", []), record.get("digests", [])
            if not (isinstance(k, list) and isinstance(d, list) and all(isinstance(x, str) for x in k + d)):
                raise ValueError("`keys` and `digests` must be lists of strings")
        except FileNotFoundError:
            continue  # removed while we listed: it protects nothing any more
        except (OSError, ValueError, AttributeError) as e:
            raise UserError(f"protected record {p} cannot be read ({e}); fix or remove it, then run gc again") from None
        keys.update(k)
        digests.update(d)
    return Protection(frozenset(keys), frozenset(digests))


def cache_stats(store: CacheStore, *, runs_dir: str | os.PathLike, recent: int = 10) -> CacheStats:
    """Size and contents of ``store``, and the hit rate of its ``recent`` latest runs."""
    files = list_files(store)
    entries = read_entries(store, files, {})
    runs = read_runs(runs_dir, store.url)
    steps: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for r in runs:  # oldest first: the latest record wins
        steps.update({k: v for k, v in r.steps.items() if v})
        kinds.update({k: v for k, v in r.kinds.items() if v})
    stats = CacheStats(store.url, bytes=sum(size for size, _ in files.values()), manifests=len(entries))
    blob_sizes = {m[1] + m[2]: size for rel, (size, _) in files.items() if (m := BLOB.match(rel))}
    stats.blobs, stats.blob_bytes = len(blob_sizes), sum(blob_sizes.values())
    referenced: set[str] = set()
    for e in entries.values():
        referenced.update(e.blobs or {})
        size = sum((e.blobs or {}).values())
        step = steps.get(e.key) or _by_prefix(steps, e.key) or "(no run record)"
        kind = e.kind or kinds.get(e.key) or _by_prefix(kinds, e.key) or ("(invalid manifest)" if e.blobs is None else "(unknown)")
        for bucket, name in ((stats.by_step, step), (stats.by_kind, kind)):
            row = bucket.setdefault(name, [0, 0])
            row[0] += 1
            row[1] += size
    referenced |= protected_records(store).digests  # gc keeps these too (snapshots' sprites, approvals)
    stats.unreferenced_blobs = sum(1 for d in blob_sizes if d not in referenced)
    for r in runs[-recent:] if recent > 0 else ():
        stats.runs.append({"run_id": r.run_id, "started": r.started, "finished": r.finished, "hits": r.hits, "misses": r.misses, "hit_rate": r.hit_rate})
    return stats


def _by_prefix(mapping: dict[str, str], key: str) -> str | None:
    """For run records that hold 16-character key prefixes."""
    return mapping.get(key[:16])


# --------------------------------------------------------------------------- listing


@dataclass
class Entry:
    """One manifest (``actions/<key>.json``) as listed and read."""

    key: str
    path: str  # relative to the cache root
    size: int
    modified: float
    blobs: dict[str, int] | None  # digest -> size; None: an invalid manifest
    kind: str = ""  # the manifest's meta.kind (provider kind, compose.segment...)


def list_files(store: CacheStore) -> dict[str, tuple[int, float]]:
    """Every file under the cache root: relative path -> (size, modified)."""
    root = store.root.rstrip("/")
    store.fs.invalidate_cache(root)
    try:
        found = store.fs.find(root, detail=True)
    except FileNotFoundError:
        return {}
    out = {}
    for path, info in found.items():
        if info.get("type", "file") != "file":
            continue
        rel = path[len(root):].lstrip("/") if path.startswith(root) else path
        out[rel] = (int(info.get("size") or 0), _modified(info))
    return out


def _modified(info: dict[str, Any]) -> float:
    for k in ("mtime", "LastModified", "created"):
        v = info.get(k)
        if isinstance(v, datetime):
            return v.timestamp()
        if isinstance(v, (int, float)):
            return float(v)
    return float("inf")  # unknown age: treat as new, never remove


def read_entries(store: CacheStore, files: dict[str, tuple[int, float]], known: dict[str, Entry]) -> dict[str, Entry]:
    """The manifests among ``files``, parsed (entries in ``known`` with the same size and
    modification time are not read again)."""
    out = {}
    for rel, (size, modified) in files.items():
        m = ACTION.match(rel)
        if not m:
            continue
        key = m[1]
        old = known.get(key)
        if old is not None and (old.size, old.modified) == (size, modified):
            out[key] = old
            continue
        try:
            manifest = parse_manifest(store.fs.cat_file(join(store.root, rel)), key)
            blobs: dict[str, int] | None = {b.digest: b.size for b in manifest.blobs.values()}
            kind = manifest.meta.get("kind")
        except FileNotFoundError:
            continue  # removed since it was listed
        except ManifestError:
            blobs, kind = None, None
        out[key] = Entry(key, rel, size, modified, blobs, kind if isinstance(kind, str) else "")
    return out
