"""Keys are an API: canonical, type-tagged, stable. Golden values pin them."""

from __future__ import annotations

import asyncio
import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidflow.errors import KeyEncodingError
from pydantic import BaseModel

from vidflow.cache.fingerprint import KEY_SCHEME, canonical_bytes, node_key
from vidflow.providers import base
from vidflow.providers.base import SpeechRequest

SPEECH_NODE = {
    "node": "provider",
    "provider": {"kind": "speech.espeak", "version": "1", "options": {"rate": 165, "pitch": 50, "gap_ms": 0}},
    "request": SpeechRequest(text="Why is the sky blue?", voice="en-us+f3", params={}),
}


def test_golden_key_for_a_speech_node():
    assert node_key(SPEECH_NODE) == GOLDEN["speech"]


def test_golden_key_with_salt():
    assert node_key(SPEECH_NODE, salt="v2") == GOLDEN["speech_salted"]


def test_golden_canonical_encoding():
    assert canonical_bytes({"b": [1, 1.5, "1", True, None], "a": {"z": b"\x00"}}) == (
        b'["m",{"a":["m",{"z":["x","6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]}],'
        b'"b":["l",[["i","1"],["f","1.5"],["s","1"],["b",true],null]]}]'
    )


def test_golden_encoding_of_a_request_names_its_tag_not_its_class():
    assert canonical_bytes(SpeechRequest(text="Hi", voice="v")) == (
        b'["r","speech.request",["m",{"params":["m",{}],"text":["s","Hi"],"voice":["s","v"]}]]'
    )
    assert b"SpeechRequest" not in canonical_bytes(SPEECH_NODE)


def test_the_key_scheme_is_v2():
    # v1 keys encoded class names; every v1 entry is unreachable (CHANGELOG.md says so).
    assert KEY_SCHEME == "vidflow-key-v2"


def test_golden_keys_of_planned_nodes(project):
    """The planner's choice of key fields is pinned too: a change here is a cache invalidation."""
    from tests.engine.util import write
    from vidflow.api import load_recipe_file, plan
    from vidflow.settings import Settings

    recipe = write(
        project,
        """
        vidflow: 1
        name: golden
        topics: ["Why is the sky blue?"]
        characters: [nova, pip]
        providers:
          writer: {kind: text.offline}
        steps:
          script: {uses: writer, output: dialogue, prompt: "Explain {{ topic }}"}
          line: {uses: writer, prompt: "One line about {{ topic }}"}
        """,
    )
    loaded = load_recipe_file(recipe)
    _, graph = asyncio.run(plan(loaded, settings=Settings(cache_url=str(project / "cache"))))
    keys = {n: d["task"].key for n, d in graph.nodes(data=True)}
    # The characters' catchphrases are part of the script's key; the golden value assumes the
    # committed characters/nova.yaml and pip.yaml.
    assert keys["why-is-the-sky-blue/line"] == GOLDEN["text_line"]
    assert len(keys["why-is-the-sky-blue/script"]) == 64


GOLDEN = {
    "speech": "c0e5e0fcd1fb77d359954717983653d42f408dcb420f095bfd2648b7e9ca0aac",
    "speech_salted": "66466433621a022cbb5455a0fcbcd5cf86d82f2fd699d6b6c011f618ed3c439c",
    "text_line": "a7fa0ac7853bf6051210f3e377fbb5d4d3f76cf10d265a9ddf24d219ac2194c4",
}

# ---------------------------------------------------------------------------- record tags


@dataclasses.dataclass(frozen=True)
class VoiceLine:
    __key_tag__ = "test.voice_line"

    text: str
    speed: float = 1.0


@dataclasses.dataclass(frozen=True)
class RenamedVoiceLine:  # the same record after a rename (or a move to another module)
    __key_tag__ = "test.voice_line"

    text: str
    speed: float = 1.0


class VoiceLineModel(BaseModel):  # ... or rewritten as a pydantic model
    __key_tag__ = "test.voice_line"

    text: str
    speed: float = 1.0


