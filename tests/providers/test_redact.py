"""vidflow/redact.py: secrets, their 6+ character prefixes and suffixes, credential headers and
Bearer tokens are masked; names decide which environment values are secrets."""

from __future__ import annotations

import pickle

import pytest

from tests.servers.canary import fragments, leaked
from vidflow.redact import MASK, Redactor, is_secret_name
from vidflow.settings import Settings

KEY = "sk-CANARY-0123456789abcdefghijkl-QZXJVW"


@pytest.mark.parametrize(
    "text",
    [
        f"Incorrect API key provided: {KEY}.",
        f"Bearer {KEY[:17]}...",  # the case: a truncated auth header
        f"got '{KEY[:6]}'",  # the shortest prefix that counts
        f"a key ending in ...{KEY[-6:]}",
        f"a key ending in ...{KEY[-20:]}!",
        f"{KEY}{KEY}",
        f"prefix{KEY[:12]}suffix and {KEY[-9:]}tail",
        f'{{"error": {{"message": "bad key {KEY[:30]}"}}}}',
    ],
)
def test_every_prefix_or_suffix_of_6_or_more_characters_is_masked(text):
    out = Redactor([KEY])(text)
    assert not leaked(out, [KEY]), out
    assert MASK in out


def test_every_fragment_of_every_length_is_masked_in_any_context():
    red = Redactor([KEY, "xi-OTHER-secret-value-99"])
    for frag in sorted(fragments(KEY)):
        out = red(f"<{frag}>")
        assert out.startswith("<") and out.endswith(">") and not leaked(out, [KEY]), (frag, out)


def test_text_without_secrets_is_unchanged_and_short_fragments_stay():
    red = Redactor([KEY])
    plain = "HTTP 500: the server had an error (sk-CA is not a key, nor is QZXJV)"
    assert red(plain) == plain
    assert red("") == "" and red(None) is None and red(5) == 5


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
        ("authorization: sometoken123", "authorization: ***"),
        ('{"Authorization": "Bearer xyz", "model": "m"}', '{"Authorization": "***", "model": "m"}'),
        ("{'xi-api-key': 'abc123', 'accept': '*/*'}", "{'xi-api-key': '***', 'accept': '*/*'}"),
        ("x-api-key=abc123&model=m", "x-api-key=***&model=m"),
        ("headers: {api-key: zzz}", "headers: {api-key: ***}"),
        ("GET /v1?api_key=abc123 HTTP/1.1", "GET /v1?api_key=*** HTTP/1.1"),
        ("x-goog-api-key: AIzaSyA", "x-goog-api-key: ***"),
        ("sent Bearer tok_abc/def+ghi== to the host", "sent Bearer *** to the host"),
    ],
)
def test_credential_headers_and_bearer_tokens_are_masked_without_knowing_the_secret(text, expected):
    assert Redactor()(text) == expected


@pytest.mark.parametrize("text", ["set api_key_env: MY_KEY", "Missing xi-api-key header", "the authorization failed"])
def test_words_that_only_name_a_header_stay(text):
    assert Redactor()(text) == text


def test_redaction_is_idempotent_and_handles_nested_data():
    red = Redactor([KEY])
    once = red(f"Authorization: Bearer {KEY} and {KEY[:10]}")
    assert red(once) == once
    data = {"message": f"bad {KEY}", "items": [f"{KEY[-8:]}", 3, None], "nested": ({"k": KEY[:9]},), f"key {KEY}": 1}
    out = red.redact_data(data)
    assert not leaked(repr(out), [KEY])
    assert out["items"][1:] == [3, None] and isinstance(out["nested"], tuple)


def test_many_secrets_and_a_long_text():
    secrets = [f"tok-{i:04d}-{'abcdefghij' * 3}-{i * 7919:08d}" for i in range(300)]
    red = Redactor(secrets)
    filler = "lorem ipsum dolor sit amet " * 4000
    text = filler + secrets[123] + filler + secrets[299][:8] + filler + secrets[0][-7:]
    out = red(text)
    assert not leaked(out, [secrets[123], secrets[299], secrets[0]])
    assert out.count(MASK) == 3 and len(out) == len(text) - len(secrets[123]) - 8 - 7 + 3 * len(MASK)


@pytest.mark.parametrize(
    "name, secret",
    [
        ("OPENAI_API_KEY", True), ("ELEVENLABS_API_KEY", True), ("MY_VENDOR_KEY", True), ("GITHUB_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True), ("AWS_SESSION_TOKEN", True), ("DB_PASSWORD", True), ("CLIENT_SECRET", True),
        ("HF_TOKEN", True), ("GOOGLE_APPLICATION_CREDENTIALS_JSON", True), ("openai_api_key", True),
        ("PATH", False), ("HOME", False), ("AWS_ACCESS_KEY_ID", False), ("KEYBOARD", False), ("HF_TOKEN_PATH", False),
        ("VIDFLOW_CACHE", False), ("SSH_AUTH_SOCK", False), ("GOOGLE_APPLICATION_CREDENTIALS_FILE", False),
    ],
)  # fmt: skip
def test_secret_names(name, secret):
    assert is_secret_name(name) is secret


def test_from_env_takes_secret_named_values_of_8_or_more_characters():
    env = {"OPENAI_API_KEY": KEY, "DEBUG_TOKEN": "1", "AWS_SECRET_ACCESS_KEY": "testing", "HOME": "/home/someone/long",
           "TOKENIZERS_PARALLELISM": "false", "MY_PASSWORD": "hunter22"}  # fmt: skip
    red = Redactor.from_env(env)
    assert len(red) == 2
    assert red(f"x {KEY[:7]} y hunter22 z") == f"x {MASK} y {MASK} z"
    assert red("1 testing false /home/someone/long") == "1 testing false /home/someone/long"


def test_extended_adds_secrets_and_leaves_the_original_alone():
    base = Redactor([KEY])
    more = base.extended(["another-secret-value", None, "", "short"])
    assert len(base) == 1 and len(more) == 2
    assert more("another-secret-value") == MASK and base("another-secret-value") == "another-secret-value"
    assert base.extended([KEY, None]) is base


def test_a_redactor_never_shows_its_secrets_and_survives_pickling():
    red = Redactor([KEY])
    assert KEY[:6] not in repr(red)
    assert pickle.loads(pickle.dumps(red))(KEY) == MASK


def test_settings_build_one_redactor_from_their_environment():
    s = Settings(env={"OPENAI_API_KEY": KEY, "ELEVENLABS_API_KEY": "xi-0123456789abcdef"})
    assert s.redactor is s.redactor  # built once
    assert s.redactor(f"{KEY[:8]} / xi-0123456") == f"{MASK} / {MASK}"
    assert s.replace(cache_url="other").redactor == s.redactor
    assert len(Settings().redactor) == 0
