"""Which vendor exceptions vidflow knows, and how each maps to vidflow's error tree.

:func:`exception_table` is an explicit table keyed by exception class (httpx, the openai SDK,
litellm, and the standard library's transport errors); :func:`rule_for` finds the entry of an
exception's most specific class. :data:`NOT_MAPPED` lists the classes the SDKs export that are
deliberately left out, with the reason: they propagate as bugs. ``_errors.py`` applies the table.
A test checks that every exception class the installed SDKs export is in one or the other.
"""

from __future__ import annotations

import socket
import ssl
import sys
from functools import lru_cache
from typing import Mapping

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
)

__all__ = ["NOT_MAPPED", "TRANSPORT", "Rule", "exception_table", "rule_for"]

Rule = tuple[str, type[ProviderError]]

# How an exception class is mapped:
#   timeout / connect / network: a transport failure (connect: never reached the host)
#   status:  by the HTTP status it carries (the class's error when it carries none)
#   fixed:   always this error class
#   reply:   the reply could not be read -> BadOutputError
#   wrapper: litellm's catch-all; the cause chain tells what really happened
TRANSPORT = ("timeout", "connect", "network")

#: Exported vendor exception classes that are deliberately not mapped (they propagate as bugs).
NOT_MAPPED: dict[str, str] = {
    "httpx.CookieConflict": "raised only when reading a cookie jar, never by a request",
    "httpx.StreamError": "misuse of a response stream: a bug in the calling code",
    "httpx.StreamConsumed": "misuse of a response stream: a bug in the calling code",
    "httpx.StreamClosed": "misuse of a response stream: a bug in the calling code",
    "httpx.ResponseNotRead": "misuse of a response stream: a bug in the calling code",
    "httpx.RequestNotRead": "misuse of a request stream: a bug in the calling code",
    "openai.InvalidWebhookSignatureError": "webhooks only; vidflow receives none",
    "openai.WebSocketConnectionClosedError": "realtime (websocket) API only; vidflow does not use it",
    "openai.WebSocketQueueFullError": "realtime (websocket) API only; vidflow does not use it",
    "openai._AmbiguousModuleClientUsageError": "module-level client misuse: a bug in the calling code",
    "litellm.BudgetExceededError": "litellm's own budget manager, which vidflow never enables (vidflow has its budget)",
    "litellm.BlockedPiiEntityError": "raised only inside a litellm proxy server",
    "litellm.GuardrailRaisedException": "raised only inside a litellm proxy server",
    "litellm.ModifyResponseException": "raised only inside a litellm proxy server",
    "litellm.SensitiveDataRouteException": "raised only inside a litellm proxy server",
    "litellm.MockException": "raised only for mock_response, which vidflow never passes",
    "litellm.ModelNotMappedError": "raised by model-info lookups, not by calls; vidflow prices unknown models itself",
    "litellm.ToolLoopMaxRoundsExceeded": "tool loops only; vidflow passes no tools",
    "litellm.RouterRateLimitError": "litellm's Router only; vidflow does not use it",
    "litellm.RouterRateLimitErrorBasic": "litellm's Router only; vidflow does not use it",
    "litellm.ZoneInfoNotFoundError": "the standard library's zoneinfo error, re-exported by litellm",
}


def exception_table() -> dict[type, tuple[str, type[ProviderError]]]:
    """Exception class -> (how, vidflow error class), for the vendor SDKs imported so far.

    An SDK that was never imported cannot have raised anything, so the table never imports one
    (litellm takes seconds to import).
    """
    return _build_table(*(m in sys.modules for m in ("httpx", "openai", "litellm.exceptions")))


