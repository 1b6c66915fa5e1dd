"""YAML -> plain Python data, remembering where every key and value came from.

``load_yaml_with_locations(text, filename)`` returns ``(data, locations)``; ``locations`` maps a
path tuple (``("steps", "script", "prompt")``) to a :class:`Loc` for the value and, under
``path + ("<key>",)``, for the key itself. Error messages use it to print ``file:line:col``.
Duplicate keys are an error (PyYAML silently keeps the last one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import Problem, RecipeError

__all__ = ["KEY", "Loc", "Locations", "load_yaml_with_locations"]

KEY = "<key>"


@dataclass(frozen=True)
class Loc:
    file: str
    line: int  # 1-based
    col: int  # 1-based
    block: bool = False  # a block scalar (| or >): its text starts on the next line

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def template_line(self, n: int) -> Loc:
        """Where line ``n`` (1-based) of a multi-line string value sits in the file."""
        base = self.line + (1 if self.block else 0)
        return Loc(self.file, base + n - 1, self.col if n == 1 and not self.block else 1)


class Locations(dict):
    """path tuple -> Loc, with a fallback to the nearest known parent."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def find(self, path: tuple, *, key: bool = False) -> Loc:
        if key and path + (KEY,) in self:
            return self[path + (KEY,)]
        p = tuple(path)
        while p:
            if p in self:
                return self[p]
            if p + (KEY,) in self:
                return self[p + (KEY,)]
            p = p[:-1]
        return self.get((), Loc(self.file, 1, 1))

    def at(self, path: tuple, *, key: bool = False) -> str:
        return str(self.find(path, key=key))


def _loc(file: str, node: yaml.Node) -> Loc:
    block = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
    return Loc(file, node.start_mark.line + 1, node.start_mark.column + 1, block)


class _Loader(yaml.SafeLoader):
    pass


def _construct(node: yaml.Node, path: tuple, locs: Locations, file: str, problems: list[Problem]) -> Any:
    locs[path] = _loc(file, node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        loader = _Loader("")
        loader.flatten_mapping(node)  # merge keys (<<)
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                problems.append(Problem(str(_loc(file, key_node)), _dotted(path), "mapping keys must be plain names"))
                continue
            if isinstance(key, str) is False:
                key = str(key)
            if key in out:
                problems.append(
                    Problem(str(_loc(file, key_node)), _dotted(path + (key,)), f"duplicate key `{key}`: remove one of them")
                )
            locs[path + (key, KEY)] = _loc(file, key_node)
            out[key] = _construct(value_node, path + (key,), locs, file, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, path + (i,), locs, file, problems) for i, v in enumerate(node.value)]
    return _Loader("").construct_object(node, deep=True)


def _dotted(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def load_yaml_with_locations(text: str, file: str) -> tuple[Any, Locations]:
    """Parse one YAML document. Raises RecipeError (with file:line:col) on syntax errors."""
    locs = Locations(file)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        what = e.problem or e.context or "invalid YAML"
        raise RecipeError(Problem(where, "", f"YAML syntax error: {what}")) from None
    except yaml.YAMLError as e:  # pragma: no cover - other YAML errors carry no mark
        raise RecipeError(Problem(file, "", f"YAML error: {e}")) from None
    if node is None:
        return None, locs
    problems: list[Problem] = []
    data = _construct(node, (), locs, file, problems)
    if problems:
        raise RecipeError(problems)
    return data, locs


dotted = _dotted
