"""Canary keys and leak detectors for secret-redaction tests.

A canary is a fake API key with a recognisable shape. A *leak* is any fragment of 6 or more
characters that a canary starts or ends with (what a vendor echoing a truncated key exposes),
found in a text, a byte string or any file of a folder.

    leaks = leaked_in_tree(project, CANARIES.values())
    assert not leaks, leaks   # {"runs/…/events.jsonl": ["sk-CANARY-0123…"], …}
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["CANARIES", "MIN_FRAGMENT", "fragments", "leaked", "leaked_in_tree"]

MIN_FRAGMENT = 6

#: Environment variable -> canary key. Suffixes are unusual letter runs, so a binary file
#: (audio, images) cannot contain one by chance.
CANARIES = {
    "OPENAI_API_KEY": "sk-CANARY-0123456789abcdefghijkl-QZXJVW",
    "ELEVENLABS_API_KEY": "xi-CANARY-9876543210zyxwvutsrqpo-WJVXZQ",
    "TOGETHERAI_API_KEY": "tg-CANARY-5555555555mnopqrstuv-VJQZXW",
}


def fragments(secret: str) -> set[str]:
    """Every prefix and suffix of ``secret`` with at least MIN_FRAGMENT characters."""
    n = len(secret)
    return {secret[:k] for k in range(MIN_FRAGMENT, n + 1)} | {secret[n - k :] for k in range(MIN_FRAGMENT, n + 1)}


def leaked(data: str | bytes, secrets: Iterable[str]) -> list[str]:
    """The longest fragment of each secret found in ``data`` (empty when nothing leaked)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    out = []
    for s in secrets:
        hits = [f for f in fragments(s) if f in text]
        if hits:
            out.append(max(hits, key=len))
    return out


def leaked_in_tree(root: Path, secrets: Iterable[str]) -> dict[str, list[str]]:
    """{relative path: fragments} for every file under ``root`` that holds a fragment."""
    secrets = list(secrets)
    out = {}
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        found = leaked(path.read_bytes(), secrets)
        if found:
            out[str(path.relative_to(root))] = found
    return out
