"""Kill -9 a 6-topic offline batch at random points, rerun it, and count what a kill broke.

A script, not a test: it takes minutes and its kill points are random (``--seed`` repeats
them). It runs ``python -m vidflow run`` of the quickstart recipe (offline providers: no key,
no network) over a 6-topic file, in a scratch project, and SIGKILLs the whole process group
(vidflow and its ffmpeg children, as an OOM killer or a container stop would) at a random
moment. Then it runs again, and again, until ``--kills`` kills have landed; a run that finishes
before its kill moment is checked, the project is wiped and the batch starts over, so the
kill points spread over the whole batch. A last uninterrupted rerun must publish all 6 videos.

After every run (killed or not) it counts, and all must be 0:

* **corrupt cache entries**: an ``actions/*.json`` manifest that does not parse as a JSON
  object, or a blob whose sha256 is not its name (every blob is hashed: a full check), and
  whatever ``vidflow cache verify`` finds (a manifest invalid against its schema, a blob it
  names missing or of another size, a verification record without its blob);
* **partial outputs**: a file in ``out/`` that is not a whole video vidflow made (its sha256 is
  not a video blob of the cache), or whose manifest beside it names other bytes, or a manifest
  without its video; plus, after the last run, any ``*.tmp-*`` file left in ``out/`` or the cache;
* **redone nodes**: a node the run's ``events.jsonl`` says ``node_succeeded`` although its
  manifest was already complete before that run started (a publish node: although its video and
  manifest were already complete and verified in ``out/``).

Usage: python benchmarks/chaos.py [--kills 10] [--seed N] [--small] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TOPICS = [
    "Why is the sky blue?",
    "How do bees make honey?",
    "What is a black hole?",
    "How do magnets work?",
    "Why do cats purr?",
    "How does a rainbow form?",
]


@dataclass
class Check:
    corrupt: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    redone: list[str] = field(default_factory=list)
    temp_left: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- project


def make_project(d: Path, small: bool) -> None:
    d.mkdir(parents=True)
    (d / "recipes").mkdir()
    text = (REPO / "recipes" / "quickstart.yaml").read_text(encoding="utf-8")
    if small:  # the same recipe, composed at a quarter of the size: 4x more kills per minute
        text = text.replace("    compose: vertical\n", "    compose: vertical\n    width: 360\n    height: 640\n    preset: ultrafast\n")
        assert "width: 360" in text, "recipes/quickstart.yaml changed: update --small"
    (d / "recipes" / "quickstart.yaml").write_text(text, encoding="utf-8")
    shutil.copytree(REPO / "characters", d / "characters")
    (d / "topics.txt").write_text("\n".join(TOPICS) + "\n", encoding="utf-8")


def wipe_state(d: Path) -> None:
    for sub in ("cache", "out", "runs"):
        shutil.rmtree(d / sub, ignore_errors=True)


def run_argv(d: Path) -> list[str]:
    return [sys.executable, "-m", "vidflow", "run", "recipes/quickstart.yaml", "--topics", "topics.txt", "--plain",
            "--cache", str(d / "cache"), "--runs-dir", str(d / "runs"), "--out-dir", str(d)]  # fmt: skip


def start(d: Path, log) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDFLOW_") and not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.Popen(run_argv(d), cwd=d, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


# --------------------------------------------------------------------------- what is on disk


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def complete_manifests(cache: Path) -> dict[str, dict]:
    """key -> manifest, for every action manifest that parses as a JSON object."""
    out = {}
    for p in (cache / "actions").glob("*.json") if (cache / "actions").is_dir() else ():
        try:
            data = json.loads(p.read_bytes())
        except ValueError:
            continue
        if isinstance(data, dict):
            out[p.stem] = data
    return out


def is_temp(p: Path) -> bool:
    return ".tmp-" in p.name


def check_cache(cache: Path, chk: Check) -> set[str]:
    """Full check of the cache; returns the digests of its good blobs."""
    good: set[str] = set()
    if not cache.is_dir():
        return good
    for p in (cache / "actions").glob("*") if (cache / "actions").is_dir() else ():
        if is_temp(p):
            continue
        try:
            ok = isinstance(json.loads(p.read_bytes()), dict)
        except ValueError:
            ok = False
        if not ok:
            chk.corrupt.append(f"manifest {p.relative_to(cache)} does not parse as a JSON object")
    blobs = cache / "blobs" / "sha256"
    for p in blobs.rglob("*") if blobs.is_dir() else ():
        if p.is_dir() or is_temp(p):
            continue
        name = p.parent.name + p.name
        if sha256_file(p) != name:
            chk.corrupt.append(f"blob {p.relative_to(cache)} does not hash to its name")
        else:
            good.add(name)
    # and vidflow's own full check: every manifest against its schema, every blob it names
    # present with its size, no verification record without its blob (temporary files are
    # counted apart, after the last rerun)
    for prob in vidflow_verify(cache):
        chk.corrupt.append(f"cache verify: {prob.kind} {prob.path}: {prob.detail}")
    return good


def vidflow_verify(cache: Path) -> list:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from vidflow.cache.store import CacheStore
    from vidflow.cache.verify import verify_cache

    store = CacheStore(str(cache))
    try:
        return [p for p in verify_cache(store, min_temp_age=float("inf")).problems]
    finally:
        store.close()


def verified_outputs(out: Path) -> set[str]:
    """Stems of out/ videos whose manifest names their exact bytes."""
    done = set()
    for mp4 in out.rglob("*.mp4") if out.is_dir() else ():
        side = mp4.with_suffix(".json")
        try:
            meta = json.loads(side.read_bytes())
            if meta.get("video_digest") == sha256_file(mp4) and meta.get("size") == mp4.stat().st_size:
                done.add(mp4.stem)
        except (OSError, ValueError, AttributeError):
            pass
    return done


def check_outputs(out: Path, blobs: set[str], chk: Check) -> None:
    for p in sorted(out.rglob("*")) if out.is_dir() else ():
        if p.is_dir() or is_temp(p):
            continue
        rel = p.relative_to(out)
        if p.suffix == ".mp4":
            digest = sha256_file(p)
            if digest not in blobs:
                chk.partial.append(f"out/{rel}: not a whole video the cache holds")
            side = p.with_suffix(".json")
            if side.exists():
                try:
                    meta = json.loads(side.read_bytes())
                    if meta.get("video_digest") != digest or meta.get("size") != p.stat().st_size:
                        chk.partial.append(f"out/{rel}: its manifest names other bytes")
                except ValueError:
                    chk.partial.append(f"out/{rel.with_suffix('.json')}: not JSON")
        elif p.suffix == ".json":
            if not p.with_suffix(".mp4").exists():
                chk.partial.append(f"out/{rel}: a manifest without its video")
        else:
            chk.partial.append(f"out/{rel}: an unexpected file")


def temp_files(d: Path) -> list[str]:
    return [str(p.relative_to(d)) for sub in ("out", "cache") for p in (d / sub).rglob("*.tmp-*")] if d.is_dir() else []


def redone_nodes(events: Path, before_keys: set[str], before_published: set[str]) -> list[str]:
    redone = []
    if not events.exists():
        return redone
    for line in events.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue  # the last line of a killed run may be cut
        if ev.get("type") != "node_succeeded":
            continue
        node, key = ev.get("node", ""), (ev.get("data") or {}).get("key", "")
        if key and any(k.startswith(key) for k in before_keys):
            redone.append(f"{node} (manifest {key}... was complete)")
        elif node.endswith("/publish") and node.split("/")[0] in before_published:
            redone.append(f"{node} (its video was already published and verified)")
    return redone


# --------------------------------------------------------------------------- main


def one_run(d: Path, kill_at: float | None, n: int) -> tuple[bool, int | None, float, Check]:
    """Start a run, SIGKILL its process group at ``kill_at`` seconds; check what it left."""
    before_keys = set(complete_manifests(d / "cache"))
    before_published = verified_outputs(d / "out")
    runs_before = set(os.listdir(d / "runs")) if (d / "runs").is_dir() else set()
    with open(d / f"run-{n:02d}.log", "wb") as log:
        t0 = time.monotonic()
        proc = start(d, log)
        killed = False
        try:
            rc = proc.wait(timeout=kill_at)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            killed, rc = True, None
        took = time.monotonic() - t0
    chk = Check()
    blobs = check_cache(d / "cache", chk)
    check_outputs(d / "out", blobs, chk)
    new_runs = sorted(set(os.listdir(d / "runs")) - runs_before) if (d / "runs").is_dir() else []
    for r in new_runs:
        chk.redone += redone_nodes(d / "runs" / r / "events.jsonl", before_keys, before_published)
    return killed, rc, took, chk


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=10, help="kills that must land (default 10)")
    ap.add_argument("--seed", type=int, default=None, help="seed of the kill moments (default: random, printed)")
    ap.add_argument("--small", action="store_true", help="compose at 360x640 ultrafast: the same nodes, faster")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temp dir, removed)")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="vidflow-chaos-"))
    d = work / "project"
    shutil.rmtree(d, ignore_errors=True)
    make_project(d, args.small)
    print(f"chaos: seed {seed}, {len(TOPICS)} topics, {'small' if args.small else 'full-size'} quickstart, in {d}")

    # how long one whole batch takes here: kill moments are drawn over that span
    killed, rc, full, chk = one_run(d, None, 0)
    if rc != 0:
        print(f"chaos: the uninterrupted batch failed (exit {rc}); see {d}/run-00.log")
        return 2
    print(f"chaos: one uninterrupted batch takes {full:.1f} s")
    wipe_state(d)

    totals = Check()
    landed, n = 0, 0
    print(f"{'run':>4} {'kill at':>8} {'outcome':>10} {'corrupt':>8} {'partial':>8} {'redone':>7}")
    while landed < args.kills and n < 4 * args.kills:
        n += 1
        kill_at = rng.uniform(0.3, full)
        killed, rc, took, chk = one_run(d, kill_at, n)
        landed += killed
        outcome = "killed" if killed else f"exit {rc}"
        print(f"{n:>4} {kill_at:>7.1f}s {outcome:>10} {len(chk.corrupt):>8} {len(chk.partial):>8} {len(chk.redone):>7}")
        for what in (*chk.corrupt, *chk.partial, *chk.redone):
            print(f"       {what}")
        totals.corrupt += chk.corrupt
        totals.partial += chk.partial
        totals.redone += chk.redone
        if not killed:  # the batch is complete: start over so later kills land early in it too
            wipe_state(d)

    # the last rerun, uninterrupted: it must finish the batch, redo nothing, leave nothing behind
    n += 1
    killed, rc, took, chk = one_run(d, None, n)
    published = verified_outputs(d / "out")
    chk.temp_left = temp_files(d)
    print(f"{n:>4} {'-':>8} {f'exit {rc}':>10} {len(chk.corrupt):>8} {len(chk.partial) + len(chk.temp_left):>8} {len(chk.redone):>7}  (last rerun, {took:.1f} s)")
    for what in (*chk.corrupt, *chk.partial, *chk.redone, *(f"left behind: {t}" for t in chk.temp_left)):
        print(f"       {what}")
    totals.corrupt += chk.corrupt
    totals.partial += chk.partial + chk.temp_left
    totals.redone += chk.redone

    print()
    print(f"kills landed:            {landed} (of {n - 1} interrupted runs tried)")
    print(f"corrupt cache entries:   {len(totals.corrupt)}")
    print(f"partial outputs:         {len(totals.partial)}")
    print(f"redone nodes:            {len(totals.redone)}")
    print(f"published after rerun:   {len(published)} of {len(TOPICS)} (exit {rc})")
    bad = totals.corrupt or totals.partial or totals.redone or rc != 0 or len(published) != len(TOPICS) or landed < args.kills
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
