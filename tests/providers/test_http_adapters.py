"""The HTTP adapters against the loopback vendor servers (tests/servers): real litellm, openai SDK and httpx.

For each of text.litellm, image.litellm (gpt-image-1, Together FLUX, dall-e-3), speech.openai and
speech.elevenlabs: the request on the wire (path, auth header, JSON body), the 200 result (value, tokens,
cost from vidflow's price table, media that decodes), the mapping of 400/401/429/500 and timeouts to
vidflow's error tree with exactly one request (vendor SDK retries off), secrets kept out of error
messages, the one-shot repair of a bad structured answer, and ``estimate_cost``.
"""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before anything imports litellm: never fetch the cost map

import io
import json
import re
import struct
import time
import wave
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import pytest
from PIL import Image

from tests.servers import ElevenLabsServer, OpenAIServer, Reply
from tests.servers.elevenlabs_server import LEAD, PER_CHAR
from tests.servers.media import tone_pcm, wav_bytes
from tests.servers.openai_server import SPEECH_LEAD, SPEECH_PER_CHAR, SPEECH_RATE, count_words, default_responder, message_text
from vidflow.errors import (
    AuthError,
    BadOutputError,
    BadRequestError,
    PermanentProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    TransientProviderError,
)
from vidflow.capabilities.dialogue import dialogue_schema
from vidflow.pricing import PriceTable
from vidflow.providers.base import ImageRequest, Provider, SpeakerInfo, SpeechRequest, TextRequest
from vidflow.providers.image_litellm import LiteLLMImage
from vidflow.providers.speech_elevenlabs import ElevenLabsSpeech
from vidflow.providers.speech_openai import OpenAISpeech
from vidflow.providers.text_litellm import LiteLLMText
from vidflow.settings import Settings

KEY = "test-key"
VOICE = "21m00Tcm4TlvDq8ikWAM"  # a 20-character ElevenLabs voice id
PRICES = PriceTable.load()
GPT = "openai/gpt-4o-mini"
GPT_IMAGE = "openai/gpt-image-1"
FLUX = "together_ai/black-forest-labs/FLUX.1-schnell"
DALLE3 = "openai/dall-e-3"
NOT_FOR_THE_WIRE = {"max_retries", "num_retries", "timeout", "api_key", "api_base", "client"}


def settings(key: str = KEY) -> Settings:
    return Settings(env={"OPENAI_API_KEY": key, "TOGETHERAI_API_KEY": key, "ELEVENLABS_API_KEY": key})


def text_adapter(srv: OpenAIServer, key: str = KEY, **opts: Any) -> LiteLLMText:
    opts = {"model": GPT, "api_base": srv.url + "/v1", "timeout": 10.0, **opts}
    return LiteLLMText(LiteLLMText.Options(**opts), settings=settings(key), prices=PRICES)


def image_adapter(srv: OpenAIServer, model: str, key: str = KEY, **opts: Any) -> LiteLLMImage:
    opts = {"model": model, "api_base": srv.url + "/v1", "timeout": 10.0, **opts}
    return LiteLLMImage(LiteLLMImage.Options(**opts), settings=settings(key), prices=PRICES)


def openai_speech(srv: OpenAIServer, key: str = KEY, **opts: Any) -> OpenAISpeech:
    opts = {"api_base": srv.url + "/v1", "timeout": 10.0, **opts}
    return OpenAISpeech(OpenAISpeech.Options(**opts), settings=settings(key), prices=PRICES)


def eleven_speech(srv: ElevenLabsServer, key: str = KEY, **opts: Any) -> ElevenLabsSpeech:
    opts = {"api_base": srv.url, "timeout": 10.0, **opts}
    return ElevenLabsSpeech(ElevenLabsSpeech.Options(**opts), settings=settings(key), prices=PRICES)


@pytest.fixture(scope="module", autouse=True)
def _litellm_imported():
    """Import litellm once, up front (seconds of CPU), so no single test carries that cost."""
    from vidflow.providers._litellm import get_litellm

    get_litellm(PRICES)


