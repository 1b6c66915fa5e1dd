"""``video.litellm`` against both loopback vendors, through the suite plugin authors run."""

from __future__ import annotations

import pytest

from tests.servers.video_gemini import GeminiVideoServer
from tests.servers.video_openai import OpenAIVideoServer
from vidflow.pricing import PriceTable
from vidflow.providers.video_litellm import LiteLLMVideo
from vidflow.settings import Settings
from vidflow.testing import VideoGeneratorContract


class TestLiteLLMVideo(VideoGeneratorContract):
    poll_pause = 0.0

    @pytest.fixture(params=["gemini", "openai"])
    def adapter(self, request):
        server, model, suffix = (GeminiVideoServer, "gemini/veo-3.1-fast-generate-preview", "") if request.param == "gemini" else (OpenAIVideoServer, "openai/sora-2", "/v1")
        with server(polls_to_complete=2) as srv:
            yield LiteLLMVideo(LiteLLMVideo.Options(model=model, api_base=srv.url + suffix, timeout=10),
                               settings=Settings(env={"OPENAI_API_KEY": "test-key", "GEMINI_API_KEY": "test-key"}), prices=PriceTable.load())
