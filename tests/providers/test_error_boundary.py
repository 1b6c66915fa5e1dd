"""The vendor error boundary (vidflow/providers/_errors.py) and reply parsing in every HTTP adapter.

* Every exception class the vendor SDKs export (httpx, openai, litellm) is mapped to a specific
  vidflow error class, or listed as deliberately not mapped with a reason (the model is httpx's
  ``test_httpcore_all_exceptions_mapped``).
* An exception that is not a known vendor/transport one is a bug: it propagates unmapped.
* A refused connection, a failed DNS lookup and a dropped connection are reported as such, not
  as "HTTP 500".
* A reply of a changed shape is a BadOutputError after exactly one HTTP call, also through the
  retry policy the engine uses (the reply's parsing is outside the boundary).
"""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before anything imports litellm

import binascii
import json
import random
import socket
from typing import Any

import httpx
import pytest

from tests.providers.test_http_adapters import CASES, IDS, KEY, Case, eleven_speech, text_adapter
from tests.servers import ElevenLabsServer, OpenAIServer, Reply
from vidflow.errors import (
    AuthError,
    BadOutputError,
    BadRequestError,
    ContentRejectedError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    TransientProviderError,
)
from vidflow.providers._errors import MAX_MESSAGE, NOT_MAPPED, exception_table, map_errors, translate
from vidflow.providers.base import SpeechRequest, TextRequest
from vidflow.redact import Redactor
from vidflow.run.retry import RetryPolicy

# The adapters test_http_adapters' factories make are closed on the test's loop when it ends.
pytestmark = pytest.mark.usefixtures("adapters_closed")


@pytest.fixture(scope="module", autouse=True)
def _sdks_imported():
    from vidflow.providers._litellm import get_litellm

    get_litellm()


# =============================================================================================
# the table
# =============================================================================================
def _exported(package: str) -> dict[str, type]:
    import importlib

    found: dict[str, type] = {}
    modules = {"httpx": ["httpx"], "openai": ["openai"], "litellm": ["litellm", "litellm.exceptions"]}[package]
    for name in modules:
        mod = importlib.import_module(name)
        for attr, value in list(vars(mod).items()):
            if isinstance(value, type) and issubclass(value, Exception):
                found[f"{package}.{attr}"] = value
    return found


@pytest.mark.parametrize("package", ["httpx", "openai", "litellm"])
def test_every_exception_the_vendor_sdks_export_is_mapped(package):
    table = exception_table()
    exported = _exported(package)
    assert len(exported) > 10  # the enumeration itself works
    unmapped = [name for name, cls in exported.items() if cls not in table and name not in NOT_MAPPED]
    assert not unmapped, f"map these {package} exceptions in vidflow/providers/_errors.py (or list them in NOT_MAPPED): {unmapped}"
    for name, cls in exported.items():
        if cls in table:
            how, error = table[cls]
            assert how in ("timeout", "connect", "network", "status", "fixed", "reply", "wrapper"), name
            assert issubclass(error, ProviderError) and error is not ProviderError, name


def test_not_mapped_lists_only_classes_that_exist_and_says_why():
    exported = {**_exported("httpx"), **_exported("openai"), **_exported("litellm")}
    table = exception_table()
    for name, reason in NOT_MAPPED.items():
        assert name in exported, f"{name} is no longer exported: drop it from NOT_MAPPED"
        assert exported[name] not in table and len(reason) > 10


REQ = httpx.Request("POST", "https://api.example.com/v1/chat/completions")


def _status_error(status: int, headers: dict | None = None) -> httpx.HTTPStatusError:
    resp = httpx.Response(status, headers=headers or {}, request=REQ, json={"error": {"message": "nope"}})
    return httpx.HTTPStatusError(f"status {status}", request=REQ, response=resp)


def _wrapped(outer: BaseException, inner: BaseException) -> BaseException:
    """``outer`` raised while handling ``inner`` (how litellm wraps everything)."""
    try:
        try:
            raise inner
        except BaseException:
            raise outer
    except BaseException as e:
        return e


def _litellm():
    import litellm.exceptions as le

    return le


