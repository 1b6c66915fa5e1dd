"""``text.litellm``: any chat model litellm routes (``openai/gpt-4o-mini``, ``gemini/...``, ...).

* ``output: dialogue`` and ``output: json`` with a ``schema``: the answer is requested as
  structured output (``response_format`` json_schema), parsed and validated here; a bad answer
  gets **one** repair attempt that quotes the validation error, then fails the node.
* Usage (tokens) and the resolved model id are recorded; the cost comes from vidflow's price
  table, or from litellm's own map for models the table does not list.
* The client retries nothing (``max_retries=0``): the scheduler owns retries and backoff.
* litellm is imported on the first call, never at module import.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, ClassVar

from pydantic import Field

from ..pricing import estimate_tokens
from ._errors import bad_reply, excerpt, map_errors
from ._litellm import LiteLLMProvider
from .base import EndpointOptions, ProviderOptions, TextRequest, TextResult

__all__ = ["LiteLLMText"]

#: Output tokens expected when a step does not say (plan estimates and budget reservations).
EXPECTED_OUTPUT_TOKENS = {"text": 300, "json": 400}
TOKENS_PER_DIALOGUE_LINE = 40


class LiteLLMTextOptions(EndpointOptions):
    model: str = Field(description="a litellm model string, e.g. openai/gpt-4o-mini")
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    timeout: float = Field(default=120.0, gt=0)
    extra: dict[str, Any] = Field(default_factory=dict, description="more litellm parameters")


class LiteLLMText(LiteLLMProvider):
    kind: ClassVar[str] = "text.litellm"
    capability: ClassVar[str] = "text"
    version: ClassVar[str] = "1"
    Options: ClassVar[type[ProviderOptions]] = LiteLLMTextOptions
    default_concurrency: ClassVar[int] = 8
    typical_latency: ClassVar[float] = 6.0


    # ------------------------------------------------------------------ estimates
    def expected_output_tokens(self, req: TextRequest) -> int:
        if self.options.max_tokens:
            return self.options.max_tokens
        if req.output == "dialogue":
            lines = int(req.hints.get("lines") or 8)
            return 60 + lines * TOKENS_PER_DIALOGUE_LINE + int(req.hints.get("scenes") or 4) * 30
        return EXPECTED_OUTPUT_TOKENS.get(req.output, 300)

    def estimate_cost(self, req: TextRequest) -> float:
        if self.prices is None:
            return 0.0
        prompt = "\n".join([req.system, _instructions(req), req.prompt])
        cost = self.prices.text_cost(self.options.model, estimate_tokens(prompt), self.expected_output_tokens(req))
        return cost or 0.0

    # ------------------------------------------------------------------ the call
    async def generate(self, req: TextRequest) -> TextResult:
        messages = []
        system = "\n\n".join(p for p in (req.system, _instructions(req)) if p)
        if system:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": req.prompt})
        resp = await self._complete(messages, req)
        content, in_tok, out_tok, cost, model = resp
        if req.output == "text":
            return TextResult(value=content, model=model, input_tokens=in_tok, output_tokens=out_tok, cost_usd=cost)
        value, problem = _parse(content, req.schema)
        if problem is not None:  # one repair attempt that quotes the error
            messages += [
                {"role": "assistant", "content": content},
                {"role": "user", "content": f"That answer is not valid: {problem}. Reply with the corrected JSON only."},
            ]
            content, in2, out2, cost2, model = await self._complete(messages, req)
            in_tok, out_tok, cost = in_tok + in2, out_tok + out2, cost + cost2
            value, problem = _parse(content, req.schema)
            if problem is not None:
                raise bad_reply(self.kind, f"{self.options.model} gave invalid JSON again after one repair: {problem}", redactor=self.redactor())
        return TextResult(value=value, model=model, input_tokens=in_tok, output_tokens=out_tok, cost_usd=cost)

    async def _complete(self, messages: list[dict], req: TextRequest) -> tuple[str, int, int, float, str]:
        litellm = self.litellm()
        o = self.options
        kwargs: dict[str, Any] = {**o.extra}
        for name in ("temperature", "max_tokens", "seed"):
            if getattr(o, name) is not None:
                kwargs[name] = getattr(o, name)
        kwargs.update({k: v for k, v in req.hints.items() if k not in ("lines", "scenes")})
        if req.schema is not None:
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": dict(req.schema)}}
        elif req.output == "json":
            kwargs["response_format"] = {"type": "json_object"}
        key = self.api_key()
        with map_errors(self.kind, redactor=self.redactor()):
            resp = await litellm.acompletion(
                model=o.model, messages=messages, api_base=o.api_base, api_key=key, timeout=o.timeout,
                max_retries=0, num_retries=0, **kwargs,
            )
        # Reading the reply is outside the vendor boundary: a reply of another shape is a
        # BadOutputError (permanent), never a transient error that would be paid for again.
        content = self._content(resp)
        usage = getattr(resp, "usage", None)
        in_tok = self._tokens(usage, "prompt_tokens")
        out_tok = self._tokens(usage, "completion_tokens")
        cost = self.prices.text_cost(o.model, in_tok, out_tok) if self.prices is not None else None
        if cost is None:
            hidden = getattr(resp, "_hidden_params", None)
            raw = hidden.get("response_cost") if isinstance(hidden, dict) else None
            cost = float(raw) if isinstance(raw, (int, float)) else 0.0
        model = getattr(resp, "model", None)
        return content, in_tok, out_tok, cost, model if isinstance(model, str) and model else o.model

    def _content(self, resp: Any) -> str:
        choices = getattr(resp, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise bad_reply(self.kind, f"it has no choices (got {type(choices).__name__})", redactor=self.redactor())
        message = getattr(choices[0], "message", None)
        content = getattr(message, "content", None)
        if content is None:  # a refusal or a tool call: no text (a JSON step then gets its repair)
            return ""
        if not isinstance(content, str):
            raise bad_reply(self.kind, f"the message content is a {type(content).__name__}, not text", redactor=self.redactor())
        return content

    def _tokens(self, usage: Any, name: str) -> int:
        value = getattr(usage, name, None) or 0
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise bad_reply(self.kind, f"usage.{name} is {excerpt(value, 40)!r}, not a count", redactor=self.redactor())
        return int(value)


def _instructions(req: TextRequest) -> str:
    """What vidflow adds to the system prompt so the answer has the shape the step needs."""
    if req.output != "dialogue":
        return "Answer with JSON only." if req.output == "json" else ""
    who = "\n".join(
        f"- {s.name}" + (f": {s.persona}" if s.persona else "") + (f" (catchphrases: {'; '.join(s.catchphrases)})" if s.catchphrases else "")
        for s in req.speakers
    )
    size = ""
    if req.hints.get("lines"):
        size += f" Write exactly {req.hints['lines']} lines."
    if req.hints.get("scenes"):
        size += f" Group them into {req.hints['scenes']} scenes (scene numbers start at 0)."
    return (
        "You write scripts for short vertical explainer videos, as a dialogue between these characters:\n"
        f"{who}\n"
        "Answer with JSON: {\"title\": str, \"lines\": [{\"speaker\": name, \"text\": str, \"scene\": int}], "
        "\"scenes\": [{\"caption\": short on-screen title, \"image_prompt\": a vivid description of the scene's image}]}."
        f"{size} Each line is one or two spoken sentences."
    )


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> Any:
    """A compiled validator per schema (validating the schema itself each call costs ~6 ms)."""
    import jsonschema

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _parse(content: str, schema: Any) -> tuple[Any, str | None]:
    text = content.strip()
    if text.startswith("```"):  # some models fence JSON even when asked not to
        text = text.strip("`")
        text = text[text.find("\n") + 1 :] if "\n" in text else text
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"not JSON ({e.msg} at line {e.lineno} column {e.colno})"
    if schema:
        import jsonschema

        try:
            _validator(json.dumps(schema, sort_keys=True)).validate(value)
        except jsonschema.ValidationError as e:
            where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
            return None, f"at {where}: {e.message}"
    return value, None
