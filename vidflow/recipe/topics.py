"""Topics: inline in the recipe, or from a .txt, .csv or .jsonl file, each with its own variables.

* ``.txt``: one topic per line; blank lines and lines starting with ``#`` are skipped.
* ``.csv``: a header row with a ``topic`` column; every other column is a variable.
* ``.jsonl``: one JSON object per line with a ``topic`` field (other fields are variables),
  or a bare JSON string.

Every topic gets an ``id`` (its slug, see :mod:`.slugs`) that names its nodes and, usually, its
output file. Two topics with the same id are an error: their outputs would overwrite each other.

Limits: a topics file is a regular file (not a pipe or a device) of at most 50 MiB with at most
100,000 topics; a topic is at most 10,000 characters; topics and variables are valid Unicode text
without NUL characters; variables nest at most 64 levels and hold no NaN or infinity.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Problem, RecipeError, shown_path
from .files import decode_text, read_user_file
from .slugs import slug

__all__ = ["MAX_TOPICS", "MAX_TOPICS_BYTES", "MAX_TOPIC_CHARS", "Topic", "check_unique", "load_topics_file", "topics_from_inline"]

MAX_TOPICS_BYTES = 50 << 20
MAX_TOPICS = 100_000
MAX_TOPIC_CHARS = 10_000
MAX_VAR_DEPTH = 64


@dataclass(frozen=True)
class Topic:
    id: str
    text: str
    vars: dict[str, Any] = field(default_factory=dict)
    where: str = ""  # file:line it came from


def _bad(where: str, message: str) -> Problem:
    return Problem(where, "", message)


def load_topics_file(path: Path, *, display: str | None = None, named_at: str | None = None) -> list[Topic]:
    """Read topics from ``path``. Raises RecipeError naming the file and line of each problem.

    ``named_at`` is where the recipe names the file (``file:line:col`` of ``topics_file:``):
    problems of the whole file (missing, a pipe, too big, empty) are reported there.
    """
    name = display or shown_path(path)
    try:
        return _load_topics_file(path, name, "the recipe's folder" if named_at is not None else "the working folder")
    except RecipeError as e:
        if named_at is None:
            raise
        problems = [Problem(named_at, "topics_file", f"{name}: {p.message}") if p.location == name else p for p in e.problems]
        raise RecipeError(problems) from None


def _load_topics_file(path: Path, name: str, relative_to: str) -> list[Topic]:
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".csv", ".jsonl"):
        raise RecipeError(_bad(name, f"topics file must end in .txt, .csv or .jsonl, not {suffix or 'no extension'}"))
    missing = f"topics file not found; check the path (relative paths start at {relative_to})"
    data = read_user_file(path, name, what="topics", limit=MAX_TOPICS_BYTES, missing=missing)
    text = decode_text(data, name, what="topics", bom=True)
    loader = {".txt": _from_txt, ".csv": _from_csv, ".jsonl": _from_jsonl}[suffix]
    topics, problems = loader(text, name)
    if problems:
        raise RecipeError(problems)
    if not topics:
        raise RecipeError(_bad(name, "topics file has no topics; add at least one"))
    return topics


def _too_many(name: str, out: list) -> Problem | None:
    if len(out) > MAX_TOPICS:
        return _bad(name, f"more than {MAX_TOPICS:,} topics; split the file and run the parts one after another")
    return None


def _text_problem(text: str) -> str | None:
    """Why ``text`` cannot be a topic or variable text, or None."""
    if "\0" in text:
        return "holds a NUL character; remove it"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            return f"holds a lone surrogate ({text[e.start]!r}), which is not valid Unicode text; remove it"
    return None


def _topic_problem(text: str) -> str | None:
    if len(text) > MAX_TOPIC_CHARS:
        return f"topic is {len(text):,} characters long; the limit is {MAX_TOPIC_CHARS:,}"
    why = _text_problem(text)
    return f"topic {why}" if why else None


def _value_problem(value: Any) -> str | None:
    """Why a variable's value cannot be used (bad text, NaN, too deep), or None."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_VAR_DEPTH:
            return f"variable nests more than {MAX_VAR_DEPTH} levels deep; flatten it"
        if isinstance(v, str):
            why = _text_problem(v)
            if why:
                return f"variable text {why}"
        elif isinstance(v, float) and not math.isfinite(v):
            return f"variable is {v}, not a finite number"
        elif isinstance(v, dict):
            stack.extend((k, depth + 1) for k in v)
            stack.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, depth + 1) for x in v)
    return None


def _make(text: str, variables: dict[str, Any], where: str, path: str = "") -> tuple[Topic | None, Problem | None]:
    why = _topic_problem(text) or _value_problem(variables)
    if why:
        return None, Problem(where, path, why)
    return Topic(slug(text), text, variables, where), None


def _from_txt(text: str, name: str) -> tuple[list[Topic], list[Problem]]:
    out, problems = [], []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            _keep(_make(line, {}, f"{name}:{n}"), out, problems)
            if _too_many(name, out):
                return out, [_too_many(name, out)]
    return out, problems


