"""The one place that imports litellm: lazily, offline-safe, with vidflow's prices registered.

litellm costs seconds to import, so nothing imports it at module level: adapters call
:meth:`LiteLLMProvider.litellm` in their warm-up (or first call). For the import only,
``LITELLM_LOCAL_MODEL_COST_MAP=True`` keeps litellm from fetching its price map over the
network; the variable is put back as it was afterwards (litellm reads it at import only).
Each adapter registers its run's price table with litellm once, when it first takes litellm.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

from .base import PaidProvider

__all__ = ["KEY_ENV", "LiteLLMProvider", "get_litellm", "key_env_for"]

_lock = threading.Lock()

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


@functools.cache
def _import_litellm() -> Any:
    # Under the lock: another thread may be halfway through the import, and a module in
    # sys.modules is not a finished one. Cached afterwards (cache_clear() resets it).
    with _lock:
        had = os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP")
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        try:
            import litellm
        finally:
            if had is None:
                os.environ.pop("LITELLM_LOCAL_MODEL_COST_MAP", None)
            else:
                os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = had
        litellm.suppress_debug_info = True
        litellm.telemetry = False
        return litellm


def get_litellm(prices: Any = None) -> Any:
    """litellm, imported once (quietly, offline), with ``prices`` registered if given."""
    litellm = _import_litellm()
    if prices is not None:
        try:
            litellm.register_model(prices.litellm_registrations())
        except Exception:  # a price we cannot register only loses litellm's cost fallback
            pass
    return litellm


class LiteLLMProvider(PaidProvider):
    """Base for adapters that call through litellm: key by model prefix, import before use."""

    def default_key_env(self) -> tuple[str, ...]:
        return key_env_for(self.options.model)

    def litellm(self) -> Any:
        """litellm, with this adapter's price table registered (once per adapter)."""
        lib = self.__dict__.get("_litellm_module")
        if lib is None:
            lib = self.__dict__["_litellm_module"] = get_litellm(self.prices)
        return lib

    async def warm_up(self) -> None:
        """Import litellm and what its first request would import lazily (openai's resources:
        ~0.4 s, measured by benchmarks/makespan.py), so no call waits for imports."""
        import asyncio

        def imports() -> None:
            self.litellm()
            import openai.resources  # noqa: F401

        await asyncio.to_thread(imports)

    async def aclose(self) -> None:
        """Close the HTTP clients litellm cached for this event loop (they would leak sockets)."""
        import sys

        litellm = sys.modules.get("litellm")  # never import it just to close nothing
        if litellm is not None and hasattr(litellm, "close_litellm_async_clients"):
            await litellm.close_litellm_async_clients()
