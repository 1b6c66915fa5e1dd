"""``vidflow cache gc``: remove what no kept run, protected record or live run uses.

What gc never removes (the rules, for users, are in docs/caching.md):

* an entry (manifest) used by a **kept run**: the ``--keep-runs N`` latest finished runs of this
  cache and every run after the oldest of them, and every **live run** (no ``run_finished`` yet,
  its record written to within the last hour);
* anything **protected**: the keys and blob digests listed by ``<cache>/protected/**/*.json``
  records (``{"keys": [...], "digests": [...]}``) or returned by the ``protect`` callable: the
  hook for approved items and pinned edits;
* anything **newer than its own start** (or than a live run's start), less a margin for coarse
  store clocks: what a run is writing now is never touched;
* a blob that a remaining manifest references: manifests are removed first, then the cache is
  listed again and only blobs that no manifest names (and no record protects) are removed.

What runs used is read by :mod:`vidflow.cache.usage`.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..errors import UserError
from ..storage import human_size, join
from .store import CacheStore
from .usage import BLOB, Entry, Protection, RunUsage, key_index, last_use, list_files, protected_records, read_entries, read_runs

__all__ = ["CLOCK_MARGIN", "GcPolicy", "GcReport", "Protection", "collect_garbage", "parse_age", "parse_size", "protected_records"]

#: Seconds subtracted from gc's start (and a live run's) before comparing modification times:
#: file systems stamp with a coarse clock and S3's LastModified has whole seconds.
CLOCK_MARGIN = 2.0
#: Temporary files of interrupted writes older than this are removed (as `cache verify --repair`).
TEMP_AGE = 3600.0

_RECORD = re.compile(r"^verified/([0-9a-f]{2})/([0-9a-f]{62})$")
_TEMP = re.compile(r"\.tmp-[0-9a-f]{32}$")


# --------------------------------------------------------------------------- protection


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class GcPolicy:
    """What to remove. Several rules together keep an entry if any of them keeps it."""

    keep_runs: int | None = None  # keep what the N latest runs used
    older_than: float | None = None  # seconds: keep what was used or written more recently
    max_size: int | None = None  # bytes: then remove least recently used entries down to this

    def __post_init__(self) -> None:
        if self.keep_runs is None and self.older_than is None and self.max_size is None:
            raise ValueError("say what to remove: --keep-runs N, --older-than AGE and/or --max-size SIZE")
        if self.keep_runs is not None and self.keep_runs < 1:
            raise ValueError("--keep-runs must be at least 1 (to empty a cache, delete its folder)")


_AGE_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``2w`` -> seconds (ValueError with an example)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*", str(text).lower())
    if not m or m[2] not in _AGE_UNITS:
        raise ValueError(f"age {text!r} is not a number and a unit; write e.g. 30d, 12h, 90m or 2w")
    seconds = float(m[1]) * _AGE_UNITS[m[2]]
    if not math.isfinite(seconds):
        raise ValueError(f"age {text!r} is too large; write e.g. 30d, 12h, 90m or 2w")
    return seconds


def parse_size(text: str) -> int:
    """``20GB``, ``500MB``, ``1.5GiB`` -> bytes (ValueError with an example)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", str(text).lower())
    if not m or m[2] not in _SIZE_UNITS:
        raise ValueError(f"size {text!r} is not a number and a unit; write e.g. 20GB, 500MB or 1.5GiB")
    size = float(m[1]) * _SIZE_UNITS[m[2]]
    if not math.isfinite(size):  # hundreds of digits: float() says inf, int(inf) raises
        raise ValueError(f"size {text!r} is too large; write e.g. 20GB, 500MB or 1.5GiB")
    return int(size)


# --------------------------------------------------------------------------- the collection


@dataclass
class GcReport:
    """What :func:`collect_garbage` found and removed (or would remove, with ``dry_run``)."""

    url: str
    dry_run: bool
    started: float
    kept_runs: list[str] = field(default_factory=list)
    live_runs: list[str] = field(default_factory=list)
    manifests: int = 0
    manifests_removed: int = 0
    blobs_removed: int = 0
    other_removed: int = 0  # stale verification records, old temporary files
    kept_new: int = 0  # files left alone because they are newer than the cutoff
    bytes_before: int = 0
    bytes_freed: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def bytes_after(self) -> int:
        return self.bytes_before - self.bytes_freed

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bytes_after": self.bytes_after}


