"""Jinja templates, rendered in a sandbox with StrictUndefined.

Recipes are data from users and from topic files, so templates run in Jinja's
``ImmutableSandboxedEnvironment``: no attribute access to internals, no mutation of the context.
An undefined name is an error that names the step and the template's line in the recipe,
never an empty string in a prompt that someone pays for.

Filters beyond Jinja's built-ins: ``slug``, ``shorten(n)``, ``words(n)``, ``names``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any, Iterable

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from ..errors import TemplateError

__all__ = ["render", "slug", "template_names", "TemplateSyntax"]


def slug(value: Any, max_length: int = 80) -> str:
    """``"Why is the sky blue?"`` -> ``"why-is-the-sky-blue"``: lowercase, hyphens.

    Latin text is folded to ASCII (``"Café"`` -> ``"cafe"``). Text in other scripts keeps its
    letters, digits and marks (``"天空为什么是蓝色的？"`` -> ``"天空为什么是蓝色的"``), so
    topics in Chinese, Arabic or Hindi get distinct names instead of all being ``untitled``.
    """
    text = unicodedata.normalize("NFKC", str(value))
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    letters = sum(1 for c in text if unicodedata.category(c).startswith("L"))
    if sum(1 for c in folded if c.isalpha()) >= letters:
        out = re.sub(r"[^a-zA-Z0-9]+", "-", folded)
    else:
        out = "".join(c if unicodedata.category(c)[0] in "LNM" else "-" for c in text)
        out = re.sub(r"-+", "-", out)
    out = out.strip("-").lower()
    return out[:max_length].rstrip("-") or "untitled"


def _shorten(value: Any, width: int = 60) -> str:
    text = " ".join(str(value).split())
    if len(text) <= width:
        return text
    cut = text[: width - 1].rsplit(" ", 1)[0]
    return cut + "…"


def _words(value: Any, n: int = 6) -> str:
    return " ".join(str(value).split()[:n])


def _names(value: Iterable[Any]) -> str:
    """A list of characters (or strings) as ``"Nova and Pip"``."""
    names = [v.get("name", "") if isinstance(v, dict) else str(v) for v in value]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


@lru_cache(maxsize=1)
def _env() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
    )
    env.filters.update(slug=slug, shorten=_shorten, words=_words, names=_names)
    return env


class TemplateSyntax(Exception):
    """A template does not parse; ``lineno`` is 1-based within the template."""

    def __init__(self, message: str, lineno: int):
        super().__init__(message)
        self.lineno = lineno


@lru_cache(maxsize=4096)
def _compile(source: str) -> jinja2.Template:
    return _env().from_string(source)


def template_names(source: str, *, required_only: bool = False) -> set[str]:
    """Top-level names a template reads (for dependency inference and static checks).

    With ``required_only``, names that are only ever read through ``| default(...)`` (or tested
    with ``is defined``) are left out: a template may use them when they exist.
    """
    try:
        ast = _env().parse(source)
    except jinja2.TemplateSyntaxError as e:
        raise TemplateSyntax(e.message or "syntax error", e.lineno or 1) from None
    names = set(meta.find_undeclared_variables(ast))
    if not required_only:
        return names
    from jinja2 import nodes

    reads: dict[str, int] = {}
    for n in ast.find_all(nodes.Name):
        if n.ctx == "load":
            reads[n.name] = reads.get(n.name, 0) + 1
    guarded: dict[str, int] = {}
    for node in [*ast.find_all(nodes.Filter), *ast.find_all(nodes.Test)]:
        is_guard = node.name in ("default", "d") if isinstance(node, nodes.Filter) else node.name in ("defined", "undefined")
        if is_guard and isinstance(node.node, nodes.Name):
            guarded[node.node.name] = guarded.get(node.node.name, 0) + 1
    # optional: every read of the name goes through a guard
    optional = {n for n, k in guarded.items() if reads.get(n, 0) <= k}
    return names - optional


def render(source: str, context: dict[str, Any], *, where: str = "") -> str:
    """Render ``source``; any failure is a TemplateError naming ``where`` and the line."""
    if "{" not in source:  # fast path: most values are not templates
        return source
    try:
        return _compile(source).render(context)
    except jinja2.UndefinedError as e:
        line = _error_line(e)
        raise TemplateError(f"{where}{_line_suffix(line)}: {e.message}; define it or fix the name") from None
    except SecurityError as e:
        raise TemplateError(f"{where}: not allowed in a template: {e}") from None
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(f"{where}{_line_suffix(e.lineno)}: template syntax error: {e.message}") from None
    except (TypeError, ValueError, ZeroDivisionError, jinja2.TemplateError) as e:
        raise TemplateError(f"{where}{_line_suffix(_error_line(e))}: {e}") from None


def _line_suffix(line: int | None) -> str:
    return f" (template line {line})" if line else ""


def _error_line(exc: BaseException) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
