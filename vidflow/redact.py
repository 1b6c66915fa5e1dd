"""Secret redaction for every piece of text vidflow records (errors, events, reports, logs).

A :class:`Redactor` is built from secret values (API keys). It masks:

* each whole secret, and any fragment of 6 or more characters that a secret starts or ends
  with: vendors echo keys truncated (``Bearer sk-CANARY-1234567...``) or shortened
  (``sk-...wxyz9876``), and such a fragment still gives most of the key away;
* the value of any ``Authorization`` / ``x-api-key`` / ``xi-api-key`` / ``api-key`` header or
  field, in header lines, JSON, Python reprs and query strings, whatever the key;
* any ``Bearer <token>``.

:meth:`Redactor.from_env` takes its secrets from the environment variables whose *name* looks
secret (``*_KEY``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*`` ...), ignoring values shorter than
8 characters so that a flag like ``DEBUG_TOKEN=1`` cannot mask every "1" in a report.

The work per text is one ``str.find`` scan per distinct 6-character anchor (the first and the
last 6 characters of each secret) plus two regular expressions, so it stays linear in the text
for any number of secrets. This module imports nothing from vidflow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "MIN_FRAGMENT", "Redactor", "is_secret_name"]

MASK = "***"
#: The shortest secret fragment that is masked (shorter ones are too common to be telling).
MIN_FRAGMENT = 6
#: Environment values shorter than this are never treated as secrets.
MIN_ENV_SECRET = 8

_SECRET_WORDS = ("API_KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE_KEY")
# Names that hold *where* a secret is, or its name, not the secret itself.
_NOT_SECRET_SUFFIXES = ("_PATH", "_FILE", "_DIR", "_URL", "_ENV", "_NAME", "_ID", "_TYPE", "_REGION", "_EXPIRY", "_EXPIRATION")

# A header or field that carries a credential, then its separator, then its value (quoted or not;
# an unquoted value may start with an auth scheme). Keys: Authorization, Proxy-Authorization,
# api-key / api_key / apikey, x-api-key, xi-api-key, x-goog-api-key.
_FIELD = re.compile(
    r"""(?P<name>(?<![\w-])(?:proxy-)?authorization|(?<![\w-])(?:x-goog-|x-|xi-)?api[-_]?key)(?![\w-])
        (?P<sep>["']?\s*[:=]\s*)
        (?P<value>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|(?:(?P<scheme>bearer|basic|token)\s+)?[^\s"',;&}\])]+)""",
    re.IGNORECASE | re.VERBOSE,
)
# The token class includes "*" so that a token already partly masked is masked whole.
_BEARER = re.compile(r"(?<![\w-])(bearer)\s+[A-Za-z0-9\-._~+/*]+=*", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret (``OPENAI_API_KEY``: yes)."""
    n = name.upper()
    if n.endswith(_NOT_SECRET_SUFFIXES):
        return False
    return n.endswith("_KEY") or any(w in n for w in _SECRET_WORDS)


class Redactor:
    """Masks secrets (and fragments of them) and credential headers in text.

    ``Redactor()`` with no secrets still masks credential headers and ``Bearer`` tokens.
    Instances are immutable and picklable; their repr never shows a secret.
    """

    def __init__(self, secrets: Iterable[str | None] = ()):
        unique = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_FRAGMENT}
        self._secrets: tuple[str, ...] = tuple(sorted(unique))
        # anchor (6 chars) -> [(secret, True if it is the secret's head, False if its tail)]
        anchors: dict[str, list[tuple[str, bool]]] = {}
        for s in self._secrets:
            anchors.setdefault(s[:MIN_FRAGMENT], []).append((s, True))
            anchors.setdefault(s[-MIN_FRAGMENT:], []).append((s, False))
        self._anchors = anchors

    # ------------------------------------------------------------------ building
    @classmethod
    def from_env(cls, env: Mapping[str, str], *, min_length: int = MIN_ENV_SECRET) -> Redactor:
        """Secrets = values of the variables whose name looks secret (see :func:`is_secret_name`)."""
        return cls(v for k, v in env.items() if isinstance(v, str) and len(v) >= min_length and is_secret_name(k))

    def extended(self, secrets: Iterable[str | None]) -> Redactor:
        """A redactor that also masks ``secrets`` (this one is unchanged)."""
        extra = [s for s in secrets if s]
        if all(s in self._secrets or (isinstance(s, str) and len(s) < MIN_FRAGMENT) for s in extra):
            return self
        return Redactor([*self._secrets, *extra])

    def __len__(self) -> int:
        return len(self._secrets)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Redactor) and other._secrets == self._secrets

    def __hash__(self) -> int:
        return hash(self._secrets)

    # ------------------------------------------------------------------ masking
    def __call__(self, text: Any) -> Any:
        return self.redact(text)

    def redact(self, text: Any) -> Any:
        """``text`` with secrets masked (anything that is not a str is returned unchanged)."""
        if not isinstance(text, str) or not text:
            return text
        if self._anchors:
            text = self._mask_fragments(text)
        text = _FIELD.sub(_field_repl, text)
        return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)

    def redact_data(self, value: Any) -> Any:
        """``value`` (JSON-like: dicts, lists, tuples, strings) with every string redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {self.redact(k): self.redact_data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.redact_data(v) for v in value)
        return value

    def _mask_fragments(self, text: str) -> str:
        spans: list[tuple[int, int]] = []
        for anchor, owners in self._anchors.items():
            i = text.find(anchor)
            while i != -1:
                for secret, head in owners:
                    if head:  # the longest prefix of the secret that starts here
                        k = _common_prefix(text, i, secret)
                        spans.append((i, i + k))
                    else:  # the longest suffix of the secret that ends where the anchor ends
                        end = i + MIN_FRAGMENT
                        k = _common_suffix(text, end, secret)
                        spans.append((end - k, end))
                i = text.find(anchor, i + 1)
        if not spans:
            return text
        spans.sort()
        out: list[str] = []
        pos = 0
        start, stop = spans[0]
        for a, b in spans[1:]:
            if a <= stop:  # overlapping or touching: one mask
                stop = max(stop, b)
                continue
            out += [text[pos:start], MASK]
            pos, start, stop = stop, a, b
        out += [text[pos:start], MASK, text[stop:]]
        return "".join(out)


def _common_prefix(text: str, at: int, secret: str) -> int:
    n = min(len(secret), len(text) - at)
    k = MIN_FRAGMENT  # the anchor already matched
    while k < n and text[at + k] == secret[k]:
        k += 1
    return k


def _common_suffix(text: str, end: int, secret: str) -> int:
    n = min(len(secret), end)
    k = MIN_FRAGMENT
    while k < n and text[end - k - 1] == secret[-k - 1]:
        k += 1
    return k


def _field_repl(m: re.Match[str]) -> str:
    value = m.group("value")
    if value[:1] in "\"'":
        masked = value[0] + MASK + value[0]
    elif m.group("scheme"):
        masked = f"{m.group('scheme')} {MASK}"
    else:
        masked = MASK
    return f"{m.group('name')}{m.group('sep')}{masked}"
