"""Vendor errors -> vidflow's error tree, in one place (httpx's ``map_exceptions`` idea).

Every adapter wraps its vendor *call* (never the parsing of the reply) in
``with map_errors(kind, redactor=...):``. Only exceptions we know are mapped, by an explicit
table keyed by class (:func:`exception_table`; the most specific class of an exception wins):

* timeouts                                   -> ProviderTimeoutError (retried)
* refused / reset connections, DNS, TLS      -> ProviderUnavailableError "could not connect to <host>"
* HTTP statuses: 429 -> RateLimitedError (Retry-After kept); 408, 504 -> timeout; other 5xx ->
  unavailable; 401, 403 -> AuthError; other 4xx -> BadRequestError; refusals -> ContentRejectedError
* a reply the SDK could not read                -> BadOutputError (permanent)

Anything else raised inside the block is a bug: it propagates unmapped (so it is never
retried), with its text redacted. litellm wraps every failure, even a refused connection or an
unreadable reply, in a 500-ish exception, so the mapping reads the exception's cause chain:
a transport failure anywhere in it is what happened; a status counts only from a real HTTP
response (httpx's or the openai SDK's status errors); and a litellm catch-all that wraps a
plain Python error (AttributeError, JSONDecodeError ...) means the reply could not be read.

Messages pass through a :class:`~vidflow.redact.Redactor` and are capped at
:data:`MAX_MESSAGE` characters, so a huge or key-echoing vendor body never reaches a record.
"""

from __future__ import annotations

import email.utils
import socket
import ssl
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

from ..errors import (
    AuthError,
    BadOutputError,
    BadRequestError,
    ContentRejectedError,
    PermanentProviderError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    VidflowError,
)
from ..redact import Redactor
from ._vendor_exceptions import NOT_MAPPED, TRANSPORT, exception_table, rule_for

__all__ = [
    "MAX_MESSAGE",
    "NOT_MAPPED",
    "bad_reply",
    "error_for_status",
    "exception_table",
    "excerpt",
    "map_errors",
    "parse_retry_after",
    "translate",
]

#: Longest vendor message kept in an error (the rest is cut: bodies can be megabytes of HTML).
MAX_MESSAGE = 500
_CONTENT_WORDS = ("content_policy", "content policy", "safety", "moderation", "content_filter")
_LITELLM_PLACEHOLDER_HOST = "docs.litellm.ai"  # litellm's stand-in request URL on errors it makes up

# --------------------------------------------------------------------------- helpers