def _keep(made: tuple[Topic | None, Problem | None], out: list[Topic], problems: list[Problem]) -> None:
    topic, problem = made
    if topic is not None:
        out.append(topic)
    if problem is not None:
        problems.append(problem)


def _from_csv(text: str, name: str) -> tuple[list[Topic], list[Problem]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], []
    except csv.Error as e:
        return [], [_bad(f"{name}:1", f"CSV error: {e}")]
    header = [h.strip() for h in header]
    if "topic" not in header:
        return [], [_bad(f"{name}:1", f"CSV header has no `topic` column (found: {', '.join(header) or 'nothing'}); add one")]
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:  # which column a variable (or the topic) comes from would be a guess
        return [], [_bad(f"{name}:1", f"CSV header has the column{'s' if len(twice) > 1 else ''} {', '.join(f'`{h}`' for h in twice)} more than once; rename or drop the copies")]
    ti = header.index("topic")
    unnamed = [i for i, h in enumerate(header) if not h]  # (a trailing comma on every line: an empty column, fine)
    out: list[Topic] = []
    problems: list[Problem] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:  # e.g. a field over the csv module's size limit
            problems.append(_bad(f"{name}:{reader.line_num}", f"CSV error: {e}; check the quotes on this row"))
            break
        n = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            problems.append(_bad(f"{name}:{n}", f"row has {len(row)} fields, the header has {len(header)}; quote fields that contain commas"))
            continue
        lost = next((i for i in unnamed if row[i].strip()), None)
        if lost is not None:  # its value would reach no template: say so rather than drop it
            problems.append(_bad(f"{name}:{n}", f"column {lost + 1} holds {row[lost].strip()!r:.60} but has no name in the header (line 1); "
                                                "name the column or remove its values"))
            continue
        topic = row[ti].strip()
        if not topic:
            problems.append(_bad(f"{name}:{n}", "empty `topic` field"))
            continue
        variables = {h: v for h, v in zip(header, row) if h != "topic" and h}
        _keep(_make(topic, variables, f"{name}:{n}"), out, problems)
        if _too_many(name, out):
            return out, [_too_many(name, out)]
    return out, problems


def _no_constants(word: str) -> Any:
    raise ValueError(f"{word} is not a number vidflow can use")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:  # json keeps the last one silently; a recipe refuses duplicate keys too
            raise ValueError(f"has the key {json.dumps(k, ensure_ascii=False)} twice")
        seen[k] = v
    return seen


def _from_jsonl(text: str, name: str) -> tuple[list[Topic], list[Problem]]:
    out: list[Topic] = []
    problems: list[Problem] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_constant=_no_constants, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as e:
            problems.append(_bad(f"{name}:{n}:{e.colno}", f"invalid JSON: {e.msg}"))
            continue
        except (ValueError, RecursionError) as e:  # NaN, a number with too many digits, deep nesting
            why = "nests too deeply" if isinstance(e, RecursionError) else str(e)[:120]
            problems.append(_bad(f"{name}:{n}", f"JSON value {why}; fix this line"))
            continue
        if isinstance(obj, str):
            obj = {"topic": obj}
        if not isinstance(obj, dict) or not isinstance(obj.get("topic"), str) or not obj["topic"].strip():
            problems.append(_bad(f"{name}:{n}", 'each line needs a non-empty "topic" string, e.g. {"topic": "Why is the sky blue?"}'))
            continue
        variables = {k: v for k, v in obj.items() if k != "topic"}
        _keep(_make(obj["topic"].strip(), variables, f"{name}:{n}"), out, problems)
        if _too_many(name, out):
            return out, [_too_many(name, out)]
    return out, problems


def topics_from_inline(items: list[Any], locs, base_path: tuple = ("topics",)) -> tuple[list[Topic], list[Problem]]:
    out, problems = [], []
    for i, item in enumerate(items):
        where = locs.at(base_path + (i,))
        if isinstance(item, str) and item.strip():
            _keep(_make(item.strip(), {}, where, f"topics[{i}]"), out, problems)
        elif isinstance(item, dict) and isinstance(item.get("topic"), str) and item["topic"].strip():
            variables = {k: v for k, v in item.items() if k != "topic"}
            if isinstance(item.get("vars"), dict):  # {topic: ..., vars: {...}} works too
                variables = {**{k: v for k, v in variables.items() if k != "vars"}, **item["vars"]}
            _keep(_make(item["topic"].strip(), variables, where, f"topics[{i}]"), out, problems)
        else:
            problems.append(Problem(where, f"topics[{i}]", "a topic is a non-empty string, or a mapping with a `topic:` string and variables"))
    return out, problems


def check_unique(topics: list[Topic]) -> list[Problem]:
    seen: dict[str, Topic] = {}
    problems = []
    for t in topics:
        if t.id in seen:
            problems.append(Problem(t.where, "topics", f"topic {t.text!r} has the same id `{t.id}` as {seen[t.id].text!r} ({seen[t.id].where}); make them differ"))
        else:
            seen[t.id] = t
    return problems