class Answers:
    """A chat responder: scripted answers first (in order), then the server's default."""

    def __init__(self) -> None:
        self.queue: list[str] = []

    def __call__(self, body: dict) -> str:
        return self.queue.pop(0) if self.queue else default_responder(body)


@pytest.fixture
def answers() -> Answers:
    return Answers()


@pytest.fixture
def oai(answers):
    with OpenAIServer(responder=answers) as srv:
        yield srv


@pytest.fixture
def xi():
    with ElevenLabsServer() as srv:
        yield srv


def tokens_of(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def prompt_words(body: dict) -> int:
    """prompt_tokens as the loopback server counts them (words of every message)."""
    return sum(count_words(message_text(m.get("content"))) for m in body["messages"])


def text_price(input_tokens: int, output_tokens: int, model: str = GPT) -> float:
    entry = PRICES.text[model]
    return input_tokens * entry["input_per_mtok"] / 1e6 + output_tokens * entry["output_per_mtok"] / 1e6


def png_size(data: bytes) -> tuple[int, int]:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    img.load()  # decodes the whole image
    return img.size


def wav_info(data: bytes) -> tuple[int, int, int, int]:
    """(channels, sample width, rate, frames actually present)."""
    with wave.open(io.BytesIO(data)) as w:
        frames = w.readframes(w.getnframes())
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), len(frames) // (w.getnchannels() * w.getsampwidth())


def assert_words_cover(words: list, text: str, duration: float) -> None:
    """One WordTiming per token, in order, starts non-decreasing, all within the audio."""
    assert [(w.word, w.char_start, w.char_end) for w in words] == tokens_of(text)
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= duration for w in words), words
    assert all(a.end == b.start for a, b in zip(words, words[1:]))
    assert words[-1].end == duration


SPEAKERS = (SpeakerInfo("Ada", ("Indeed!",), "a curious engineer"), SpeakerInfo("Bob", (), "her sceptical friend"))


def dialogue_request(**hints: Any) -> TextRequest:
    return TextRequest(
        prompt="Explain the tides.", system="Keep it light.", output="dialogue", speakers=SPEAKERS,
        hints={"lines": 2, "scenes": 1, **hints}, schema=dialogue_schema([s.name for s in SPEAKERS]),
    )  # fmt: skip


def dialogue(*lines: tuple[str, str]) -> dict:
    return {
        "title": "Why the sea breathes",
        "lines": [{"speaker": s, "text": t, "scene": 0} for s, t in lines],
        "scenes": [{"caption": "Tides", "image_prompt": "a moonlit harbour at low tide"}],
    }


GOOD = dialogue(("Ada", "The moon pulls the oceans toward it."), ("Bob", "So the sea is just following the moon?"))
BAD_SPEAKER = dialogue(("Ada", "The moon pulls the oceans."), ("Carl", "Who let me in here?"))