def test_renaming_a_request_class_does_not_change_its_key():
    key = node_key({"request": VoiceLine("Hello")})
    assert node_key({"request": RenamedVoiceLine("Hello")}) == key
    assert node_key({"request": VoiceLineModel(text="Hello")}) == key
    assert node_key({"request": RenamedVoiceLine("Hello", speed=1.5)}) != key


def test_a_different_tag_with_the_same_fields_is_a_different_key():
    @dataclasses.dataclass(frozen=True)
    class Other:
        __key_tag__ = "test.other_line"

        text: str
        speed: float = 1.0

    assert node_key({"request": Other("Hello")}) != node_key({"request": VoiceLine("Hello")})


def test_a_record_without_its_own_tag_is_an_error():
    @dataclasses.dataclass
    class Untagged:
        text: str

    class UntaggedModel(BaseModel):
        text: str

    @dataclasses.dataclass(frozen=True)
    class Subclass(VoiceLine):  # inherits VoiceLine's tag, but is another record: must say so
        extra: int = 0

    for value in (Untagged("x"), UntaggedModel(text="x"), Subclass("x")):
        with pytest.raises(KeyEncodingError, match="__key_tag__"):
            node_key({"v": value})


@pytest.mark.parametrize("tag", ["", "Text.Request", "text request", "text..request", "1st.request", 5])
def test_a_malformed_tag_is_an_error(tag):
    Bad = dataclasses.make_dataclass("Bad", [("x", int)], namespace={"__key_tag__": tag})
    with pytest.raises(KeyEncodingError):
        node_key({"v": Bad(1)})


def test_every_request_record_of_the_provider_contract_has_a_distinct_tag():
    records = [base.SpeakerInfo, base.TextRequest, base.WordTiming, base.SpeechRequest, base.ImageRequest]
    tags = [vars(c)["__key_tag__"] for c in records]
    assert len(set(tags)) == len(tags)
    assert tags == ["text.speaker", "text.request", "speech.word_timing", "speech.request", "image.request"]

# ---------------------------------------------------------------------------- properties

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(json_scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, min_size=1, max_size=6), st.randoms())
def test_dict_order_never_changes_a_key(d, rnd):
    items = list(d.items())
    rnd.shuffle(items)
    assert node_key(dict(items)) == node_key(d)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, min_size=1, max_size=6), st.data())
def test_any_change_of_a_value_changes_the_key(d, data):
    k = data.draw(st.sampled_from(sorted(d)))
    new = data.draw(json_values.filter(lambda v: canonical_bytes(v) != canonical_bytes(d[k])))
    assert node_key({**d, k: new}) != node_key(d)


@given(st.integers())
def test_int_and_its_string_differ(n):
    assert node_key({"v": n}) != node_key({"v": str(n)})


def test_type_tags_separate_lookalikes():
    values = [1, "1", 1.0, True, [1], {"1": 1}, None, "", 0, False, 0.0, -0.0]
    keys = {node_key({"v": v}) for v in values}
    assert len(keys) == len(values)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, [1, math.nan], {"x": {"y": math.nan}}])
def test_nan_and_infinity_are_rejected(bad):
    with pytest.raises(KeyEncodingError):
        node_key({"v": bad})


@pytest.mark.parametrize("bad", [object(), {1, 2}, {1: "int key"}, lambda: 0, __import__("pathlib").Path("/tmp/x")])
def test_values_that_cannot_be_encoded_are_errors_not_skipped(bad):
    with pytest.raises(KeyEncodingError):
        node_key({"v": bad})


def test_strings_are_nfc_normalised():
    assert node_key({"v": "e\u0301"}) == node_key({"v": "\u00e9"})


def test_salt_changes_every_key():
    assert node_key({"a": 1}, salt="x") != node_key({"a": 1})


def test_a_pre_encoded_value_makes_the_same_key_and_survives_pickling():
    import pickle

    from vidflow.cache.fingerprint import Encoded

    shared = Encoded(SPEECH_NODE["provider"])
    node = {**SPEECH_NODE, "provider": shared}
    assert node_key(node) == node_key(SPEECH_NODE) == GOLDEN["speech"]
    back = pickle.loads(pickle.dumps(shared))
    assert back == shared and back.enc == shared.enc
    assert Encoded({"a": 1}) != Encoded({"a": 2})
