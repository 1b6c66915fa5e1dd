"""The contracts: what every adapter of a capability must do for the scheduler to rely on it.

Each class is a pytest mixin: its ``test_*`` methods need one fixture, ``adapter`` (or
``capability`` for :class:`CapabilityContract`). Requests are small, so a suite runs in seconds
against a local test server. Each test awaits its calls and then the adapter's ``aclose`` on
one event loop, as a run does, so an adapter that leaves a client or socket open fails under
``-W error::ResourceWarning``.
"""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

from pydantic import BaseModel

from ..capabilities.base import Capability
from ..capabilities.dialogue import check_dialogue, dialogue_schema
from ..cache.fingerprint import canonical_bytes
from ..providers.base import ImageRequest, ProviderOptions, SpeakerInfo, SpeechRequest, TextRequest
from ..recipe.schema import StepModel

__all__ = ["CapabilityContract", "ImageGeneratorContract", "ProviderContract", "SpeechSynthesizerContract", "TextGeneratorContract", "VideoGeneratorContract"]

_KIND = re.compile(r"^[a-z][a-z0-9_]*\.[A-Za-z0-9_.-]+$")


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _use(adapter: Any, coro: Any) -> Any:
    """Await ``coro`` then the adapter's ``aclose``, on one event loop, as a run does: clients an
    adapter opened on a loop can only be closed on that loop, and the loop ends with the test."""

    async def go() -> Any:
        try:
            return await coro
        finally:
            close = getattr(adapter, "aclose", None)
            if close is not None:
                await close()

    return asyncio.run(go())


class ProviderContract:
    """What every provider adapter declares (kind, version, options, identity, cost)."""

    #: the capability prefix the adapter's kind must start with (set by the subclasses)
    capability = ""

    def test_declares_a_kind_of_its_capability(self, adapter: Any) -> None:
        assert _KIND.match(adapter.kind), f"kind {adapter.kind!r} is not '<capability>.<vendor>'"
        assert adapter.kind.split(".", 1)[0] == self.capability
        assert isinstance(adapter.version, str) and adapter.version

    def test_options_are_a_strict_pydantic_model(self, adapter: Any) -> None:
        assert issubclass(adapter.Options, ProviderOptions)
        assert adapter.Options.model_config.get("extra") == "forbid", "unknown option keys must be an error, not ignored"

    def test_identity_can_be_keyed_and_holds_no_secret(self, adapter: Any) -> None:
        identity = adapter.identity()
        assert identity["kind"] == adapter.kind
        canonical_bytes(identity)  # every value is encodable into a cache key
        key = adapter.api_key() if hasattr(adapter, "api_key") else None
        if key:
            assert key not in str(identity)

    def test_warm_up_and_close_are_safe(self, adapter: Any) -> None:
        _run(adapter.warm_up())
        close = getattr(adapter, "aclose", None)
        if close is not None:
            _run(close())


class TextGeneratorContract(ProviderContract):
    """``async generate(TextRequest) -> TextResult``."""

    capability = "text"

    def test_answers_free_text(self, adapter: Any) -> None:
        res = _use(adapter, adapter.generate(TextRequest(prompt="Say hello to the viewers.", output="text")))
        assert isinstance(res.value, str) and res.value.strip()
        assert res.cost_usd >= 0 and res.input_tokens >= 0 and res.output_tokens >= 0

    def test_writes_a_dialogue_only_its_speakers_speak(self, adapter: Any) -> None:
        speakers = (SpeakerInfo("Nova", ("Ooh!",)), SpeakerInfo("Pip", ("Well, actually...",)))
        req = TextRequest(prompt="Why is the sky blue?", output="dialogue", topic="Why is the sky blue?", speakers=speakers,
                          hints={"lines": 4, "scenes": 2}, schema=dialogue_schema(["Nova", "Pip"]))
        res = _use(adapter, adapter.generate(req))
        dialogue = check_dialogue(res.value, {"nova": "Nova", "pip": "Pip"})
        assert dialogue["lines"] and {line["speaker"] for line in dialogue["lines"]} <= {"Nova", "Pip"}

    def test_estimates_a_cost(self, adapter: Any) -> None:
        assert adapter.estimate_cost(TextRequest(prompt="x" * 400)) >= 0


