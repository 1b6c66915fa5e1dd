"""Frozen dataclasses that cost what plain ones cost to make.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__``
(its own ``__setattr__`` refuses): about 0.35 µs a field here, and a node of a run makes ~40
such fields (its Task, its TaskSpec, its planner's Expansion, its request), more than a tenth
of the scheduler's whole overhead per node (benchmarks/overhead.py). :func:`fast_init` writes the same
``__init__`` (names, defaults, default factories, ``__post_init__``) that sets the new
instance's dict in one call instead. Everything else stays as dataclasses made it: the
instance is as frozen, compares, hashes, prints and pickles the same.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["fast_init"]

T = TypeVar("T", bound=type)


def fast_init(cls: T) -> T:
    """Give a frozen dataclass (no slots, every field in ``__init__``, none keyword-only) a
    one-call ``__init__``. Apply it above ``@dataclass(frozen=True)``."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" in cls.__dict__:
        raise TypeError(f"fast_init: {cls.__name__} is not a frozen dataclass without slots")
    fields = list(dataclasses.fields(cls))
    initvars = [f for f in cls.__dataclass_fields__.values() if f._field_type is dataclasses._FIELD_INITVAR]
    if initvars or any(not f.init or f.kw_only for f in fields):
        raise TypeError(f"fast_init: {cls.__name__} has fields outside a plain __init__ (init=False, kw_only or InitVar)")
    scope: dict[str, Any] = {"_set": object.__setattr__, "_MISSING": dataclasses.MISSING}
    args, items = [], []
    for i, f in enumerate(fields):
        if f.default is not dataclasses.MISSING:
            scope[f"_d{i}"] = f.default
            args.append(f"{f.name}=_d{i}")
            items.append(f"{f.name!r}: {f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            scope[f"_f{i}"] = f.default_factory
            args.append(f"{f.name}=_MISSING")
            items.append(f"{f.name!r}: _f{i}() if {f.name} is _MISSING else {f.name}")
        else:
            args.append(f.name)
            items.append(f"{f.name!r}: {f.name}")
    post = "\n    self.__post_init__()" if hasattr(cls, "__post_init__") else ""
    src = f"def __init__(self, {', '.join(args)}):\n    _set(self, '__dict__', {{{', '.join(items)}}}){post}\n"
    exec(src, scope)  # noqa: S102 - generated from the class's own field names, as dataclasses does
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init
    return cls
