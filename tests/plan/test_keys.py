"""Keys are an API: canonical, type-tagged, stable. Golden values pin them."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidflow.errors import KeyEncodingError
from vidflow.plan.keys import canonical_bytes, node_key
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
    "speech": "0854e577380647acbec15514bbb6b388205f4f37a0a2cd7e51c031de800d5787",
    "speech_salted": "9b83adea8be97990d9fc6b5b6adf573185a46f4c1545e21bc75fb38ab2b68e95",
    "text_line": "5a93ffb8e9f8d014cd6a6281111269f305d6462a83fac3570cdffa4a7898c7c7",
}

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
