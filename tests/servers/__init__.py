"""Loopback HTTP servers that speak vendors' wire protocols (OpenAI, Together images, ElevenLabs), so real
clients (litellm, the openai SDK, httpx) run against them unmodified except for ``api_base``/``base_url``.

    with OpenAIServer(latency=0.1, max_concurrency=2) as srv:
        await litellm.acompletion(model="openai/gpt-4o-mini", messages=[...],
                                  api_base=srv.url + "/v1", api_key="test-key", max_retries=0)
        assert srv.requests[0].path == "/v1/chat/completions"
"""

from .base import LoopbackServer, Record, Reply
from .elevenlabs_server import ElevenLabsServer
from .openai_server import OpenAIServer

__all__ = ["LoopbackServer", "Record", "Reply", "OpenAIServer", "ElevenLabsServer"]
