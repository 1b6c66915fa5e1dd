"""The loopback servers are faithful enough for the real clients: litellm, the openai SDK and httpx."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import threading
import time
import wave

import httpx
import pytest
from PIL import Image

from tests.servers import ElevenLabsServer, OpenAIServer, Reply
from tests.servers.base import ManualClock
from tests.servers.elevenlabs_server import LEAD, PER_CHAR

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before litellm is imported: never fetch the cost map

KEY = "test-key"
VOICE = "21m00Tcm4TlvDq8ikWAM"  # a 20-character ElevenLabs voice id (litellm maps "alloy" to it too)


@pytest.fixture(scope="session")
def litellm():
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.suppress_debug_info = True
    return litellm


@pytest.fixture
def oai():
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture
def xi():
    with ElevenLabsServer() as srv:
        yield srv


def _png_size(data: bytes) -> tuple[int, int]:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return img.size


def _wav_info(data: bytes) -> tuple[int, int, int, float]:
    with wave.open(io.BytesIO(data)) as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes() / w.getframerate()


async def _until(condition, what: str) -> None:
    """Wait for ``condition()`` (a state of the server, not a duration); a generous guard only
    against hanging forever when it never comes."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.01)


def _max_overlap(recs) -> int:
    events = sorted([(r.t_start, 1) for r in recs] + [(r.t_end, -1) for r in recs], key=lambda e: (e[0], e[1]))
    cur = peak = 0
    for _, d in events:
        cur += d
        peak = max(peak, cur)
    return peak


# ---------------------------------------------------------------------------------------------
# litellm happy paths
# ---------------------------------------------------------------------------------------------
async def test_litellm_chat_uses_responder_and_counts_words(litellm):
    seen = []

    def responder(body: dict) -> str:
        seen.append(body)
        return "four words of reply"

    with OpenAIServer(responder=responder) as srv:
        resp = await litellm.acompletion(
            model="openai/gpt-4o-mini",
            messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "say three things"}],
            api_base=srv.url + "/v1",
            api_key=KEY,
            max_retries=0,
        )
    assert resp.choices[0].message.content == "four words of reply"
    assert resp.choices[0].finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (5, 4, 9)
    assert resp.model.endswith("gpt-4o-mini")
    [rec] = srv.requests
    assert (rec.method, rec.path, rec.status) == ("POST", "/v1/chat/completions", 200)
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    assert rec.json["model"] == "gpt-4o-mini" and seen[0]["messages"][1]["content"] == "say three things"
    assert rec.t_start <= rec.t_end


async def test_litellm_structured_output_default_responder_fits_schema(litellm, oai):
    from pydantic import BaseModel

    class Scene(BaseModel):
        caption: str
        seconds: float

    class Script(BaseModel):
        title: str
        scenes: list[Scene]
        mood: str | None = None

    resp = await litellm.acompletion(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "a script"}], response_format=Script,
        api_base=oai.url + "/v1", api_key=KEY, max_retries=0,
    )  # fmt: skip
    Script.model_validate_json(resp.choices[0].message.content)
    assert oai.requests[0].json["response_format"]["type"] == "json_schema"

    resp = await litellm.acompletion(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x"}], response_format={"type": "json_object"},
        api_base=oai.url + "/v1", api_key=KEY, max_retries=0,
    )  # fmt: skip
    assert json.loads(resp.choices[0].message.content) == {"text": "reply to: x"}


async def test_litellm_chat_streaming_and_max_tokens(litellm, oai):
    stream = await litellm.acompletion(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "one two three"}], stream=True,
        api_base=oai.url + "/v1", api_key=KEY, max_retries=0,
    )  # fmt: skip
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "reply to: one two three"
    resp = await litellm.acompletion(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "one two three"}], max_tokens=2,
        api_base=oai.url + "/v1", api_key=KEY, max_retries=0,
    )  # fmt: skip
    assert resp.choices[0].message.content == "reply to:" and resp.choices[0].finish_reason == "length"


