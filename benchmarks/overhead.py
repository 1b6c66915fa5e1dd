"""Scheduler overhead per node, and plan time, for a 10,000-node recipe: before and after.

The provider answers instantly, so what is measured is vidflow itself: rendering, keying,
cache lookups and writes, limits, events. Measured side by side in one run, alternating:

* **after**: this checkout;
* **before**: another commit (``--against``, by default the v1 engine before the open-runner
  redesign), checked out into a temporary git worktree and run in its own process;
* **baseline**: the same 10,000 provider calls awaited directly with asyncio.gather.

For each side: load, plan on a cold and a warm cache, a cold run (every node made and stored)
and a warm run (every node a cache hit). The scheduler's overhead per node is
``(cold run - baseline) / nodes``. Targets (issue 9): overhead <= 100 us/node, plan <= 1 s.

Where the cache lives: on a RAM disk (``/dev/shm``) when the machine has one, so that what is
measured is vidflow's work and not the disk's mood (creating one small file took 25-300 µs on
the same virtual disk from one minute to the next, which moved the result by 2x). Both sides
write the same files there. ``--cache-dir DIR`` measures on another disk; the report says
which was used.

Usage: python benchmarks/overhead.py [--nodes 10000] [--reps 3] [--against REF | --no-before] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: The last commit of the v1 engine (run/engine.py), before capabilities and the scheduler.
BEFORE = "8fbfaaa"
STEPS_PER_TOPIC = 5


def _recipe(topics: int) -> str:
    steps = "\n".join(f'  s{i}: {{uses: fast, prompt: "step {i} of {{{{ topic }}}}"}}' for i in range(STEPS_PER_TOPIC))
    names = ", ".join(f'"topic {n}"' for n in range(topics))
    return f"vidflow: 1\nname: overhead\ntopics: [{names}]\nproviders:\n  fast: {{kind: text.instant, concurrency: 64}}\nsteps:\n{steps}\n"


def _timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def default_cache_dir() -> str | None:
    """A RAM disk if there is a writable one, else None (the system's temp folder)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def measure(nodes: int, cache_dir: str | None = None) -> dict[str, float]:
    """One measurement of whatever vidflow is importable (works with the v1 API and the v2 one)."""
    from vidflow.api import load_recipe_file, plan, run
    from vidflow.providers.base import Provider, TextRequest, TextResult
    from vidflow.providers.registry import Registry
    from vidflow.settings import Settings

    class InstantText(Provider):
        kind: ClassVar[str] = "text.instant"
        capability: ClassVar[str] = "text"
        default_concurrency: ClassVar[int] = 64

        async def generate(self, req: TextRequest) -> TextResult:
            return TextResult(value=req.prompt[::-1])

    topics = max(1, nodes // STEPS_PER_TOPIC)
    nodes = topics * STEPS_PER_TOPIC
    reg = Registry(entry_point_group=None)
    reg.register(InstantText.kind, InstantText)
    extra = {"registry": reg} if "registry" in inspect.signature(run).parameters else {}  # v1 took the registry
    out: dict[str, float] = {"nodes": nodes}

    async def baseline() -> None:
        p = InstantText()
        await asyncio.gather(*(p.generate(TextRequest(prompt=f"step {i % 5} of topic {i // 5}")) for i in range(nodes)))

    # First, on a fresh heap: measured after the runs, the baseline paid for collections of
    # the runs' leftovers (it read ~90 µs a call instead of ~13), flattering the overhead.
    _, out["baseline"], _ = _timed(lambda: asyncio.run(baseline()))
    with tempfile.TemporaryDirectory(dir=cache_dir) as d:
        path = Path(d) / "r.yaml"
        path.write_text(_recipe(topics))
        settings = Settings(cache_url=os.path.join(d, "cache"), runs_dir=os.path.join(d, "runs"))
        loaded, out["load"], _ = _timed(lambda: load_recipe_file(path, registry=reg))
        _, out["plan_cold"], _ = _timed(lambda: asyncio.run(plan(loaded, settings=settings, **extra)))
        cold, out["run_cold"], out["run_cold_cpu"] = _timed(lambda: asyncio.run(run(loaded, settings=settings, output_root=d, **extra)))
        assert cold.summary.count("ran") == nodes, cold.summary.count("ran")
        warm, out["run_warm"], _ = _timed(lambda: asyncio.run(run(loaded, settings=settings, output_root=d, **extra)))
        assert warm.summary.count("cached") == nodes
        _, out["plan_warm"], _ = _timed(lambda: asyncio.run(plan(loaded, settings=settings, **extra)))

    return out


def _measure_in(src: Path, nodes: int, cache_dir: str | None) -> dict[str, float]:
    """``measure`` in a fresh process that imports vidflow from ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    where = ["--cache-dir", cache_dir] if cache_dir else []
    proc = subprocess.run([sys.executable, str(HERE / "overhead.py"), "--measure", "--nodes", str(nodes), *where], env=env, cwd=src,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3, help="measurements per side (alternating); medians are printed (and the overhead's best)")
    ap.add_argument("--against", default=BEFORE, help=f"the commit to compare with (default {BEFORE}: the v1 engine)")
    ap.add_argument("--no-before", action="store_true", help="measure this checkout only")
    ap.add_argument("--cache-dir", default=None, help="where the runs' cache and records go (default: /dev/shm if there is one, else the temp folder)")
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.nodes, args.cache_dir)))
        return
    cache_dir = args.cache_dir or default_cache_dir()
    sides: dict[str, list[dict]] = {"after": [], "before": []}
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        if not args.no_before:
            subprocess.run(["git", "worktree", "add", "--detach", str(old), args.against], cwd=REPO, check=True, capture_output=True)
        try:
            for _ in range(args.reps):
                sides["after"].append(_measure_in(REPO, args.nodes, cache_dir))
                if not args.no_before:
                    sides["before"].append(_measure_in(old, args.nodes, cache_dir))
        finally:
            if not args.no_before:
                subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=REPO, capture_output=True)

    def med(side: str, k: str) -> float:
        return statistics.median(m[k] for m in sides[side])

    nodes = sides["after"][0]["nodes"]
    us = lambda t: t / nodes * 1e6  # noqa: E731
    shown = ["after"] + ([] if args.no_before else ["before"])
    print(f"vidflow overhead, {nodes:.0f} nodes ({nodes // STEPS_PER_TOPIC:.0f} topics x {STEPS_PER_TOPIC} steps), instant provider, "
          f"median of {args.reps} alternating run(s); before = {args.against}; cache in {cache_dir or tempfile.gettempdir()}")
    print(f"  {'':22}" + "".join(f"{s:>22}" for s in shown))
    for label, k in (("load recipe", "load"), ("plan, cold cache", "plan_cold"), ("plan, warm cache", "plan_warm"),
                     ("run, cold", "run_cold"), ("run, all cached", "run_warm"), ("baseline gather", "baseline")):
        print(f"  {label:22}" + "".join(f"{med(s, k):8.2f} s {us(med(s, k)):7.1f} µs/n" for s in shown))
    overhead = {s: us(med(s, "run_cold") - med(s, "baseline")) for s in shown}
    # The best of the reps too: on a shared machine a rep is only ever slowed by the others' load.
    best = {s: min(us(m["run_cold"] - m["baseline"]) for m in sides[s]) for s in shown}
    print("  scheduler overhead per node (cold run - baseline): " + ", ".join(f"{s} {v:.1f} µs (best rep {best[s]:.1f})" for s, v in overhead.items()))
    if not args.no_before:
        print(f"  ratio after/before: overhead {overhead['after'] / overhead['before']:.2f}, "
              f"plan cold {med('after', 'plan_cold') / med('before', 'plan_cold'):.2f}, "
              f"warm run {med('after', 'run_warm') / med('before', 'run_warm'):.2f}")
    print(f"  targets: overhead <= 100 µs/node (now {overhead['after']:.1f}); plan of {nodes:.0f} nodes <= 1 s "
          f"(now {med('after', 'plan_cold'):.2f} s cold, {med('after', 'plan_warm'):.2f} s warm)")


if __name__ == "__main__":
    main()
