"""Vendor errors -> vidflow's error tree, in one place (httpx's ``map_exceptions`` idea).

Every adapter wraps its vendor call in ``with map_errors(kind, secrets=[api_key]):``. The most
specific mapping wins; the vendor's message and request id are kept, the original exception is
chained, and any secret that appears in a message is masked before it can reach an event or log.

* 429                        -> RateLimitedError (retry_after from the Retry-After header)
* 408, 5xx, timeouts, resets -> transient (retried by the scheduler)
* 401, 403                   -> AuthError; 400, 404, 409, 413, 422 -> BadRequestError
* content-policy refusals    -> ContentRejectedError
"""

from __future__ import annotations

import email.utils
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping

from ..errors import (
    AuthError,
    BadRequestError,
    ContentRejectedError,
    PermanentProviderError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    VidflowError,
)

__all__ = ["error_for_status", "map_errors", "parse_retry_after", "redact"]

_CONTENT_WORDS = ("content_policy", "content policy", "safety", "moderation", "content_filter")


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


def redact(text: str, secrets: Iterable[str | None]) -> str:
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text


def error_for_status(status: int, message: str, *, kind: str, headers: Mapping[str, str] | None = None, request_id: str | None = None) -> ProviderError:
    """The vidflow error for an HTTP status and a vendor message."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    rid = request_id or headers.get("x-request-id") or headers.get("request-id")
    msg = f"{kind}: HTTP {status}: {message}".strip()
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


def _headers_of(e: BaseException) -> dict[str, str]:
    for attr in ("litellm_response_headers", "headers"):
        h = getattr(e, attr, None)
        if h:
            try:
                return {str(k).lower(): str(v) for k, v in dict(h).items()}
            except (TypeError, ValueError):
                pass
    resp = getattr(e, "response", None)
    h = getattr(resp, "headers", None)
    if h:
        return {str(k).lower(): str(v) for k, v in dict(h).items()}
    return {}


def translate(e: BaseException, *, kind: str) -> ProviderError:
    """Map any vendor/transport exception (httpx, openai, litellm) to a ProviderError."""
    name = type(e).__name__
    mro = {c.__name__ for c in type(e).__mro__}
    message = str(getattr(e, "message", "") or e) or name
    headers = _headers_of(e)
    if "ContentPolicyViolationError" in mro:
        return ContentRejectedError(f"{kind}: {message}", kind=kind, status=getattr(e, "status_code", None))
    if mro & {"TimeoutException", "Timeout", "APITimeoutError", "TimeoutError", "ReadTimeout", "ConnectTimeout"}:
        return ProviderTimeoutError(f"{kind}: timed out: {message}", kind=kind)
    status = getattr(e, "status_code", None)
    if status is None:
        resp = getattr(e, "response", None)
        status = getattr(resp, "status_code", None)
    if isinstance(status, int) and status >= 400:
        return error_for_status(status, message, kind=kind, headers=headers)
    if mro & {"RateLimitError"}:
        return error_for_status(429, message, kind=kind, headers=headers)
    if mro & {"AuthenticationError", "PermissionDeniedError"}:
        return AuthError(f"{kind}: {message}", kind=kind)
    if mro & {"ConnectError", "NetworkError", "RemoteProtocolError", "APIConnectionError", "ServiceUnavailableError", "InternalServerError", "ConnectionError", "ReadError", "WriteError"}:
        return ProviderUnavailableError(f"{kind}: {message}", kind=kind)
    if mro & {"BadRequestError", "NotFoundError", "UnprocessableEntityError", "ContextWindowExceededError", "UnsupportedParamsError"}:
        return BadRequestError(f"{kind}: {message}", kind=kind)
    return ProviderUnavailableError(f"{kind}: {name}: {message}", kind=kind)


@contextmanager
def map_errors(kind: str, *, secrets: Iterable[str | None] = ()) -> Iterator[None]:
    """Translate whatever the vendor call raises; mask ``secrets`` in the message."""
    secrets = list(secrets)
    try:
        yield
    except VidflowError as e:
        if secrets and isinstance(e, ProviderError):
            e.args = (redact(str(e), secrets),)
        raise
    except Exception as e:  # the vendor boundary: everything becomes a ProviderError
        mapped = translate(e, kind=kind)
        mapped.args = (redact(str(mapped), secrets),)
        if secrets:  # the chained vendor exception must not carry the key either
            e.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in e.args)
            if hasattr(e, "message") and isinstance(getattr(e, "message"), str):
                try:
                    e.message = redact(e.message, secrets)
                except AttributeError:
                    pass
        raise mapped from e