async def test_litellm_image_generation_gpt_image(litellm, oai):
    resp = await litellm.aimage_generation(
        model="openai/gpt-image-1", prompt="a red fox", size="1024x1536", api_base=oai.url + "/v1", api_key=KEY,
        max_retries=0,
    )  # fmt: skip
    png = base64.b64decode(resp.data[0].b64_json)
    assert _png_size(png) == (1024, 1536)
    [rec] = oai.requests
    assert rec.path == "/v1/images/generations" and rec.json["size"] == "1024x1536"
    # deterministic: same prompt + seed -> same bytes; different prompt -> different
    again = httpx.post(oai.url + "/v1/images/generations", headers={"authorization": f"Bearer {KEY}"},
                       json={"model": "gpt-image-1", "prompt": "a red fox", "size": "1024x1536"}).json()  # fmt: skip
    assert again["data"][0]["b64_json"] == resp.data[0].b64_json


async def test_dalle3_url_response_is_served(litellm, oai):
    resp = await litellm.aimage_generation(
        model="openai/dall-e-3", prompt="a boat", size="1024x1792", response_format="url",
        api_base=oai.url + "/v1", api_key=KEY, max_retries=0,
    )  # fmt: skip
    url = resp.data[0].url
    assert url.startswith(oai.url + "/files/")
    got = httpx.get(url)  # no auth, like a signed blob URL
    assert got.headers["content-type"] == "image/png" and _png_size(got.content) == (1024, 1792)


async def test_litellm_together_flux_width_height(litellm, oai):
    resp = await litellm.aimage_generation(
        model="together_ai/black-forest-labs/FLUX.1-schnell", prompt="a city", width=768, height=1344, steps=4, seed=7,
        api_base=oai.url + "/v1", api_key=KEY, max_retries=0,
    )  # fmt: skip
    [rec] = oai.requests
    assert rec.path == "/v1/images/generations"
    assert rec.json["model"] == "black-forest-labs/FLUX.1-schnell"
    assert (rec.json["width"], rec.json["height"], rec.json["steps"], rec.json["seed"]) == (768, 1344, 4, 7)
    assert _png_size(base64.b64decode(resp.data[0].b64_json)) == (768, 1344)


async def test_litellm_openai_speech_wav_and_mp3(litellm, oai):
    text = "Hello there, world."
    resp = await litellm.aspeech(
        model="openai/tts-1", input=text, voice="alloy", response_format="wav", api_base=oai.url + "/v1", api_key=KEY,
        max_retries=0,
    )  # fmt: skip
    ch, width, rate, secs = _wav_info(resp.content)
    assert (ch, width, rate) == (1, 2, 24000)
    assert secs == pytest.approx(0.06 * len(text) + 0.2, abs=1e-3)
    assert max(resp.content[44:]) > 0  # a tone, not silence
    rec = oai.requests[0]
    assert rec.path == "/v1/audio/speech" and rec.json == {"model": "tts-1", "input": text, "voice": "alloy", "response_format": "wav"}

    mp3 = await litellm.aspeech(model="openai/tts-1", input=text, voice="alloy", api_base=oai.url + "/v1", api_key=KEY, max_retries=0)
    assert mp3.content[:3] == b"ID3" or mp3.content[0] == 0xFF
    assert "response_format" not in oai.requests[1].json


async def test_openai_sdk_transcription_round_trip(oai):
    """Audio this server spoke is transcribed back with word timings on the speech layout."""
    import openai

    client = openai.AsyncOpenAI(base_url=oai.url + "/v1", api_key=KEY, max_retries=0)
    text = "Hi, big world!"
    audio = (await client.audio.speech.create(model="tts-1", input=text, voice="nova", response_format="wav")).content
    tr = await client.audio.transcriptions.create(
        file=("speech.wav", audio), model="whisper-1", response_format="verbose_json", timestamp_granularities=["word"]
    )
    assert tr.text == text
    assert [(w.word, w.start, w.end) for w in tr.words] == [("Hi", 0.1, 0.22), ("big", 0.34, 0.52), ("world", 0.58, 0.88)]
    await client.close()


