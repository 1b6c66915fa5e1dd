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
