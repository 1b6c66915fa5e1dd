"""Run identity: a run is named by the digest of what it was asked to make.

The **snapshot** of a submission is the recipe's text, the characters it uses (profile text and
sprite digests), the selected topics with their variables, and the options that change what is
made or where it goes (``--refresh``, ``--force``, ``--until``, imported documents, the output
root, the cache). Its SHA-256 names the run (``r-<16 hex>``), unless the user gives
``--idempotency-key K`` (``k-<16 hex of K>``). Submitting the same thing again therefore finds
the same run folder under the runs dir:

* **finished and published** (exit 0) with every output still in place (its bytes hash to the
  digest in its sidecar): the existing result is reported; nothing runs, no provider is called;
* **running** (another process holds the folder's lock): the caller is told where, or waits
  for it with ``--wait``;
* otherwise (never run, interrupted, failed topics, waiting for review): it runs again under the
  same id; the previous attempt's events are kept beside as ``events.<n>.jsonl``.

The snapshot is stored in the cache, content-addressed (``snapshots/<digest>.json``, sprites as
blobs kept by a ``protected/`` record), so ``vidflow rerun RUN`` can repeat a run exactly even
after its files changed. Nothing secret enters a snapshot: API keys are not options.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .. import __version__
from ..errors import ConfigError, UserError
from ..outputs import already_published
from ..storage import url_to_fs, write_local_atomic
from .ledger import EventType, Summary, read_events, summarize

__all__ = ["RunFolder", "Snapshot", "key_run_id", "load_snapshot", "restore_snapshot", "save_snapshot", "take_snapshot"]

#: Bumped when the snapshot's shape changes (old snapshots stay readable by their own digest).
SNAPSHOT_FORMAT = 1


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


@dataclass(frozen=True)
class Snapshot:
    data: dict[str, Any]
    digest: str
    sprites: dict[str, str] = field(default_factory=dict, compare=False)  # digest -> local path (to store)

    @property
    def run_id(self) -> str:
        return "r-" + self.digest[:16]


def key_run_id(key: str) -> str:
    """The run id of ``--idempotency-key key``."""
    if not key.strip():
        raise UserError("--idempotency-key must not be empty")
    return "k-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def take_snapshot(loaded: Any, *, options: Mapping[str, Any], imports: Mapping[str, Any] | None = None) -> Snapshot:
    """The snapshot of running ``loaded`` with ``options`` (JSON-able values only)."""
    characters, sprites = {}, {}
    for ident, c in sorted(loaded.characters.items()):
        poses = {}
        for pose in ("telling", "hearing"):
            path, digest = getattr(c, pose, None), getattr(c, f"{pose}_digest", None)
            if path and digest:
                rel = os.path.relpath(path, os.path.dirname(c.file)) if c.file else os.path.basename(path)
                poses[pose] = {"path": rel.replace(os.sep, "/"), "digest": digest}
                sprites[digest] = path
        characters[ident] = {"file": os.path.basename(c.file) if c.file else f"{ident}.yaml", "text": _read_text(c.file), "sprites": poses}
    data = {
        "format": SNAPSHOT_FORMAT,
        "vidflow": __version__,
        "recipe": {"path": str(Path(loaded.path).resolve()), "text": _read_text(str(loaded.path))},
        "characters": characters,
        "topics": [{"id": t.id, "text": t.text, "vars": t.vars} for t in loaded.topics],
        "options": dict(sorted(options.items())),
        "imports": dict(imports or {}),
    }
    return Snapshot(data, hashlib.sha256(_canonical(data)).hexdigest(), sprites)


def _read_text(path: str | None) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def save_snapshot(store: Any, snap: Snapshot) -> None:
    """Keep the snapshot in the cache (idempotent: it is named by its digest)."""
    path = store.doc_path(f"snapshots/{snap.digest}.json")
    if store.read_doc(path) is not None:
        return
    digests = []
    for digest, local in sorted(snap.sprites.items()):
        ref = store.put_blob_file(local, media_type="image/png", ext="png")
        digests.append(ref.digest if ref.digest == digest else digest)
    # gc keeps what protected/ records name: the sprites of every stored snapshot
    store.write_doc(store.doc_path(f"protected/snapshots/{snap.digest}.json"), {"keys": [], "digests": digests})
    store.write_doc(path, snap.data)


def load_snapshot(store: Any, digest: str) -> dict[str, Any]:
    data = store.read_doc(store.doc_path(f"snapshots/{digest}.json"))
    if not isinstance(data, dict) or hashlib.sha256(_canonical(data)).hexdigest() != digest:
        raise UserError(f"the snapshot {digest[:16]} is not in cache {store.url} (or is damaged); was the run made with another --cache?")
    return data


def restore_snapshot(store: Any, data: Mapping[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write a snapshot's recipe and characters under ``folder``: (recipe path, characters dir).

    Sprites come back from their blobs (digest-verified by the store).
    """
    chars = folder / "characters"
    for ident, c in data["characters"].items():
        cdir = chars
        cdir.mkdir(parents=True, exist_ok=True)
        (cdir / c["file"]).write_text(c["text"], encoding="utf-8")
        for pose in c["sprites"].values():
            rel = Path(pose["path"])
            if rel.is_absolute() or ".." in rel.parts:
                raise UserError(f"snapshot sprite path {pose['path']!r} is not inside its character folder")
            target = cdir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(store.read_blob(pose["digest"]))
    recipe = folder / Path(data["recipe"]["path"]).name
    recipe.write_text(data["recipe"]["text"], encoding="utf-8")
    return recipe, chars