async def test_litellm_elevenlabs_speech_plain_path(litellm, xi):
    resp = await litellm.aspeech(
        model="elevenlabs/eleven_multilingual_v2", input="Hello", voice=VOICE, api_base=xi.url, api_key=KEY, max_retries=0
    )
    assert resp.content[:3] == b"ID3" or resp.content[0] == 0xFF  # mp3_44100_128 is the default
    [rec] = xi.requests
    assert (rec.path, rec.status) == (f"/v1/text-to-speech/{VOICE}", 200)
    assert rec.headers["xi-api-key"] == KEY and "authorization" not in rec.headers
    assert rec.json == {"text": "Hello", "model_id": "eleven_multilingual_v2"}
    assert rec.query == {}

    resp = await litellm.aspeech(
        model="elevenlabs/eleven_multilingual_v2", input="Hello", voice=VOICE, response_format="pcm",
        api_base=xi.url, api_key=KEY, max_retries=0,
    )  # fmt: skip
    assert xi.requests[1].query == {"output_format": "pcm_44100"}
    assert len(resp.content) == round((LEAD + PER_CHAR * 5) * 44100) * 2


# ---------------------------------------------------------------------------------------------
# errors through litellm: class, retry-after, exactly one request with max_retries=0
# ---------------------------------------------------------------------------------------------
async def test_litellm_rate_limit_error_carries_retry_after(litellm):
    clock = ManualClock()  # the server's time stands still: Retry-After is exactly the pause
    oai = OpenAIServer(clock=clock).start()
    oai.pause_until(clock() + 7)
    with pytest.raises(litellm.RateLimitError) as ei:
        await litellm.acompletion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                  api_base=oai.url + "/v1", api_key=KEY, max_retries=0)  # fmt: skip
    assert ei.value.status_code == 429
    assert ei.value.litellm_response_headers.get("retry-after") == "7"
    [rec] = oai.requests
    assert rec.status == 429
    assert rec.headers["x-stainless-retry-count"] == "0"
    oai.stop()


@pytest.mark.parametrize(
    ("case", "exc_name", "status"),
    [
        ("wrong_key", "AuthenticationError", 401),
        ("bad_request", "BadRequestError", 400),
        ("server_error", "InternalServerError", 500),
        ("scripted_500", "InternalServerError", 500),
        ("scripted_429", "RateLimitError", 429),
    ],
)
async def test_litellm_chat_error_classes_single_request(litellm, case, exc_name, status):
    with OpenAIServer(fail_rate=1.0 if case == "server_error" else 0.0) as srv:
        if case == "bad_request":
            srv.script(srv.error_reply(400, "context_length_exceeded", "too long", param="messages"))
        elif case.startswith("scripted_"):
            srv.script(srv.error_reply(status, "x", "scripted", retry_after=2 if status == 429 else None))
        with pytest.raises(getattr(litellm, exc_name)) as ei:
            await litellm.acompletion(
                model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], api_base=srv.url + "/v1",
                api_key="nope" if case == "wrong_key" else KEY, max_retries=0,
            )  # fmt: skip
    assert ei.value.status_code == status
    assert [r.status for r in srv.requests] == [status]  # exactly one request: max_retries=0 is honoured
    if status == 429:
        assert ei.value.litellm_response_headers.get("retry-after") == "2"


async def test_litellm_image_errors(litellm, oai):
    with pytest.raises(litellm.BadRequestError):  # a real validation error of the server (size unsupported)
        await litellm.aimage_generation(model="openai/gpt-image-1", prompt="p", size="1792x1024",
                                        api_base=oai.url + "/v1", api_key=KEY)  # fmt: skip
    with pytest.raises(litellm.AuthenticationError):
        await litellm.aimage_generation(model="openai/gpt-image-1", prompt="p", api_base=oai.url + "/v1", api_key="bad")
    assert [r.status for r in oai.requests] == [400, 401]  # 400/401 are never retried


