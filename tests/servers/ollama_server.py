"""Ollama's native API on loopback: ``POST /api/chat``, ``/api/generate`` and ``/api/show`` (no auth).

What litellm's ``ollama_chat/<model>`` (``/api/chat``) and ``ollama/<model>`` (``/api/generate``)
routes send and read, non-streaming and streaming (NDJSON, one object per line, the last with
``done: true``); litellm also asks ``/api/show`` for the model's details. A ``format`` that is a JSON schema (structured outputs) or ``"json"`` is
answered with JSON; the text comes from ``responder``, which receives an OpenAI-shaped body
(``messages`` and, for a schema, ``response_format.json_schema.schema``) so the chat responders
of ``openai_server`` / ``dialogue`` work unchanged. Token counts are whitespace words
(``prompt_eval_count``, ``eval_count``). An unknown model is a 404 as Ollama answers it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from .base import LoopbackServer, Record, Reply
from .openai_server import default_responder, message_text

__all__ = ["OllamaServer"]


class OllamaServer(LoopbackServer):
    name = "ollama"

    def __init__(self, *, models: tuple[str, ...] = ("llama3.2",), responder: Callable[[dict], str] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.models = models
        self.responder = responder or default_responder

    def check_auth(self, rec: Record) -> Reply | None:
        return None  # a local Ollama has no keys

    def error_reply(self, status: int, code: str, message: str, *, retry_after: float | None = None) -> Reply:
        return Reply(status, {}, {"error": message})

    def route(self, rec: Record) -> Reply:
        if rec.method != "POST" or rec.path not in ("/api/chat", "/api/generate", "/api/show"):
            return Reply(404, {}, "404 page not found")
        body = rec.json
        if not isinstance(body, dict):
            return Reply(400, {}, {"error": "invalid JSON body"})
        model = str(body.get("model") or body.get("name") or "")
        if model.split(":")[0] not in self.models:
            return Reply(404, {}, {"error": f"model '{model}' not found, try pulling it first"})
        if rec.path == "/api/show":
            return Reply(200, {}, {
                "modelfile": "", "parameters": "", "template": "{{ .Prompt }}", "capabilities": ["completion"],
                "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
                "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
            })  # fmt: skip
        if rec.path == "/api/chat":
            messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        else:
            messages = [{"role": "system", "content": body["system"]}] if body.get("system") else []
            messages.append({"role": "user", "content": str(body.get("prompt", ""))})
        asked: dict[str, Any] = {"model": model, "messages": messages}
        fmt = body.get("format")
        if isinstance(fmt, dict):
            asked["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": fmt}}
        elif fmt == "json":
            asked["response_format"] = {"type": "json_object"}
        content = self.responder(asked)
        prompt_tokens = sum(len(message_text(m.get("content")).split()) for m in messages)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        head = {"model": model, "created_at": stamp}
        counts = {"done": True, "done_reason": "stop", "total_duration": 1_000_000, "load_duration": 1000,
                  "prompt_eval_count": prompt_tokens, "prompt_eval_duration": 1000, "eval_count": len(content.split()), "eval_duration": 1000}  # fmt: skip
        chat = rec.path == "/api/chat"

        def piece(text: str) -> dict:
            return {**head, "message": {"role": "assistant", "content": text}} if chat else {**head, "response": text}

        if body.get("stream", True) is False:
            return Reply(200, {}, {**piece(content), **counts})
        words = content.split(" ")
        parts = [piece(w + (" " if i < len(words) - 1 else "")) | {"done": False} for i, w in enumerate(words)]
        parts.append({**piece(""), **counts})
        return Reply(200, {"content-type": "application/x-ndjson"}, "".join(json.dumps(p) + "\n" for p in parts))
