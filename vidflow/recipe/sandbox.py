"""The template sandbox: Jinja's immutable sandbox plus limits on time, work and size per render.

Templates come from recipes and their values from topic files, so one template must never hang a
run or eat the machine's memory. Each render (see ``templating.render``) gets a :class:`Budget`:

* time: :data:`DEADLINE` seconds, checked at every loop iteration, call and filter;
* work: :data:`MAX_STEPS` loop iterations, calls and filters in total (nested loops included);
* size: :data:`MAX_MADE` characters (or list items) made in total by ``~``, ``+``, ``*``, ``%``,
  ``{{ }}`` output, filters, string methods and the literal text of loop bodies.

Single operations that would build something huge are refused *before* they run: ``range`` over
more than :data:`MAX_RANGE` numbers, ``**`` and ``*`` on integers past :data:`MAX_INT_BITS` bits,
format widths and precisions over :data:`MAX_WIDTH` (``'%0999999999d' % 1``,
``'{0:>{1}}'.format(x, 10**9)``) and numbers over :data:`MAX_ARG` given to filters or string
methods (``center(10**9)``). Jinja's ``lipsum`` global is removed.

The loop and ``~`` hooks are put in by rewriting the template's syntax tree before it is compiled
(:class:`_Hooks`); output, concatenation and calls use Jinja's own hook points (``finalize``,
``concat``, ``call``, ``call_binop``, ``wrap_str_format``).
"""

from __future__ import annotations

import re
import time
from contextvars import ContextVar, Token
from functools import update_wrapper, wraps
from typing import Any, Callable, Iterator

from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.visitor import NodeTransformer

__all__ = ["Budget", "LimitError", "LimitedEnvironment", "begin", "end"]

DEADLINE = 2.0  # seconds per render
MAX_STEPS = 100_000
MAX_MADE = 2_000_000
MAX_RANGE = 10_000
MAX_INT_BITS = 10_000  # about 3,000 decimal digits: below Python's 4,300-digit str() limit
MAX_WIDTH = 10_000
MAX_ARG = 100_000
MAX_SLOW_INPUT = 100_000  # filters that take about a microsecond per character or item
_SLOW_FILTERS = frozenset({"urlize", "wordwrap", "title", "sort", "unique", "groupby", "dictsort", "pprint", "striptags", "xmlattr", "tojson"})


class LimitError(Exception):
    """A template went past one of the sandbox's limits."""


class Budget:
    """What one render may still spend."""

    __slots__ = ("deadline", "steps", "made")

    def __init__(self) -> None:
        self.deadline = time.monotonic() + DEADLINE
        self.steps = 0
        self.made = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise LimitError(f"the template does more than {MAX_STEPS:,} loop iterations, calls and filters; make its loops smaller")
        if time.monotonic() > self.deadline:
            raise LimitError(f"the template took longer than {DEADLINE:g} s to render; make its loops smaller")

    def make(self, n: int) -> None:
        self.made += n
        if self.made > MAX_MADE:
            raise LimitError(f"the template builds more than {MAX_MADE:,} characters; make it produce less text")


_current: ContextVar[Budget | None] = ContextVar("vidflow_template_budget", default=None)


def _budget() -> Budget:
    # Outside a render (Jinja folds constant expressions while compiling) each operation gets a
    # fresh budget: the single-operation limits still hold.
    return _current.get() or Budget()


def begin() -> Token:
    """Start a fresh budget for this render; hand the token to :func:`end`."""
    return _current.set(Budget())


def end(token: Token) -> None:
    _current.reset(token)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)) else 0


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --------------------------------------------------------------------------- single operations


