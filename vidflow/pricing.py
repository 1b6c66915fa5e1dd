"""Prices: what a call costs, for budgets, plan estimates and the actual cost in manifests.

The table ships in ``vidflow/prices.yaml`` (TTS per character, images per image and size, video
per second of clip, LLM overrides per token); ``VIDFLOW_PRICES`` names a file merged over it.
LLMs and video models missing from the table are priced from litellm's bundled price map, read
straight from its JSON file so that pricing never imports litellm (plan must stay fast).

Model names are ``<vendor>/<model>`` as litellm spells them (``openai/gpt-4o-mini``,
``elevenlabs/eleven_v3``, ``together_ai/black-forest-labs/FLUX.1-schnell``).
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["PriceTable", "estimate_tokens"]

_BUILTIN = Path(__file__).resolve().parent / "prices.yaml"
_SECTIONS = ("text", "speech", "image", "video")


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 4 characters per token for English)."""
    return max(1, round(len(text) / 4))


@lru_cache(maxsize=1)
def _litellm_map() -> dict[str, Any]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(list(spec.submodule_search_locations)[0]) / "model_prices_and_context_window_backup.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


@dataclass(frozen=True)
class PriceTable:
    text: dict[str, dict[str, float]] = field(default_factory=dict)
    speech: dict[str, dict[str, float]] = field(default_factory=dict)
    image: dict[str, dict[str, float]] = field(default_factory=dict)
    video: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def load(cls, override: str | os.PathLike | None = None) -> PriceTable:
        data = yaml.safe_load(_BUILTIN.read_text()) or {}
        if override:
            try:
                extra = yaml.safe_load(Path(override).read_text()) or {}
            except (OSError, yaml.YAMLError) as e:
                raise ConfigError(f"price file {override}: {e}") from None
            if not isinstance(extra, dict) or set(extra) - set(_SECTIONS):
                raise ConfigError(f"price file {override}: expected top-level keys {', '.join(s + ':' for s in _SECTIONS)}")
            for section, entries in extra.items():
                data.setdefault(section, {}).update(entries or {})
        return cls(**{section: data.get(section) or {} for section in _SECTIONS})

    # ------------------------------------------------------------------ text
    def text_rates(self, model: str) -> tuple[float, float] | None:
        """(USD per input token, USD per output token), or None if the model is unknown."""
        entry = self.text.get(model)
        if entry:
            return entry.get("input_per_mtok", 0.0) / 1e6, entry.get("output_per_mtok", 0.0) / 1e6
        m = _litellm_map()
        for name in (model, model.split("/", 1)[-1]):
            info = m.get(name)
            if info and "input_cost_per_token" in info:
                return float(info.get("input_cost_per_token") or 0.0), float(info.get("output_cost_per_token") or 0.0)
        return None

    def text_cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        rates = self.text_rates(model)
        if rates is None:
            return None
        return input_tokens * rates[0] + output_tokens * rates[1]

    # ------------------------------------------------------------------ speech
    def speech_cost(self, model: str, characters: int) -> float | None:
        entry = self.speech.get(model)
        if entry is None:
            info = _litellm_map().get(model) or _litellm_map().get(model.split("/", 1)[-1])
            if info and info.get("input_cost_per_character"):
                return characters * float(info["input_cost_per_character"])
            return None
        return characters * float(entry.get("per_char", 0.0))

    # ------------------------------------------------------------------ image
    def image_cost(self, model: str, width: int, height: int, n: int = 1) -> float | None:
        entry = self.image.get(model)
        if entry is None:
            return None
        price = entry.get(f"{width}x{height}", entry.get("*"))
        return None if price is None else n * float(price)

    # ------------------------------------------------------------------ video
    def video_cost(self, model: str, seconds: float, width: int, height: int) -> float | None:
        """USD for ``seconds`` of clip at ``width`` x ``height``: the rate of its resolution (``720p``
        by the short side) or ``per_second``; litellm's map for models the table lacks."""
        res = f"{min(width, height)}p"
        entry = self.video.get(model)
        if entry is not None:
            rate = entry.get(res, entry.get("per_second"))
            return None if rate is None else seconds * float(rate)
        m = _litellm_map()
        for name in (model, model.split("/", 1)[-1]):
            info = m.get(name)
            if info:
                for k in (f"output_cost_per_second_{res}", "output_cost_per_second", "output_cost_per_video_per_second"):
                    if info.get(k):
                        return seconds * float(info[k])
        return None

    def litellm_registrations(self) -> dict[str, dict[str, Any]]:
        """The entries litellm's own map lacks, in ``litellm.register_model`` form."""
        out: dict[str, dict[str, Any]] = {}
        for model, e in self.text.items():
            provider = model.split("/", 1)[0] if "/" in model else "openai"
            out[model] = {"input_cost_per_token": e.get("input_per_mtok", 0) / 1e6, "output_cost_per_token": e.get("output_per_mtok", 0) / 1e6, "litellm_provider": provider, "mode": "chat"}
        for model, e in self.image.items():
            provider = model.split("/", 1)[0]
            out[model] = {"output_cost_per_image": e.get("*", next(iter(e.values()), 0.0)), "litellm_provider": provider, "mode": "image_generation"}
        return out
