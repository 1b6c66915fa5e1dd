"""The one place that imports litellm: lazily, offline-safe, with vidflow's prices registered.

litellm costs seconds to import, so nothing imports it at module level: adapters call
:func:`get_litellm` inside their first provider call. Before the import,
``LITELLM_LOCAL_MODEL_COST_MAP=True`` keeps litellm from fetching its price map over the network.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from .base import PaidProvider

__all__ = ["KEY_ENV", "LiteLLMProvider", "get_litellm", "key_env_for"]

_lock = threading.Lock()
_registered: set[int] = set()

#: litellm model prefix -> environment variables that hold its key (first found wins).
KEY_ENV: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY",),
    "together_ai": ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY"),
    "mistral": ("MISTRAL_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "elevenlabs": ("ELEVENLABS_API_KEY",),
    "fireworks_ai": ("FIREWORKS_AI_API_KEY",),
    "azure": ("AZURE_API_KEY",),
}


def key_env_for(model: str) -> tuple[str, ...]:
    """The key variables for a litellm model string; () for local or cloud-credential routes."""
    prefix = model.split("/", 1)[0] if "/" in model else "openai"
    return KEY_ENV.get(prefix, ())


def get_litellm(prices: Any = None) -> Any:
    """Import litellm once (quietly, offline), registering vidflow's price table with it."""
    with _lock:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        if prices is not None and id(prices) not in _registered:
            try:
                litellm.register_model(prices.litellm_registrations())
            except Exception:  # a price we cannot register only loses litellm's cost fallback
                pass
            _registered.add(id(prices))
        return litellm


class LiteLLMProvider(PaidProvider):
    """Base for adapters that call through litellm: key by model prefix, import before use."""

    def default_key_env(self) -> tuple[str, ...]:
        return key_env_for(self.options.model)

    async def warm_up(self) -> None:
        import asyncio

        await asyncio.to_thread(get_litellm, self.prices)
