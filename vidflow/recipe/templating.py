"""Jinja templates: checked when a recipe loads, rendered in a sandbox with limits.

Recipes are data from users and from topic files, so templates run in Jinja's
``ImmutableSandboxedEnvironment`` (no attribute access to internals, no mutation of the context)
with limits on time, work and size per render (see :mod:`.sandbox`). An undefined name is an
error that names the step and the template's line in the recipe, never an empty string in a
prompt that someone pays for. Every failure of :func:`render` is a :class:`TemplateError`: no
other exception, no hang, no gigabytes.

:func:`check_template` finds at load time what can be found without rendering: syntax errors,
unknown filters and tests (with a did-you-mean), templates over :data:`MAX_TEMPLATE_CHARS`.

Filters beyond Jinja's built-ins: ``slug``, ``shorten(n)``, ``words(n)``, ``names``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SecurityError

from ..errors import TemplateError
from .sandbox import LimitedEnvironment, LimitError, begin, end
from .slugs import slug

__all__ = ["MAX_OUTPUT_CHARS", "MAX_TEMPLATE_CHARS", "TemplateIssue", "TemplateSyntax", "check_template", "render", "reset_caches", "slug", "template_globals", "template_names"]

MAX_TEMPLATE_CHARS = 100_000
MAX_OUTPUT_CHARS = 100_000


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
def _env() -> LimitedEnvironment:
    env = LimitedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.filters.update(slug=slug, shorten=_shorten, words=_words, names=_names)
    env.guard_filters()
    return env


def template_globals() -> frozenset[str]:
    """The names every template has from Jinja itself (``range``, ``dict``, ``namespace``...)."""
    return frozenset(_env().globals)


class TemplateSyntax(Exception):
    """A template does not parse; ``lineno`` is 1-based within the template."""

    def __init__(self, message: str, lineno: int):
        super().__init__(message)
        self.lineno = lineno


@lru_cache(maxsize=4096)
def _compile(source: str) -> jinja2.Template:
    return _env().from_string(source)


@lru_cache(maxsize=4096)
def _parsed(source: str) -> nodes.Template:
    """The template's syntax tree, parsed once for every check (callers only read it)."""
    return _env().parse(source)


def reset_caches() -> None:
    """Forget compiled and parsed templates (tests that change the environment)."""
    for f in (_env, _compile, _parsed, _substitution):
        f.cache_clear()


def template_names(source: str, *, required_only: bool = False) -> set[str]:
    """Top-level names a template reads (for dependency inference and static checks).

    With ``required_only``, names that are only ever read through ``| default(...)`` (or tested
    with ``is defined``) are left out: a template may use them when they exist.
    """
    try:
        ast = _parsed(source)
    except jinja2.TemplateSyntaxError as e:
        raise TemplateSyntax(e.message or "syntax error", e.lineno or 1) from None
    names = set(meta.find_undeclared_variables(ast))
    if not required_only:
        return names
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


@dataclass(frozen=True)
class TemplateIssue:
    """A problem found in a template without rendering it; ``lineno`` is 1-based in the template."""

    lineno: int
    message: str


_NO_SUCH = re.compile(r"No (filter|test) named '([^']*)'")


def _unknown(kind: str, name: str) -> str:
    known = _env().filters if kind == "filter" else _env().tests
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    fix = f"did you mean `{close[0]}`?" if close else ("see the filters in docs/recipes.md" if kind == "filter" else "see Jinja's list of tests")
    return f"unknown {kind} `{name}`; {fix}"


def check_template(source: str) -> list[TemplateIssue]:
    """Syntax errors, unknown filters and tests, and oversize templates, found without rendering."""
    if "{" not in source:
        return []
    if len(source) > MAX_TEMPLATE_CHARS:
        return [TemplateIssue(1, f"template is {len(source):,} characters long; the limit is {MAX_TEMPLATE_CHARS:,}")]
    try:
        tree = _parsed(source)
    except jinja2.TemplateSyntaxError as e:
        return [TemplateIssue(e.lineno or 1, f"template syntax error: {e.message}")]
    except (RecursionError, MemoryError):
        return [TemplateIssue(1, "template nests too deeply; simplify its expressions")]
    issues = []
    env = _env()
    for node in tree.find_all((nodes.Filter, nodes.Test)):  # also those inside {% if %}, which Jinja checks only when run
        kind = "filter" if isinstance(node, nodes.Filter) else "test"
        if node.name not in (env.filters if kind == "filter" else env.tests):
            issues.append(TemplateIssue(node.lineno or 1, _unknown(kind, node.name)))
    if issues:
        return sorted(set(issues), key=lambda i: (i.lineno, i.message))
    try:
        _compile(source)
    except jinja2.TemplateSyntaxError as e:  # includes TemplateAssertionError
        m = _NO_SUCH.search(e.message or "")
        return [TemplateIssue(e.lineno or 1, _unknown(m[1], m[2]) if m else f"template syntax error: {e.message}")]
    except (RecursionError, MemoryError, SyntaxError, ValueError, OverflowError) as e:
        return [TemplateIssue(1, f"template cannot be compiled ({type(e).__name__}); simplify its expressions")]
    return []