@lru_cache(maxsize=8)  # one table per set of imported SDKs; _build_table.cache_clear() resets it
def _build_table(with_httpx: bool, with_openai: bool, with_litellm: bool) -> dict[type, tuple[str, type[ProviderError]]]:
    T, U, B = ProviderTimeoutError, ProviderUnavailableError, BadRequestError
    table: dict[type, tuple[str, type[ProviderError]]] = {
        TimeoutError: ("timeout", T),
        ConnectionRefusedError: ("connect", U),
        ConnectionError: ("network", U),
        socket.gaierror: ("connect", U),
        ssl.SSLError: ("connect", U),
    }
    if with_httpx:
        import httpx

        table.update({
            httpx.HTTPError: ("network", U), httpx.RequestError: ("network", U), httpx.TransportError: ("network", U),
            httpx.TimeoutException: ("timeout", T), httpx.ConnectTimeout: ("timeout", T), httpx.ReadTimeout: ("timeout", T),
            httpx.WriteTimeout: ("timeout", T), httpx.PoolTimeout: ("timeout", T),
            httpx.NetworkError: ("network", U), httpx.ConnectError: ("connect", U), httpx.ReadError: ("network", U),
            httpx.WriteError: ("network", U), httpx.CloseError: ("network", U), httpx.ProxyError: ("connect", U),
            httpx.ProtocolError: ("network", U), httpx.RemoteProtocolError: ("network", U),
            httpx.LocalProtocolError: ("fixed", B), httpx.UnsupportedProtocol: ("fixed", B), httpx.InvalidURL: ("fixed", B),
            httpx.DecodingError: ("reply", BadOutputError), httpx.TooManyRedirects: ("reply", BadOutputError),
            httpx.HTTPStatusError: ("status", U),
        })  # fmt: skip
    if with_openai:
        import openai

        table.update({
            openai.OpenAIError: ("fixed", PermanentProviderError),  # client misconfiguration (no key ...)
            openai.APIError: ("status", U), openai.APIStatusError: ("status", U),
            openai.APIConnectionError: ("connect", U), openai.APITimeoutError: ("timeout", T),
            openai.APIResponseValidationError: ("reply", BadOutputError),
            openai.AuthenticationError: ("status", AuthError), openai.PermissionDeniedError: ("status", AuthError),
            openai.OAuthError: ("status", AuthError),
            openai.BadRequestError: ("status", B), openai.NotFoundError: ("status", B), openai.ConflictError: ("status", B),
            openai.UnprocessableEntityError: ("status", B), openai.RateLimitError: ("status", RateLimitedError),
            openai.InternalServerError: ("status", U),
            openai.ContentFilterFinishReasonError: ("fixed", ContentRejectedError),
            openai.LengthFinishReasonError: ("fixed", BadOutputError),
        })  # fmt: skip
    if with_litellm:
        import litellm.exceptions as le

        table.update({
            le.AuthenticationError: ("status", AuthError), le.PermissionDeniedError: ("status", AuthError),
            le.PaymentRequiredError: ("fixed", AuthError),  # 402: the account cannot pay for this
            le.BadRequestError: ("status", B), le.InvalidRequestError: ("status", B), le.NotFoundError: ("status", B),
            le.UnprocessableEntityError: ("status", B), le.ContextWindowExceededError: ("fixed", B),
            le.UnsupportedParamsError: ("fixed", B), le.LiteLLMUnknownProvider: ("fixed", B),
            le.ImageFetchError: ("fixed", B), le.VectorStoreSearchError: ("fixed", B),
            le.ContentPolicyViolationError: ("fixed", ContentRejectedError), le.RejectedRequestError: ("fixed", ContentRejectedError),
            le.RateLimitError: ("status", RateLimitedError),
            le.ServiceUnavailableError: ("status", U), le.BadGatewayError: ("status", U), le.MidStreamFallbackError: ("status", U),
            le.Timeout: ("timeout", T),
            le.APIResponseValidationError: ("reply", BadOutputError), le.JSONSchemaValidationError: ("reply", BadOutputError),
            le.InternalServerError: ("wrapper", U), le.APIConnectionError: ("wrapper", U), le.APIError: ("wrapper", U),
            le.OpenAIError: ("wrapper", U),
        })  # fmt: skip
    return table


def rule_for(exc: BaseException, table: Mapping[type, Rule] | None = None) -> Rule | None:
    """The entry of the most specific class of ``exc`` that has one (None: not a known error)."""
    table = exception_table() if table is None else table
    for cls in type(exc).__mro__:
        hit = table.get(cls)
        if hit is not None:
            return hit
    return None