def collect_garbage(
    store: CacheStore,
    policy: GcPolicy,
    *,
    runs_dir: str | os.PathLike,
    dry_run: bool = False,
    protect: Callable[[CacheStore], Protection] | None = None,
    now: Callable[[], float] = time.time,
) -> GcReport:
    """Remove what ``policy`` selects and no rule protects (module docstring); report it."""
    started = now()
    report = GcReport(store.url, dry_run, started)
    runs = read_runs(runs_dir, store.url)
    live = [r for r in runs if r.live(started)]
    done = [r for r in runs if not r.live(started)]
    kept: list[RunUsage] = list(live)
    if policy.keep_runs is not None:
        finished = [r for r in done if r.finished]
        if not finished:
            raise UserError(f"no finished run of cache {store.url} is recorded in {runs_dir}/: --keep-runs would remove every entry; pass the --runs-dir its runs use, or --older-than/--max-size")
        oldest = finished[-policy.keep_runs:][0].started
        kept += [r for r in done if r.started >= oldest]
    report.kept_runs = [r.run_id for r in kept if r not in live]
    report.live_runs = [r.run_id for r in live]
    cutoff = min([started] + [r.started for r in live]) - CLOCK_MARGIN
    guard = protected_records(store) | (protect(store) if protect else Protection())
    kept_index = key_index(kept)
    use_index = key_index(runs)

    files = list_files(store)
    report.bytes_before = sum(size for size, _ in files.values())
    entries = read_entries(store, files, {})
    report.manifests = len(entries)

    def removable(e: Entry) -> bool:
        if e.modified >= cutoff:
            report.kept_new += 1
            return False
        return e.key not in guard.keys and (e.blobs is None or last_use(e.key, kept_index) is None)

    def used(e: Entry) -> float:
        return max(e.modified, last_use(e.key, use_index) or 0.0)

    candidates = [e for e in entries.values() if removable(e)]
    doomed: set[str] = set()
    for e in candidates:
        if e.blobs is None:  # an invalid manifest is a miss anyway (`cache verify` lists them)
            doomed.add(e.key)
        elif policy.keep_runs is None and policy.older_than is None:
            continue  # --max-size alone: only what it needs to evict (below)
        elif policy.older_than is None or used(e) < started - policy.older_than:
            doomed.add(e.key)  # not used by a kept run (removable), and old if --older-than says so
    if policy.max_size is not None:
        _evict_to_size(entries, files, candidates, doomed, policy.max_size, cutoff, guard, used, report)

    for key in sorted(doomed):  # manifests first: a reader never finds a manifest without blobs
        e = entries[key]
        if _remove(store, e.path, dry_run):
            report.manifests_removed += 1
            report.bytes_freed += e.size

    # Listed again: a run may have published manifests since; their blobs must stay.
    after = list_files(store) if not dry_run else {p: v for p, v in files.items() if p not in {entries[k].path for k in doomed}}
    remaining = read_entries(store, after, entries)
    referenced = set(guard.digests)
    for e in remaining.values():
        referenced.update(e.blobs or {})
    for rel, (size, modified) in sorted(after.items()):
        gone = False
        if m := BLOB.match(rel):
            if m[1] + m[2] in referenced:
                continue
            if modified >= cutoff:
                report.kept_new += 1
                continue
            gone = _remove(store, rel, dry_run)
            report.blobs_removed += gone
            record = f"verified/{m[1]}/{m[2]}"  # what vouched for the blob goes with it
            if gone and record in after and _remove(store, record, dry_run):
                report.other_removed += 1
                report.bytes_freed += after[record][0]
        elif m := _RECORD.match(rel):
            if f"blobs/sha256/{m[1]}/{m[2]}" in after or modified >= cutoff:
                continue
            gone = _remove(store, rel, dry_run)
            report.other_removed += gone
        elif _TEMP.search(rel) and started - modified >= TEMP_AGE:
            gone = _remove(store, rel, dry_run)
            report.other_removed += gone
        if gone:
            report.bytes_freed += size
    if policy.max_size is not None and report.bytes_after > policy.max_size:
        report.warnings.append(
            f"the cache is still {human_size(report.bytes_after)}, over --max-size {human_size(policy.max_size)}: "
            "the rest is used by kept or live runs, protected, or newer than this gc"
        )
    return report


def _evict_to_size(entries, files, candidates, doomed, max_size, cutoff, guard, used, report) -> None:
    """Add least recently used candidates to ``doomed`` until the cache would fit ``max_size``."""
    refs: dict[str, int] = {}
    for e in entries.values():
        for d in e.blobs or {}:
            refs[d] = refs.get(d, 0) + 1
    blob_sizes = {m[1] + m[2]: (size, mod) for rel, (size, mod) in files.items() if (m := BLOB.match(rel))}

    def free(e: Entry) -> int:
        freed = e.size
        for d in e.blobs or {}:
            refs[d] -= 1
            size, mod = blob_sizes.get(d, (0, cutoff))
            if refs[d] == 0 and mod < cutoff and d not in guard.digests:
                freed += size
        return freed

    # Blobs no manifest names at all are removed in any case.
    size = report.bytes_before - sum(s for d, (s, mod) in blob_sizes.items() if d not in refs and mod < cutoff and d not in guard.digests)
    for key in doomed:
        size -= free(entries[key])
    for e in sorted((e for e in candidates if e.key not in doomed), key=used):
        if size <= max_size:
            break
        size -= free(e)
        doomed.add(e.key)


# --------------------------------------------------------------------------- helpers


def _remove(store: CacheStore, rel: str, dry_run: bool) -> bool:
    if dry_run:
        return True
    try:
        store.fs.rm_file(join(store.root, rel))
    except FileNotFoundError:
        return False
    return True