class SpeechSynthesizerContract(ProviderContract):
    """``async synthesize(SpeechRequest) -> SpeechResult`` with one timing per word."""

    capability = "speech"
    #: a voice id the adapter accepts (override for vendors with their own ids)
    voice = "en-us"
    text = "Hello there, curious viewer."

    def test_speaks_with_a_timing_per_word_in_order(self, adapter: Any) -> None:
        res = _use(adapter, adapter.synthesize(SpeechRequest(text=self.text, voice=self.voice)))
        assert res.audio and res.media_type.startswith("audio/") and res.extension
        assert res.duration > 0
        words = re.findall(r"\S+", self.text)
        assert len(res.words) == len(words)
        last = 0.0
        for w in res.words:
            assert self.text[w.char_start : w.char_end].strip(), w
            assert 0 <= w.start <= w.end <= res.duration + 0.05 and w.start >= last - 1e-6
            last = w.start

    def test_estimates_a_cost(self, adapter: Any) -> None:
        assert adapter.estimate_cost(SpeechRequest(text="x" * 80, voice=self.voice)) >= 0


class ImageGeneratorContract(ProviderContract):
    """``async generate_image(ImageRequest) -> ImageResult``: an image at the asked aspect."""

    capability = "image"

    def test_makes_a_decodable_image_at_the_asked_aspect(self, adapter: Any) -> None:
        from PIL import Image

        res = _use(adapter, adapter.generate_image(ImageRequest(prompt="a calm blue sky over hills", width=540, height=960, seed=1)))
        assert res.data and res.media_type.startswith("image/")
        with Image.open(io.BytesIO(res.data)) as im:
            w, h = im.size
        assert abs(w / h - 540 / 960) < 0.08, (w, h)

    def test_estimates_a_cost(self, adapter: Any) -> None:
        assert adapter.estimate_cost(ImageRequest(prompt="", width=540, height=960)) >= 0


class VideoGeneratorContract(ProviderContract):
    """The job protocol of ``video.*`` adapters (``providers/video_contract.py``): a submit gives
    a job id, status reaches ``completed`` (``poll_pause``: seconds between polls, ``max_polls``),
    the content is an MP4, and a job the adapter never made is ``expired``, never an exception."""

    capability = "video"
    poll_pause = 0.05
    max_polls = 200

    def test_a_job_is_submitted_polled_to_completion_and_downloaded_as_mp4(self, adapter: Any) -> None:
        from ..providers.video_contract import VideoJob, VideoRequest

        async def go() -> bytes:
            job = await adapter.submit(VideoRequest("a paper boat on a pond", seconds=1, width=64, height=112))
            assert isinstance(job, VideoJob) and isinstance(job.id, str) and job.id
            for _ in range(self.max_polls):
                status = await adapter.status(job.id)
                assert status.state in ("queued", "in_progress", "completed"), status
                if status.state == "completed":
                    return await adapter.content(job.id)
                await asyncio.sleep(self.poll_pause)
            raise AssertionError(f"job {job.id} did not complete in {self.max_polls} polls")

        data = _use(adapter, go())
        assert data[4:8] == b"ftyp", "the content must be an MP4"

    def test_an_unknown_job_is_expired(self, adapter: Any) -> None:
        status = _use(adapter, adapter.status("never-submitted-job"))
        assert status.state == "expired"

    def test_estimates_a_cost(self, adapter: Any) -> None:
        from ..providers.video_contract import VideoRequest

        assert adapter.estimate_cost(VideoRequest("x", seconds=4)) >= 0.0


class CapabilityContract:
    """What a capability declares: a name, a strict step schema, a way to be recognised."""

    def test_declares_a_name_and_a_strict_step_schema(self, capability: Capability) -> None:
        assert isinstance(capability, Capability) and capability.name.isidentifier()
        assert issubclass(capability.Step, StepModel) and issubclass(capability.Step, BaseModel)
        assert capability.Step.model_config.get("extra") == "forbid", "unknown step keys must be an error"
        assert set(capability.template_fields) <= set(capability.Step.model_fields)

    def test_is_recognised_by_a_trigger_key_or_a_provider_capability(self, capability: Capability) -> None:
        assert (capability.trigger is None) != (capability.provider_capability is None)
        if capability.trigger is not None:
            assert capability.trigger in {f.alias or n for n, f in capability.Step.model_fields.items()}
            assert capability.claims({capability.trigger: "x"}, None)
        else:
            assert capability.claims({"uses": "p"}, capability.provider_capability)
            assert not capability.claims({"uses": "p"}, "no-such-capability")
