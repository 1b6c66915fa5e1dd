"""Infrastructure settings: where the cache and run records live, and vendor endpoints.

Recipes hold creative intent; settings hold infrastructure. Precedence: built-in defaults <
environment (``VIDFLOW_*``) < CLI flags (applied by the CLI with :meth:`Settings.replace`).
This is the only module that reads the environment; adapters get secrets through
:meth:`Settings.secret`, and secrets are never copied into keys, manifests, events or logs.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from .errors import ConfigError
from .redact import Redactor

__all__ = ["Settings"]

#: Upper bounds of the whole-number settings: more ffmpeg processes than this only thrash a
#: machine, and a lease that outlives a dead holder by more than a day blocks the node for as long.
MAX_FFMPEG = 1024
MAX_LEASE_TTL = 86_400


def _int(env: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r:.40} is not a whole number") from None
    if value < 1:
        raise ConfigError(f"environment variable {name}={raw!r} must be at least 1")
    if value > maximum:
        raise ConfigError(f"environment variable {name}={raw!r:.40} must be at most {maximum}")
    return value


def _cpus() -> int:
    return min(os.cpu_count() or 2, MAX_FFMPEG)


def utf8_problem(value: str) -> str | None:
    """Where ``value`` is not UTF-8 text (``byte 0xe9 at position 3``), or None. Python keeps
    undecodable bytes of arguments and environment variables as lone surrogates, which no run
    record, cache key or header can hold: they are refused where they come in, not mid-run."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        ch = ord(value[e.start])
        what = f"byte 0x{ch - 0xDC00:02x}" if 0xDC80 <= ch <= 0xDCFF else repr(value[e.start])
        return f"{what} at position {e.start}"
    return None


def _not_text(name: str, value: str, *, secret: bool = False) -> None:
    """Refuse an environment variable that is not UTF-8 text (ConfigError naming it)."""
    why = utf8_problem(value)
    if why:
        where = "" if secret else f" ({why})"  # nothing of a key, not even one byte
        raise ConfigError(f"environment variable {name} is not UTF-8 text{where}; set it again as UTF-8 text")


#: The variables :meth:`Settings.from_env` reads as text.
_TEXT_VARS = ("VIDFLOW_CACHE", "VIDFLOW_RUNS_DIR", "VIDFLOW_CACHE_SALT", "VIDFLOW_S3_ENDPOINT_URL", "VIDFLOW_PRICES", "VIDFLOW_SCRATCH_DIR", "VIDFLOW_NOTIFY")


@dataclass(frozen=True)
class Settings:
    """Resolved settings.

    Attributes:
        cache_url: content-addressed cache, a local path or any fsspec URL (``s3://b/prefix``).
        runs_dir: where ``<run-id>/events.jsonl`` records go: a local folder (a URL is refused:
            records are appended line by line and locked, which object stores cannot do).
        cache_salt: mixed into every key; change it to invalidate the whole cache.
        s3_endpoint_url: custom S3 endpoint (MinIO, R2, a local S3); AWS_* vars do the rest.
        prices_file: a YAML price table merged over vidflow's own (``VIDFLOW_PRICES``).
        max_ffmpeg: ffmpeg processes at once (default: CPU count).
        scratch_dir: root of vidflow's temporary folders (``VIDFLOW_SCRATCH_DIR``; None:
            ``$TMPDIR/vidflow-scratch``, see :mod:`vidflow.scratch`).
        lease_ttl: seconds a lease on an S3 cache lasts without renewal (``VIDFLOW_LEASE_TTL``):
            how long a killed process can keep others waiting (:mod:`vidflow.cache.lease`).
        notify: webhook URLs that get every event of a run, besides the recipe's ``notify:``
            (``--notify URL``, ``VIDFLOW_NOTIFY``: space-separated; docs/webhooks.md).
        env: the environment secrets are read from (a copy; never logged).
    """

    cache_url: str = "cache"
    runs_dir: str = "runs"
    cache_salt: str = ""
    s3_endpoint_url: str | None = None
    max_ffmpeg: int = field(default_factory=_cpus)
    prices_file: str | None = None
    scratch_dir: str | None = None
    lease_ttl: float = 60.0
    notify: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        for name in _TEXT_VARS:
            _not_text(name, env.get(name) or "")
        return cls(
            cache_url=env.get("VIDFLOW_CACHE") or "cache",
            runs_dir=env.get("VIDFLOW_RUNS_DIR") or "runs",
            cache_salt=env.get("VIDFLOW_CACHE_SALT", ""),
            s3_endpoint_url=env.get("VIDFLOW_S3_ENDPOINT_URL") or None,
            max_ffmpeg=_int(env, "VIDFLOW_MAX_FFMPEG", _cpus(), MAX_FFMPEG),
            prices_file=env.get("VIDFLOW_PRICES") or None,
            scratch_dir=env.get("VIDFLOW_SCRATCH_DIR") or None,
            lease_ttl=float(_int(env, "VIDFLOW_LEASE_TTL", 60, MAX_LEASE_TTL)),
            notify=tuple(env.get("VIDFLOW_NOTIFY", "").split()),
            env=env,
        )

    def __post_init__(self) -> None:
        if not (isinstance(self.max_ffmpeg, int) and 1 <= self.max_ffmpeg <= MAX_FFMPEG):  # (a library user's Settings)
            raise ConfigError(f"max_ffmpeg={self.max_ffmpeg!r:.40}: give a whole number from 1 to {MAX_FFMPEG} (VIDFLOW_MAX_FFMPEG)")
        if not (isinstance(self.lease_ttl, (int, float)) and 0 < self.lease_ttl <= MAX_LEASE_TTL):
            raise ConfigError(f"lease_ttl={self.lease_ttl!r:.40}: give seconds above 0, at most {MAX_LEASE_TTL} (VIDFLOW_LEASE_TTL)")
        if "://" in self.runs_dir:  # it became a local folder named `s3:` (and the report showed the URL)
            raise ConfigError(f"runs dir {self.runs_dir}: run records are kept in a local folder (VIDFLOW_RUNS_DIR, --runs-dir); "
                              "give a local path (the cache and the outputs may be on S3: docs/storage.md)")

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @cached_property
    def redactor(self) -> Redactor:
        """Masks the secrets of :attr:`env` (and credential headers) in any text vidflow records.

        Apply it to every error message before it reaches an event, a report, a manifest, stderr
        or ``vidflow status``. Built once per Settings (``replace`` makes a new one).
        """
        return Redactor.from_env(self.env)

    def secret(self, name: str) -> str | None:
        """An API key from the environment, or None. Never store what this returns."""
        value = self.env.get(name)
        if value:
            _not_text(name, value, secret=True)  # the value itself is never part of the message
        return value or None

    def storage_options(self, url: str) -> dict:
        """fsspec options for ``url`` (only S3 needs any)."""
        if url.startswith(("s3://", "s3a://")) and self.s3_endpoint_url:
            return {"client_kwargs": {"endpoint_url": self.s3_endpoint_url}}
        return {}