def _check_power(left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
        if right * abs(left).bit_length() > MAX_INT_BITS:
            raise LimitError(f"`**` would make a number of more than {MAX_INT_BITS:,} bits; use smaller numbers")


def _check_multiply(left: Any, right: Any, budget: Budget) -> None:
    if _is_int(left) and _is_int(right):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise LimitError(f"`*` would make a number of more than {MAX_INT_BITS:,} bits; use smaller numbers")
        return
    seq, n = (left, right) if _is_int(right) else (right, left)
    if _is_int(n) and _size(seq) and n > 0:
        if _size(seq) * n > MAX_MADE:
            raise LimitError(f"`*` would repeat {_size(seq):,} items {n:,} times; use a smaller number")
        budget.make(_size(seq) * n)


# %[(key)][flags][width][.precision][length]type
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def _check_percent(fmt: str) -> None:
    for width, precision in _PERCENT.findall(fmt):
        for number in (width, precision):
            if number == "*":
                raise LimitError("`*` widths in %-formatting are not supported in templates; write the width")
            if number and int(number) > MAX_WIDTH:
                raise LimitError(f"format width {int(number):,} is over {MAX_WIDTH:,}; use a smaller width")


# [[fill]align][sign][z][#][0][width][grouping][.precision][type]
_SPEC = re.compile(r"(?:.?[<>=^])?[+\- ]?z?#?0?(\d*)[,_]?(?:\.(\d+))?")


class _Formatter(SandboxedFormatter):
    """str.format in the sandbox, with the width and precision of every field capped."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        m = _SPEC.match(format_spec)
        for number in m.groups() if m else ():
            if number and (len(number) > 6 or int(number) > MAX_WIDTH):
                raise LimitError(f"format width {number[:12]} is over {MAX_WIDTH:,}; use a smaller width")
        out = super().format_field(value, format_spec)
        _budget().make(len(out))
        return out


def _str_method_cost(name: str, s: str, args: tuple, kwargs: dict) -> int:
    """How many characters a str method call would build, estimated before it runs."""
    for a in (*args, *kwargs.values()):
        if _is_int(a) and abs(a) > MAX_ARG:
            raise LimitError(f"`{name}`: {a} is over {MAX_ARG:,}; use a smaller number")
    if name in ("center", "ljust", "rjust", "zfill") and args and _is_int(args[0]):
        return max(args[0], len(s))
    if name == "expandtabs":
        tab = args[0] if args and _is_int(args[0]) else 8
        return len(s) + s.count("\t") * max(tab, 0)
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        hits = s.count(args[0]) if args[0] else len(s) + 1
        return len(s) + hits * len(args[1])
    return 0


def _join_cost(sep: str, items: list) -> int:
    return sum(len(x) if isinstance(x, str) else 20 for x in items) + len(sep) * len(items)


def _guard_filter(name: str, func: Callable) -> Callable:
    """A filter that checks its numbers, the cost of ``replace``/``join``/``format``/``indent``
    before it runs, and charges what it returns."""
    skip = 2 if getattr(func, "jinja_pass_arg", None) is not None else 1  # context/env + value

    @wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.step()
        extra = (*args[skip:], *kwargs.values())
        for a in extra:
            if _is_int(a) and abs(a) > MAX_ARG:
                raise LimitError(f"filter `{name}`: {a} is over {MAX_ARG:,}; use a smaller number")
        value = args[skip - 1] if len(args) >= skip else None
        if name in _SLOW_FILTERS and _size(value) > MAX_SLOW_INPUT:
            raise LimitError(f"filter `{name}` on {_size(value):,} characters or items; the limit is {MAX_SLOW_INPUT:,}")
        if name == "format" and isinstance(value, str):
            _check_percent(value)
        elif name == "replace" and len(args) >= skip + 2:
            budget.make(_str_method_cost("replace", str(value), tuple(args[skip:skip + 2]), {}))
        elif name == "indent" and isinstance(value, str):
            width = args[skip] if len(args) > skip else kwargs.get("width", 4)
            budget.make(len(value) + (value.count("\n") + 1) * (width if _is_int(width) else _size(width)))
        elif name == "join" and value is not None and not isinstance(value, str):
            items = list(value)
            sep = args[skip] if len(args) > skip else kwargs.get("d", "")
            budget.make(_join_cost(str(sep), items))
            args = (*args[: skip - 1], items, *args[skip:])
        result = func(*args, **kwargs)
        budget.make(_size(result))
        return result

    return guarded


# --------------------------------------------------------------------------- hooks in the tree


class _Counted:
    """An iterable whose every item costs a step and the literal text of the loop body."""

    __slots__ = ("items", "weight")

    def __init__(self, items: Any, weight: int):
        self.items = items
        self.weight = weight

    def __len__(self) -> int:
        return len(self.items)  # TypeError for generators: LoopContext then counts as it goes

    def __iter__(self) -> Iterator[Any]:
        budget = _budget()
        for item in self.items:
            budget.step()
            budget.make(self.weight)
            yield item


def _body_weight(body: list[nodes.Node]) -> int:
    """What one pass of a loop body costs at least: its literal text and its output pieces."""
    weight = 1
    for top in body:
        for node in (top, *top.find_all(nodes.Node)):
            if isinstance(node, nodes.TemplateData):
                weight += len(node.data)
            elif isinstance(node, nodes.Output):
                weight += len(node.nodes)
    return weight


class _Hooks(NodeTransformer):
    """Routes ``for`` loops through :class:`_Counted` and ``~`` through a checked join."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        hook = nodes.EnvironmentAttribute("vidflow_loop", lineno=node.lineno)
        node.iter = nodes.Call(hook, [node.iter, nodes.Const(_body_weight(node.body), lineno=node.lineno)], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        hook = nodes.EnvironmentAttribute("vidflow_concat", lineno=node.lineno)
        return nodes.Call(hook, list(node.nodes), [], None, None, lineno=node.lineno)


def _range(*args: Any) -> range:
    for a in args:
        if not _is_int(a):
            raise TypeError(f"range() takes whole numbers, not {type(a).__name__}")
    r = range(*args)
    try:
        too_big = len(r) > MAX_RANGE
    except OverflowError:  # more numbers than fit in a machine word
        too_big = True
    if too_big:
        raise LimitError(f"range() over more than {MAX_RANGE:,} numbers; use a smaller range")
    return r


def _concat(*parts: Any) -> str:
    strs = [p if type(p) is str else str(p) for p in parts]
    _budget().make(sum(map(len, strs)))
    return "".join(strs)


def _checked_join(pieces: Any) -> str:
    """Jinja's ``concat`` for block bodies (macros, ``{% set %}`` blocks, the whole template)."""
    pieces = list(pieces)
    budget = _current.get()
    if budget is not None:
        budget.make(sum(map(len, pieces)))
    return "".join(pieces)


def _finalize(value: Any) -> str:
    text = value if type(value) is str else str(value)
    budget = _current.get()  # None while compiling constant output
    if budget is not None:
        budget.make(len(text))
    return text


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the limits above."""

    intercepted_binops = frozenset(["*", "**", "+", "%"])
    concat = staticmethod(_checked_join)  # type: ignore[assignment]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(finalize=_finalize, **kwargs)
        self.globals["range"] = _range
        self.globals.pop("lipsum", None)
        self.vidflow_loop = _Counted
        self.vidflow_concat = _concat

    def guard_filters(self) -> None:
        """Wrap every filter (call after adding your own)."""
        for name, func in list(self.filters.items()):
            if not getattr(func, "_vidflow_guarded", False):
                guarded = _guard_filter(name, func)
                guarded._vidflow_guarded = True  # type: ignore[attr-defined]
                self.filters[name] = guarded

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = _Hooks().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = _budget()
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_multiply(left, right, budget)
        elif operator == "%" and isinstance(left, str):
            _check_percent(left)
        elif operator == "+" and _size(left) and _size(right):
            budget.make(_size(left) + _size(right))
        result = self.binop_table[operator](left, right)
        if operator == "%":
            budget.make(_size(result))
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's convention
        budget = _budget()
        budget.step()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and callable(__obj):
            name = getattr(__obj, "__name__", "")
            if name == "join" and args and not isinstance(args[0], str):
                items = list(args[0])
                budget.make(_join_cost(owner, items))
                args = (items, *args[1:])
            else:
                budget.make(_str_method_cost(name, owner, args, kwargs))
        result = super().call(__context, __obj, *args, **kwargs)
        budget.make(_size(result))
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if getattr(value, "__name__", None) not in ("format", "format_map") or not isinstance(getattr(value, "__self__", None), str):
            return None
        fmt: str = value.__self__
        vformat = _Formatter(self).vformat
        is_map = value.__name__ == "format_map"

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one mapping")
                return str(vformat(fmt, (), args[0]))
            return str(vformat(fmt, args, kwargs))

        return update_wrapper(wrapper, value)

