"""The one place that imports litellm: lazily, offline-safe, with vidflow's prices registered.

litellm costs seconds to import, so nothing imports it at module level: adapters call
:meth:`LiteLLMProvider.litellm` in their warm-up (or first call). For the import only,
``LITELLM_LOCAL_MODEL_COST_MAP=True`` keeps litellm from fetching its price map over the
network; the variable is put back as it was afterwards (litellm reads it at import only).
Each adapter registers its run's price table with litellm once, when it first takes litellm.

Closing: litellm keeps its HTTP clients in one process-wide cache, one client per (route, key,
event loop), shared by every adapter on that loop, and runs its success/failure logging as
tasks of a process-wide worker bound to the loop of the latest call. ``litellm.close_litellm_async_clients()``
is not enough: it closes the clients of *every* loop (another thread's run loses its clients
mid-call) and leaves them in the cache, so the next call on the same loop (a second run in one
``asyncio.run``, a notebook) gets a closed client ("Cannot send a request, as the client has
been closed"). So the last litellm adapter to close on a loop finishes litellm's logging tasks
there and closes and forgets the clients cached for that loop only (:func:`close_loop_clients`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import threading
import weakref
from typing import Any

from .base import PaidProvider

__all__ = ["KEY_ENV", "LiteLLMProvider", "close_loop_clients", "get_litellm", "key_env_for", "reset_loop_users"]

_lock = threading.Lock()

# Event loop -> the litellm adapters that called litellm on it and are not closed yet (both held
# weakly, so a loop or an adapter that is gone drops out by itself). Only the last of them to
# close may close the loop's clients: the others may still have calls in flight on them.
_users_lock = threading.Lock()
_loop_users: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.WeakSet[Any]] = weakref.WeakKeyDictionary()
# Seconds the close waits for litellm's own logging tasks of this loop before cancelling them.
_LOGGING_FLUSH_S = 5.0


def reset_loop_users() -> None:
    """Forget which adapters use which event loop (tests)."""
    with _users_lock:
        _loop_users.clear()

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
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # the warm-up's import thread: no call is made there
            return lib
        if self.__dict__.get("_loop") is not loop:  # once per loop, not once per call
            with _users_lock:
                _loop_users.setdefault(loop, weakref.WeakSet()).add(self)
            self.__dict__["_loop"] = loop
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
        """Close what litellm opened on this event loop, unless another open adapter still uses it.

        Must run on the loop the calls ran on (the scheduler's ``aclose`` does).
        """
        import sys

        litellm = sys.modules.get("litellm")  # never import it just to close nothing
        if litellm is None:
            return
        loop = asyncio.get_running_loop()
        with _users_lock:
            users = _loop_users.get(loop)
            if users is not None:
                users.discard(self)
                if len(users):
                    return
                del _loop_users[loop]
        if self.__dict__.get("_loop") is loop:
            del self.__dict__["_loop"]
        await close_loop_clients(litellm)


async def close_loop_clients(litellm: Any) -> None:
    """Finish litellm's logging tasks on the running loop, then close and drop its clients cached
    for this loop. Clients of other loops and clients cached outside any loop are left alone."""
    loop = asyncio.get_running_loop()
    await _stop_logging_worker(loop)
    cache = getattr(litellm, "in_memory_llm_clients_cache", None)
    keyed = getattr(cache, "update_cache_key_with_event_loop", None)
    if cache is None or keyed is None:  # a litellm whose cache we do not know: its own cleanup
        if hasattr(litellm, "close_litellm_async_clients"):
            await litellm.close_litellm_async_clients()
        return
    suffix = keyed("")  # litellm keys a client cached on a loop "<key>-<id(loop)>"
    for key in [k for k in list(cache.cache_dict) if k.endswith(suffix)]:
        client = cache.cache_dict.get(key)
        cache.delete_cache(key)  # forgotten before closing: no new call can pick it up now
        await _close_client(client)
    # The aiohttp handler some routes share is process-wide: close its session only if it was
    # opened on this loop, and drop it so the next loop opens its own.
    handler = getattr(litellm, "base_llm_aiohttp_handler", None)
    session = getattr(handler, "client_session", None)
    if session is not None and getattr(session, "_loop", None) is loop and getattr(handler, "_owns_session", False):
        with contextlib.suppress(Exception):
            await session.close()
        handler.client_session = None


async def _stop_logging_worker(loop: asyncio.AbstractEventLoop) -> None:
    """Let litellm's logging tasks of this loop finish (bounded), then stop its worker here.

    Left running, they are cancelled when the loop ends and litellm moves the unstarted ones to
    the next loop it sees, with a warning on stderr.
    """
    try:
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER as worker
    except ImportError:  # pragma: no cover - an older or newer litellm without it
        return
    # litellm hands a call's success log to the worker from a task of its own, started when the
    # call returns: let it run once, so the last call's log is in the queue before the flush.
    await asyncio.sleep(0)
    if getattr(worker, "_bound_loop", None) is not loop:  # another loop's (thread's) work
        return
    with contextlib.suppress(Exception, asyncio.TimeoutError):
        await asyncio.wait_for(worker.flush(), _LOGGING_FLUSH_S)
    with contextlib.suppress(Exception):
        await worker.stop()


async def _close_client(client: Any) -> None:
    """Close one cached client: an SDK client (``close``), a litellm handler, an httpx client."""
    close = getattr(client, "aclose", None) or getattr(client, "close", None)
    if close is None:
        return
    with contextlib.suppress(Exception):  # one client failing to close must not keep the others open
        result = close()
        if inspect.isawaitable(result):
            await result