class RunFolder:
    """``<runs_dir>/<run_id>/``: its events, its owner lock and its ``run.json``."""

    def __init__(self, runs_dir: str, run_id: str):
        self.run_id = run_id
        self.path = Path(runs_dir) / run_id
        self.events = self.path / "events.jsonl"
        self._lock_fd: int | None = None

    # ------------------------------------------------------------------ state
    def meta(self) -> dict[str, Any]:
        try:
            data = json.loads((self.path / "run.json").read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def write_meta(self, **data: Any) -> None:
        write_local_atomic(self.path / "run.json", json.dumps({**self.meta(), **data}, indent=2, ensure_ascii=False).encode())

    def _lock(self, *, create: bool) -> int | None:
        """An fd holding this run's owner lock, or None if another process holds it (or, when
        not ``create``, if there is no lock file)."""
        import fcntl

        try:
            if create:
                self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / "owner.lock", os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
        except FileNotFoundError:
            if create:
                raise ConfigError(f"runs folder {self.path.parent}: cannot create {self.path.name} in it; set --runs-dir or VIDFLOW_RUNS_DIR to a writable folder") from None
            return None
        except OSError as e:
            if not create:
                return None
            raise ConfigError(f"runs folder {self.path.parent}: cannot write there ({e.strerror or e}); set --runs-dir or VIDFLOW_RUNS_DIR to a writable folder") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def running(self) -> dict[str, Any] | None:
        """The owner (pid, host, since) if a live process holds this run, else None."""
        if not (self.path / "owner.lock").exists():
            return None
        fd = self._lock(create=False)
        if fd is None:
            return self.meta().get("owner") or {"pid": None}
        os.close(fd)  # closing releases the lock
        return None

    def finished(self) -> tuple[Summary, list[dict[str, Any]]] | None:
        """(summary, published outputs) of the last attempt if it finished, else None."""
        try:
            events = read_events(str(self.events))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not any(e.type is EventType.RUN_FINISHED for e in events):
            return None
        outputs = [e.data for e in events if e.type is EventType.TOPIC_FINISHED and e.data.get("status") == "published"]
        return summarize(events), outputs

    # ------------------------------------------------------------------ ownership
    def claim(self) -> None:
        """Own this run folder (a flock held until :meth:`release`); the previous attempt's
        events are moved beside. UserError if another process owns it."""
        fd = self._lock(create=True)
        if fd is None:
            raise UserError(f"run {self.run_id} is being made by another process right now ({self.path}); add --wait to wait for it")
        self._lock_fd = fd
        if self.events.exists():
            n = 1 + sum(1 for _ in self.path.glob("events.*.jsonl"))
            os.replace(self.events, self.path / f"events.{n}.jsonl")
        self.write_meta(owner={"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the only fd of the lock releases it
            self._lock_fd = None

    def __enter__(self) -> RunFolder:
        self.claim()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def wait(self, *, poll: float = 1.0, timeout: float | None = None) -> None:
        """Until no process owns this run (its owner finished or died)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running() is not None:
            if deadline is not None and time.monotonic() > deadline:
                raise UserError(f"run {self.run_id} still runs after {timeout:.0f}s of --wait")
            time.sleep(poll)


def outputs_intact(outputs: list[dict[str, Any]], storage_options: Any) -> list[str]:
    """The outputs (URLs or paths) that are gone or whose bytes no longer match their sidecar."""
    bad = []
    for o in outputs:
        dest, side = o.get("output"), o.get("manifest")
        if not dest:
            continue
        opts = storage_options(dest)
        if not side:  # published without a manifest: presence is all that can be checked
            try:
                fs, path = url_to_fs(dest, **opts)
                if not fs.exists(path):
                    bad.append(dest)
            except (OSError, ValueError):
                bad.append(dest)
            continue
        if not already_published(dest, side, None, opts):
            bad.append(dest)
    return bad
