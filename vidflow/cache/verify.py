"""``vidflow cache verify [--repair]``: a full check of a cache, local or remote, and its repair.

Unlike a lookup, which trusts a blob its checksum or verification record vouches for, this reads
and hashes *every* blob, parses every manifest against its schema, and lists what a killed
writer can leave behind (temporary files). With ``repair`` it removes what is bad: corrupt
blobs, invalid manifests, manifests whose blobs are missing or corrupt (so their nodes rebuild
on the next run), stale verification records and old temporary files. It never removes a good
entry, and it writes nothing without ``repair``.

Run ``--repair`` when no run is writing to the cache: a temporary file younger than
``min_temp_age`` seconds is left alone in case a live run is about to rename it.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Callable

from ..storage import is_local, join, object_state
from .manifest import ManifestError, parse_manifest
from .store import CacheStore, LookupStatus

__all__ = ["Problem", "VerifyReport", "format_report", "verify_cache"]

_TEMP = re.compile(r"\.tmp-[0-9a-f]{32}$")
_BLOB = re.compile(r"^blobs/sha256/([0-9a-f]{2})/([0-9a-f]{62})$")
_RECORD = re.compile(r"^verified/([0-9a-f]{2})/([0-9a-f]{62})$")
_ACTION = re.compile(r"^actions/([^/]+)\.json$")


@dataclass(frozen=True)
class Problem:
    """One bad thing in the cache. ``path`` is relative to the cache root."""

    kind: str  # a LookupStatus value, "orphan_temp" or "stale_record"
    path: str
    detail: str
    repaired: bool = False


@dataclass
class VerifyReport:
    """What :func:`verify_cache` checked and found."""

    url: str
    repair: bool = False
    manifests: int = 0
    blobs: int = 0
    bytes_hashed: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing bad is left (nothing found, or all of it repaired)."""
        return all(p.repaired for p in self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def verify_cache(
    store: CacheStore,
    *,
    repair: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
    min_temp_age: float = 3600.0,
) -> VerifyReport:
    """Check every manifest and blob of ``store`` (full hash); with ``repair``, remove what is bad.

    ``progress(done, total, path)`` is called after each file is checked.
    """
    fs, root = store.fs, store.root
    report = VerifyReport(url=store.url, repair=repair)
    files = _listing(store)
    total, done = len(files), 0

    def tick(rel: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, rel)

    def found(kind: str, rel: str, detail: str, remove: list[str]) -> None:
        if repair:
            for r in remove:
                try:
                    fs.rm_file(join(root, r))
                except FileNotFoundError:
                    pass
        report.problems.append(Problem(kind, rel, detail, repaired=repair))

    now = time.time()
    blob_sizes: dict[str, int] = {}  # digest -> size, good blobs only
    bad_blobs: dict[str, str] = {}  # digest -> why
    records: list[tuple[str, str]] = []
    actions: list[tuple[str, str]] = []
    for rel, info in sorted(files.items()):
        if _TEMP.search(rel):
            age = now - _modified(info, now)
            if age >= min_temp_age:
                found("orphan_temp", rel, f"temporary file left by an interrupted write ({_age(age)} old)", [rel])
            tick(rel)
        elif m := _BLOB.match(rel):
            digest = m[1] + m[2]
            actual, size = _hash(store, join(root, rel))
            report.blobs += 1
            report.bytes_hashed += size
            if actual != digest:
                bad_blobs[digest] = f"its bytes hash to {actual[:12]}"
                found(LookupStatus.CORRUPT_BLOB.value, rel, bad_blobs[digest], [rel, _record_rel(digest)])
            else:
                blob_sizes[digest] = size
                if repair and is_local(fs):  # a blob just hashed need not be hashed by the next plan
                    store.records.write(digest, object_state(fs, join(root, rel)))
            tick(rel)
        elif m := _RECORD.match(rel):
            records.append((m[1] + m[2], rel))
        elif m := _ACTION.match(rel):
            actions.append((m[1], rel))
        else:
            tick(rel)  # not vidflow's: left alone
    for key, rel in actions:
        report.manifests += 1
        try:
            manifest = parse_manifest(fs.cat_file(join(root, rel)), key)
        except ManifestError as e:
            found(LookupStatus.INVALID_MANIFEST.value, rel, str(e), [rel])
            tick(rel)
            continue
        for name, ref in sorted(manifest.blobs.items()):
            if ref.digest in bad_blobs:
                found(LookupStatus.CORRUPT_BLOB.value, rel, f"its {name} blob {ref.digest[:12]} is corrupt (node rebuilds)", [rel])
                break
            if ref.digest not in blob_sizes:
                found(LookupStatus.MISSING_BLOB.value, rel, f"its {name} blob {ref.digest[:12]} is missing (node rebuilds)", [rel])
                break
            if blob_sizes[ref.digest] != ref.size:
                found(LookupStatus.INVALID_MANIFEST.value, rel, f"its {name} blob has {blob_sizes[ref.digest]} bytes, it says {ref.size}", [rel])
                break
        tick(rel)
    for digest, rel in records:
        if digest not in blob_sizes and digest not in bad_blobs:
            found("stale_record", rel, f"verification record of a blob that is not there ({digest[:12]})", [rel])
        tick(rel)
    return report


def format_report(report: VerifyReport) -> str:
    """One line per problem, then a summary line (what ``vidflow cache verify`` prints)."""
    lines = []
    for p in report.problems:
        lines.append(f"{p.kind}: {p.path}: {p.detail}{' [removed]' if p.repaired else ''}")
    n = len(report.problems)
    checked = f"{report.url}: {report.manifests} manifests, {report.blobs} blobs ({report.bytes_hashed / 1e6:.1f} MB hashed)"
    if not n:
        lines.append(f"{checked}: OK")
    elif report.ok:
        lines.append(f"{checked}: {n} problem{'s' * (n != 1)} repaired; the next run rebuilds what was removed")
    else:
        lines.append(f"{checked}: {n} problem{'s' * (n != 1)} (run `vidflow cache verify --repair` to remove them)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- helpers


def _listing(store: CacheStore) -> dict[str, dict[str, Any]]:
    """Every file under the cache root, by path relative to it."""
    root = store.root.rstrip("/")
    out = {}
    for path, info in store.fs.find(root, detail=True).items():
        if info.get("type", "file") != "file":
            continue
        rel = path[len(root):].lstrip("/") if path.startswith(root) else path
        out[rel] = info
    return out


def _hash(store: CacheStore, path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with store.fs.open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _record_rel(digest: str) -> str:
    return f"verified/{digest[:2]}/{digest[2:]}"


def _modified(info: dict[str, Any], default: float) -> float:
    for k in ("mtime", "LastModified", "created"):
        v = info.get(k)
        if isinstance(v, datetime):
            return v.timestamp()
        if isinstance(v, (int, float)):
            return float(v)
    return default  # unknown age: treat as new, never remove


def _age(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s"
