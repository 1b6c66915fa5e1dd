"""ElevenLabs text-to-speech loopback server (``xi-api-key`` auth).

Routes:

- ``POST /v1/text-to-speech/{voice_id}/with-timestamps?output_format=...`` — JSON with ``audio_base64``,
  ``alignment`` and ``normalized_alignment`` (identical: no text normalisation is simulated).
- ``POST /v1/text-to-speech/{voice_id}`` — the same audio as raw bytes (what litellm's elevenlabs route calls).
- ``POST /v1/text-to-speech/{voice_id}/stream`` — raw bytes too.
- ``POST /v1/text-to-speech/{voice_id}/stream/with-timestamps`` — newline-delimited JSON chunks, each with a
  slice of the audio and the alignment of a slice of the characters (times absolute from the start).

Timing layout (exact, so word timings are checkable): audio lasts ``LEAD + PER_CHAR * len(text)``;
character i (spaces included) spans ``[LEAD + PER_CHAR*i, LEAD + PER_CHAR*(i+1)]``, rounded to 3 decimals.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from .base import LoopbackServer, Record, Reply, format_retry_after, new_id
from .media import encode_audio, tone_pcm

__all__ = ["ElevenLabsServer", "alignment_for", "parse_output_format"]

LEAD = 0.1
PER_CHAR = 0.06
VOICE_ID = re.compile(r"[A-Za-z0-9]{20}")
_ROUTE = re.compile(r"/v1/text-to-speech/([^/]+)(/stream)?(/with-timestamps)?")
_PCM_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
_MP3 = {(22050, 32), (24000, 48), (44100, 32), (44100, 64), (44100, 96), (44100, 128), (44100, 192)}
_OPUS_KBPS = (32, 64, 96, 128, 192)
_MAX_CHARS = {"eleven_v3": 5000, "eleven_flash_v2_5": 40000, "eleven_turbo_v2_5": 40000}
_CONTENT_TYPES = {"pcm": "audio/pcm", "mp3": "audio/mpeg", "opus": "audio/ogg", "ulaw": "audio/basic", "alaw": "audio/alaw"}


def parse_output_format(value: str) -> tuple[str, int, int] | None:
    """``mp3_44100_128`` -> ("mp3", 44100, 128); ``pcm_16000`` -> ("pcm", 16000, 0); None if unsupported."""
    parts = value.split("_")
    try:
        codec, rate, kbps = parts[0], int(parts[1]), int(parts[2]) if len(parts) > 2 else 0
    except (IndexError, ValueError):
        return None
    ok = (
        (codec == "pcm" and len(parts) == 2 and rate in _PCM_RATES)
        or (codec == "mp3" and (rate, kbps) in _MP3)
        or (codec in ("ulaw", "alaw") and len(parts) == 2 and rate == 8000)
        or (codec == "opus" and rate == 48000 and kbps in _OPUS_KBPS)
    )
    return (codec, rate, kbps) if ok else None


def alignment_for(text: str, offset: int = 0) -> dict[str, list]:
    """Sequential character alignment, character ``offset + i`` at ``LEAD + PER_CHAR * (offset + i)``."""
    chars = list(text)
    return {
        "characters": chars,
        "character_start_times_seconds": [round(LEAD + PER_CHAR * (offset + i), 3) for i in range(len(chars))],
        "character_end_times_seconds": [round(LEAD + PER_CHAR * (offset + i + 1), 3) for i in range(len(chars))],
    }


class ElevenLabsServer(LoopbackServer):
    name = "elevenlabs"
    auth_header = "xi-api-key"

    def check_auth(self, rec: Record) -> Reply | None:
        key = rec.headers.get("xi-api-key")
        if key != self.api_key:
            msg = "Invalid API key" if key else "Missing xi-api-key header"
            return self.error_reply(401, "invalid_api_key", msg)
        return None

    def error_reply(self, status: int, code: str, message: str, *, retry_after: float | None = None) -> Reply:
        status_name = {
            "paused": "system_busy",
            "rate_limited": "system_busy",
            "missing_api_key": "invalid_api_key",
        }.get(code, code)
        headers = {"retry-after": format_retry_after(retry_after)} if retry_after is not None else {}
        return Reply(status, headers, {"detail": {"status": status_name, "message": message}})

    def decorate(self, rec: Record, reply: Reply) -> None:
        reply.headers.setdefault("request-id", new_id())
        reply.headers.setdefault("current-concurrent-requests", str(self.in_flight))
        reply.headers.setdefault("maximum-concurrent-requests", str(self.max_concurrency or 10))

    def route(self, rec: Record) -> Reply:
        m = _ROUTE.fullmatch(rec.path)
        if m is None or rec.method != "POST":
            return Reply(404, {}, {"detail": "Not Found"})
        voice_id, stream, timestamps = m.group(1), bool(m.group(2)), bool(m.group(3))
        if not VOICE_ID.fullmatch(voice_id):
            return self.error_reply(404, "voice_not_found", f"A voice with the voice_id {voice_id} was not found.")
        body = rec.json
        if not isinstance(body, dict):
            return _validation("body", "Input should be a valid dictionary or object", body)
        if "text" not in body or not isinstance(body["text"], str):
            return _validation("text", "Field required" if "text" not in body else "Input should be a valid string", body.get("text"))
        text: str = body["text"]
        if not text.strip():
            return self.error_reply(400, "invalid_text", "The text must not be empty.")
        model_id = body.get("model_id") or "eleven_multilingual_v2"
        limit = _MAX_CHARS.get(model_id, 10000)
        if len(text) > limit:
            return self.error_reply(400, "max_character_limit_exceeded",
                                    f"Text is {len(text)} characters; {model_id} accepts at most {limit}.")  # fmt: skip
        seed = body.get("seed")
        if seed is not None and not (isinstance(seed, int) and 0 <= seed <= 4294967295):
            return _validation("seed", "Input should be between 0 and 4294967295", seed)
        fmt_name = rec.query.get("output_format") or "mp3_44100_128"
        fmt = parse_output_format(fmt_name)
        if fmt is None:
            return _validation("output_format", f"Unsupported output_format {fmt_name!r}", fmt_name, loc="query")
        codec, rate, kbps = fmt
        pcm_rate = 48000 if codec == "opus" else rate
        pcm = tone_pcm(LEAD + PER_CHAR * len(text), pcm_rate)
        audio = pcm if codec == "pcm" else encode_audio(pcm, pcm_rate, codec, rate=rate, kbps=kbps or 128)
        headers = {"x-character-count": str(len(text))}
        if not timestamps:
            headers["content-type"] = _CONTENT_TYPES[codec]
            return Reply(200, headers, audio)
        if not stream:
            align = alignment_for(text)
            payload = {"audio_base64": base64.b64encode(audio).decode(), "alignment": align, "normalized_alignment": align}
            return Reply(200, headers, payload)
        lines = []
        step_chars = max(1, -(-len(text) // 4))
        pieces = range(0, len(text), step_chars)
        step_bytes = -(-len(audio) // len(pieces))
        step_bytes += step_bytes % 2  # keep s16 samples whole
        for k, i in enumerate(pieces):
            align = alignment_for(text[i : i + step_chars], offset=i)
            chunk = audio[k * step_bytes : (k + 1) * step_bytes if k < len(pieces) - 1 else None]
            lines.append(json.dumps({"audio_base64": base64.b64encode(chunk).decode(), "alignment": align,
                                     "normalized_alignment": align}))  # fmt: skip
        headers["content-type"] = "application/x-ndjson"
        return Reply(200, headers, ("\n".join(lines) + "\n").encode())


def _validation(field: str, msg: str, value: Any, loc: str = "body") -> Reply:
    """FastAPI-style 422."""
    detail = [{"type": "missing" if msg == "Field required" else "value_error", "loc": [loc, field], "msg": msg, "input": value}]
    return Reply(422, {}, {"detail": detail})