# =============================================================================================
# text.litellm
# =============================================================================================
async def test_text_dialogue_request_and_result(oai, answers):
    answers.queue.append(json.dumps(GOOD))
    adapter = text_adapter(oai, temperature=0.4, seed=11)
    req = dialogue_request()
    res = await adapter.generate(req)

    [rec] = oai.requests
    assert (rec.method, rec.path, rec.status) == ("POST", "/v1/chat/completions", 200)
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    body = rec.json
    assert body["model"] == "gpt-4o-mini"
    assert (body["temperature"], body["seed"]) == (0.4, 11)
    assert not NOT_FOR_THE_WIRE & body.keys()
    system, user = body["messages"]
    assert user == {"role": "user", "content": "Explain the tides."}
    assert system["role"] == "system" and system["content"].startswith("Keep it light.\n\n")
    for expected in ("- Ada: a curious engineer (catchphrases: Indeed!)", "- Bob: her sceptical friend",
                     "Write exactly 2 lines.", "Group them into 1 scenes", '"speaker": name'):  # fmt: skip
        assert expected in system["content"]
    rf = body["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True and rf["json_schema"]["name"]
    assert rf["json_schema"]["schema"] == req.schema
    assert rf["json_schema"]["schema"]["properties"]["lines"]["items"]["properties"]["speaker"]["enum"] == ["Ada", "Bob"]

    assert res.value == GOOD
    assert res.model == "gpt-4o-mini"
    assert res.input_tokens == prompt_words(body)
    assert res.output_tokens == count_words(json.dumps(GOOD))
    assert res.cost_usd == pytest.approx(text_price(res.input_tokens, res.output_tokens), rel=1e-12)


async def test_text_plain_request_has_no_system_and_no_response_format(oai):
    res = await text_adapter(oai).generate(TextRequest(prompt="Say hi to the crew"))
    [rec] = oai.requests
    assert rec.json["messages"] == [{"role": "user", "content": "Say hi to the crew"}]
    assert "response_format" not in rec.json and not NOT_FOR_THE_WIRE & rec.json.keys()
    assert res.value == "reply to: Say hi to the crew"
    assert (res.input_tokens, res.output_tokens) == (5, 7)
    assert res.cost_usd == pytest.approx(text_price(5, 7), rel=1e-12)


async def test_text_json_output_uses_json_mode(oai):
    res = await text_adapter(oai).generate(TextRequest(prompt="facts", output="json"))
    [rec] = oai.requests
    assert rec.json["response_format"] == {"type": "json_object"}
    assert rec.json["messages"][0] == {"role": "system", "content": "Answer with JSON only."}
    assert res.value == {"text": "reply to: facts"}


async def test_text_usage_and_resolved_model_come_from_the_server(oai):
    oai.script(Reply(200, {"x-request-id": "req_1"}, {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 345, "total_tokens": 1545},
    }))  # fmt: skip
    res = await text_adapter(oai).generate(TextRequest(prompt="hi"))
    assert res.value == "Hello!"
    assert res.model == "gpt-4o-mini-2024-07-18"
    assert (res.input_tokens, res.output_tokens) == (1200, 345)
    assert res.cost_usd == pytest.approx(1200 * 0.15e-6 + 345 * 0.60e-6, rel=1e-12)


async def test_text_fenced_json_is_accepted_without_repair(oai, answers):
    answers.queue.append("```json\n" + json.dumps(GOOD) + "\n```")
    res = await text_adapter(oai).generate(dialogue_request())
    assert res.value == GOOD and len(oai.requests) == 1


@pytest.mark.parametrize(
    "first, quoted",
    [
        (json.dumps(BAD_SPEAKER), "'Carl' is not one of ['Ada', 'Bob']"),
        ('{"title": "cut off", "lines": [', "not JSON"),
    ],
    ids=["speaker-not-in-enum", "broken-json"],
)
async def test_text_repair_quotes_the_error_and_adds_up_usage(oai, answers, first, quoted):
    answers.queue += [first, json.dumps(GOOD)]
    res = await text_adapter(oai).generate(dialogue_request())
    assert res.value == GOOD
    assert [r.status for r in oai.requests] == [200, 200]
    one, two = (r.json for r in oai.requests)
    assert two["messages"][: len(one["messages"])] == one["messages"]
    assistant, repair = two["messages"][len(one["messages"]) :]
    assert assistant == {"role": "assistant", "content": first}
    assert repair["role"] == "user" and quoted in repair["content"]
    assert two["response_format"] == one["response_format"]
    in_tok = prompt_words(one) + prompt_words(two)
    out_tok = count_words(first) + count_words(json.dumps(GOOD))
    assert (res.input_tokens, res.output_tokens) == (in_tok, out_tok)
    assert res.cost_usd == pytest.approx(text_price(in_tok, out_tok), rel=1e-12)


