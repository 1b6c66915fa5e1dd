"""``text.offline``: writes a dialogue with no model, no key and no network.

It is a real provider for offline use (the quickstart, CI smoke runs, layout work), not a test
fake. It does not understand the prompt: it builds a short explainer-style exchange from the
topic, the speakers and their catchphrases, with line and scene templates. The output is
deterministic in the request, and the randomness is seeded from the topic and the speaker
names only, so editing a catchphrase changes exactly the lines that use it.

``output: text`` gives a short paragraph; ``output: json`` gives ``{"topic", "points": [...]}``.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any, ClassVar

from pydantic import Field

from .base import Provider, ProviderOptions, SpeakerInfo, TextRequest, TextResult

__all__ = ["OfflineText"]

_OPENERS = [
    "So, {lower}",
    "Okay, here is one I keep wondering about: {lower}",
    "Quick question for you. {topic}",
]
_ANSWERS = [
    "Great question. The short answer starts with what we can actually see.",
    "It comes down to a few simple steps, one after another.",
    "People have studied this for a long time, and the idea is simpler than it sounds.",
    "Picture it happening in slow motion, one piece at a time.",
    "The trick is that lots of tiny effects add up to one big one.",
    "Start with the basics and the rest follows naturally.",
]
_FOLLOWUPS = [
    "Wait, so it happens all the time, even when we don't notice?",
    "Hold on. Why doesn't it work the other way around?",
    "And does that change from place to place?",
    "So what would happen if we took that part away?",
    "How did anyone figure that out in the first place?",
]
_CLOSERS = [
    "And that is the whole story, in under a minute.",
    "Next time you see it, you will know exactly what is going on.",
    "Simple idea, huge effect. That is what makes it fun.",
]
_SCENES = [
    ("The question", "a bold title card about {topic}, bright colours"),
    ("How it works", "a clear diagram-like illustration explaining {topic}"),
    ("Up close", "a close-up, detailed illustration of the key idea behind {topic}"),
    ("The big picture", "a wide, cinematic illustration of {topic} in the real world"),
    ("Try it yourself", "a playful illustration of someone discovering {topic}"),
    ("Wrap-up", "a warm closing card summarising {topic}"),
]


class Options(ProviderOptions):
    lines: int = Field(default=6, ge=2, le=200)
    scenes: int = Field(default=3, ge=1, le=50)


class OfflineText(Provider):
    """Template-based dialogue writer; free and instant."""

    kind: ClassVar[str] = "text.offline"
    capability: ClassVar[str] = "text"
    version: ClassVar[str] = "2"  # 2: the opener lower-cases the topic's first word
    Options: ClassVar[type[ProviderOptions]] = Options
    default_concurrency: ClassVar[int] = 8
    typical_latency: ClassVar[float] = 0.001
    wants_topic: ClassVar[bool] = True

    def expected_size(self, hints: dict[str, Any]) -> tuple[int, int]:
        """(lines, scenes) this provider will write for a dialogue request."""
        lines = int(hints.get("lines") or self.options.lines)
        scenes = min(int(hints.get("scenes") or self.options.scenes), lines)
        return lines, scenes

    async def generate(self, req: TextRequest) -> TextResult:
        topic = req.topic or req.prompt.strip().splitlines()[0][:120]
        rng = random.Random(_seed(topic, [s.name for s in req.speakers]))
        if req.output == "dialogue":
            value: Any = self._dialogue(topic, list(req.speakers), dict(req.hints), rng)
        elif req.output == "json":
            value = {"topic": topic, "points": rng.sample(_ANSWERS, 3)}
        else:
            value = " ".join([_clean(topic)] + rng.sample(_ANSWERS, 2))
        return TextResult(value=value, model="offline-templates-v1")

    def _dialogue(self, topic: str, speakers: list[SpeakerInfo], hints: dict[str, Any], rng: random.Random) -> dict:
        n_lines, n_scenes = self.expected_size(hints)
        if not speakers:
            speakers = [SpeakerInfo("Host"), SpeakerInfo("Guest")]
        asker, *others = speakers
        explainers = others or [asker]
        answers = rng.sample(_ANSWERS, len(_ANSWERS))
        followups = rng.sample(_FOLLOWUPS, len(_FOLLOWUPS))
        lines: list[dict] = []
        for i in range(n_lines):
            last = i == n_lines - 1
            speaker = asker if i % 2 == 0 and not (last and i > 0) else explainers[(i // 2) % len(explainers)]
            if i == 0:
                text = rng.choice(_OPENERS).format(topic=_clean(topic), lower=_lower_first(_clean(topic)))
            elif last:
                text = rng.choice(_CLOSERS)
            elif speaker is asker:
                text = followups[(i // 2) % len(followups)]
            else:
                text = answers[(i // 2) % len(answers)]
            # Catchphrases are drawn by position, not from the RNG stream, so changing one
            # catchphrase text changes only the lines that use it.
            if speaker.catchphrases and i % 3 == 1:
                text = f"{speaker.catchphrases[i % len(speaker.catchphrases)]} {text}"
            scene = min(i * n_scenes // n_lines, n_scenes - 1)
            lines.append({"speaker": speaker.name, "text": text, "scene": scene})
        scenes = []
        for j in range(n_scenes):
            caption, prompt = _SCENES[j % len(_SCENES)]
            scenes.append({"caption": caption, "image_prompt": prompt.format(topic=_clean(topic))})
        return {"title": _clean(topic), "lines": lines, "scenes": scenes}


def _lower_first(text: str) -> str:
    """"Why is..." -> "why is..." after a comma; acronyms and names ("NASA", "I") stay."""
    if len(text) > 1 and text[0].isupper() and text[1].islower() and text.split()[0] not in ("I", "I'm"):
        return text[0].lower() + text[1:]
    return text


def _clean(topic: str) -> str:
    return " ".join(topic.split())


def _seed(topic: str, names: list[str]) -> int:
    return int.from_bytes(hashlib.sha256("\0".join([topic, *names]).encode()).digest()[:8], "big")
