"""``speech.elevenlabs``: ElevenLabs TTS over HTTP, with real word timings.

Calls ``POST /v1/text-to-speech/{voice_id}/with-timestamps`` directly with httpx (litellm's
ElevenLabs route has no timestamps), turns the ``alignment`` (per-character times of the
original text) into one word timing per token, and wraps the PCM audio in a WAV, so durations
are exact. Voice settings and seed come from the character (``voices.elevenlabs`` may be a
mapping with ``id``, ``settings`` and ``seed``) or the step's ``params``.

ElevenLabs limits *concurrent* requests per plan (Free 2, Starter 3, Creator 5, Pro 10), so the
default concurrency is 2; raise it with ``concurrency:`` to match your plan.
Cost: characters sent x the price table's rate for ``elevenlabs/<model_id>``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar, Literal, Mapping

from pydantic import BaseModel, Field, ValidationError, field_validator

from ._errors import bad_reply, error_for_status, excerpt, map_errors
from ._speech import wav_from_pcm, words_from_alignment
from .base import EndpointOptions, PaidProvider, ProviderOptions, SpeechRequest, SpeechResult

__all__ = ["ElevenLabsSpeech"]

PCM_RATES = {"pcm_16000": 16000, "pcm_22050": 22050, "pcm_24000": 24000, "pcm_44100": 44100, "pcm_48000": 48000}


class ElevenLabsOptions(EndpointOptions):
    model_id: str = "eleven_multilingual_v2"
    output_format: Literal["pcm_16000", "pcm_22050", "pcm_24000", "pcm_44100", "pcm_48000"] = "pcm_24000"
    voice_settings: dict[str, Any] = Field(default_factory=dict, description="stability, similarity_boost, style, speed ...")
    seed: int | None = Field(default=None, ge=0, le=4294967295)
    language_code: str | None = None
    apply_text_normalization: Literal["auto", "on", "off"] | None = None
    api_base: str | None = "https://api.elevenlabs.io"


class ElevenLabsSpeech(PaidProvider):
    kind: ClassVar[str] = "speech.elevenlabs"
    capability: ClassVar[str] = "speech"
    version: ClassVar[str] = "1"
    Options: ClassVar[type[ProviderOptions]] = ElevenLabsOptions
    default_concurrency: ClassVar[int] = 2
    typical_latency: ClassVar[float] = 2.0
    params_read: ClassVar[frozenset[str]] = frozenset({"voice_settings", "seed"})

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, str]:
        out = {}
        if "voice_settings" in params and not isinstance(params["voice_settings"], dict):
            out["voice_settings"] = f"must be a mapping (stability, similarity_boost, ...), got {params['voice_settings']!r}"
        seed = params.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 4294967295):
            out["seed"] = f"must be a whole number from 0 to 4294967295, got {seed!r}"
        return out

    def __init__(self, options: ProviderOptions | None = None, **kw: Any):
        super().__init__(options, **kw)
        self._client = None

    def default_key_env(self) -> tuple[str, ...]:
        return ("ELEVENLABS_API_KEY",)

    def voice_key(self) -> str:
        return "elevenlabs"

    def _model(self) -> str:
        return f"elevenlabs/{self.options.model_id}"

    def estimate_cost(self, req: SpeechRequest) -> float:
        if self.prices is None:
            return 0.0
        return self.prices.speech_cost(self._model(), len(req.text)) or 0.0

    async def warm_up(self) -> None:
        self._http()

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _http(self):
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(timeout=self.options.timeout)
        return self._client

    async def synthesize(self, req: SpeechRequest) -> SpeechResult:
        o = self.options
        body: dict[str, Any] = {"text": req.text, "model_id": o.model_id}
        settings = {**o.voice_settings, **dict(req.params.get("voice_settings") or {})}
        if settings:
            body["voice_settings"] = settings
        seed = req.params.get("seed", o.seed)
        if seed is not None:
            body["seed"] = int(seed)
        if o.language_code:
            body["language_code"] = o.language_code
        if o.apply_text_normalization:
            body["apply_text_normalization"] = o.apply_text_normalization
        key = self.api_key()
        url = f"{(o.api_base or 'https://api.elevenlabs.io').rstrip('/')}/v1/text-to-speech/{req.voice}/with-timestamps"
        red = self.redactor()
        with map_errors(self.kind, redactor=red):
            r = await self._http().post(url, params={"output_format": o.output_format}, json=body, headers={"xi-api-key": key or ""})
            if r.status_code >= 400:
                raise error_for_status(r.status_code, _detail(r), kind=self.kind, headers=dict(r.headers))
        # Reading the reply is outside the vendor boundary: a reply of another shape is a
        # BadOutputError (permanent), never a transient error that would be paid for again.
        reply = self._parse(r.content, red)
        align = next((a for a in (reply.alignment, reply.normalized_alignment) if a is not None and a.characters), _Alignment())
        rate = PCM_RATES[o.output_format]
        duration = (len(reply.audio) // 2) / rate
        if duration <= 0:
            raise bad_reply(self.kind, "the reply has no audio", redactor=red)
        words = words_from_alignment(req.text, align.characters, align.character_start_times_seconds, align.character_end_times_seconds, duration)
        cost = self.prices.speech_cost(self._model(), len(req.text)) if self.prices is not None else None
        return SpeechResult(
            audio=wav_from_pcm(reply.audio, rate), media_type="audio/wav", extension="wav", duration=duration, words=words,
            sample_rate=rate, cost_usd=cost or 0.0, model=self._model(), timings_estimated=not align.characters,
        )

    def _parse(self, content: bytes, red: Any) -> _Reply:
        try:
            return _Reply.model_validate_json(content)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in e.errors(include_input=False)[:3]
            )
            raise bad_reply(self.kind, f"{problems} (the reply starts with {excerpt(content, 60)!r})", redactor=red) from None


class _Alignment(BaseModel):
    """Per-character times of the spoken text (words_from_alignment copes with gaps and mismatches)."""

    characters: list[str] = []
    character_start_times_seconds: list[float] = []
    character_end_times_seconds: list[float] = []


class _Reply(BaseModel):
    """The ``with-timestamps`` reply, as much of it as vidflow reads (other keys are ignored)."""

    audio: bytes = Field(alias="audio_base64", min_length=1)
    alignment: _Alignment | None = None
    normalized_alignment: _Alignment | None = None

    @field_validator("audio", mode="before")
    @classmethod
    def _decode(cls, v: Any) -> bytes:
        if not isinstance(v, str):
            raise ValueError(f"audio_base64 must be base64 text, not {type(v).__name__}")
        try:
            return base64.b64decode("".join(v.split()), validate=True)  # line breaks are fine
        except (binascii.Error, ValueError):
            raise ValueError("audio_base64 is not valid base64") from None


def _detail(r: Any) -> str:
    try:
        d = r.json().get("detail")
    except (ValueError, AttributeError):  # not JSON, or JSON that is not an object
        return r.text[:300]
    if isinstance(d, dict):
        return f"{d.get('status', '')}: {d.get('message', '')}".strip(": ")
    return str(d)[:300]
