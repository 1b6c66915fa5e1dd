"""Scheduler overhead per node, and plan time, for a 10,000-node recipe.

The provider answers instantly, so what is measured is vidflow itself: rendering, keying,
cache lookups and writes, limits, events. Printed side by side in one run:

* cold run  (every node runs and is stored)   -> seconds per node
* warm run  (every node is a cache hit)         -> seconds per node
* plan      (cold cache and warm cache)         -> seconds per node
* baseline: the same 10,000 calls awaited directly with asyncio.gather (no cache, no DAG)

Usage: python benchmarks/overhead.py [--nodes 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vidflow.api import load_recipe_file, plan, run  # noqa: E402
from vidflow.providers.base import Provider, TextRequest, TextResult  # noqa: E402
from vidflow.providers.registry import Registry  # noqa: E402
from vidflow.settings import Settings  # noqa: E402

STEPS_PER_TOPIC = 5


class InstantText(Provider):
    kind: ClassVar[str] = "text.instant"
    capability: ClassVar[str] = "text"
    default_concurrency: ClassVar[int] = 64

    async def generate(self, req: TextRequest) -> TextResult:
        return TextResult(value=req.prompt[::-1])


def _recipe(topics: int) -> str:
    steps = "\n".join(f'  s{i}: {{uses: fast, prompt: "step {i} of {{{{ topic }}}}"}}' for i in range(STEPS_PER_TOPIC))
    names = ", ".join(f'"topic {n}"' for n in range(topics))
    return f"vidflow: 1\nname: overhead\ntopics: [{names}]\nproviders:\n  fast: {{kind: text.instant, concurrency: 64}}\nsteps:\n{steps}\n"


def _timed(fn):
    t0 = time.perf_counter()
    c0 = time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=10_000)
    args = ap.parse_args()
    topics = max(1, args.nodes // STEPS_PER_TOPIC)
    nodes = topics * STEPS_PER_TOPIC
    reg = Registry(entry_point_group=None)
    reg.register(InstantText.kind, InstantText)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.yaml"
        path.write_text(_recipe(topics))
        settings = Settings(cache_url=os.path.join(d, "cache"), runs_dir=os.path.join(d, "runs"))
        loaded, t_load, _ = _timed(lambda: load_recipe_file(path, registry=reg))
        (_, _), t_plan_cold, _ = _timed(lambda: asyncio.run(plan(loaded, settings=settings)))
        cold, t_cold, c_cold = _timed(lambda: asyncio.run(run(loaded, settings=settings, output_root=d)))
        assert cold.summary.count("ran") == nodes, cold.summary.count("ran")
        warm, t_warm, c_warm = _timed(lambda: asyncio.run(run(loaded, settings=settings, output_root=d)))
        assert warm.summary.count("cached") == nodes
        (_, _), t_plan_warm, _ = _timed(lambda: asyncio.run(plan(loaded, settings=settings)))

    async def baseline():
        p = InstantText()
        await asyncio.gather(*(p.generate(TextRequest(prompt=f"step {i % 5} of topic {i // 5}")) for i in range(nodes)))

    _, t_base, _ = _timed(lambda: asyncio.run(baseline()))
    us = lambda t: f"{t / nodes * 1e6:8.1f} µs/node"  # noqa: E731
    print(f"vidflow overhead, {nodes} nodes ({topics} topics x {STEPS_PER_TOPIC} steps), instant provider")
    print(f"  load recipe         {t_load:7.2f} s")
    print(f"  plan, cold cache    {t_plan_cold:7.2f} s  {us(t_plan_cold)}")
    print(f"  plan, warm cache    {t_plan_warm:7.2f} s  {us(t_plan_warm)}")
    print(f"  run, cold           {t_cold:7.2f} s  {us(t_cold)}  (cpu {c_cold:.2f} s)")
    print(f"  run, all cached     {t_warm:7.2f} s  {us(t_warm)}  (cpu {c_warm:.2f} s)")
    print(f"  baseline gather     {t_base:7.2f} s  {us(t_base)}  (the calls alone, no cache or DAG)")
    print(f"  scheduler overhead per node (cold run - baseline): {(t_cold - t_base) / nodes * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
