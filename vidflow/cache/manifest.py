"""The manifest schema: what ``actions/<key>.json`` must look like to be used at all.

A manifest is checked whole, with strict types, when it is read: valid JSON of the wrong shape
(``[]``, ``null``, ``"blobs": []``, ``"digest": 5``, a string where a number belongs, another
scheme or key) is not an entry, it is a miss that the node's rebuild overwrites. ``value`` and
``meta`` may hold any JSON; what a value must look like is the capability's business (it passes
a ``check`` to :meth:`~vidflow.cache.store.CacheStore.lookup`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, ValidationError

__all__ = ["BlobEntry", "MANIFEST_SCHEME", "Manifest", "ManifestError", "parse_manifest"]

#: The manifest format (not the key scheme: see fingerprint.KEY_SCHEME).
MANIFEST_SCHEME = 1

Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class ManifestError(ValueError):
    """A manifest that cannot be used: unreadable, of the wrong shape, or for another key."""


class BlobEntry(BaseModel):
    """One blob of a manifest, as stored."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    digest: Digest
    size: Annotated[int, Field(ge=0)]
    media_type: str
    ext: str


class Manifest(BaseModel):
    """The envelope of ``actions/<key>.json``."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    scheme: int  # strict: `true` is not 1
    key: str
    value: JsonValue
    blobs: dict[str, BlobEntry]
    meta: dict[str, JsonValue]


def parse_manifest(raw: bytes | str, key: str | None = None) -> Manifest:
    """Parse and validate a manifest; ManifestError (one line: where and what) if it is unusable.

    With ``key``, the manifest must also say it is the manifest of that key.
    """
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as e:
        raise ManifestError(_summary(e)) from None
    except (ValueError, RecursionError) as e:  # pragma: no cover - pydantic wraps parse errors
        raise ManifestError(f"unreadable: {e}"[:200]) from None
    if manifest.scheme != MANIFEST_SCHEME:
        raise ManifestError(f"scheme {manifest.scheme} (this vidflow reads scheme {MANIFEST_SCHEME})")
    if key is not None and manifest.key != key:
        raise ManifestError(f"it names key {manifest.key[:16]!r}, not {key[:16]!r}")
    return manifest


def _summary(e: ValidationError) -> str:
    errors = e.errors(include_url=False, include_input=False)
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "the document"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"[:300]
