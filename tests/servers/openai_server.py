"""OpenAI-compatible loopback server; also stands in for Together's /v1/images/generations.

Routes (Bearer auth on all but the file URLs):

- ``POST /v1/chat/completions`` — ChatCompletion JSON (or SSE with ``stream: true``). Content comes from
  ``responder(request_json) -> str``. Tokens are **whitespace-separated words**: prompt_tokens = words of all
  message contents (text parts), completion_tokens = words of the content. ``max_tokens`` /
  ``max_completion_tokens`` truncate the content to that many words with ``finish_reason: "length"``.
- ``POST /v1/images/generations`` — OpenAI shape, or Together's when the model id contains ``/``
  (``{id, model, object: "list", data: [{index, b64_json|url}]}``, width/height, default b64_json).
- ``GET  /files/<id>.<ext>`` — images generated with ``response_format: "url"`` (no auth, no limits).
- ``POST /v1/audio/speech`` — raw audio: a 24 kHz mono tone lasting ``0.2 + 0.06 * len(input) / speed`` s.
- ``POST /v1/audio/transcriptions`` — multipart; audio this server produced is "transcribed" back to its
  input text, with word times on the same layout as the speech (0.1 s lead-in, 0.06 s/char / speed).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import string
import threading
import time
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from .base import LoopbackServer, Record, Reply, format_retry_after, new_id
from .media import encode_audio, image_bytes, tone_pcm, wav_bytes

__all__ = ["OpenAIServer", "default_responder", "sample_from_schema", "message_text", "count_words"]

OPENAI_VOICES = frozenset(
    "alloy ash ballad coral echo fable onyx nova sage shimmer verse marin cedar".split()
)
SPEECH_FORMATS = {  # response_format -> content-type
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
SPEECH_RATE = 24000
SPEECH_LEAD = 0.1  # seconds of tone before the first character (and after the last)
SPEECH_PER_CHAR = 0.06
GPT_IMAGE_SIZES = ("1024x1024", "1024x1536", "1536x1024", "auto")
DALLE3_SIZES = ("1024x1024", "1792x1024", "1024x1792")
DALLE2_SIZES = ("256x256", "512x512", "1024x1024")
MAX_SIDE = 4096
# gpt-image-1 output tokens by quality and shape (square, portrait/landscape)
_IMAGE_TOKENS = {"low": (272, 408), "medium": (1056, 1584), "high": (4160, 6240)}


def count_words(text: str) -> int:
    return len(text.split())


def message_text(content: Any) -> str:
    """The text of a chat message's content: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") in ("text", "input_text")
        )
    return ""


def sample_from_schema(schema: dict, defs: dict | None = None, _depth: int = 0) -> Any:
    """A minimal instance that validates against a (pydantic-style) JSON schema."""
    if defs is None:
        defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    if _depth > 12:
        return None
    if "$ref" in schema:
        return sample_from_schema(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, _depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return sample_from_schema(options[0], defs, _depth + 1)
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "null")
    if typ is None:
        typ = "object" if "properties" in schema else "string"
    if typ == "object":
        props = schema.get("properties", {})
        return {k: sample_from_schema(v, defs, _depth + 1) for k, v in props.items()}
    if typ == "array":
        item = schema.get("items", {"type": "string"})
        return [sample_from_schema(item, defs, _depth + 1) for _ in range(max(1, schema.get("minItems", 1)))]
    if typ == "string":
        return "text".ljust(schema.get("minLength", 0), "x")
    if typ == "integer":
        return int(schema.get("minimum", 1))
    if typ == "number":
        return float(schema.get("minimum", 1.0))
    if typ == "boolean":
        return True
    return None


def default_responder(body: dict) -> str:
    """``reply to: <last user message>``; with ``response_format`` json_schema a minimal valid instance of the
    schema, with json_object ``{"text": "reply to: ..."}``."""
    last = ""
    for m in body.get("messages") or []:
        if isinstance(m, dict) and m.get("role") == "user":
            last = message_text(m.get("content"))
    text = f"reply to: {last}"
    rf = body.get("response_format")
    if isinstance(rf, dict):
        if rf.get("type") == "json_schema":
            return json.dumps(sample_from_schema((rf.get("json_schema") or {}).get("schema") or {}))
        if rf.get("type") == "json_object":
            return json.dumps({"text": text})
    return text


def _parse_size(value: Any) -> tuple[int, int] | None:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(value))
    return (int(m.group(1)), int(m.group(2))) if m else None


