"""YAML -> plain Python data, remembering where every key and value came from, within limits.

``read_yaml_file(path, display)`` reads a recipe or character file (a regular file of at most
:data:`MAX_FILE_BYTES`, UTF-8 without NUL bytes) and loads it; ``load_yaml_with_locations(text,
file)`` loads text. Both return ``(data, locations)``; ``locations`` maps a path tuple
(``("steps", "script", "prompt")``) to a :class:`Loc` for the value and, under
``path + ("<key>",)``, for the key itself. Error messages use it to print ``file:line:col``.

A hostile file is refused with ``file:line:col`` and a fix, quickly and in bounded memory:

* nesting deeper than :data:`MAX_DEPTH` (checked while composing, long before Python's recursion
  limit: PyYAML's composer recurses once per level);
* more than :data:`MAX_NODES` values once aliases are expanded (alias bombs, "billion laughs"),
  and aliases that refer to the value they sit in;
* tags other than the plain core ones (``!!str``, ``!!int``, ``!!float``, ``!!bool``, ``!!null``,
  ``!!seq``, ``!!map``), and those with a value that is not of their type (``!!int xyz``);
* NUL characters and lone surrogates (``"\\ud800"``) in text, numbers too long for Python,
  ``.nan`` and ``.inf``; duplicate keys; keys that are not plain scalars.

An unquoted date (``2024-05-01``) stays the text it is, not a ``datetime.date``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem, RecipeError
from .files import decode_text, read_user_file

__all__ = ["KEY", "MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "Loc", "Locations", "load_yaml_with_locations", "read_yaml_file"]

KEY = "<key>"
MAX_DEPTH = 64
MAX_NODES = 100_000
MAX_FILE_BYTES = 1 << 20  # 1 MiB: the quickstart recipe is 1 KiB

_T = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, SEQ, MAP = (_T + n for n in ("str", "int", "float", "bool", "null", "seq", "map"))
_SCALAR_TAGS = {STR, INT, FLOAT, BOOL, NULL}
_TAG_NAMES = {INT: "an integer", FLOAT: "a number", BOOL: "true or false", NULL: "null"}


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


def _at(file: str, mark: Any) -> str:
    return f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else file


def _shown_tag(tag: str) -> str:
    return "!!" + tag[len(_T) :] if tag.startswith(_T) else tag


if yaml.__with_libyaml__:  # libyaml's parser is ~20x faster; the composer stays Python, to hook it

    class _Base(yaml.composer.Composer, yaml.cyaml.CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        def __init__(self, text: str):
            yaml.cyaml.CParser.__init__(self, text)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

else:  # pragma: no cover - PyYAML without libyaml

    class _Base(yaml.SafeLoader):  # type: ignore[no-redef]
        pass


class _Loader(_Base):
    """A safe loader whose composer counts depth and expanded size, and refuses unknown tags."""

    def __init__(self, text: str, file: str):
        super().__init__(text)
        self.file = file
        self.depth = 0
        self.count = 0  # values in the document once every alias is expanded
        self.deepest = 0  # the deepest level reached so far, aliases expanded
        self.sizes: dict[int, tuple[int, int]] = {}  # id(anchored node) -> (expanded size, height), once complete

    def _refuse(self, event: Any, message: str) -> RecipeError:
        return RecipeError(Problem(_at(self.file, event.start_mark), "", message))

    def _add(self, n: int, event: Any) -> None:
        self.count += n
        if self.count > MAX_NODES:
            raise self._refuse(
                event, f"the document holds more than {MAX_NODES:,} values once its aliases are expanded; use fewer aliases (*name)"
            )

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is reported by PyYAML itself
                known = self.sizes.get(id(target))
                if known is None:
                    raise self._refuse(event, f"alias *{event.anchor} sits inside the value &{event.anchor} names (a recursive alias); remove it")
                size, height = known
                if self.depth + height > MAX_DEPTH:
                    raise self._refuse(event, f"alias *{event.anchor} makes values nest more than {MAX_DEPTH} levels deep; flatten them")
                self.deepest = max(self.deepest, self.depth + height)
                self._add(size, event)
            return super().compose_node(parent, index)
        tag = event.tag
        if tag is not None and tag != "!":
            ok = tag in _SCALAR_TAGS if isinstance(event, yaml.ScalarEvent) else tag == (SEQ if isinstance(event, yaml.SequenceStartEvent) else MAP)
            if not ok:
                raise self._refuse(event, f"tag `{_shown_tag(tag)}` is not allowed here; remove it (recipes use plain text, numbers, lists and mappings)")
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._refuse(event, f"values nest more than {MAX_DEPTH} levels deep; flatten them")
        start, level, outer = self.count, self.depth, self.deepest
        self.deepest = level
        self._add(1, event)
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if event.anchor is not None:
            self.sizes[id(node)] = (self.count - start, self.deepest - level + 1)
        self.deepest = max(outer, self.deepest)
        return node


class _Builder:
    """Composed nodes -> Python data and locations, collecting problems."""

    def __init__(self, loader: _Loader, locs: Locations):
        self.loader = loader
        self.file = loader.file
        self.locs = locs
        self.problems: list[Problem] = []

    def loc(self, node: yaml.Node) -> Loc:
        block = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
        return Loc(self.file, node.start_mark.line + 1, node.start_mark.column + 1, block)

    def bad(self, node: yaml.Node, path: tuple, message: str) -> None:
        self.problems.append(Problem(str(self.loc(node)), _dotted(path), message))

    def build(self, node: yaml.Node, path: tuple) -> Any:
        self.locs[path] = self.loc(node)
        if len(path) > MAX_DEPTH:  # aliases can nest deeper than the text does
            self.bad(node, path, f"values nest more than {MAX_DEPTH} levels deep (through aliases); flatten them")
            return None
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, path + (i,)) for i, v in enumerate(node.value)]
        return self.scalar(node, path)

    def mapping(self, node: yaml.MappingNode, path: tuple) -> dict:
        out: dict[str, Any] = {}
        try:
            self.loader.flatten_mapping(node)  # merge keys (<<)
        except yaml.MarkedYAMLError as e:
            self.problems.append(Problem(_at(self.file, e.problem_mark), _dotted(path), f"bad merge (<<): {e.problem}"))
            return out
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.bad(key_node, path, "mapping keys must be plain names, not lists or mappings")
                continue
            key = self.scalar(key_node, path)
            if key is None or not isinstance(key, (str, int, float)):
                if key is None and key_node.tag == NULL:
                    self.bad(key_node, path, "mapping keys must be plain names, not null")
                continue
            # `yes:` / `on:` are names here, not booleans
            key = key_node.value if isinstance(key, bool) else str(key)
            if key in out:
                self.bad(key_node, path + (key,), f"duplicate key `{key}`: remove one of them")
            self.locs[path + (key, KEY)] = self.loc(key_node)
            out[key] = self.build(value_node, path + (key,))
        return out

    def scalar(self, node: yaml.ScalarNode, path: tuple) -> Any:
        tag, text = node.tag, node.value
        if tag not in _SCALAR_TAGS:  # implicit dates and `=` stay text
            tag = STR
        if tag == STR:
            if "\0" in text:
                self.bad(node, path, "text holds a NUL character (\\0); remove it")
                return None
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as e:
                    self.bad(node, path, f"text holds a lone surrogate ({text[e.start]!r}), which is not valid Unicode text; remove it")
                    return None
            return text
        if self.loader.resolve(yaml.ScalarNode, text, (True, False)) != tag and not (tag == FLOAT and self._is_int(text)):
            self.bad(node, path, f"`{_shown_tag(tag)} {text[:40]}`: {text[:40]!r} is not {_TAG_NAMES[tag]}; fix the value or remove the tag")
            return None
        try:
            value = self.loader.yaml_constructors[tag](self.loader, node)
        except (ValueError, OverflowError):
            self.bad(node, path, f"number {text[:20]}... has too many digits; write a shorter number")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.bad(node, path, f"{text} is not a finite number; write a number")
            return None
        return value

    def _is_int(self, text: str) -> bool:
        return self.loader.resolve(yaml.ScalarNode, text, (True, False)) == INT


def _dotted(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


# libyaml's words for the problems a hostile file hits, and the fix to add
_FIXES = {
    "nesting depth": f"; keep values under {MAX_DEPTH} levels deep",
    "escape": "; a \\u escape must name a real character (not \\ud800-\\udfff)",
    "undefined alias": "; define the anchor (&name) before using *name",
}


def _reader_where(text: str, file: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return f"{file}:{line}:{pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"


def load_yaml_with_locations(text: str, file: str) -> tuple[Any, Locations]:
    """Parse one YAML document. Raises RecipeError (with file:line:col) on any problem."""
    locs = Locations(file)
    loader = None
    try:
        loader = _Loader(text, file)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = e.problem or e.context or "invalid YAML"
        fix = next((f for k, f in _FIXES.items() if k in what), "")
        raise RecipeError(Problem(_at(file, mark), "", f"YAML syntax error: {what}{fix}")) from None
    except yaml.reader.ReaderError as e:
        char = f"U+{e.character:04X}" if isinstance(e.character, int) else repr(e.character)
        pos = e.position
        if loader is not None and yaml.__with_libyaml__:  # libyaml counts bytes
            pos = len(text.encode("utf-8", "surrogatepass")[:pos].decode("utf-8", "ignore"))
        where = _reader_where(text, file, pos)
        raise RecipeError(Problem(where, "", f"character {char} is not allowed in YAML text; remove it")) from None
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as e:  # e.g. "\U00110000"
        where = _at(file, loader.get_mark()) if hasattr(loader, "get_mark") else file
        raise RecipeError(Problem(where, "", f"YAML error: {str(e)[:200]}")) from None
    if node is None:
        return None, locs
    builder = _Builder(loader, locs)
    try:
        data = builder.build(node, ())
    except RecursionError:  # pragma: no cover - depth is capped above; a last line of defence
        raise RecipeError(Problem(file, "", f"values nest too deeply; keep them under {MAX_DEPTH} levels")) from None
    finally:
        loader.dispose()
    if builder.problems:
        raise RecipeError(builder.problems)
    return data, locs


def read_yaml_file(path: str | Path, display: str, *, what: str = "recipe") -> tuple[Any, Locations]:
    """Read and load a recipe or character file (size cap, NUL and UTF-8 checks with line:col)."""
    data = read_user_file(path, display, what=what, limit=MAX_FILE_BYTES)
    return load_yaml_with_locations(decode_text(data, display, what=what), display)


dotted = _dotted
