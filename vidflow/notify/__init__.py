"""Signed webhooks of a run's lifecycle: ``notify:`` in the recipe, ``--notify URL`` (docs/webhooks.md).

Three parts: :mod:`.events` turns the run's event stream into webhook events and writes each to
the outbox (:mod:`.outbox`, ``<runs_dir>/outbox/``) before anything is sent; :mod:`.deliver`
sends them, signed per Standard Webhooks (:mod:`.signing`), from a background thread while the
run goes on, and whatever is left is sent by the next vidflow command (:func:`flush_pending`) or
``vidflow notify --flush``. A receiver that is down never fails or holds up a run.

>>> notifier = open_notifier(loaded, settings)   # None when no URL is configured   # doctest: +SKIP
>>> sink = MultiSink(jsonl, notifier)            # it is an EventSink               # doctest: +SKIP
>>> notifier.close()                             # at the run's end: a short drain  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..errors import Problem, RecipeError, UserError
from ..recipe.schema import webhook_url_problem
from ..run.ledger import Event
from .deliver import DRAIN_SECONDS, FLUSH_SECONDS, Deliverer, flush
from .events import Endpoint, WebhookSink
from .outbox import Outbox, Record
from .signing import decode_secret

__all__ = ["DEFAULT_SECRET_ENV", "Notifier", "Outbox", "Record", "flush_pending", "open_notifier"]

#: The variable holding the signing secret when neither the recipe nor the flag names one.
DEFAULT_SECRET_ENV = "VIDFLOW_WEBHOOK_SECRET"


class Notifier:
    """The webhook side of one run: an EventSink plus its background deliverer."""

    def __init__(self, outbox: Outbox, endpoints: list[Endpoint], settings: Any, *, order: list[str], gated: set[str]):
        env = dict(settings.env)
        self.deliverer = Deliverer(outbox, env.get, redactor=settings.redactor)
        self.sink = WebhookSink(outbox, endpoints, order=order, gated=gated, on_write=self.deliverer.wake)
        self.outbox = outbox
        self.deliverer.start()

    def emit(self, event: Event) -> None:
        self.sink.emit(event)

    def close(self, drain: float = DRAIN_SECONDS) -> None:
        self.deliverer.close(drain)
        with contextlib.suppress(OSError):
            self.outbox.prune()


def endpoints(loaded: Any, settings: Any) -> list[Endpoint]:
    """The recipe's ``notify:`` URLs, then ``--notify`` / ``$VIDFLOW_NOTIFY`` ones (all events)."""
    spec = loaded.recipe.notify
    out: list[Endpoint] = []
    if spec is not None:
        out += [Endpoint(u, spec.secret_env, frozenset(spec.events)) for u in spec.endpoints]
    secret_env = spec.secret_env if spec is not None else DEFAULT_SECRET_ENV
    for url in settings.notify:
        why = webhook_url_problem(url)
        if why:
            raise UserError(f"--notify {url}: a webhook URL {why}")
        if url not in {e.url for e in out}:
            out.append(Endpoint(url, secret_env))
    return out


def open_notifier(loaded: Any, settings: Any) -> Notifier | None:
    """The run's notifier, or None without URLs. A missing or malformed secret is a user error."""
    eps = endpoints(loaded, settings)
    if not eps:
        return None
    problems = []
    for name in sorted({e.secret_env for e in eps}):
        secret = settings.secret(name)
        why = "is not set" if not secret else None
        if secret and why is None:
            try:
                decode_secret(secret)
            except ValueError as e:
                why = str(e)
        if why:
            in_recipe = loaded.recipe.notify is not None
            loc, path = (loaded.loc("notify", "secret_env"), "notify.secret_env") if in_recipe else ("", "--notify")
            problems.append(Problem(loc, path, f"webhooks are signed: ${name} {why}; set it to the receiver's secret (whsec_ + base64)"))
    if problems:
        raise RecipeError(problems)
    gated = {name for name, s in loaded.steps.items() if getattr(s.spec, "approve", False)}
    return Notifier(Outbox(settings.runs_dir), eps, settings, order=list(loaded.order), gated=gated)


def flush_pending(settings: Any, *, seconds: float = FLUSH_SECONDS) -> dict[str, int] | None:
    """Send what earlier runs left in the outbox (bounded by ``seconds``); None if nothing waits.

    Never raises for a receiver or the network: the command that calls it is not about webhooks.
    """
    outbox = Outbox(settings.runs_dir)
    if "://" in settings.runs_dir or not outbox.has_pending():
        return None
    with contextlib.suppress(OSError):
        return flush(outbox, dict(settings.env).get, seconds=seconds, redactor=settings.redactor)
    return None