@pytest.mark.parametrize(
    "make, expected, words",
    [
        (lambda: httpx.ConnectError("All connection attempts failed", request=REQ), ProviderUnavailableError, "could not connect to api.example.com"),
        (lambda: httpx.ReadTimeout("timed out", request=REQ), ProviderTimeoutError, "timed out waiting for api.example.com"),
        (lambda: httpx.RemoteProtocolError("Server disconnected", request=REQ), ProviderUnavailableError, "connection to api.example.com failed"),
        (lambda: ConnectionRefusedError(111, "Connect call failed"), ProviderUnavailableError, "connection refused"),
        (lambda: socket.gaierror(-2, "Name or service not known"), ProviderUnavailableError, "host name not found"),
        (lambda: httpx.DecodingError("bad gzip", request=REQ), BadOutputError, "DecodingError"),
        (lambda: httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'", request=REQ), BadRequestError, "unsupported protocol"),
        (lambda: _status_error(503), ProviderUnavailableError, "HTTP 503"),
        (lambda: _status_error(401), AuthError, "HTTP 401"),
        (lambda: _status_error(404), BadRequestError, "HTTP 404"),
        (lambda: _litellm().ContentPolicyViolationError("flagged by safety system", "m", "openai"), ContentRejectedError, "flagged"),
        (lambda: _litellm().Timeout("Request timed out", "m", "openai"), ProviderTimeoutError, "timed out"),
        (lambda: _litellm().AuthenticationError("no key", "openai", "m"), AuthError, "no key"),
        # litellm calls a refused connection an "InternalServerError" with status 500 ...
        (lambda: _wrapped(_litellm().InternalServerError("Connection error.", "openai", "m"), httpx.ConnectError("refused", request=REQ)),
         ProviderUnavailableError, "could not connect to api.example.com"),
        # ... and a reply it could not read one too
        (lambda: _wrapped(_litellm().InternalServerError("Invalid response object", "openai", "m"), AttributeError("'NoneType' object has no attribute 'get'")),
         BadOutputError, "AttributeError: 'NoneType' object has no attribute 'get'"),
        (lambda: _wrapped(_litellm().APIConnectionError("boom", "openai", "m"), json.JSONDecodeError("Expecting value", "<html>", 0)),
         BadOutputError, "JSONDecodeError"),
        # a real 500 behind the wrapper stays a (retried) 500
        (lambda: _wrapped(_litellm().InternalServerError("server error", "openai", "m"), _status_error(500)), ProviderUnavailableError, "HTTP 500"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else (v if isinstance(v, str) else ""),
)  # fmt: skip
def test_known_exceptions_map_to_the_right_error(make, expected, words):
    err = translate(make(), kind="text.litellm")
    assert type(err) is expected, repr(err)
    assert words.lower() in str(err).lower() and err.kind == "text.litellm"
    if expected is not ProviderUnavailableError or "HTTP" in words:
        return
    assert "HTTP" not in str(err) and err.status is None  # a connection failure is not an HTTP status


def test_a_429_keeps_retry_after():
    err = translate(_status_error(429, {"retry-after": "7"}), kind="k")
    assert isinstance(err, RateLimitedError) and err.retry_after == 7.0


@pytest.mark.parametrize(
    "exc",
    [AttributeError("'NoneType' object has no attribute 'content'"), KeyError("choices"), binascii.Error("Incorrect padding"),
     json.JSONDecodeError("Expecting value", "x", 0), TypeError("bad"), RuntimeError("bug"), httpx.StreamConsumed()],
    ids=lambda e: type(e).__name__,
)  # fmt: skip
def test_an_unknown_exception_is_a_bug_and_propagates_unmapped(exc):
    assert translate(exc, kind="k") is None
    secret = "sk-unknown-SECRET-abcdef123456"
    if isinstance(exc, (AttributeError, TypeError, RuntimeError)):
        exc.args = (f"{exc.args[0]} (key {secret})",)
    with pytest.raises(type(exc)) as ei:
        with map_errors("k", redactor=Redactor([secret])):
            raise exc
    assert ei.value is exc  # the very exception: not wrapped, so never retried as a provider error
    assert secret[:6] not in str(ei.value)


def test_a_vidflow_error_raised_inside_keeps_its_class_and_loses_the_key():
    secret = "sk-inner-SECRET-abcdef123456"
    with pytest.raises(BadRequestError) as ei:
        with map_errors("k", secrets=[secret]):
            raise BadRequestError(f"HTTP 400: bad key {secret[:14]}...", kind="k", request_id=secret[:20])
    assert secret[:6] not in str(ei.value) and secret[:6] not in ei.value.request_id


# =============================================================================================
# connection failures on the wire
# =============================================================================================
class _Endpoint:
    """A stand-in for a server object: just a ``url``."""

    def __init__(self, url: str):
        self.url = url


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_connection_refused_is_reported_as_a_connection_failure(case):
    port = _closed_port()
    with pytest.raises(ProviderUnavailableError) as ei:
        await case.call(case.make(_Endpoint(f"http://127.0.0.1:{port}")))
    err = ei.value
    assert f"could not connect to 127.0.0.1:{port}" in str(err), str(err)
    assert "HTTP" not in str(err) and "HTTP 500" not in str(err) and err.status is None
    assert err.kind == case.make(_Endpoint("http://x")).kind


@pytest.mark.parametrize("case", [c for c in CASES if c.name in ("text.litellm", "speech.elevenlabs")], ids=lambda c: c.name)
async def test_an_unknown_host_is_reported_as_a_connection_failure(case):
    # .invalid never resolves (RFC 6761)
    with pytest.raises(ProviderUnavailableError) as ei:
        await case.call(case.make(_Endpoint("http://vidflow-no-such-host.invalid")))
    assert "could not connect to vidflow-no-such-host.invalid" in str(ei.value) and "HTTP" not in str(ei.value)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_connection_dropped_before_the_reply_is_transient_and_not_http_500(case):
    with case.server() as srv:
        srv.script(Reply(close=True))
        with pytest.raises(ProviderUnavailableError) as ei:
            await case.call(case.make(srv))
        assert len(srv.requests) == 1
    assert f"the connection to 127.0.0.1:{srv.port} failed" in str(ei.value) and "HTTP" not in str(ei.value)


# =============================================================================================
# replies of a changed shape: BadOutputError after exactly one call
# =============================================================================================
def _changed(case: Case) -> Reply:
    """A 200 reply whose shape makes the old parsing raise AttributeError (the issue's example).

    text: ``message: null`` (litellm's parser: AttributeError); images: an HTML page (litellm:
    ``'str' object has no attribute 'model_dump'``); ElevenLabs: ``alignment`` a string (the
    adapter's own parsing). speech.openai's reply is raw audio bytes, so no attribute can be
    missing: its changed shape is a JSON document instead of audio.
    """
    if case.name == "text.litellm":
        return Reply(200, {}, {"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                               "choices": [{"index": 0, "finish_reason": "stop", "message": None}]})  # fmt: skip
    if case.name.startswith("image."):
        return Reply(200, {"content-type": "text/html"}, b"<html><body>maintenance</body></html>")
    if case.name == "speech.openai":
        return Reply(200, {}, {"audio": {"data": "UklGRg=="}})
    return Reply(200, {}, {"audio_base64": "AAAAAA==", "alignment": "x"})


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_an_attribute_error_parsing_a_vendor_reply_makes_exactly_one_http_call(case):
    """Through the retry policy, as the engine calls adapters: one call, then BadOutputError."""
    with case.server() as srv:
        srv.script(_changed(case), *[_changed(case) for _ in range(5)])  # a retry would get the same
        adapter = case.make(srv)
        sleeps = Sleeps()

        async def attempt() -> Any:  # an async function, like the engine's (tenacity awaits those)
            return await case.call(adapter)

        with pytest.raises(BadOutputError) as ei:
            await RetryPolicy(rng=random.Random(0)).call(attempt, sleep=sleeps)
        assert len(srv.requests) == 1, [r.path for r in srv.requests]
    assert sleeps.waits == []
    assert not isinstance(ei.value, TransientProviderError) and ei.value.kind == adapter.kind
    assert str(ei.value).startswith(f"{adapter.kind}: the provider's reply cannot be used: ")


OTHER_SHAPES = {
    "text.litellm": [
        ({"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": []}, "no choices"),
        ({"choices": "all of them"}, "choices"),
        (b"<html>502 Bad Gateway</html>", "invalid response"),
    ],
    "image.litellm[gpt-image-1]": [
        ({"created": 1, "data": []}, "no image"),
        ({"created": 1, "data": [{"b64_json": "!!!not base64!!!"}]}, "not base64"),
        ({"created": 1, "data": [{"url": "file:///etc/passwd"}]}, "neither b64_json nor an http(s) url"),
        ({"created": 1, "data": [{"b64_json": "aGVsbG8="}]}, "not PNG, JPEG or WebP"),
    ],
    "speech.openai": [(b"ID3\x04\x00\x00\x00\x00\x00\x00", "not WAV audio")],
    "speech.elevenlabs": [
        ({"audio_base64": 5}, "audio_base64"),
        ({"audio_base64": "%%%"}, "not valid base64"),
        ({"alignment": {"characters": ["a"]}}, "audio_base64: Field required"),
        ([1, 2, 3], "Input should be an object"),
        (b"<html>oops</html>", "Invalid JSON"),
        ({"audio_base64": "AAAA", "alignment": {"characters": "abc", "character_start_times_seconds": [0.1]}}, "alignment.characters"),
    ],
}
SHAPE_CASES = [(c, body, words) for c in CASES for body, words in OTHER_SHAPES.get(c.name, [])]


# The "choices" case hands litellm a reply whose choices is a string: litellm builds its response
# model from it and pydantic warns while serializing that model. The bad reply is the input
# under test (vidflow must answer it with a bad-output error), not a defect in vidflow.
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")
@pytest.mark.parametrize("case, body, words", SHAPE_CASES, ids=[f"{c.name}-{w}" for c, _, w in SHAPE_CASES])
async def test_other_changed_replies_are_bad_output_after_one_call(case, body, words):
    with case.server() as srv:
        srv.script(Reply(200, {"content-type": "text/html"} if isinstance(body, bytes) else {}, body))
        adapter = case.make(srv)
        with pytest.raises(BadOutputError) as ei:
            await case.call(adapter)
        assert len(srv.requests) == 1
    assert words.lower() in str(ei.value).lower(), str(ei.value)


@pytest.mark.parametrize("case", [c for c in CASES if c.name in ("text.litellm", "speech.elevenlabs", "image.litellm[gpt-image-1]")], ids=lambda c: c.name)
async def test_a_huge_unreadable_reply_is_not_copied_into_the_error(case):
    page = b"<html>" + b"x" * 2_000_000 + b"</html>"
    with case.server() as srv:
        srv.script(Reply(200, {"content-type": "text/html"}, page))
        with pytest.raises(BadOutputError) as ei:
            await case.call(case.make(srv))
    assert len(str(ei.value)) <= MAX_MESSAGE + 200


async def test_a_huge_error_body_is_cut():
    with OpenAIServer() as srv:
        srv.script(srv.error_reply(400, "invalid", "y" * 100_000))
        with pytest.raises(BadRequestError) as ei:
            await text_adapter(srv).generate(TextRequest(prompt="hi"))
    assert len(str(ei.value)) <= MAX_MESSAGE + 200 and "more characters" in str(ei.value)


# =============================================================================================
# secrets echoed by a vendor
# =============================================================================================
def _leaks(text: str, secret: str) -> list[str]:
    from tests.servers.canary import leaked

    return leaked(text, [secret])


@pytest.mark.parametrize("status, expected", [(401, AuthError), (400, BadRequestError), (500, ProviderUnavailableError), (429, RateLimitedError)])
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_key_echoed_whole_truncated_or_in_headers_never_reaches_the_error(case, status, expected):
    secret = "sk-CANARY-0123456789abcdefghijkl-QZXJVW"
    with case.server(api_key=secret) as srv:
        srv.echo_auth(status)
        with pytest.raises(expected) as ei:
            await case.call(case.make(srv, key=secret))
        sent = case.auth_of(srv.requests[0])
    assert sent.endswith(secret)  # the key really went out, and really came back
    err = ei.value
    texts = [str(err), repr(err), str(err.request_id), *map(str, err.args)]
    link: Any = err.__cause__
    while link is not None:  # the chained vendor exceptions carry no key text either
        texts.append(str(link))
        link = link.__cause__ or link.__context__
    assert not [t for t in texts if _leaks(t, secret)], [t for t in texts if _leaks(t, secret)]
    assert "Invalid credentials" in str(err)


async def test_an_adapter_masks_secrets_of_the_whole_environment_not_only_its_own_key():
    other = "ghp-CANARY-OTHER-0123456789abcdef"
    with ElevenLabsServer() as srv:
        srv.script(srv.error_reply(400, "bad", f"your GitHub token {other[:15]} is not an ElevenLabs key"))
        from vidflow.settings import Settings

        adapter = eleven_speech(srv)
        adapter.settings = Settings(env={"ELEVENLABS_API_KEY": KEY, "GITHUB_TOKEN": other})
        with pytest.raises(BadRequestError) as ei:
            await adapter.synthesize(SpeechRequest("hi", "v" * 20))
    assert other[:6] not in str(ei.value) and "is not an ElevenLabs key" in str(ei.value)
