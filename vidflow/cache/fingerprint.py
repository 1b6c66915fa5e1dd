"""Cache keys (the cache's own hashing): a canonical encoding of a node's inputs, hashed with sha256.

Keys are an API. The encoding is type-tagged JSON with sorted keys, so ``1``, ``1.0``,
``True`` and ``"1"`` never collide, dict order never matters, strings are NFC-normalised and
floats use the shortest repr that round-trips. NaN and infinities are rejected, and so is any
value without an encoder (a path, an object, a set): silently dropping an input would make two
different nodes share a key. Add an encoder with :func:`encode.register`.

Records (dataclasses and pydantic models) are encoded by an explicit, stable tag that the class
declares itself (``__key_tag__ = "text.request"``), never by its Python name: renaming or moving
a class must not invalidate every cache. A record class without its own tag is an error.

What goes into a key is decided by the planner (the node's key fields), never here: this module only
turns values into bytes and bytes into a digest. It never sees secrets, limits or timeouts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import unicodedata
from collections.abc import Mapping
from functools import cache, singledispatch
from typing import Any

from ..errors import KeyEncodingError
from ..jsontext import encoder

__all__ = ["KEY_SCHEME", "Encoded", "canonical_bytes", "changed_fields", "decoded", "digest_bytes", "encode", "encoded", "key_and_text", "key_of_encoded", "key_tag", "node_key"]

#: Bumping this invalidates every key (and is a changelog entry).
KEY_SCHEME = "vidflow-key-v2"

# Lower-case dotted names ("text.request", "acme.video_request"): readable in a dump, and
# nothing a class rename could produce by accident.
_TAG = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


@cache
def key_tag(cls: type) -> str:
    """The stable tag a record class declares for keys (``__key_tag__`` in its own body).

    Looked up on the class itself, not inherited: a subclass is a different record and must
    say what it is, or two meanings could share one tag without anyone deciding they should.
    """
    tag = vars(cls).get("__key_tag__")
    if tag is None:
        raise KeyEncodingError(
            f"cannot put a {cls.__name__} into a cache key: its class declares no __key_tag__ "
            f'(add a stable name such as __key_tag__ = "myplugin.{cls.__name__.lower()}" to the class body)'
        )
    if not isinstance(tag, str) or not _TAG.match(tag):
        raise KeyEncodingError(f"{cls.__name__}.__key_tag__ = {tag!r} is not a lower-case dotted name like 'text.request'")
    return tag


@singledispatch
def encode(value: Any) -> Any:
    """Turn ``value`` into type-tagged, JSON-ready data. Unknown types are an error.

    Dataclasses and pydantic models encode as their tag and their fields (one record form for
    both, so a request may change from one to the other without changing its keys); register
    other types here.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {name: getattr(value, name) for name in _field_names(type(value))}
        return ["r", key_tag(type(value)), _encode(fields)]
    dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(dump) and not isinstance(value, type):
        return ["r", key_tag(type(value)), encode(dump(mode="python"))]
    raise KeyEncodingError(
        f"cannot put a value of type {type(value).__name__} into a cache key: {value!r:.80}"
    )


class Encoded:
    """A value whose encoding is computed once, for values that many keys share (a provider's
    identity is part of the key of every node that calls it). Encodes exactly as ``value``."""

    __slots__ = ("value", "enc")

    def __init__(self, value: Any):
        self.value = value
        self.enc = _encode(value)

    def __reduce__(self) -> tuple:
        return (Encoded, (self.value,))

    def __eq__(self, other: object) -> bool:  # equal when they would make the same keys
        return isinstance(other, Encoded) and self.enc == other.enc

    __hash__ = None  # type: ignore[assignment]  # (like the dict it usually holds)

    def __repr__(self) -> str:
        return f"Encoded({self.value!r})"


@encode.register(Encoded)
def _(value: Encoded) -> Any:
    return value.enc


@encode.register(type(None))
def _(value: None) -> Any:
    return None


@encode.register(bool)
def _(value: bool) -> Any:
    return ["b", value]


@encode.register(int)
def _(value: int) -> Any:
    # As a string: JSON readers may lose precision on large ints.
    return ["i", str(value)]


@encode.register(float)
def _(value: float) -> Any:
    if math.isnan(value) or math.isinf(value):
        raise KeyEncodingError(f"cannot put {value!r} into a cache key (NaN and infinities are rejected)")
    return ["f", repr(value)]


@encode.register(str)
def _(value: str) -> Any:
    return ["s", unicodedata.normalize("NFC", value)]


@encode.register(bytes)
def _(value: bytes) -> Any:
    return ["x", hashlib.sha256(value).hexdigest()]


@encode.register(list)
@encode.register(tuple)
def _(value: list | tuple) -> Any:
    return ["l", [_encode(v) for v in value]]


