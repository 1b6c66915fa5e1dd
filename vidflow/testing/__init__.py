"""Conformance suites for plugin authors: run them against your adapter (fsspec's abstract tests
are the model).

Subclass the contract of your capability in your own test suite and give it an ``adapter``
fixture (an instance of your provider, pointed at a test server if it needs one)::

    import pytest
    from vidflow.testing import SpeechSynthesizerContract

    class TestAcmeSpeech(SpeechSynthesizerContract):
        @pytest.fixture
        def adapter(self):
            return AcmeSpeech(AcmeSpeech.Options(api_base="http://127.0.0.1:8123"))

Every test is a plain pytest test (no asyncio plugin needed). vidflow binds its own built-in
adapters to these suites in ``tests/contract/``.
"""

from .contracts import (
    CapabilityContract,
    ImageGeneratorContract,
    ProviderContract,
    SpeechSynthesizerContract,
    TextGeneratorContract,
)

__all__ = ["CapabilityContract", "ImageGeneratorContract", "ProviderContract", "SpeechSynthesizerContract", "TextGeneratorContract"]
