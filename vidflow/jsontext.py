"""JSON text for the hot paths (event lines, cache keys, manifests), encoded once per value.

``json.JSONEncoder.encode`` builds a new C encoder object on every call (its "one shot" path),
which costs more than encoding a small dict: at 10,000 nodes a run encodes ~60,000 documents
(benchmarks/overhead.py). :func:`encoder` builds the C encoder once, with the same options, and
falls back to the plain ``encode`` when the C accelerator is missing or does not produce the
same text (its constructor is not a public API; it is checked once, at import).

No circular-reference check is made (``check_circular=False``): every document encoded here is
built by vidflow from plain data.
"""

from __future__ import annotations

import json
from json import encoder as _std
from typing import Any, Callable

__all__ = ["encoder"]

_PROBE = {"b": [1, 2.5, None, True], "a": "é\n\u2028", "c": {"z": -1e-7, "y": ""}}


def encoder(*, sort_keys: bool = False, compact: bool = True, ensure_ascii: bool = False,
            allow_nan: bool = True, default: Callable[[Any], Any] | None = None) -> Callable[[Any], str]:
    """A function ``value -> JSON text``, the same as ``json.JSONEncoder(...).encode`` with
    these options (``compact``: separators ``(",", ":")``), only faster."""
    plain = json.JSONEncoder(sort_keys=sort_keys, separators=(",", ":") if compact else (", ", ": "), ensure_ascii=ensure_ascii,
                             allow_nan=allow_nan, default=default, check_circular=False)
    make = getattr(_std, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has the accelerator
        return plain.encode
    try:
        c = make(None, plain.default, _std.encode_basestring_ascii if ensure_ascii else _std.encode_basestring, None,
                 plain.key_separator, plain.item_separator, sort_keys, False, allow_nan)
    except TypeError:  # pragma: no cover - another signature: use the public path
        return plain.encode

    def encode(value: Any, _c=c, _join="".join, _str=str) -> str:
        if type(value) is _str:  # the C encoder only takes containers and numbers as the top
            return plain.encode(value)
        return _join(_c(value, 0))

    try:
        same = encode(_PROBE) == plain.encode(_PROBE)
    except Exception:  # noqa: BLE001  # pragma: no cover - any surprise: the public path
        same = False
    return encode if same else plain.encode