async def test_text_two_invalid_answers_fail_with_bad_output(oai, answers):
    answers.queue += [json.dumps(BAD_SPEAKER), "still not json"]
    with pytest.raises(BadOutputError) as ei:
        await text_adapter(oai).generate(dialogue_request())
    assert isinstance(ei.value, PermanentProviderError) and ei.value.kind == "text.litellm"
    assert "not JSON" in str(ei.value)
    assert [r.status for r in oai.requests] == [200, 200]  # one repair, never more


async def test_text_estimate_is_in_a_sane_range(oai, answers):
    lines = [(("Ada", "Bob")[i % 2], f"Line {i}: the moon tugs at the sea and the sea tugs back, twice every single day.")
             for i in range(8)]  # fmt: skip
    script = dialogue(*lines)
    script["scenes"] *= 4
    answers.queue.append(json.dumps(script))
    adapter = text_adapter(oai)
    req = dialogue_request(lines=8, scenes=4)
    res = await adapter.generate(req)
    estimate = adapter.estimate_cost(req)
    assert res.cost_usd > 0
    assert res.cost_usd / 5 <= estimate <= res.cost_usd * 5, (estimate, res.cost_usd)
    plain = TextRequest(prompt="Write a two-sentence hook about tides.")
    res = await adapter.generate(plain)
    assert 0 < adapter.estimate_cost(plain) < 0.01 and adapter.estimate_cost(plain) >= res.cost_usd


# =============================================================================================
# image.litellm
# =============================================================================================
async def test_image_gpt_image_1_request_and_result(oai):
    adapter = image_adapter(oai, GPT_IMAGE)
    req = ImageRequest(prompt="a lighthouse in a storm", seed=7)
    res = await adapter.generate_image(req)
    [rec] = oai.requests
    assert (rec.path, rec.status) == ("/v1/images/generations", 200)
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    body = rec.json
    assert (body["model"], body["prompt"], body["size"], body.get("n", 1)) == ("gpt-image-1", req.prompt, "1024x1536", 1)
    assert "seed" not in body and "response_format" not in body and not NOT_FOR_THE_WIRE & body.keys()

    assert png_size(res.data) == (1024, 1536) == (res.width, res.height)
    assert (res.media_type, res.extension, res.model) == ("image/png", "png", GPT_IMAGE)
    assert res.cost_usd == PRICES.image[GPT_IMAGE]["1024x1536"] == adapter.estimate_cost(req)


async def test_image_together_flux_request_and_result(oai):
    adapter = image_adapter(oai, FLUX, steps=4)
    req = ImageRequest(prompt="a fox in the snow", seed=1234)
    res = await adapter.generate_image(req)
    [rec] = oai.requests
    assert (rec.path, rec.status) == ("/v1/images/generations", 200)
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    body = rec.json
    assert body["model"] == "black-forest-labs/FLUX.1-schnell"
    assert (body["width"], body["height"], body["seed"], body["steps"]) == (768, 1344, 1234, 4)
    assert "size" not in body and not NOT_FOR_THE_WIRE & body.keys()

    assert png_size(res.data) == (768, 1344) == (res.width, res.height)
    assert res.cost_usd == PRICES.image[FLUX]["*"] == adapter.estimate_cost(req)


async def test_image_dalle3_url_reply_is_fetched_without_the_key(oai):
    adapter = image_adapter(oai, DALLE3)
    req = ImageRequest(prompt="a paper boat on a pond")
    res = await adapter.generate_image(req)
    post, get = oai.requests
    assert (post.path, post.json["model"], post.json["size"]) == ("/v1/images/generations", "dall-e-3", "1024x1792")
    assert post.headers["authorization"] == f"Bearer {KEY}"
    assert get.method == "GET" and get.path.startswith("/files/") and get.status == 200
    assert "authorization" not in get.headers  # the key never goes to the image host
    assert png_size(res.data) == (1024, 1792) == (res.width, res.height)
    assert res.cost_usd == PRICES.image[DALLE3]["1024x1792"] == adapter.estimate_cost(req)


