"""The hot-path JSON encoder writes exactly what ``json.JSONEncoder(...).encode`` writes."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidflow.jsontext import encoder

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text()
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=20)
OPTIONS = [
    {"sort_keys": True, "ensure_ascii": False, "allow_nan": False},  # cache keys
    {"sort_keys": True, "ensure_ascii": True},  # manifests
    {"default": str, "ensure_ascii": False},  # event lines
]


@pytest.mark.parametrize("options", OPTIONS)
@settings(max_examples=200, deadline=None)
@given(value=VALUES)
def test_same_text_as_the_standard_encoder(options, value):
    plain = json.JSONEncoder(separators=(",", ":"), **options)
    fast = encoder(**options)
    try:
        expected = plain.encode(value)
    except ValueError as e:  # NaN where it is not allowed: the same refusal
        with pytest.raises(ValueError):
            fast(value)
        assert "not JSON compliant" in str(e)
        return
    assert fast(value) == expected


def test_defaults_and_top_level_scalars():
    enc = encoder(default=str)
    assert enc({"s": frozenset([3])}) == '{"s":"frozenset({3})"}'
    assert enc("é\n") == '"é\\n"'
    assert enc(1.5) == "1.5"
    assert enc(math.inf) == "Infinity"


KEYABLE = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(fields=st.dictionaries(st.text(max_size=6), KEYABLE, max_size=5), value=VALUES)
def test_a_manifest_with_its_key_text_put_in_is_the_manifest_encoded_whole(tmp_path_factory, fields, value):
    """The scheduler hands the store the text a node's key was hashed from; the manifest made
    with it is byte for byte the one made by encoding the fields again."""
    from vidflow.cache.fingerprint import encoded, key_and_text
    from vidflow.cache.store import Artifact, CacheStore
    from vidflow.errors import KeyEncodingError

    try:
        enc = encoded(fields)
    except KeyEncodingError:  # (two keys that normalise alike)
        return
    key, text = key_and_text(enc)
    store = CacheStore(str(tmp_path_factory.getbasetemp() / "cache"))
    art = Artifact(value=value, meta={"fields": enc, "attempts": 1, "run_id": "r"})
    assert store.manifest_file(key, art, fields_text=text) == store.manifest_file(key, art)
