"""vidflow's own adapters and capabilities, bound to the suites plugin authors run (vidflow.testing)."""

from __future__ import annotations

import pytest

from vidflow.capabilities.registry import CapabilityRegistry
from vidflow.providers.image_procedural import ProceduralImage
from vidflow.providers.speech_espeak import EspeakSpeech
from vidflow.providers.text_offline import OfflineText
from vidflow.testing import CapabilityContract, ImageGeneratorContract, SpeechSynthesizerContract, TextGeneratorContract


class TestOfflineText(TextGeneratorContract):
    @pytest.fixture
    def adapter(self):
        return OfflineText()


class TestEspeakSpeech(SpeechSynthesizerContract):
    @pytest.fixture
    def adapter(self):
        return EspeakSpeech()


class TestProceduralImage(ImageGeneratorContract):
    @pytest.fixture
    def adapter(self):
        return ProceduralImage()


class TestBuiltinCapabilities(CapabilityContract):
    @pytest.fixture(params=["text", "speech", "image", "compose", "publish"])
    def capability(self, request):
        return CapabilityRegistry(entry_point_group=None).get(request.param)
