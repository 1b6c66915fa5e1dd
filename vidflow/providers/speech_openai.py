"""``speech.openai``: OpenAI text-to-speech through litellm's speech call.

OpenAI TTS returns audio only, no timings, so word timings are **estimated**: the line's
duration is spread over its words by length, with extra weight after punctuation. They are
marked ``timings_estimated`` in the cache and the manifest; karaoke follows them closely enough
for short lines. Audio is requested as WAV so its duration is exact.

Voices: a character's ``voices.openai`` (alloy, ash, ballad, coral, echo, fable, onyx, nova,
sage, shimmer, verse, ...). Cost: characters sent x the price table's rate for the model.
"""

from __future__ import annotations

import struct
import wave
from typing import Any, ClassVar, Mapping

from pydantic import Field

from ._errors import bad_reply, excerpt, map_errors
from ._litellm import LiteLLMProvider
from ._speech import estimate_word_timings, normalize_wav
from .base import EndpointOptions, ProviderOptions, SpeechRequest, SpeechResult

__all__ = ["OpenAISpeech"]


class OpenAISpeechOptions(EndpointOptions):
    model: str = Field(default="openai/tts-1", description="openai/tts-1, openai/tts-1-hd, openai/gpt-4o-mini-tts")
    speed: float | None = Field(default=None, ge=0.25, le=4.0)
    instructions: str | None = Field(default=None, description="voice direction (gpt-4o-mini-tts only)")
    timeout: float = Field(default=60.0, gt=0)


class OpenAISpeech(LiteLLMProvider):
    kind: ClassVar[str] = "speech.openai"
    capability: ClassVar[str] = "speech"
    version: ClassVar[str] = "1"
    Options: ClassVar[type[ProviderOptions]] = OpenAISpeechOptions
    default_concurrency: ClassVar[int] = 4
    typical_latency: ClassVar[float] = 2.5
    params_read: ClassVar[frozenset[str]] = frozenset({"speed", "instructions"})

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, str]:
        out = {}
        speed = params.get("speed")
        if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4.0):
            out["speed"] = f"must be a number from 0.25 to 4.0, got {speed!r}"
        if "instructions" in params and not isinstance(params["instructions"], str):
            out["instructions"] = f"must be text, got {params['instructions']!r}"
        return out


    def voice_key(self) -> str:
        return "openai"

    def estimate_cost(self, req: SpeechRequest) -> float:
        if self.prices is None:
            return 0.0
        return self.prices.speech_cost(self.options.model, len(req.text)) or 0.0

    async def synthesize(self, req: SpeechRequest) -> SpeechResult:
        litellm = self.litellm()
        o = self.options
        kwargs: dict[str, Any] = {}
        speed = req.params.get("speed", o.speed)
        if speed is not None:
            kwargs["speed"] = speed
        instructions = req.params.get("instructions", o.instructions)
        if instructions:
            kwargs["instructions"] = instructions
        key = self.api_key()
        red = self.redactor()
        with map_errors(self.kind, redactor=red):
            resp = await litellm.aspeech(
                model=o.model, input=req.text, voice=req.voice, response_format="wav", api_base=o.api_base,
                api_key=key, timeout=o.timeout, max_retries=0, **kwargs,
            )
        # Reading the reply is outside the vendor boundary: anything but WAV audio is a
        # BadOutputError (permanent), never a transient error that would be paid for again.
        audio = getattr(resp, "content", None)
        if not isinstance(audio, (bytes, bytearray)):
            raise bad_reply(self.kind, f"the reply has no audio bytes (got {type(audio).__name__})", redactor=red)
        try:
            audio, duration, rate = normalize_wav(bytes(audio))
        except (wave.Error, EOFError, struct.error, ValueError, ZeroDivisionError) as e:  # the vendor ignored response_format
            raise bad_reply(self.kind, f"the reply is not WAV audio ({e or type(e).__name__}); it starts with {excerpt(audio[:16], 40)!r}", redactor=red) from None
        if duration <= 0:
            raise bad_reply(self.kind, "the reply is a WAV with no audio in it", redactor=red)
        cost = self.prices.speech_cost(o.model, len(req.text)) if self.prices is not None else None
        return SpeechResult(
            audio=audio, media_type="audio/wav", extension="wav", duration=duration,
            words=estimate_word_timings(req.text, duration), sample_rate=rate, cost_usd=cost or 0.0,
            model=o.model, timings_estimated=True,
        )