@encode.register(Mapping)
def _(value: Mapping) -> Any:
    out: dict[str, Any] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise KeyEncodingError(f"cache key maps need string keys, got {type(k).__name__} {k!r:.40}")
        nk = unicodedata.normalize("NFC", k)
        if nk in out:
            raise KeyEncodingError(f"two keys normalise to the same string: {k!r}")
        out[nk] = _encode(v)
    return ["m", out]


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _encode(value: Any) -> Any:
    """:func:`encode`, with the plain JSON types done here: keys are computed for every node,
    and singledispatch costs more than the encoding itself. Same output, by construction: the
    branches below only handle exact built-in types, everything else goes to ``encode``."""
    t = type(value)
    if t is str:
        return ["s", value if value.isascii() else unicodedata.normalize("NFC", value)]
    if t is dict:
        out: dict[str, Any] = {}
        for k, v in value.items():
            if type(k) is not str:
                return encode(value)  # the registered Mapping encoder reports the bad key
            nk = k if k.isascii() else unicodedata.normalize("NFC", k)
            if nk in out:
                raise KeyEncodingError(f"two keys normalise to the same string: {k!r}")
            out[nk] = _encode(v)
        return ["m", out]
    if t is list or t is tuple:
        return ["l", [_encode(v) for v in value]]
    if t is int:
        return ["i", str(value)]
    if value is None:
        return None
    if t is Encoded:
        return value.enc
    names = _record_fields(t)
    if names is not None:  # a dataclass record: tag and fields (as ``encode`` does)
        fields: dict[str, Any] = {}  # field names are identifiers: ASCII, distinct
        for n in names:
            v = getattr(value, n)
            tv = type(v)
            if tv is str:  # most fields of a request are text, None or empty: no call for them
                fields[n] = ["s", v if v.isascii() else unicodedata.normalize("NFC", v)]
            elif v is None:
                fields[n] = None
            elif tv is dict and not v:
                fields[n] = ["m", {}]
            elif tv is tuple and not v:
                fields[n] = ["l", []]
            else:
                fields[n] = _encode(v)
        return ["r", key_tag(t), ["m", fields]]
    return encode(value)


@cache
def _record_fields(cls: type) -> tuple[str, ...] | None:
    return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None


def canonical_bytes(value: Any) -> bytes:
    """The canonical encoding of ``value`` (sorted keys, compact, UTF-8)."""
    return _CANONICAL(_encode(value)).encode("utf-8")


# One encoder for every key (json.dumps with options builds a new one per call; vidflow/jsontext.py).
_CANONICAL = encoder(sort_keys=True, ensure_ascii=False, allow_nan=False)


def digest_bytes(data: bytes) -> str:
    """sha256 hex digest of raw bytes (blob digests)."""
    return hashlib.sha256(data).hexdigest()


def node_key(fields: Mapping[str, Any], *, salt: str = "") -> str:
    """The key of a node: sha256 over the scheme, the salt and the canonical ``fields``."""
    return key_of_encoded(_encode(fields), salt=salt)


def key_of_encoded(enc: Any, *, salt: str = "") -> str:
    """:func:`node_key` from fields already :func:`encoded` (the scheduler encodes a node's
    fields once: for its key and for its manifest's record of them)."""
    return key_and_text(enc, salt=salt)[0]


def key_and_text(enc: Any, *, salt: str = "") -> tuple[str, str]:
    """:func:`key_of_encoded`, and the canonical JSON text of ``enc`` that was hashed (a
    manifest records the same fields: ``CacheStore.manifest_file`` reuses the text)."""
    text = _CANONICAL(enc)
    h = _key_prefix(salt).copy()
    h.update(text.encode("utf-8"))
    return h.hexdigest(), text


@cache
def _key_prefix(salt: str) -> Any:
    """The hash of what precedes every key's fields: the scheme and the salt."""
    h = hashlib.sha256()
    h.update(KEY_SCHEME.encode())
    h.update(b"\0")
    h.update(unicodedata.normalize("NFC", salt).encode())
    h.update(b"\0")
    return h


def encoded(fields: Mapping[str, Any]) -> Any:
    """The type-tagged form of ``fields`` that keys are hashed from (JSON-ready): what a
    manifest records, so a later plan can say which field changed (:func:`changed_fields`)."""
    return _encode(fields)


def changed_fields(old: Any, new: Any, *, limit: int = 12) -> list[str]:
    """Paths where two encoded field sets differ (``request.prompt``, ``lines[2].audio``).

    Both arguments are :func:`encoded` forms. At most ``limit`` paths, shallowest first.
    """
    out: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if len(out) >= limit or a == b:
            return
        ta = a[0] if isinstance(a, list) and a else None
        tb = b[0] if isinstance(b, list) and b else None
        if ta == tb == "r" and a[1] == b[1]:
            walk(a[2], b[2], path)
        elif ta == tb == "m":
            for k in sorted(set(a[1]) | set(b[1])):
                walk(a[1].get(k), b[1].get(k), f"{path}.{k}" if path else k)
        elif ta == tb == "l" and len(a[1]) == len(b[1]):
            for i, (x, y) in enumerate(zip(a[1], b[1])):
                walk(x, y, f"{path}[{i}]")
        else:
            out.append(path or "(all)")

    walk(old, new, "")
    return out


def decoded(value: Any) -> Any:
    """A readable form of :func:`encoded` fields (for people: ``vidflow show``), not a round trip:
    records become ``{"record": tag, ...fields}``, bytes their ``sha256:`` digest."""
    if not isinstance(value, list) or not value or not isinstance(value[0], str):
        return value
    tag = value[0]
    if tag == "m" and len(value) == 2 and isinstance(value[1], dict):
        return {k: decoded(v) for k, v in value[1].items()}
    if tag == "l" and len(value) == 2 and isinstance(value[1], list):
        return [decoded(v) for v in value[1]]
    if tag == "r" and len(value) == 3:
        inner = decoded(value[2])
        return {"record": value[1], **inner} if isinstance(inner, dict) else {"record": value[1], "value": inner}
    if tag == "i" and len(value) == 2:
        try:
            return int(value[1])
        except (TypeError, ValueError):
            return value[1]
    if tag == "f" and len(value) == 2:
        try:
            return float(value[1])
        except (TypeError, ValueError):
            return value[1]
    if tag == "x" and len(value) == 2:
        return f"sha256:{value[1]}"
    if tag in ("s", "b") and len(value) == 2:
        return value[1]
    return value