async def test_image_reply_that_is_not_an_image_is_bad_output(oai):
    oai.script(Reply(200, {}, {"created": 1, "data": [{"b64_json": "aGVsbG8="}]}))  # "hello"
    with pytest.raises(BadOutputError) as ei:
        await image_adapter(oai, GPT_IMAGE).generate_image(ImageRequest(prompt="p"))
    assert ei.value.kind == "image.litellm"
    assert len(oai.requests) == 1


# =============================================================================================
# speech.openai
# =============================================================================================
async def test_openai_speech_request_and_result(oai):
    adapter = openai_speech(oai)
    text = "Hello big world, the tide is coming in!"
    req = SpeechRequest(text, "alloy")
    res = await adapter.synthesize(req)
    [rec] = oai.requests
    assert (rec.path, rec.status) == ("/v1/audio/speech", 200)
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    assert rec.json == {"model": "tts-1", "input": text, "voice": "alloy", "response_format": "wav"}

    frames = round((2 * SPEECH_LEAD + SPEECH_PER_CHAR * len(text)) * SPEECH_RATE)
    assert wav_info(res.audio) == (1, 2, SPEECH_RATE, frames)
    assert res.duration == frames / SPEECH_RATE and res.sample_rate == SPEECH_RATE
    assert (res.media_type, res.extension, res.model) == ("audio/wav", "wav", "openai/tts-1")
    assert res.timings_estimated is True
    assert_words_cover(res.words, text, res.duration)
    assert res.cost_usd == pytest.approx(len(text) * PRICES.speech["openai/tts-1"]["per_char"], rel=1e-12)
    assert adapter.estimate_cost(req) == res.cost_usd


async def test_openai_speech_passes_speed_and_instructions(oai):
    adapter = openai_speech(oai, model="openai/gpt-4o-mini-tts", instructions="cheerful")
    res = await adapter.synthesize(SpeechRequest("Quick now", "nova", {"speed": 2.0}))
    assert oai.requests[0].json == {"model": "gpt-4o-mini-tts", "input": "Quick now", "voice": "nova",
                                    "response_format": "wav", "speed": 2.0, "instructions": "cheerful"}  # fmt: skip
    assert res.duration == round((2 * SPEECH_LEAD + SPEECH_PER_CHAR * 9 / 2.0) * SPEECH_RATE) / SPEECH_RATE


async def test_openai_speech_streamed_wav_header_is_fixed(oai):
    """OpenAI streams WAV with a placeholder length (0xFFFFFFFF): the samples present count."""
    raw = bytearray(wav_bytes(tone_pcm(0.75, SPEECH_RATE), SPEECH_RATE))
    raw[4:8] = struct.pack("<I", 0xFFFFFFFF)
    at = raw.find(b"data")
    raw[at + 4 : at + 8] = struct.pack("<I", 0xFFFFFFFF)
    oai.script(Reply(200, {"content-type": "audio/wav"}, bytes(raw)))
    res = await openai_speech(oai).synthesize(SpeechRequest("one two three", "alloy"))
    assert res.duration == 0.75
    with wave.open(io.BytesIO(res.audio)) as w:
        assert w.getnframes() == 0.75 * SPEECH_RATE  # the header now tells the truth
    assert_words_cover(res.words, "one two three", res.duration)


async def test_openai_speech_very_short_audio_keeps_words_inside_it(oai):
    oai.script(Reply(200, {"content-type": "audio/wav"}, wav_bytes(tone_pcm(0.1, SPEECH_RATE), SPEECH_RATE)))
    res = await openai_speech(oai).synthesize(SpeechRequest("a b c", "alloy"))
    assert res.duration == 0.1
    assert_words_cover(res.words, "a b c", res.duration)


async def test_openai_speech_non_wav_reply_is_bad_output(oai):
    oai.script(Reply(200, {"content-type": "audio/mpeg"}, b"ID3\x04\x00\x00\x00\x00\x00\x00"))
    with pytest.raises(BadOutputError):
        await openai_speech(oai).synthesize(SpeechRequest("Hi", "alloy"))