class OpenAIServer(LoopbackServer):
    name = "openai"

    def __init__(self, *, responder: Callable[[dict], str] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.responder: Callable[[dict], str] = responder or default_responder
        self.files: dict[str, tuple[bytes, str]] = {}  # id -> (data, content-type)
        self._spoken: dict[str, tuple[str, float]] = {}  # sha256(audio) -> (input text, seconds per char)
        self._data_lock = threading.Lock()

    # ----- hooks -----------------------------------------------------------------------------
    def is_public(self, rec: Record) -> bool:
        return rec.method == "GET" and rec.path.startswith("/files/")

    def check_auth(self, rec: Record) -> Reply | None:
        auth = rec.headers.get("authorization", "")
        if not auth:
            return self.error_reply(
                401, "missing_api_key", "You didn't provide an API key. Use 'Authorization: Bearer YOUR_KEY'."
            )
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or key.strip() != self.api_key:
            shown = key.strip()[:3] + "*" * 4 + key.strip()[-4:] if len(key.strip()) > 8 else "****"
            return self.error_reply(401, "invalid_api_key", f"Incorrect API key provided: {shown}.")
        return None

    def error_reply(
        self, status: int, code: str, message: str, *, retry_after: float | None = None, param: str | None = None
    ) -> Reply:
        if status == 401:
            etype, ecode = "authentication_error", "invalid_api_key"
        elif status == 429:
            etype, ecode = "rate_limit_exceeded", "rate_limit_exceeded"
        elif status >= 500:
            etype, ecode = "server_error", "server_error"
        else:
            etype, ecode = "invalid_request_error", code
        headers = {"retry-after": format_retry_after(retry_after)} if retry_after is not None else {}
        body = {"error": {"message": message, "type": etype, "param": param, "code": ecode}}
        return Reply(status, headers, body)

    def decorate(self, rec: Record, reply: Reply) -> None:
        reply.headers.setdefault("x-request-id", new_id("req_"))
        reply.headers.setdefault("openai-processing-ms", str(int(self.latency * 1000)))

    def route(self, rec: Record) -> Reply:
        if rec.method == "GET" and rec.path.startswith("/files/"):
            return self._file(rec)
        routes = {
            "/v1/chat/completions": self._chat,
            "/v1/images/generations": self._images,
            "/v1/audio/speech": self._speech,
            "/v1/audio/transcriptions": self._transcribe,
        }
        handler = routes.get(rec.path)
        if handler is None or rec.method != "POST":
            return self.error_reply(404, "unknown_url", f"Invalid URL ({rec.method} {rec.path})")
        if handler != self._transcribe and not isinstance(rec.json, dict):
            return self.error_reply(400, "invalid_json", "We could not parse the JSON body of your request.")
        return handler(rec)

    def _bad(self, message: str, param: str | None = None, code: str = "invalid_value") -> Reply:
        return self.error_reply(400, code, message, param=param)

    # ----- chat ------------------------------------------------------------------------------
    def _chat(self, rec: Record) -> Reply:
        body: dict = rec.json
        if not body.get("model"):
            return self._bad("you must provide a model parameter", "model", "missing_required_parameter")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._bad("'messages' must be a non-empty array", "messages", "missing_required_parameter")
        content = self.responder(body)
        finish = "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and count_words(content) > limit:
            content = " ".join(content.split()[:limit])
            finish = "length"
        prompt_tokens = sum(count_words(message_text(m.get("content"))) for m in messages if isinstance(m, dict))
        n = int(body.get("n") or 1)
        completion_tokens = count_words(content) * n
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        head = {
            "id": new_id("chatcmpl-"),
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_loopback",
        }
        if body.get("stream"):
            return self._chat_stream(head, content, finish, n, usage, body)
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }
            for i in range(n)
        ]
        return Reply(200, {}, {**head, "object": "chat.completion", "choices": choices, "usage": usage})

    def _chat_stream(self, head: dict, content: str, finish: str, n: int, usage: dict, body: dict) -> Reply:
        events = []

        def chunk(choices: list, **extra: Any) -> None:
            events.append({**head, "object": "chat.completion.chunk", "choices": choices, **extra})

        for i in range(n):
            chunk([{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}])
            for piece in re.findall(r"\s*\S+", content) or [content]:
                chunk([{"index": i, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}])
            chunk([{"index": i, "delta": {}, "logprobs": None, "finish_reason": finish}])
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk([], usage=usage)
        data = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        return Reply(200, {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}, data.encode())

    # ----- images ----------------------------------------------------------------------------
    def _images(self, rec: Record) -> Reply:
        body: dict = rec.json
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return self._bad("'prompt' is a required property and must be a non-empty string", "prompt",
                             "missing_required_parameter")  # fmt: skip
        model = str(body.get("model") or "dall-e-2")
        together = "/" in model
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 10:
            return self._bad(f"Invalid 'n': {n!r}; expected an integer from 1 to 10.", "n")
        if model == "dall-e-3" and n != 1:
            return self._bad("dall-e-3 only supports n=1.", "n")
        size = body.get("size")
        gpt_image = model.startswith("gpt-image")
        if together and (body.get("width") or body.get("height") or not size):
            w, h = int(body.get("width") or 1024), int(body.get("height") or 1024)
        elif size in (None, "auto"):
            w, h = 1024, 1024
        else:
            parsed = _parse_size(size)
            if parsed is None:
                return self._bad(f"Invalid size {size!r}; expected 'WIDTHxHEIGHT'.", "size")
            w, h = parsed
        size_str = f"{w}x{h}"
        allowed = None
        if model == "gpt-image-2":
            ok = w % 16 == 0 and h % 16 == 0 and max(w, h) <= 3 * min(w, h) and w * h <= 3840 * 2160 and max(w, h) <= 3840
            if size not in (None, "auto") and not ok:
                return self._bad(f"Invalid size '{size_str}' for gpt-image-2.", "size")
        elif gpt_image:
            allowed = GPT_IMAGE_SIZES
        elif model == "dall-e-3":
            allowed = DALLE3_SIZES
        elif model == "dall-e-2":
            allowed = DALLE2_SIZES
        if allowed is not None and size not in (None, "auto") and size_str not in allowed:
            return self._bad(
                f"Invalid value: '{size}'. Supported values are: {', '.join(repr(s) for s in allowed)}.", "size",
                "invalid_value",
            )  # fmt: skip
        if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
            return self._bad(f"Invalid size '{size_str}'.", "size")

        fmt = body.get("response_format")
        if together:
            want_url = fmt == "url"
        elif gpt_image:
            if fmt == "url":
                return self._bad("'response_format' is not supported for GPT image models: they return b64_json.",
                                 "response_format", "unknown_parameter")  # fmt: skip
            want_url = False
        else:  # dall-e: url is the default
            if fmt not in (None, "url", "b64_json"):
                return self._bad(f"Invalid value: {fmt!r}. Supported values are: 'url' and 'b64_json'.", "response_format")
            want_url = fmt in (None, "url")
        out_fmt = str(body.get("output_format") or "png").lower() if gpt_image else "png"
        pil_fmt = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}.get(out_fmt)
        if pil_fmt is None:
            return self._bad(f"Invalid output_format {out_fmt!r}.", "output_format")

        data = []
        for i in range(n):
            raw = image_bytes(w, h, f"{prompt}\0{body.get('seed')}\0{i}", pil_fmt)
            item: dict[str, Any] = {"index": i} if together else {}
            if want_url:
                fid = new_id("img_")
                ext = "jpg" if pil_fmt == "JPEG" else pil_fmt.lower()
                with self._data_lock:
                    self.files[f"{fid}.{ext}"] = (raw, f"image/{'jpeg' if pil_fmt == 'JPEG' else pil_fmt.lower()}")
                item["url"] = f"{self.url}/files/{fid}.{ext}"
            else:
                item["b64_json"] = base64.b64encode(raw).decode()
            if model == "dall-e-3":
                item["revised_prompt"] = prompt
            data.append(item)
        if together:
            return Reply(200, {}, {"id": new_id(), "model": model, "object": "list", "data": data})
        out: dict[str, Any] = {"created": int(time.time()), "data": data}
        if gpt_image:
            quality = body.get("quality") if body.get("quality") in _IMAGE_TOKENS else "medium"
            per = _IMAGE_TOKENS[quality][0 if w == h else 1] * n
            words = count_words(prompt)
            out.update(
                size=size_str, quality=quality, output_format=out_fmt, background=body.get("background") or "opaque",
                usage={"input_tokens": words, "output_tokens": per, "total_tokens": words + per,
                       "input_tokens_details": {"text_tokens": words, "image_tokens": 0}},
            )  # fmt: skip
        return Reply(200, {}, out)

    def _file(self, rec: Record) -> Reply:
        with self._data_lock:
            hit = self.files.get(rec.path.rsplit("/", 1)[-1])
        if hit is None:
            return Reply(404, {"content-type": "text/plain"}, b"Not Found")
        return Reply(200, {"content-type": hit[1]}, hit[0])

    # ----- speech ----------------------------------------------------------------------------
    def _speech(self, rec: Record) -> Reply:
        body: dict = rec.json
        if not body.get("model"):
            return self._bad("you must provide a model parameter", "model", "missing_required_parameter")
        text = body.get("input")
        if not isinstance(text, str) or not text:
            return self._bad("'input' is required and must be a non-empty string", "input", "missing_required_parameter")
        if len(text) > 4096:
            return self._bad(f"'input' is too long: {len(text)} characters, the maximum is 4096.", "input", "string_above_max_length")
        voice = body.get("voice")
        if not (voice in OPENAI_VOICES or (isinstance(voice, dict) and voice.get("id"))):
            return self._bad(f"Invalid value for 'voice': {voice!r}. Supported: {', '.join(sorted(OPENAI_VOICES))}.", "voice")
        fmt = body.get("response_format") or "mp3"
        if fmt not in SPEECH_FORMATS:
            return self._bad(f"Invalid value: {fmt!r}. Supported: {', '.join(SPEECH_FORMATS)}.", "response_format")
        speed = body.get("speed", 1.0)
        if not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4.0:
            return self._bad(f"Invalid value for 'speed': {speed!r}; expected 0.25 to 4.0.", "speed")
        per_char = SPEECH_PER_CHAR / speed
        pcm = tone_pcm(2 * SPEECH_LEAD + per_char * len(text), SPEECH_RATE)
        if fmt == "pcm":
            audio = pcm
        elif fmt == "wav":
            audio = wav_bytes(pcm, SPEECH_RATE)
        else:
            audio = encode_audio(pcm, SPEECH_RATE, fmt, rate=SPEECH_RATE, kbps={"opus": 64}.get(fmt, 128))
        with self._data_lock:
            self._spoken[hashlib.sha256(audio).hexdigest()] = (text, per_char)
        return Reply(200, {"content-type": SPEECH_FORMATS[fmt]}, audio)

    # ----- transcription ---------------------------------------------------------------------
    def _transcribe(self, rec: Record) -> Reply:
        ctype = rec.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return self._bad("Expected multipart/form-data.", None)
        msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + rec.body)
        fields: dict[str, list[Any]] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            fields.setdefault(name, []).append(payload if name == "file" else payload.decode())
        audio = (fields.get("file") or [b""])[0]
        if not audio:
            return self._bad("'file' is required.", "file", "missing_required_parameter")
        if not fields.get("model"):
            return self._bad("you must provide a model parameter", "model", "missing_required_parameter")
        fmt = (fields.get("response_format") or ["json"])[0]
        grains = set(fields.get("timestamp_granularities[]", []) + fields.get("timestamp_granularities", []))
        with self._data_lock:
            text, per_char = self._spoken.get(hashlib.sha256(audio).hexdigest(), ("", SPEECH_PER_CHAR))
        duration = round(2 * SPEECH_LEAD + per_char * len(text), 3) if text else 0.0
        if fmt == "text":
            return Reply(200, {"content-type": "text/plain; charset=utf-8"}, text + "\n")
        if fmt == "json":
            return Reply(200, {}, {"text": text, "usage": {"type": "duration", "seconds": round(duration)}})
        if fmt != "verbose_json":
            return self._bad(f"Unsupported response_format {fmt!r} (loopback: json, text, verbose_json).", "response_format")
        out: dict[str, Any] = {"task": "transcribe", "language": "english", "duration": duration, "text": text}
        if "word" in grains:
            words = []
            for m in re.finditer(r"\S+", text):
                word = m.group().strip(string.punctuation)
                if word:
                    a = m.start() + m.group().index(word)
                    words.append({"word": word, "start": round(SPEECH_LEAD + per_char * a, 3),
                                  "end": round(SPEECH_LEAD + per_char * (a + len(word)), 3)})  # fmt: skip
            out["words"] = words
        if not grains or "segment" in grains:
            out["segments"] = [{"id": 0, "seek": 0, "start": 0.0, "end": duration, "text": text, "tokens": [],
                                "temperature": 0.0, "avg_logprob": -0.1, "compression_ratio": 1.0,
                                "no_speech_prob": 0.0}] if text else []  # fmt: skip
        return Reply(200, {}, out)
