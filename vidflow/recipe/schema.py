"""The recipe's top level, as pydantic models. Pure data: no I/O, no registry, no templates.

Steps are not modelled here: each capability (``vidflow/capabilities/``) owns the schema of its
own steps, and ``recipe/load.py`` asks the capability a step belongs to to validate it. What is
here is what every recipe shares: providers, budget, topics, variables.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..limits import Rate, parse_rate

__all__ = ["NOTIFY_EVENTS", "Budget", "NotifySpec", "ProviderSpec", "Recipe", "RetrySpec", "StepModel", "TopicSpec", "webhook_url_problem"]


class _Strict(BaseModel):
    # allow_inf_nan: YAML's .inf/.nan are caught where they are read; this catches the rest
    # (`per_topic_usd: 1e400` is a string to YAML, and infinity once a float)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


class StepModel(_Strict):
    """Base of every capability's step schema: the keys any step may have.

    ``needs`` names steps that must finish first although no template reads them;
    ``approve: true`` holds what the step makes for a person's review before anything uses it.
    """

    needs: list[str] = []
    approve: bool = False


class RetrySpec(_Strict):
    """How a provider's transient failures (429, 5xx, timeouts, lost connections) are retried.

    The wait before attempt n+1 is a random time up to ``min(max_backoff, backoff * 2**(n-1))``
    (full jitter), and at least the provider's Retry-After after a 429.
    """

    attempts: int = Field(default=5, ge=1, le=100, description="calls in all, the first one included")
    backoff: float = Field(default=0.5, ge=0, le=3600, description="seconds: the first wait's upper bound")
    max_backoff: float = Field(default=30.0, ge=0, le=86_400, description="seconds: no wait is longer")

    @model_validator(mode="after")
    def _order(self) -> RetrySpec:
        if self.max_backoff < self.backoff:
            raise ValueError(f"max_backoff ({self.max_backoff:g}) is shorter than backoff ({self.backoff:g}); make it at least as long")
        return self


class ProviderSpec(BaseModel):
    """A named provider instance. Keys other than vidflow's own are the adapter's options.

    vidflow's own keys: ``kind``, ``concurrency``, ``rate``, ``latency``, ``retry`` and
    ``timeout``. ``timeout`` is also handed to the adapter (it is every adapter's option), so a
    networked adapter uses the same seconds as its HTTP timeout: one knob per provider.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str
    concurrency: int | None = Field(default=None, ge=1, le=10_000)
    rate: Rate | None = None
    latency: float | None = Field(default=None, ge=0, le=86_400, description="seconds per call, for plan estimates")
    retry: RetrySpec | None = None
    timeout: float | None = Field(default=None, gt=0, le=86_400, description="seconds one attempt may take")

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, v: Any) -> Any:
        if v is None or isinstance(v, Rate):
            return v
        if not isinstance(v, str):
            raise ValueError(f"rate must be text like `6/min`, got {type(v).__name__}")
        return parse_rate(v)

    @property
    def options(self) -> dict[str, Any]:
        """The adapter's options: the keys that are not vidflow's, plus ``timeout`` when set."""
        opts = dict(self.model_extra or {})
        if self.timeout is not None:
            opts["timeout"] = self.timeout
        return opts


class Budget(_Strict):
    max_usd: float | None = Field(default=None, ge=0)
    per_topic_usd: float | None = Field(default=None, ge=0)


#: The webhook events vidflow sends (docs/webhooks.md), in the order a run makes them.
NOTIFY_EVENTS = (
    "run.accepted", "topic.accepted", "run.started", "topic.started", "topic.progress",
    "topic.awaiting_review", "topic.completed", "topic.failed", "run.awaiting_review", "run.completed", "run.failed",
)
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class NotifySpec(_Strict):
    """``notify:``: signed webhooks of the run's lifecycle (docs/webhooks.md).

    The secret itself never appears in a recipe: ``secret_env`` names the environment variable
    that holds it (``whsec_`` + base64, the Standard Webhooks format).
    """

    url: str | None = Field(default=None, description="an endpoint (http or https)")
    urls: list[str] = Field(default=[], description="more endpoints; each gets every event")
    secret_env: str = Field(default="VIDFLOW_WEBHOOK_SECRET", pattern=_ENV_NAME, description="the environment variable holding the signing secret")
    events: list[str] = Field(default=[], description="send only these event types (default: all)")

    @field_validator("url", "urls")
    @classmethod
    def _http(cls, v: Any) -> Any:
        for u in [v] if isinstance(v, str) else v or []:
            why = webhook_url_problem(u)
            if why:
                raise ValueError(f"webhook URL {u!r} {why}")
        return v

    @field_validator("events")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = [e for e in v if e not in NOTIFY_EVENTS]
        if unknown:
            raise ValueError(f"unknown event {', '.join(unknown)}; known: {', '.join(NOTIFY_EVENTS)}")
        return v

    @property
    def endpoints(self) -> list[str]:
        return ([self.url] if self.url else []) + [u for u in self.urls if u != self.url]


class TopicSpec(_Strict):
    """One topic and its own template variables."""

    topic: str
    vars: dict[str, Any] = {}


class Recipe(_Strict):
    """A validated recipe. ``steps`` keeps the file's order."""

    vidflow: Literal[1]
    name: str = Field(min_length=1)
    description: str = ""
    topics: list[TopicSpec] = []
    topics_file: str | None = None
    characters: list[str] = []
    characters_dir: str | None = None
    vars: dict[str, Any] = {}
    providers: dict[str, ProviderSpec]
    steps: dict[str, Any]
    budget: Budget | None = None
    cache_salt: str = ""
    notify: NotifySpec | None = None

    @field_validator("vidflow", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        if type(v) is not int:  # `true` and `1.0` equal 1 in Python, but are not a version
            raise ValueError("`vidflow:` is the format version, the number 1; write `vidflow: 1`")
        return v


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook endpoint (said after "webhook URL ..."), or None. A URL
    no request can go to would wait in the outbox and be retried on every command, forever."""
    from urllib.parse import urlsplit

    if not url.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "holds a space or a control character; percent-encode it (%20)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:  # a port past 65535, a bracketed host that is no IPv6 address
        return f"is not a valid URL ({e}); write e.g. https://example.com/hooks"
    if not parts.hostname:
        return "has no host; write e.g. https://example.com/hooks"
    if port == 0:
        return "has port 0; give the receiver's port, or none for 80/443"
    return None
