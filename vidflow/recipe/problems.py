"""Pydantic validation errors -> :class:`~vidflow.errors.Problem` lines with ``file:line:col``.

Used for every schema a user writes against: the recipe's top level, each capability's step
schema, provider options and character files. A typo'd key gets a did-you-mean, and the
"missing key" it causes is folded into the same problem.
"""

from __future__ import annotations

import difflib
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ..errors import Problem
from .yamlloc import Locations, dotted

__all__ = ["pydantic_problems"]


def pydantic_problems(err: ValidationError, locs: Locations, prefix: tuple, model: type[BaseModel] | None) -> list[Problem]:
    out = []
    errors = err.errors()
    # A missing key that an unknown key is a typo of is one problem, not two.
    typos = set()
    for e in errors:
        if e["type"] == "extra_forbidden" and model:
            parent = tuple(e["loc"])[:-1]
            close = difflib.get_close_matches(str(e["loc"][-1]), _fields_at(model, parent), n=1, cutoff=0.6)
            if close:
                typos.add(parent + (close[0],))
    for e in errors:
        if e["type"] == "missing" and tuple(e["loc"]) in typos:
            continue
        loc = prefix + tuple(e["loc"])
        path = dotted(loc)
        etype = e["type"]
        if etype == "extra_forbidden":
            name = str(loc[-1])
            allowed = _fields_at(model, tuple(e["loc"])[:-1]) if model else []
            close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
            fix = f"did you mean `{close[0]}`?" if close else (f"allowed: {', '.join(sorted(allowed))}" if allowed else "remove it")
            out.append(Problem(locs.at(loc, key=True), path, f"unknown key `{name}`, {fix}"))
        elif etype == "missing":
            out.append(Problem(locs.at(loc[:-1]), path, f"missing required key `{loc[-1]}`"))
        else:
            msg = e["msg"].removeprefix("Value error, ")
            got = e.get("input")
            shown = f" (got {got!r:.60})" if got is not None and not isinstance(got, (dict, list)) else ""
            out.append(Problem(locs.at(loc), path, f"{msg}{shown}"))
    return out


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            f = current.model_fields.get(str(part))
            if f is None:
                return []
            current = _unwrap(f.annotation)
        elif isinstance(part, int) or isinstance(part, str):
            current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is not None:
        args = [a for a in get_args(tp) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        tp = models[0] if models else (args[-1] if args else tp)
        if isinstance(tp, type):
            break
    return tp
