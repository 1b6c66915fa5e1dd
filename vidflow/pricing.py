"""Prices: what a call costs, for budgets, plan estimates and the actual cost in manifests.

The table ships in ``vidflow/prices.yaml`` (TTS per character, images per image and size, video
per second of clip, LLM overrides per token); ``VIDFLOW_PRICES`` names a file merged over it.
LLMs and video models missing from the table are priced from litellm's bundled price map, read
straight from its JSON file so that pricing never imports litellm (plan must stay fast).

Model names are ``<vendor>/<model>`` as litellm spells them (``openai/gpt-4o-mini``,
``elevenlabs/eleven_v3``, ``together_ai/black-forest-labs/FLUX.1-schnell``).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import os
import re
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


#: The fields a price entry may have, per section (image sizes are ``WxH`` or ``*``; video
#: resolutions ``720p``, ``1080p``...).
_FIELDS = {"text": ("input_per_mtok", "output_per_mtok"), "speech": ("per_char",), "image": ("*",), "video": ("per_second",)}
_SIZE = re.compile(r"^\d{1,5}x\d{1,5}$")
_RES = re.compile(r"^\d{3,4}p$")
_MAX_PRICE_FILE = 1_000_000


def read_price_file(path: str | os.PathLike) -> dict[str, dict[str, dict[str, float]]]:
    """A user's price table (``VIDFLOW_PRICES``), checked: every problem is a ConfigError that
    names the file, the line and what a price entry looks like."""
    where = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_PRICE_FILE + 1)
    except OSError as e:
        raise ConfigError(f"{where}: cannot read the price file ({e.strerror or e}); check VIDFLOW_PRICES") from None
    if len(raw) > _MAX_PRICE_FILE:
        raise ConfigError(f"{where}: the price file is larger than 1 MB; keep only the entries you override")
    try:
        loader = yaml.SafeLoader(raw.decode("utf-8"))
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: the price file is not UTF-8 text") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"{where}{line}: YAML syntax error: {e.problem or e}") from None
    except (yaml.YAMLError, RecursionError) as e:
        raise ConfigError(f"{where}: not a YAML document ({type(e).__name__})") from None
    if data is None:
        return {}
    example = "e.g. `text: {openai/gpt-4o-mini: {input_per_mtok: 0.15, output_per_mtok: 0.6}}`"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}:{root.start_mark.line + 1}: a price file is a mapping with sections {', '.join(s + ':' for s in _SECTIONS)}; {example}")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for knode, vnode in root.value:
        section = knode.value
        at = f"{where}:{knode.start_mark.line + 1}"
        if section not in _SECTIONS:
            raise ConfigError(f"{at}: unknown section `{section}`; the sections are {', '.join(s + ':' for s in _SECTIONS)}")
        entries = data[section]
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise ConfigError(f"{at}: `{section}:` maps model names to prices; {example}")
        out[section] = {}
        for mnode, enode in vnode.value:
            model, entry = str(mnode.value), entries.get(mnode.value)
            mat = f"{where}:{mnode.start_mark.line + 1}"
            if not isinstance(entry, dict):
                raise ConfigError(f"{mat}: `{section}.{model}` must map {' / '.join(_FIELDS[section])} to a price; {example}")
            prices: dict[str, float] = {}
            for fnode, _ in enode.value:
                name, value = str(fnode.value), entry.get(fnode.value)
                fat = f"{where}:{fnode.start_mark.line + 1}"
                known = name in _FIELDS[section] or (section == "image" and _SIZE.match(name)) or (section == "video" and _RES.match(name))
                if not known:
                    shapes = {"image": "`WxH` or `*`", "video": "`per_second` or a resolution like `720p`"}.get(section, " / ".join(f"`{f}`" for f in _FIELDS[section]))
                    raise ConfigError(f"{fat}: `{section}.{model}.{name}` is not a price field; use {shapes}")
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                    raise ConfigError(f"{fat}: `{section}.{model}.{name}` must be a price in USD (a number, 0 or more), not {str(value)[:40]!r}")
                prices[name] = float(value)
            out[section][model] = prices
    return out


@dataclass(frozen=True)
class PriceTable:
    text: dict[str, dict[str, float]] = field(default_factory=dict)
    speech: dict[str, dict[str, float]] = field(default_factory=dict)
    image: dict[str, dict[str, float]] = field(default_factory=dict)
    video: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def load(cls, override: str | os.PathLike | None = None) -> PriceTable:
        data = copy.deepcopy(_builtin_prices())
        if override:
            for section, entries in read_price_file(override).items():
                data.setdefault(section, {}).update(entries)
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


@lru_cache(maxsize=None)
def _builtin_prices() -> dict[str, Any]:
    """The price table shipped with vidflow, parsed once per process (libyaml's parser when
    PyYAML has it: every run and plan reads this file, and the pure-Python parser took ~2.5 ms)."""
    return yaml.load(_BUILTIN.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