# =============================================================================================
# speech.elevenlabs
# =============================================================================================
async def test_elevenlabs_request_and_result(xi):
    adapter = eleven_speech(xi, voice_settings={"stability": 0.4, "similarity_boost": 0.7}, seed=5)
    text = "Hello big world, the tide is coming in!"
    req = SpeechRequest(text, VOICE, {"seed": 42, "voice_settings": {"style": 0.2, "stability": 0.5}})
    res = await adapter.synthesize(req)
    [rec] = xi.requests
    assert (rec.method, rec.path, rec.status) == ("POST", f"/v1/text-to-speech/{VOICE}/with-timestamps", 200)
    assert rec.query == {"output_format": "pcm_24000"}
    assert rec.headers["xi-api-key"] == KEY and "authorization" not in rec.headers
    assert rec.json == {
        "text": text, "model_id": "eleven_multilingual_v2", "seed": 42,
        "voice_settings": {"stability": 0.5, "similarity_boost": 0.7, "style": 0.2},
    }  # fmt: skip

    frames = round((LEAD + PER_CHAR * len(text)) * 24000)
    assert wav_info(res.audio) == (1, 2, 24000, frames)
    assert res.duration == frames / 24000 and res.sample_rate == 24000
    assert (res.media_type, res.extension, res.model) == ("audio/wav", "wav", "elevenlabs/eleven_multilingual_v2")
    assert res.timings_estimated is False
    assert_words_cover(res.words, text, res.duration)
    world = next(w for w in res.words if w.word == "world,")
    assert world.char_start == 10 and world.start == round(LEAD + PER_CHAR * 10, 3) == 0.7
    assert [w.start for w in res.words] == [round(LEAD + PER_CHAR * a, 3) for _, a, _ in tokens_of(text)]
    assert res.cost_usd == pytest.approx(len(text) * PRICES.speech["elevenlabs/eleven_multilingual_v2"]["per_char"], rel=1e-12)
    assert adapter.estimate_cost(req) == res.cost_usd


@pytest.mark.parametrize("model_id, output_format, rate", [("eleven_flash_v2_5", "pcm_16000", 16000), ("eleven_v3", "pcm_44100", 44100)])
async def test_elevenlabs_model_and_format_options(xi, model_id, output_format, rate):
    adapter = eleven_speech(xi, model_id=model_id, output_format=output_format)
    req = SpeechRequest("Low tide at noon.", VOICE)
    res = await adapter.synthesize(req)
    assert xi.requests[0].query == {"output_format": output_format}
    assert xi.requests[0].json == {"text": req.text, "model_id": model_id}
    assert wav_info(res.audio)[2] == res.sample_rate == rate
    assert res.duration == round((LEAD + PER_CHAR * len(req.text)) * rate) / rate
    assert res.cost_usd == pytest.approx(len(req.text) * PRICES.speech[f"elevenlabs/{model_id}"]["per_char"], rel=1e-12)
    assert adapter.estimate_cost(req) == res.cost_usd


async def test_elevenlabs_4xx_with_a_non_object_json_body_stays_permanent(xi):
    xi.script(Reply(400, {}, ["text is empty"]))
    with pytest.raises(BadRequestError) as ei:
        await eleven_speech(xi).synthesize(SpeechRequest("Hi", VOICE))
    assert ei.value.status == 400 and "text is empty" in str(ei.value)


# =============================================================================================
# every adapter: errors, timeouts, secrets
# =============================================================================================
@dataclass(frozen=True)
class Case:
    name: str
    server: type
    path: str
    make: Callable[..., Provider]
    call: Callable[[Any], Awaitable[Any]]
    rid_header: str = "x-request-id"

    def auth_of(self, rec) -> str:
        return rec.headers.get("xi-api-key") if self.server is ElevenLabsServer else rec.headers.get("authorization")


