"""Makespan of one multi-topic run against rate- and concurrency-limited vendors, vs a lower bound.

One run = 6 topics x (1 script, 8 spoken lines, 4 images) against the loopback vendor servers of
``tests/servers`` (real HTTP on 127.0.0.1, real clients: litellm and httpx), with per-call latencies
and the vendor plan's limits enforced by the servers (a request over a limit is answered 429):

* LLM       OpenAIServer      /v1/chat/completions        latency 1.0 s, max 4 concurrent
* voice     ElevenLabsServer  /with-timestamps            latency 0.4 s, max 3 concurrent
* images    OpenAIServer      /v1/images/generations      latency 0.8 s, 6 starts per "minute"

Time is scaled: a "minute" lasts ``--minute`` seconds (6 by default), so the image rate is
6 per 6 s. 25% of the lines (2 of 8 per topic, same text and speaker) are shared by all topics,
so unique voice calls are 6 x 6 + 2 = 38, not 48. The recipe declares the same limits to vidflow.
There are no compose or publish steps: this measures provider scheduling only.

Three contenders, each against fresh servers (run in a child process by default, so they share no
GIL with the client being measured; ``--in-process`` runs them as threads of this process):

* vidflow:    ``vidflow.api.run`` on the recipe (the real engine and adapters), fresh cache
* sequential: a plain loop; per topic the script, then each line, then each image, one by one
* gather:     per topic the script, then per scene ``asyncio.gather`` of its lines and its image;
              no limits, no dedup; on a 429 it sleeps Retry-After and tries again

For each: makespan / lower bound, provider calls made (answered 200) against unique calls, and
429s received (from the servers' request logs). Lower bound = the max of

* the script chain: ceil(topics / llm concurrency) x llm latency + the longest downstream call,
* each provider's work over its capacity, after the first script can have finished:
  voice  = llm latency + ceil(unique lines / concurrency) x line latency
  images = llm latency + floor((unique images - 1) / rate calls) x minute + image latency
           (a sliding window: start k + rate calls comes at least one window after start k),
           and llm latency + ceil(unique images / concurrency) x image latency.

Goal: vidflow within 1.10 of the lower bound, calls made = unique calls, 0 self-inflicted 429s.
Speed is measured, not asserted: the script exits non-zero only if a contender fails outright.

litellm is imported and every call path warmed up before timing, and the loopback image
server's PNGs are rendered once beforehand (it caches them), so no contender pays one-off import
or simulator costs the others do not.

Usage: python benchmarks/makespan.py [--minute 6] [--only vidflow,sequential,gather] [--details] [--in-process]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported: never fetch the cost map

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from tests.servers import ElevenLabsServer, OpenAIServer  # noqa: E402
from vidflow.api import load_recipe_file, run  # noqa: E402
from vidflow.capabilities.dialogue import dialogue_schema  # noqa: E402
from vidflow.settings import Settings  # noqa: E402

KEY = "test-key"
ENV = {"OPENAI_API_KEY": KEY, "ELEVENLABS_API_KEY": KEY, "TOGETHERAI_API_KEY": KEY}
CHARACTERS = ("nova", "pip")
LLM_MODEL = "openai/gpt-4o-mini"
IMAGE_MODEL = "openai/gpt-image-1"
IMAGE_SIZE = "1024x1536"  # what image.litellm asks gpt-image for a portrait frame
TTS_MODEL = "eleven_flash_v2_5"
TTS_FORMAT = "pcm_24000"
TOPICS = [
    "Why is the sky blue?",
    "How do bees make honey?",
    "Why do cats purr?",
    "How do tides work?",
    "What makes a rainbow?",
    "Why does bread rise?",
    "How do magnets work?",
    "Why do leaves change colour?",
]
SHARED = [  # lines every topic says word for word (same speaker too: same position in the script)
    "Ooh, tell me more, because that sounds surprisingly simple!",
    "Here's the short version, and it is a lot stranger than you think.",
    "Wait, really? Okay, that completely blew my mind.",
    "Think of it like this: everything is connected to everything else.",
]
CONTENDERS = ("vidflow", "sequential", "gather")


@dataclass(frozen=True)
class Config:
    topics: int = 6
    lines: int = 8
    scenes: int = 4
    shared: int = 2  # lines per topic taken from the shared pool
    minute: float = 6.0  # seconds in a scaled minute
    llm_latency: float = 1.0
    llm_conc: int = 4
    tts_latency: float = 0.4
    tts_conc: int = 3
    img_latency: float = 0.8
    img_rate: int = 6  # per scaled minute
    img_conc: int = 6  # the recipe's image concurrency (the server caps only the rate)

    @property
    def topic_texts(self) -> list[str]:
        return [TOPICS[i] if i < len(TOPICS) else f"Topic number {i}" for i in range(self.topics)]


# --------------------------------------------------------------------------- the scripted LLM
def dialogue_for(topic: str, cfg: Config, speakers: list[str]) -> dict[str, Any]:
    """The script the loopback LLM writes for a topic: ``shared`` of its lines come from SHARED."""
    shared_at = {(j * cfg.lines) // cfg.shared + 1: j for j in range(cfg.shared)} if cfg.shared else {}
    per_scene = max(1, cfg.lines // cfg.scenes)
    lines = []
    for i in range(cfg.lines):
        text = SHARED[shared_at[i] % len(SHARED)] if i in shared_at else f"{topic} Part {i + 1}: one short spoken sentence about it."
        lines.append({"speaker": speakers[i % len(speakers)], "text": text, "scene": min(i // per_scene, cfg.scenes - 1)})
    scenes = [{"caption": f"{topic} ({s + 1})", "image_prompt": f"{topic} -- scene {s + 1}, a vivid flat illustration"} for s in range(cfg.scenes)]
    return {"title": topic, "lines": lines, "scenes": scenes}


def make_responder(cfg: Config) -> Callable[[dict], str]:
    def responder(body: dict) -> str:
        user = [m for m in body.get("messages", []) if m.get("role") == "user"][-1]["content"]
        topic = user.split("Topic:", 1)[1].strip().splitlines()[0].strip()
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
        speaker = schema.get("properties", {}).get("lines", {}).get("items", {}).get("properties", {}).get("speaker", {})
        return json.dumps(dialogue_for(topic, cfg, speaker.get("enum") or ["Nova", "Pip"]))

    return responder


def voices() -> dict[str, str]:
    """Character display name -> ElevenLabs voice id (from the repo's characters/)."""
    out = {}
    for c in CHARACTERS:
        data = yaml.safe_load((REPO / "characters" / f"{c}.yaml").read_text())
        out[data["name"]] = data["voices"]["elevenlabs"]
    return out


def unique_work(cfg: Config) -> tuple[int, int, int, int, int]:
    """(scripts, lines total, unique lines, images total, unique images)."""
    names = list(voices())
    ds = [dialogue_for(t, cfg, names) for t in cfg.topic_texts]
    lines = [(ln["speaker"], ln["text"]) for d in ds for ln in d["lines"]]
    images = [s["image_prompt"] for d in ds for s in d["scenes"]]
    return len(ds), len(lines), len(set(lines)), len(images), len(set(images))


# --------------------------------------------------------------------------- the lower bound
def lower_bound(cfg: Config) -> tuple[float, list[tuple[str, float, str]]]:
    _, _, u_lines, _, u_img = unique_work(cfg)
    s = cfg.llm_latency
    parts = [
        ("script chain", math.ceil(cfg.topics / cfg.llm_conc) * s + max(cfg.tts_latency, cfg.img_latency),
         f"ceil({cfg.topics}/{cfg.llm_conc}) x {s:g} + max({cfg.tts_latency:g}, {cfg.img_latency:g})"),
        ("voice work", s + math.ceil(u_lines / cfg.tts_conc) * cfg.tts_latency,
         f"{s:g} + ceil({u_lines}/{cfg.tts_conc}) x {cfg.tts_latency:g}"),
        ("image rate", s + ((u_img - 1) // cfg.img_rate) * cfg.minute + cfg.img_latency,
         f"{s:g} + floor(({u_img}-1)/{cfg.img_rate}) x {cfg.minute:g} + {cfg.img_latency:g}"),
        ("image conc", s + math.ceil(u_img / cfg.img_conc) * cfg.img_latency,
         f"{s:g} + ceil({u_img}/{cfg.img_conc}) x {cfg.img_latency:g}"),
    ]  # fmt: skip
    return max(p[1] for p in parts), parts


# --------------------------------------------------------------------------- servers and counts
class Servers:
    """Fresh loopback vendors for one contender, with the plan's limits (or none, for the warm-up)."""

    def __init__(self, cfg: Config, *, limits: bool = True):
        lat = (lambda x: x) if limits else (lambda x: 0.0)
        self.llm = OpenAIServer(responder=make_responder(cfg), latency=lat(cfg.llm_latency), max_concurrency=cfg.llm_conc if limits else None)
        self.tts = ElevenLabsServer(latency=lat(cfg.tts_latency), max_concurrency=cfg.tts_conc if limits else None)
        self.img = OpenAIServer(latency=lat(cfg.img_latency), rate=(cfg.img_rate, cfg.minute) if limits else None)
        self.all = {"llm": self.llm, "voice": self.tts, "images": self.img}

    def start(self) -> dict[str, str]:
        return {name: s.start().url for name, s in self.all.items()}

    def stop(self) -> dict[str, list[tuple[str, int | None, float, float | None]]]:
        """Stop, returning each server's log as (path, status, t_start, t_end) (time.monotonic())."""
        logs = {name: [(r.path, r.status, r.t_start, r.t_end) for r in s.completed()] for name, s in self.all.items()}
        for s in self.all.values():
            s.stop()
        return logs


def _vendor_process(conn: Any) -> None:
    """The vendors' own process: no GIL shared with the client under test."""
    current: Servers | None = None
    while True:
        cmd, arg = conn.recv()
        if cmd == "start":
            cfg, limits = arg
            current = Servers(cfg, limits=limits)
            conn.send(current.start())
        elif cmd == "stop":
            conn.send(current.stop() if current else {})
            current = None
        else:
            conn.send(None)
            return


class Vendors:
    """Starts fresh loopback servers per contender, in this process or (default) in a child process.

    In-process, the servers' threads share the GIL with the client being measured, so a busy event
    loop also delays the servers' arrival stamps (and the 429 decisions made from them).
    """

    def __init__(self, in_process: bool):
        self.in_process = in_process
        self._local: Servers | None = None
        self._conn = self._proc = None
        if not in_process:
            import multiprocessing as mp

            ctx = mp.get_context("spawn")
            self._conn, child = ctx.Pipe()
            self._proc = ctx.Process(target=_vendor_process, args=(child,), daemon=True, name="loopback-vendors")
            self._proc.start()

    def start(self, cfg: Config, *, limits: bool = True) -> dict[str, str]:
        if self.in_process:
            self._local = Servers(cfg, limits=limits)
            return self._local.start()
        self._conn.send(("start", (cfg, limits)))
        return self._conn.recv()

    def stop(self) -> dict[str, list[tuple]]:
        if self.in_process:
            logs, self._local = (self._local.stop() if self._local else {}), None
            return logs
        self._conn.send(("stop", None))
        return self._conn.recv()

    def close(self) -> None:
        if self._proc is not None:
            self._conn.send(("quit", None))
            self._conn.recv()
            self._proc.join(timeout=10)


@dataclass
class Outcome:
    name: str
    seconds: float = 0.0
    ok: int = 0
    r429: int = 0
    other: int = 0
    per: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: str = ""
    error: str = ""


def _overlap(spans: list[tuple[float, float]]) -> int:
    ev = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda e: (e[0], e[1]))
    cur = peak = 0
    for _, d in ev:
        cur += d
        peak = max(peak, cur)
    return peak


def tally(out: Outcome, logs: dict[str, list[tuple]], t0: float) -> None:
    for name, recs in logs.items():
        ok = [(a, b) for _, st, a, b in recs if st == 200]
        r429 = [a for _, st, a, _ in recs if st == 429]
        other = len(recs) - len(ok) - len(r429)
        out.ok += len(ok)
        out.r429 += len(r429)
        out.other += other
        out.per[name] = {
            "ok": len(ok), "429": len(r429), "other": other, "peak": _overlap(ok),
            "first": min((a for a, _ in ok), default=t0) - t0, "last": max((b for _, b in ok), default=t0) - t0,
            "429_at": [round(a - t0, 2) for a in r429],
        }  # fmt: skip


# --------------------------------------------------------------------------- contender: vidflow
def recipe_text(cfg: Config, urls: dict[str, str]) -> str:
    topics = "\n".join(f"  - {json.dumps(t)}" for t in cfg.topic_texts)
    return f"""vidflow: 1
name: makespan
topics:
{topics}
characters: [{", ".join(CHARACTERS)}]
providers:
  writer:  {{kind: text.litellm, model: {LLM_MODEL}, api_base: "{urls['llm']}/v1", concurrency: {cfg.llm_conc}}}
  voice:   {{kind: speech.elevenlabs, model_id: {TTS_MODEL}, output_format: {TTS_FORMAT}, api_base: "{urls['voice']}", concurrency: {cfg.tts_conc}}}
  painter: {{kind: image.litellm, model: {IMAGE_MODEL}, api_base: "{urls['images']}/v1", concurrency: {cfg.img_conc}, rate: "{cfg.img_rate}/{cfg.minute:g}s"}}
steps:
  script:
    uses: writer
    output: dialogue
    lines: {cfg.lines}
    scenes: {cfg.scenes}
    prompt: "Topic: {{{{ topic }}}}"
  speech:
    for_each: script.lines
    uses: voice
    text: "{{{{ item.text }}}}"
    voice: "{{{{ item.speaker }}}}"
  art:
    for_each: script.scenes
    uses: painter
    prompt: "{{{{ item.image_prompt }}}}"
    caption: "{{{{ item.caption }}}}"
"""


async def run_vidflow(cfg: Config, vendors: Vendors, work: Path, n: int) -> Outcome:
    out = Outcome("vidflow")
    d = work / f"vidflow-{n}"
    d.mkdir()
    shutil.copytree(REPO / "characters", d / "characters")
    urls = vendors.start(cfg)
    path = d / "recipe.yaml"
    path.write_text(recipe_text(cfg, urls))
    loaded = load_recipe_file(path)
    settings = Settings(cache_url=str(d / "cache"), runs_dir=str(d / "runs"), env=dict(ENV))
    t0 = time.monotonic()
    try:
        result = await run(loaded, settings=settings, output_root=str(d))
    except Exception as e:  # noqa: BLE001 - report, do not hide the other contenders
        out.error = f"{type(e).__name__}: {e}"
        result = None
    out.seconds = time.monotonic() - t0
    tally(out, vendors.stop(), t0)
    if result is not None:
        s = result.summary
        retries = sum(c.retries for c in s.steps.values())
        out.note = f"nodes ran {s.count('ran')}, cached/shared {s.count('cached')}, failed {s.count('failed')}, retries {retries}"
        if s.failures:
            out.error = f"{len(s.failures)} node(s) failed, first: {s.failures[0]['node']}: {s.failures[0]['message']}"
        out.per["_events"] = {"path": result.events_path}
    return out


# --------------------------------------------------------------------------- hand-written baselines
class Hand:
    """What a hand-written asyncio script does: litellm for text and images, httpx for ElevenLabs."""

    def __init__(self, urls: dict[str, str], http: Any, litellm: Any):
        self.urls, self.http, self.litellm = urls, http, litellm
        self.voice = voices()
        self.retries = 0

    async def _retrying(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        while True:
            try:
                return await fn()
            except RateLimited as e:
                self.retries += 1
                await asyncio.sleep(e.retry_after)

    async def script(self, topic: str) -> dict:
        async def once():
            try:
                resp = await self.litellm.acompletion(
                    model=LLM_MODEL, api_base=self.urls["llm"] + "/v1", api_key=KEY, max_retries=0,
                    messages=[{"role": "system", "content": "Write a dialogue as JSON."}, {"role": "user", "content": f"Topic: {topic}"}],
                    response_format={"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": dialogue_schema(list(self.voice))}},
                )  # fmt: skip
            except self.litellm.RateLimitError as e:
                raise RateLimited(e) from e
            return json.loads(resp.choices[0].message.content)

        return await self._retrying(once)

    async def line(self, line: dict) -> bytes:
        async def once():
            r = await self.http.post(
                f"{self.urls['voice']}/v1/text-to-speech/{self.voice[line['speaker']]}/with-timestamps",
                params={"output_format": TTS_FORMAT}, json={"text": line["text"], "model_id": TTS_MODEL}, headers={"xi-api-key": KEY},
            )  # fmt: skip
            if r.status_code == 429:
                raise RateLimited(r)
            r.raise_for_status()
            return base64.b64decode(r.json()["audio_base64"])

        return await self._retrying(once)

    async def image(self, scene: dict) -> bytes:
        async def once():
            try:
                resp = await self.litellm.aimage_generation(
                    model=IMAGE_MODEL, prompt=scene["image_prompt"], n=1, size=IMAGE_SIZE, api_base=self.urls["images"] + "/v1",
                    api_key=KEY, max_retries=0,
                )  # fmt: skip
            except self.litellm.RateLimitError as e:
                raise RateLimited(e) from e
            return base64.b64decode(resp.data[0].b64_json)

        return await self._retrying(once)


class RateLimited(Exception):
    def __init__(self, src: Any):
        super().__init__("429")
        headers = getattr(src, "headers", None) or getattr(src, "litellm_response_headers", None)
        if not headers and getattr(src, "response", None) is not None:
            headers = src.response.headers
        try:
            self.retry_after = float(dict(headers or {}).get("retry-after", 1.0))
        except (TypeError, ValueError):
            self.retry_after = 1.0


async def run_baseline(cfg: Config, vendors: Vendors, name: str, litellm: Any) -> Outcome:
    import httpx

    out = Outcome(name)
    urls = vendors.start(cfg)
    async with httpx.AsyncClient(timeout=60) as http:
        hand = Hand(urls, http, litellm)
        t0 = time.monotonic()
        try:
            for topic in cfg.topic_texts:
                d = await hand.script(topic)
                if name == "sequential":
                    for ln in d["lines"]:
                        await hand.line(ln)
                    for sc in d["scenes"]:
                        await hand.image(sc)
                else:
                    for i, sc in enumerate(d["scenes"]):
                        await asyncio.gather(*(hand.line(ln) for ln in d["lines"] if ln["scene"] == i), hand.image(sc))
        except Exception as e:  # noqa: BLE001
            out.error = f"{type(e).__name__}: {e}"
        out.seconds = time.monotonic() - t0
    tally(out, vendors.stop(), t0)
    out.note = f"429s retried by the script: {hand.retries}, silently by the openai SDK under litellm: {out.r429 - hand.retries}"
    return out


# --------------------------------------------------------------------------- warm-up
async def warm_up(cfg: Config, vendors: Vendors, litellm: Any) -> None:
    """Import and first-call costs out of the way, and every image PNG rendered (the server caches them)."""
    import httpx

    names = list(voices())
    prompts = sorted({s["image_prompt"] for t in cfg.topic_texts for s in dialogue_for(t, cfg, names)["scenes"]})
    urls = vendors.start(cfg, limits=False)
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            hand = Hand(urls, http, litellm)
            d = await hand.script(cfg.topic_texts[0])
            await hand.line(d["lines"][0])
            sem = asyncio.Semaphore(4)

            async def one(p: str) -> None:
                async with sem:
                    await hand.image({"image_prompt": p})

            await asyncio.gather(*(one(p) for p in prompts))
    finally:
        vendors.stop()


# --------------------------------------------------------------------------- report
def report(cfg: Config, outs: list[Outcome], details: bool, in_process: bool) -> None:
    scripts, n_lines, u_lines, n_img, u_img = unique_work(cfg)
    unique = scripts + u_lines + u_img
    lb, parts = lower_bound(cfg)
    where = "in this process" if in_process else "in their own process"
    print(f"vidflow makespan: {cfg.topics} topics x {cfg.lines} lines x {cfg.scenes} images, loopback vendors on 127.0.0.1 ({where})")
    print(f"  scaled minute {cfg.minute:g} s; latencies: script {cfg.llm_latency:g} s, line {cfg.tts_latency:g} s, image {cfg.img_latency:g} s")
    print(f"  limits (server = recipe): llm {cfg.llm_conc} concurrent, voice {cfg.tts_conc} concurrent, images {cfg.img_rate}/{cfg.minute:g}s"
          f" (recipe image concurrency {cfg.img_conc})")  # fmt: skip
    print(f"  work: {scripts} scripts, {n_lines} lines ({u_lines} unique: {cfg.shared} per topic shared by all topics), {n_img} images ({u_img} unique)")
    print("  no compose or publish steps: provider scheduling only")
    print(f"  lower bound {lb:.2f} s = max of:")
    for label, v, formula in parts:
        print(f"    {label:<12} {v:6.2f} s = {formula}")
    print()
    print(f"  {'contender':<11} {'makespan s':>10} {'ratio to LB':>11} {'calls made':>10} {'unique calls':>12} {'429s':>5}")
    for o in outs:
        print(f"  {o.name:<11} {o.seconds:10.2f} {o.seconds / lb:11.3f} {o.ok:10d} {unique:12d} {o.r429:5d}" + (f"  (+{o.other} other errors)" if o.other else ""))
    for o in outs:
        if o.note or o.error:
            print(f"  {o.name}: {o.note}" + (f"  ERROR: {o.error}" if o.error else ""))
    if details:
        print()
        print("  per provider (seconds from the contender's start; peak = most 200-calls in flight at once):")
        for o in outs:
            for prov, p in o.per.items():
                if prov.startswith("_"):
                    continue
                at = f" 429 at {p['429_at']}" if p["429_at"] else ""
                print(f"    {o.name:<11} {prov:<7} ok {p['ok']:3d}  429 {p['429']:3d}  peak {p['peak']}  busy {p['first']:6.2f} .. {p['last']:6.2f}{at}")
    print()
    vf = next((o for o in outs if o.name == "vidflow"), None)
    print("  goal: vidflow ratio <= 1.10, calls made = unique calls, 0 self-inflicted 429s")
    if vf is None:
        print("  (vidflow not run)")
        return
    checks = [(vf.seconds / lb <= 1.10, f"ratio {vf.seconds / lb:.3f}"), (vf.ok == unique, f"calls {vf.ok} vs unique {unique}"), (vf.r429 == 0, f"429s {vf.r429}")]
    verdict = "MET" if all(c for c, _ in checks) and not vf.error else "NOT MET"
    print(f"  {verdict}: " + "; ".join(f"{t} {'ok' if c else 'MISSED'}" for c, t in checks))


async def main_async(cfg: Config, only: list[str], details: bool, in_process: bool) -> int:
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    vendors = Vendors(in_process)
    outs = []
    try:
        await warm_up(cfg, vendors, litellm)
        with tempfile.TemporaryDirectory(prefix="vidflow-makespan-") as d:
            for i, name in enumerate(only):
                if name == "vidflow":
                    outs.append(await run_vidflow(cfg, vendors, Path(d), i))
                else:
                    outs.append(await run_baseline(cfg, vendors, name, litellm))
                await asyncio.sleep(0.2)  # let closed connections settle between contenders
    finally:
        vendors.close()
    report(cfg, outs, details, in_process)
    return 1 if any(o.error for o in outs) else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Config()
    ap.add_argument("--minute", type=float, default=d.minute, help="seconds in a scaled minute (default %(default)s)")
    ap.add_argument("--topics", type=int, default=d.topics)
    ap.add_argument("--llm-latency", type=float, default=d.llm_latency)
    ap.add_argument("--tts-latency", type=float, default=d.tts_latency)
    ap.add_argument("--img-latency", type=float, default=d.img_latency)
    ap.add_argument("--llm-conc", type=int, default=d.llm_conc)
    ap.add_argument("--tts-conc", type=int, default=d.tts_conc)
    ap.add_argument("--img-rate", type=int, default=d.img_rate, help="images per scaled minute (default %(default)s)")
    ap.add_argument("--img-conc", type=int, default=d.img_conc, help="the recipe's image concurrency (default %(default)s)")
    ap.add_argument("--only", default=",".join(CONTENDERS), help="comma-separated contenders to run, in order (default %(default)s)")
    ap.add_argument("--details", action="store_true", help="per-provider counts, peaks, busy spans and 429 times")
    ap.add_argument("--in-process", action="store_true", help="run the loopback servers as threads of this process (they then share the GIL with the client)")
    args = ap.parse_args()
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    bad = [x for x in only if x not in CONTENDERS]
    if bad:
        ap.error(f"--only: unknown contender(s) {', '.join(bad)} (choose from {', '.join(CONTENDERS)})")
    cfg = Config(
        topics=args.topics, minute=args.minute, llm_latency=args.llm_latency, tts_latency=args.tts_latency, img_latency=args.img_latency,
        llm_conc=args.llm_conc, tts_conc=args.tts_conc, img_rate=args.img_rate, img_conc=args.img_conc,
    )  # fmt: skip
    sys.exit(asyncio.run(main_async(cfg, only, args.details, args.in_process)))


if __name__ == "__main__":
    main()