def parse_retry_after(value: Any, *, now: float | None = None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date. None if absent or unreadable."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def excerpt(value: Any, limit: int = 120) -> str:
    """A short, printable sample of a reply (for messages): never the whole of a huge body."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value[: limit * 2]).decode("utf-8", "replace")
    text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _cap(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + f"... ({len(text) - MAX_MESSAGE} more characters)"


def bad_reply(kind: str, problem: str, *, redactor: Redactor | None = None) -> BadOutputError:
    """The error for a reply that came back but cannot be used (wrong shape, not media ...)."""
    problem = " ".join(str(problem).split())  # one line, whatever the vendor's text looked like
    msg = _cap(f"{kind}: the provider's reply cannot be used: {problem}")
    return BadOutputError((redactor or Redactor())(msg), kind=kind)


def error_for_status(status: int, message: str, *, kind: str, headers: Mapping[str, str] | None = None, request_id: str | None = None) -> ProviderError:
    """The vidflow error for an HTTP status and a vendor message."""
    headers = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    rid = request_id or headers.get("x-request-id") or headers.get("request-id")
    msg = _cap(f"{kind}: HTTP {status}: {message}".strip())
    lowered = message.lower()
    if status == 429:
        return RateLimitedError(msg, retry_after=parse_retry_after(headers.get("retry-after")), kind=kind, status=status, request_id=rid)
    if status in (401, 403):
        return AuthError(msg, kind=kind, status=status, request_id=rid)
    if any(w in lowered for w in _CONTENT_WORDS):
        return ContentRejectedError(msg, kind=kind, status=status, request_id=rid)
    if status == 408 or status == 504:
        return ProviderTimeoutError(msg, kind=kind, status=status, request_id=rid)
    if status >= 500:
        return ProviderUnavailableError(msg, kind=kind, status=status, request_id=rid)
    if 400 <= status < 500:
        return BadRequestError(msg, kind=kind, status=status, request_id=rid)
    return PermanentProviderError(msg, kind=kind, status=status, request_id=rid)


def _chain(e: BaseException, limit: int = 16) -> list[BaseException]:
    """``e`` and its causes, outermost first."""
    out: list[BaseException] = []
    cur: BaseException | None = e
    while cur is not None and len(out) < limit and all(cur is not x for x in out):
        out.append(cur)
        cur = cur.__cause__ if cur.__cause__ is not None else (None if cur.__suppress_context__ else cur.__context__)
    return out


def _real_status(link: BaseException) -> tuple[int, Mapping[str, str]] | None:
    """The status of an HTTP reply that really came back (not one litellm made up)."""
    name = type(link).__module__.split(".", 1)[0]
    if name not in ("httpx", "openai"):
        return None
    resp = getattr(link, "response", None)
    status = getattr(resp, "status_code", None)
    if not isinstance(status, int) or status < 400:
        return None
    return status, _headers_of(resp)


def _headers_of(obj: Any) -> dict[str, str]:
    for h in (getattr(obj, "litellm_response_headers", None), getattr(obj, "headers", None), getattr(getattr(obj, "response", None), "headers", None)):
        if h:
            try:
                return {str(k).lower(): str(v) for k, v in dict(h).items()}
            except (TypeError, ValueError):
                continue
    return {}


def _message(e: BaseException) -> str:
    msg = getattr(e, "message", None)
    return str(msg) if isinstance(msg, str) and msg else (str(e) or type(e).__name__)


def _host(links: list[BaseException]) -> str | None:
    for link in reversed(links):  # the innermost request is the real one
        try:
            req = getattr(link, "request", None)
        except RuntimeError:  # httpx: ".request is not set"
            continue
        url = getattr(req, "url", None)
        host = getattr(url, "host", None)
        if host and host != _LITELLM_PLACEHOLDER_HOST:
            port = getattr(url, "port", None)
            return f"{host}:{port}" if port else str(host)
        host = getattr(link, "host", None)  # aiohttp's connector errors
        if isinstance(host, str) and host:
            port = getattr(link, "port", None)
            return f"{host}:{port}" if port else host
    return None


def _reason(links: list[BaseException]) -> str:
    for link in reversed(links):
        if isinstance(link, socket.gaierror):
            return "host name not found"
        if isinstance(link, ConnectionRefusedError):
            return "connection refused"
        if isinstance(link, ConnectionResetError):
            return "connection reset"
        if isinstance(link, ssl.SSLError):
            return f"TLS error ({link.reason or link})"
    return _message(links[-1])


def translate(e: BaseException, *, kind: str) -> ProviderError | None:
    """The vidflow error for a known vendor/transport exception; None if ``e`` is not known."""
    table = exception_table()
    top = rule_for(e, table)
    if top is None:
        return None
    links = _chain(e)
    rules = [(link, rule_for(link, table)) for link in links]
    message = _message(e)

    transport = [(link, r) for link, r in rules if r is not None and r[0] in TRANSPORT]
    if transport:
        host = _host(links) or "the provider"
        if any(r[0] == "timeout" for _, r in transport):
            return ProviderTimeoutError(f"{kind}: timed out waiting for {host}", kind=kind)
        how = transport[-1][1][0]  # the innermost transport error is the most precise
        if how == "connect":
            return ProviderUnavailableError(f"{kind}: could not connect to {host}: {_reason(links)}", kind=kind)
        return ProviderUnavailableError(f"{kind}: the connection to {host} failed: {_reason(links)}", kind=kind)

    how, cls = top
    real = next((s for s in map(_real_status, links) if s is not None), None)
    if real is not None and how in ("status", "wrapper"):
        status, headers = real
        return error_for_status(status, message, kind=kind, headers={**headers, **_headers_of(e)})
    if how == "wrapper":
        # litellm's catch-all with no transport failure and no HTTP error status behind it: litellm
        # got a reply it could not read (it then raises a plain Python error, or a 500 of its
        # own making, e.g. "Empty or invalid response"). The same request would fail the same way.
        return bad_reply(kind, _what_went_wrong(links, rules))
    status = getattr(e, "status_code", None)
    if how == "status" and isinstance(status, int) and status >= 400:
        return error_for_status(status, message, kind=kind, headers=_headers_of(e))
    if how == "reply":
        return bad_reply(kind, f"{type(e).__name__}: {message}")
    return cls(_cap(f"{kind}: {message}"), kind=kind, status=status if isinstance(status, int) else None)


def _what_went_wrong(links: list[BaseException], rules: list[tuple[BaseException, Any]]) -> str:
    """The most telling link below a litellm catch-all, as ``Type: message``."""
    vendor = _vendor_bases()
    # The outermost plain error says most (a JSONDecodeError's own cause is a StopIteration);
    # litellm re-raises some as a bare Exception carrying a traceback: look past those.
    plain = [x for x in links[1:] if not isinstance(x, vendor) and type(x) not in (Exception, StopIteration)]
    reply = [x for x, r in rules[1:] if r is not None and r[0] == "reply"]
    if not (reply or plain):  # litellm's own complaint, innermost: its message is the news
        return _message(links[-1])
    cause = (reply or plain)[0]
    return f"{type(cause).__name__}: {_message(cause)}"


def _vendor_bases() -> tuple[type, ...]:
    """Exception bases of vendor SDKs and litellm's provider errors (vs plain Python errors)."""
    bases: list[type] = []
    for mod, names in (("httpx", ("HTTPError",)), ("openai", ("OpenAIError",)), ("litellm.exceptions", ("OpenAIError", "APIError"))):
        m = sys.modules.get(mod)
        bases += [getattr(m, n) for n in names if m is not None and hasattr(m, n)]
    base_llm = sys.modules.get("litellm.llms.base_llm.chat.transformation")
    if base_llm is not None and hasattr(base_llm, "BaseLLMException"):
        bases.append(base_llm.BaseLLMException)
    return tuple(bases)


# --------------------------------------------------------------------------- the boundary


def _scrub(e: BaseException, redactor: Redactor) -> None:
    """Redact the text an exception (and its causes) carries, in place."""
    for link in _chain(e):
        try:
            link.args = tuple(redactor(a) if isinstance(a, str) else a for a in link.args)
            if isinstance(getattr(link, "message", None), str):
                link.message = redactor(link.message)  # type: ignore[attr-defined]
            if isinstance(link, ProviderError) and link.request_id:
                link.request_id = redactor(link.request_id)
        except (AttributeError, TypeError):  # read-only attributes on some exception types
            continue


@contextmanager
def map_errors(kind: str, *, redactor: Redactor | None = None, secrets: Any = ()) -> Iterator[None]:
    """Translate what the vendor call raises; mask secrets in every message.

    ``redactor`` masks the settings' secrets (and credential headers); ``secrets`` adds more
    (the adapter's own key, wherever it came from). Unknown exceptions propagate unmapped.
    """
    red = (redactor or Redactor()).extended(s for s in secrets if s)
    try:
        yield
    except VidflowError as e:
        _scrub(e, red)
        raise
    except Exception as e:
        mapped = translate(e, kind=kind)
        _scrub(e, red)
        if mapped is None:
            raise  # not a vendor error we know: a bug, never retried
        _scrub(mapped, red)
        raise mapped from e
