"""Test providers: deterministic outputs derived from the request, and a call log.

They are real adapters (registered in a test Registry), so the engine is exercised exactly as
with a vendor's adapter; only what happens inside the call is simplified.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import wave
from typing import ClassVar

from vidflow.errors import BadRequestError, ProviderUnavailableError
from vidflow.providers.base import (
    ImageRequest,
    ImageResult,
    Provider,
    SpeechRequest,
    SpeechResult,
    TextRequest,
    TextResult,
    WordTiming,
)

CALLS: list[tuple[str, object]] = []  # (kind, request), in call order


def _h(*parts: object) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()


class FakeText(Provider):
    kind: ClassVar[str] = "text.fake"
    capability: ClassVar[str] = "text"

    async def generate(self, req: TextRequest) -> TextResult:
        CALLS.append((self.kind, req))
        await asyncio.sleep(0)
        if "FAIL" in req.prompt:
            raise BadRequestError("the test model refuses prompts that say FAIL", kind=self.kind, status=400)
        if req.output == "dialogue":
            names = [s.name for s in req.speakers] or ["A", "B"]
            n = int(req.hints.get("lines", 4))
            lines = [{"speaker": names[i % len(names)], "text": f"Line {i} about {req.prompt[:40]}", "scene": i * 2 // n} for i in range(n)]
            return TextResult(value={"title": req.prompt[:30], "lines": lines, "scenes": [{"caption": "one", "image_prompt": "p1 " + req.prompt[:20]}, {"caption": "two", "image_prompt": "p2 " + req.prompt[:20]}]})
        if req.output == "json":
            return TextResult(value={"items": [f"{req.prompt}-{i}" for i in range(3)], "title": "t"})
        return TextResult(value=f"answer to: {req.prompt}")


def _wav(seconds: float, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))
    return buf.getvalue()


class FakeSpeech(Provider):
    kind: ClassVar[str] = "speech.fake"
    capability: ClassVar[str] = "speech"

    def voice_key(self) -> str:
        return "espeak"  # reuse the characters' espeak voices

    async def synthesize(self, req: SpeechRequest) -> SpeechResult:
        CALLS.append((self.kind, req))
        await asyncio.sleep(0)
        spans = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", req.text)]
        per = 0.25
        duration = max(0.25, per * len(spans))
        words = [WordTiming(w, i * per, (i + 1) * per, a, b) for i, (a, b, w) in enumerate(spans)]
        return SpeechResult(audio=_wav(duration), media_type="audio/wav", extension="wav", duration=duration, words=words, sample_rate=8000)


class FakeImage(Provider):
    kind: ClassVar[str] = "image.fake"
    capability: ClassVar[str] = "image"

    async def generate_image(self, req: ImageRequest) -> ImageResult:
        CALLS.append((self.kind, req))
        await asyncio.sleep(0)
        return ImageResult(data=_h(req.prompt, req.seed).encode(), width=req.width, height=req.height)


class FailingImage(Provider):
    kind: ClassVar[str] = "image.failing"
    capability: ClassVar[str] = "image"

    async def generate_image(self, req: ImageRequest) -> ImageResult:
        CALLS.append((self.kind, req))
        raise ProviderUnavailableError("the test image service is down", kind=self.kind, status=503)


class SlowText(Provider):
    """Takes `seconds` of the engine's clock per call and records start/end times."""

    kind: ClassVar[str] = "text.slow"
    capability: ClassVar[str] = "text"
    clock = None  # set by the test
    seconds = 1.0
    in_flight = 0
    max_in_flight = 0
    starts: ClassVar[list[float]] = []

    async def generate(self, req: TextRequest) -> TextResult:
        cls = type(self)
        CALLS.append((self.kind, req))
        cls.starts.append(cls.clock.now())
        cls.in_flight += 1
        cls.max_in_flight = max(cls.max_in_flight, cls.in_flight)
        try:
            await cls.clock.sleep(cls.seconds)
        finally:
            cls.in_flight -= 1
        return TextResult(value=f"slow {req.prompt}")


class FakeClock:
    """Virtual time: ``sleep`` advances the clock at once (and yields), so tests never wait."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


class PaidSpeech(FakeSpeech):
    """A paid voice: $0.001 per character, like a TTS vendor bills."""

    kind: ClassVar[str] = "speech.paid"
    paid: ClassVar[bool] = True
    PER_CHAR = 0.001

    def estimate_cost(self, req: SpeechRequest) -> float:
        return len(req.text) * self.PER_CHAR

    async def synthesize(self, req: SpeechRequest) -> SpeechResult:
        res = await super().synthesize(req)
        res.cost_usd = len(req.text) * self.PER_CHAR
        return res


class FlakySpeech(FakeSpeech):
    """Fails transiently (503) the first time it sees each text, so retries are exercised."""

    kind: ClassVar[str] = "speech.flaky"
    seen: ClassVar[set[str]] = set()

    async def synthesize(self, req: SpeechRequest) -> SpeechResult:
        if req.text not in self.seen:
            self.seen.add(req.text)
            CALLS.append((self.kind, req))
            raise ProviderUnavailableError("503 from the flaky test voice", kind=self.kind, status=503)
        return await super().synthesize(req)