async def test_litellm_image_generation_ignores_max_retries(litellm, oai):
    """QUIRK (litellm 1.106.2): aimage_generation drops max_retries/num_retries and forces the openai SDK's
    default of 2 retries (it honours Retry-After <= 60 s), even on a client passed in via client=."""
    oai.script(oai.error_reply(429, "rate_limited", "slow down", retry_after=0.1))
    resp = await litellm.aimage_generation(model="openai/gpt-image-1", prompt="p", api_base=oai.url + "/v1",
                                           api_key=KEY, max_retries=0, num_retries=0)  # fmt: skip
    assert resp.data[0].b64_json
    assert [(r.status, r.headers["x-stainless-retry-count"]) for r in oai.requests] == [(429, "0"), (200, "1")]


async def test_litellm_image_generation_single_request_with_pinned_client(litellm, oai):
    """Workaround: pass an AsyncOpenAI whose max_retries cannot be overwritten."""
    import openai

    class NoRetryAsyncOpenAI(openai.AsyncOpenAI):
        max_retries = property(lambda self: 0, lambda self, value: None)

    client = NoRetryAsyncOpenAI(base_url=oai.url + "/v1", api_key=KEY)
    oai.script(oai.error_reply(429, "rate_limited", "slow down", retry_after=3))
    with pytest.raises(litellm.RateLimitError) as ei:
        await litellm.aimage_generation(model="together_ai/black-forest-labs/FLUX.1-schnell", prompt="p", width=512,
                                        height=512, api_base=oai.url + "/v1", api_key=KEY, client=client)  # fmt: skip
    assert ei.value.litellm_response_headers.get("retry-after") == "3"
    assert [r.status for r in oai.requests] == [429]
    await client.close()


async def test_litellm_elevenlabs_429_and_401(litellm):
    gate = threading.Event()  # the first request stays in flight until the 429 was seen
    with ElevenLabsServer(max_concurrency=1, gate=gate) as srv:
        async with httpx.AsyncClient() as client:
            hold = asyncio.create_task(client.post(f"{srv.url}/v1/text-to-speech/{VOICE}?output_format=pcm_16000",
                                                   json={"text": "x"}, headers={"xi-api-key": KEY}))  # fmt: skip
            await _until(lambda: srv.in_flight == 1, "the first request is in flight")
            with pytest.raises(litellm.RateLimitError) as ei:
                await litellm.aspeech(model="elevenlabs/eleven_multilingual_v2", input="Hello", voice=VOICE,
                                      api_base=srv.url, api_key=KEY, max_retries=0)  # fmt: skip
            assert ei.value.litellm_response_headers.get("retry-after") == "1"
            assert "too_many_concurrent_requests" in str(ei.value)
            gate.set()
            assert (await hold).status_code == 200
        with pytest.raises(litellm.AuthenticationError):
            await litellm.aspeech(model="elevenlabs/eleven_multilingual_v2", input="Hello", voice=VOICE,
                                  api_base=srv.url, api_key="wrong", max_retries=0)  # fmt: skip
    assert [r.status for r in srv.requests] == [200, 429, 401]