def render(source: str, context: dict[str, Any], *, where: str = "") -> str:
    """Render ``source``; any failure is a TemplateError naming ``where`` and the line."""
    if "{" not in source:  # fast path: most values are not templates
        return source
    parts = _substitution(source)
    if parts is not None:
        out = _substitute(parts, context)
        if out is not None:
            return out
    try:
        template = _compile(source)
        token = begin()
        try:
            out = _generate(template, context)
        finally:
            end(token)
    except TemplateError:
        raise
    except jinja2.UndefinedError as e:
        raise TemplateError(f"{where}{_line_suffix(_error_line(e))}: {_text(e.message)}; define it or fix the name") from None
    except SecurityError as e:
        raise TemplateError(f"{where}: not allowed in a template: {_text(e)}") from None
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(f"{where}{_line_suffix(e.lineno)}: template syntax error: {_text(e.message)}") from None
    except LimitError as e:
        raise TemplateError(f"{where}{_line_suffix(_error_line(e))}: {e}") from None
    except RecursionError as e:
        raise TemplateError(f"{where}{_line_suffix(_error_line(e))}: a macro calls itself too deeply; stop the recursion sooner") from None
    except MemoryError:
        raise TemplateError(f"{where}: the template needs too much memory; make it produce less") from None
    except KeyError as e:
        raise TemplateError(f"{where}{_line_suffix(_error_line(e))}: no key {_text(repr(e.args[0]) if e.args else '')} in the values given; fix the name") from None
    except Exception as e:  # noqa: BLE001 - a template's failure is the recipe's problem, never a crash
        raise TemplateError(f"{where}{_line_suffix(_error_line(e))}: {type(e).__name__}: {_text(e)}") from None
    if not out.isascii():
        try:
            out.encode("utf-8")
        except UnicodeEncodeError as e:
            raise TemplateError(f"{where}: the result holds a lone surrogate ({out[e.start]!r}), which is not valid Unicode text; fix the text it comes from") from None
    return out


# --------------------------------------------------------------------------- substitution
# Most prompts are text with ``{{ name }}`` or ``{{ item.text }}`` in it. Rendering those through
# Jinja costs ~25 µs (a context, a generator, the sandbox's bookkeeping) for every node of every
# topic; substituting them directly costs ~2 µs. The result is Jinja's own, by construction:
# only templates whose syntax tree is plain text and name/attribute lookups qualify; a lookup
# follows the sandbox's order (an attribute of the object first, which for a dict means its
# methods, then the key), and anything else (a missing name, an object that is not a plain
# dict, a method) falls back to Jinja, which gives the same output or the same error.

_PLAIN = (str, int, float, bool)


@lru_cache(maxsize=4096)
def _substitution(source: str) -> tuple[str | tuple[str, ...], ...] | None:
    """The template as literal text and lookup paths, or None if it is more than that."""
    try:
        ast = _parsed(source)
    except (jinja2.TemplateSyntaxError, RecursionError, MemoryError, ValueError, OverflowError):
        return None
    parts: list[str | tuple[str, ...]] = []
    for node in ast.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append(child.data)
                continue
            path: list[str] = []
            while isinstance(child, nodes.Getattr):
                path.append(child.attr)
                child = child.node
            if not (isinstance(child, nodes.Name) and child.ctx == "load"):
                return None
            parts.append((child.name, *reversed(path)))
    return tuple(parts)


def _substitute(parts: tuple[str | tuple[str, ...], ...], context: dict[str, Any]) -> str | None:
    """The substituted text, or None when Jinja must decide (see above)."""
    out: list[str] = []
    for part in parts:
        if type(part) is str:
            out.append(part)
            continue
        value = context.get(part[0], _MISSING)
        for attr in part[1:]:
            if type(value) is not dict or attr not in value or hasattr(dict, attr):
                return None
            value = value[attr]
        if type(value) not in _PLAIN:
            return None
        try:
            out.append(str(value))
        except ValueError:  # an int too long to print: Jinja's path reports it
            return None
    text = "".join(out)
    if len(text) > MAX_OUTPUT_CHARS:
        return None  # Jinja reports the limit
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return None  # a lone surrogate: Jinja's path reports it
    return text


_MISSING = object()


def _generate(template: jinja2.Template, context: dict[str, Any]) -> str:
    """The output, streamed so that it stops at MAX_OUTPUT_CHARS instead of growing on."""
    parts: list[str] = []
    total = 0
    stream = template.generate(context)
    try:
        for piece in stream:
            total += len(piece)
            if total > MAX_OUTPUT_CHARS:
                raise LimitError(f"the result is longer than {MAX_OUTPUT_CHARS:,} characters; make the template produce less")
            parts.append(piece)
    finally:
        stream.close()
    return "".join(parts)


def _text(value: Any, limit: int = 300) -> str:
    """An exception or value as text, short, even when str() itself fails (huge ints)."""
    try:
        text = str(value)
    except Exception:  # noqa: BLE001
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "…"


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