CASES = [
    Case("text.litellm", OpenAIServer, "/v1/chat/completions", text_adapter,
         lambda a: a.generate(TextRequest(prompt="Say hi"))),
    Case("image.litellm[gpt-image-1]", OpenAIServer, "/v1/images/generations",
         lambda srv, **kw: image_adapter(srv, GPT_IMAGE, **kw), lambda a: a.generate_image(ImageRequest(prompt="p"))),
    Case("image.litellm[together]", OpenAIServer, "/v1/images/generations",
         lambda srv, **kw: image_adapter(srv, FLUX, **kw), lambda a: a.generate_image(ImageRequest(prompt="p", seed=3))),
    Case("image.litellm[dall-e-3]", OpenAIServer, "/v1/images/generations",
         lambda srv, **kw: image_adapter(srv, DALLE3, **kw), lambda a: a.generate_image(ImageRequest(prompt="p"))),
    Case("speech.openai", OpenAIServer, "/v1/audio/speech", openai_speech,
         lambda a: a.synthesize(SpeechRequest("Hello there", "alloy"))),
    Case("speech.elevenlabs", ElevenLabsServer, f"/v1/text-to-speech/{VOICE}/with-timestamps", eleven_speech,
         lambda a: a.synthesize(SpeechRequest("Hello there", VOICE)), rid_header="request-id"),
]  # fmt: skip
IDS = [c.name for c in CASES]


@pytest.mark.parametrize(
    "status, expected",
    [(400, BadRequestError), (401, AuthError), (429, RateLimitedError), (500, ProviderUnavailableError)],
)
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_http_errors_map_to_vidflow_errors_with_one_request(case, status, expected):
    with case.server() as srv:
        reply = srv.error_reply(status, "scripted", f"scripted {status}", retry_after=3 if status == 429 else None)
        reply.headers[case.rid_header] = "req_scripted"
        srv.script(reply)
        adapter = case.make(srv)
        with pytest.raises(expected) as ei:
            await case.call(adapter)
    err = ei.value
    assert type(err) is expected, repr(err)
    assert isinstance(err, TransientProviderError) is (status in (429, 500))
    assert (err.kind, err.status, err.request_id) == (adapter.kind, status, "req_scripted")
    assert f"scripted {status}" in str(err)
    if status == 429:
        assert err.retry_after == 3.0
    assert [(r.path, r.status) for r in srv.requests] == [(case.path, status)]  # the SDK retried nothing
    assert case.auth_of(srv.requests[0]).endswith(KEY)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_timeout_is_transient_with_one_request(case):
    with case.server() as srv:
        srv.script(Reply(200, {}, b"{}", delay=3.0))
        adapter = case.make(srv, timeout=0.5)
        t0 = time.monotonic()
        with pytest.raises(ProviderTimeoutError) as ei:
            await case.call(adapter)
        elapsed = time.monotonic() - t0
        assert len(srv.requests) == 1 and srv.requests[0].path == case.path
    assert isinstance(ei.value, TransientProviderError) and ei.value.kind == adapter.kind
    assert 0.45 <= elapsed < 2.0


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_wrong_key_is_an_auth_error_from_the_servers_own_check(case):
    with case.server() as srv:
        with pytest.raises(AuthError):
            await case.call(case.make(srv, key="wrong-key-123"))
    assert [r.status for r in srv.requests] == [401]


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_key_echoed_in_an_error_body_is_masked(case):
    secret = "sk-vidflow-SECRET-0123456789abcdef"
    with case.server(api_key=secret) as srv:
        srv.script(srv.error_reply(401, "invalid_api_key", f"Incorrect API key provided: {secret}. Get a new one."))
        with pytest.raises(AuthError) as ei:
            await case.call(case.make(srv, key=secret))
        assert case.auth_of(srv.requests[0]).endswith(secret)  # the key was really sent
    err = ei.value
    assert secret not in str(err) and secret not in repr(err)
    assert all(secret not in str(a) for a in err.args)
    assert "Incorrect API key provided" in str(err)