# ---------------------------------------------------------------------------------------------
# ElevenLabs with-timestamps over plain httpx
# ---------------------------------------------------------------------------------------------
async def test_elevenlabs_with_timestamps_alignment(xi):
    text = "Hello big world"
    async with httpx.AsyncClient(base_url=xi.url, headers={"xi-api-key": KEY}) as client:
        r = await client.post(f"/v1/text-to-speech/{VOICE}/with-timestamps", params={"output_format": "pcm_16000"},
                              json={"text": text, "model_id": "eleven_multilingual_v2", "seed": 3})  # fmt: skip
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.headers["x-character-count"] == str(len(text)) and r.headers["request-id"]
        assert r.headers["current-concurrent-requests"] == "1"
        body = r.json()
        audio = base64.b64decode(body["audio_base64"])
        assert len(audio) == round((LEAD + PER_CHAR * len(text)) * 16000) * 2
        al = body["alignment"]
        assert body["normalized_alignment"] == al
        assert "".join(al["characters"]) == text
        starts, ends = al["character_start_times_seconds"], al["character_end_times_seconds"]
        assert len(starts) == len(ends) == len(text)
        assert starts[0] == LEAD and ends[-1] == pytest.approx(len(audio) / 2 / 16000)
        assert all(s < e for s, e in zip(starts, ends)) and starts[1:] == ends[:-1]
        words, cur = [], None  # group non-space characters into words
        for ch, s, e in zip(al["characters"], starts, ends):
            if ch.isspace():
                cur = None
            elif cur is None:
                cur = [ch, s, e]
                words.append(cur)
            else:
                cur[0] += ch
                cur[2] = e
        assert words == [["Hello", 0.1, 0.4], ["big", 0.46, 0.64], ["world", 0.7, 1.0]]

        mp3 = await client.post(f"/v1/text-to-speech/{VOICE}/with-timestamps", json={"text": text})
        data = base64.b64decode(mp3.json()["audio_base64"])
        assert data[:3] == b"ID3" or data[0] == 0xFF

        stream = await client.post(f"/v1/text-to-speech/{VOICE}/stream/with-timestamps",
                                   params={"output_format": "pcm_16000"}, json={"text": text})  # fmt: skip
        chunks = [json.loads(line) for line in stream.text.splitlines()]
        assert b"".join(base64.b64decode(c["audio_base64"]) for c in chunks) == audio
        assert sum((c["alignment"]["character_start_times_seconds"] for c in chunks), []) == starts


async def test_elevenlabs_error_shapes(xi):
    async with httpx.AsyncClient(base_url=xi.url, headers={"xi-api-key": KEY}) as client:
        r = await client.post("/v1/text-to-speech/short/with-timestamps", json={"text": "x"})
        assert r.status_code == 404 and r.json()["detail"]["status"] == "voice_not_found"
        r = await client.post(f"/v1/text-to-speech/{VOICE}/with-timestamps", json={"model_id": "m"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "text"]
        r = await client.post(f"/v1/text-to-speech/{VOICE}/with-timestamps", json={"text": "  "})
        assert r.status_code == 400 and "detail" in r.json()
        r = await client.post(f"/v1/text-to-speech/{VOICE}", params={"output_format": "wav_1"}, json={"text": "a"})
        assert r.status_code == 422
        r = await client.post(f"/v1/text-to-speech/{VOICE}", json={"text": "a"}, headers={"xi-api-key": "bad"})
        assert r.status_code == 401 and r.json() == {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}


# ---------------------------------------------------------------------------------------------
# limits, failures, scripts
# ---------------------------------------------------------------------------------------------
async def test_max_concurrency_never_exceeded():
    gate = threading.Event()  # admitted requests stay in flight until every request was answered or admitted
    with ElevenLabsServer(max_concurrency=2, gate=gate) as srv:
        async with httpx.AsyncClient(headers={"xi-api-key": KEY}) as client:
            url = f"{srv.url}/v1/text-to-speech/{VOICE}?output_format=pcm_16000"
            calls = [asyncio.create_task(client.post(url, json={"text": f"t{i}"})) for i in range(5)]
            await _until(lambda: len(srv.requests) == 5 and len(srv.completed(status=429)) == 3, "2 admitted, 3 refused")
            assert srv.in_flight == 2
            gate.set()
            rs = await asyncio.gather(*calls)
    codes = sorted(r.status_code for r in rs)
    assert codes == [200, 200, 429, 429, 429]
    for r in rs:
        if r.status_code == 429:
            assert r.json()["detail"]["status"] == "too_many_concurrent_requests"
            assert r.headers["retry-after"] == "1"
    ok = srv.completed(status=200)
    assert len(ok) == 2 and _max_overlap(ok) == 2 and srv.peak_in_flight == 2 and srv.in_flight == 0


async def test_latency_delays_every_admitted_reply():
    with ElevenLabsServer(latency=0.3) as srv:
        async with httpx.AsyncClient(headers={"xi-api-key": KEY}) as client:
            url = f"{srv.url}/v1/text-to-speech/{VOICE}?output_format=pcm_16000"
            rs = await asyncio.gather(*(client.post(url, json={"text": f"t{i}"}) for i in range(2)))
    assert [r.status_code for r in rs] == [200, 200]
    assert all(r.t_end - r.t_start >= 0.299 for r in srv.completed())  # a lower bound: load only adds to it


async def test_rate_window_and_retry_after():
    clock = ManualClock()
    with OpenAIServer(rate=(2, 1.0), clock=clock) as srv:
        async with httpx.AsyncClient(base_url=srv.url, headers={"authorization": f"Bearer {KEY}"}) as client:
            body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
            rs = [await client.post("/v1/chat/completions", json=body) for _ in range(2)]
            clock.advance(0.4)
            rs.append(await client.post("/v1/chat/completions", json=body))
            assert [r.status_code for r in rs] == [200, 200, 429]
            assert rs[2].headers["retry-after"] == "1"  # 0.6 s left in the window, rounded up
            assert rs[2].json()["error"]["code"] == "rate_limit_exceeded"
            assert rs[2].headers["x-request-id"].startswith("req_")
            clock.advance(0.59)
            assert (await client.post("/v1/chat/completions", json=body)).status_code == 429  # a 429 is no start
            clock.advance(0.01)
            assert (await client.post("/v1/chat/completions", json=body)).status_code == 200
            assert (await client.post("/v1/chat/completions", json=body)).status_code == 200
            assert (await client.post("/v1/chat/completions", json=body)).status_code == 429


async def test_retry_after_override_and_pause():
    clock = ManualClock()
    with ElevenLabsServer(rate=(1, 60.0), retry_after=0.5, clock=clock) as srv:
        async with httpx.AsyncClient(base_url=srv.url, headers={"xi-api-key": KEY}) as client:
            path = f"/v1/text-to-speech/{VOICE}?output_format=pcm_16000"
            assert (await client.post(path, json={"text": "a"})).status_code == 200
            r = await client.post(path, json={"text": "a"})
            assert r.status_code == 429 and r.headers["retry-after"] == "0.5"
            assert r.json()["detail"]["status"] == "system_busy"
    with OpenAIServer(clock=clock) as srv:
        srv.pause_until(clock() + 2.2)
        r = httpx.post(srv.url + "/v1/chat/completions", headers={"authorization": f"Bearer {KEY}"}, json={})
        assert r.status_code == 429 and r.headers["retry-after"] == "3"  # 2.2 s left, rounded up
        clock.advance(2.1)
        r = httpx.post(srv.url + "/v1/chat/completions", headers={"authorization": f"Bearer {KEY}"}, json={})
        assert r.status_code == 429 and r.headers["retry-after"] == "1"  # never 0
        clock.advance(0.1)
        r = httpx.post(srv.url + "/v1/chat/completions", headers={"authorization": f"Bearer {KEY}"}, json={})
        assert r.status_code != 429


def test_fail_rate_is_seeded_and_deterministic():
    def run() -> list[int]:
        with OpenAIServer(fail_rate=0.5, seed=1) as srv:
            with httpx.Client(base_url=srv.url, headers={"authorization": f"Bearer {KEY}"}) as client:
                body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
                codes = [client.post("/v1/chat/completions", json=body).status_code for _ in range(40)]
            assert [r.status for r in srv.requests] == codes
            return codes

    first = run()
    assert set(first) == {200, 500} and 10 <= first.count(500) <= 30
    assert run() == first
    with OpenAIServer(fail_rate=1.0) as srv:
        r = httpx.post(srv.url + "/v1/audio/speech", headers={"authorization": f"Bearer {KEY}"}, json={})
        assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"


async def test_script_replies_verbatim_then_normal_handling(oai):
    oai.script(
        Reply(400, {"x-custom": "1"}, {"error": {"message": "scripted", "type": "invalid_request_error"}}),
        Reply(200, {"content-type": "text/plain"}, b"raw"),
        Reply(200, {}, b"late", delay=600),  # longer than any test: only stop() ends it
        Reply(close=True),
    )
    async with httpx.AsyncClient(base_url=oai.url) as client:  # no auth: scripted replies skip it
        r = await client.post("/anything", json={"a": 1})
        assert (r.status_code, r.headers["x-custom"], r.json()["error"]["message"]) == (400, "1", "scripted")
        assert "x-request-id" not in r.headers  # verbatim
        r = await client.get("/else")
        assert r.content == b"raw"
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/v1/chat/completions", json={}, timeout=0.3)
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/v1/chat/completions", json={})
        r = await client.post("/v1/chat/completions", json={})
        assert r.status_code == 401  # script used up: normal handling again
    assert [r.scripted for r in oai.requests] == [True, True, True, True, False]
    assert oai.requests[1].method == "GET" and oai.requests[0].json == {"a": 1}


async def test_openai_validation_errors(oai):
    async with httpx.AsyncClient(base_url=oai.url, headers={"authorization": f"Bearer {KEY}"}) as client:
        cases = [
            ("/v1/images/generations", {"model": "gpt-image-1"}, "prompt"),
            ("/v1/images/generations", {"model": "dall-e-3", "prompt": "p", "size": "1024x1536"}, "size"),
            ("/v1/audio/speech", {"model": "tts-1", "input": "", "voice": "alloy"}, "input"),
            ("/v1/audio/speech", {"model": "tts-1", "input": "x" * 4097, "voice": "alloy"}, "input"),
            ("/v1/audio/speech", {"model": "tts-1", "input": "x", "voice": "alloy", "response_format": "ogg"}, "response_format"),
        ]
        for path, body, param in cases:
            r = await client.post(path, json=body)
            err = r.json()["error"]
            assert (r.status_code, err["type"], err["param"]) == (400, "invalid_request_error", param), (path, body)
        r = await client.post("/v1/audio/speech", json={"model": "tts-1", "input": "ab", "voice": "alloy", "response_format": "pcm"})
        assert r.headers["content-type"] == "audio/pcm" and len(r.content) == round(0.32 * 24000) * 2
        r = await client.post("/v1/images/generations", json={"model": "black-forest-labs/FLUX.1-schnell", "prompt": "p", "response_format": "url"})
        assert r.json()["object"] == "list" and r.json()["data"][0]["url"].startswith(oai.url)
        r = await client.post("/v1/nope", json={})
        assert r.status_code == 404
        assert all(rec.headers.get("authorization") for rec in oai.requests)


def test_stop_is_prompt_with_sleeping_and_idle_connections():
    """stop() wakes a handler sleeping in a long latency and drops idle keep-alive connections.

    The latency (an hour) dwarfs the join guards (a minute): a stop() that waited for the sleeper
    fails here, on any machine load.
    """
    srv = OpenAIServer(latency=3600).start()
    client = httpx.Client(base_url=srv.url, headers={"authorization": f"Bearer {KEY}"})

    def call():
        try:
            client.post("/v1/chat/completions", json={})
        except httpx.HTTPError:
            pass

    t = threading.Thread(target=call, daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    while srv.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.in_flight == 1
    stopper = threading.Thread(target=srv.stop, daemon=True)
    stopper.start()
    stopper.join(60)
    assert not stopper.is_alive(), "stop() waited for a sleeping handler"
    t.join(60)
    assert not t.is_alive(), "the client's call never ended"
    assert srv.in_flight == 0
    client.close()
