"""Topics: inline in the recipe, or from a .txt, .csv or .jsonl file, each with its own variables.

* ``.txt``: one topic per line; blank lines and lines starting with ``#`` are skipped.
* ``.csv``: a header row with a ``topic`` column; every other column is a variable.
* ``.jsonl``: one JSON object per line with a ``topic`` field (other fields are variables),
  or a bare JSON string.

Every topic gets an ``id`` (its slug) that names its nodes and, usually, its output file.
Two topics with the same id are an error: their outputs would overwrite each other.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Problem, RecipeError
from .templating import slug

__all__ = ["Topic", "check_unique", "load_topics_file", "topics_from_inline"]


@dataclass(frozen=True)
class Topic:
    id: str
    text: str
    vars: dict[str, Any] = field(default_factory=dict)
    where: str = ""  # file:line it came from


def _bad(where: str, message: str) -> Problem:
    return Problem(where, "", message)


def load_topics_file(path: Path, *, display: str | None = None) -> list[Topic]:
    """Read topics from ``path``. Raises RecipeError naming the file and line of each problem."""
    name = display or os.path.relpath(path)
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".csv", ".jsonl"):
        raise RecipeError(_bad(name, f"topics file must end in .txt, .csv or .jsonl, not {suffix or 'no extension'}"))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RecipeError(_bad(name, "topics file not found; check the path (relative paths start at the recipe's folder)")) from None
    except UnicodeDecodeError as e:
        raise RecipeError(_bad(name, f"topics file is not UTF-8 text (byte {e.start}); save it as UTF-8")) from None
    except OSError as e:
        raise RecipeError(_bad(name, f"cannot read topics file: {e.strerror}")) from None
    loader = {".txt": _from_txt, ".csv": _from_csv, ".jsonl": _from_jsonl}[suffix]
    topics, problems = loader(text, name)
    if problems:
        raise RecipeError(problems)
    if not topics:
        raise RecipeError(_bad(name, "topics file has no topics; add at least one"))
    return topics


def _from_txt(text: str, name: str) -> tuple[list[Topic], list[Problem]]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(Topic(slug(line), line, {}, f"{name}:{n}"))
    return out, []


def _from_csv(text: str, name: str) -> tuple[list[Topic], list[Problem]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], []
    header = [h.strip() for h in header]
    if "topic" not in header:
        return [], [_bad(f"{name}:1", f"CSV header has no `topic` column (found: {', '.join(header) or 'nothing'}); add one")]
    ti = header.index("topic")
    out, problems = [], []
    for row in reader:
        n = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            problems.append(_bad(f"{name}:{n}", f"row has {len(row)} fields, the header has {len(header)}; quote fields that contain commas"))
            continue
        topic = row[ti].strip()
        if not topic:
            problems.append(_bad(f"{name}:{n}", "empty `topic` field"))
            continue
        variables = {h: v for h, v in zip(header, row) if h != "topic" and h}
        out.append(Topic(slug(topic), topic, variables, f"{name}:{n}"))
    return out, problems


def _from_jsonl(text: str, name: str) -> tuple[list[Topic], list[Problem]]:
    out, problems = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(_bad(f"{name}:{n}:{e.colno}", f"invalid JSON: {e.msg}"))
            continue
        if isinstance(obj, str):
            obj = {"topic": obj}
        if not isinstance(obj, dict) or not isinstance(obj.get("topic"), str) or not obj["topic"].strip():
            problems.append(_bad(f"{name}:{n}", 'each line needs a non-empty "topic" string, e.g. {"topic": "Why is the sky blue?"}'))
            continue
        variables = {k: v for k, v in obj.items() if k != "topic"}
        out.append(Topic(slug(obj["topic"]), obj["topic"].strip(), variables, f"{name}:{n}"))
    return out, problems


def topics_from_inline(items: list[Any], locs, base_path: tuple = ("topics",)) -> tuple[list[Topic], list[Problem]]:
    out, problems = [], []
    for i, item in enumerate(items):
        where = locs.at(base_path + (i,))
        if isinstance(item, str) and item.strip():
            out.append(Topic(slug(item), item.strip(), {}, where))
        elif isinstance(item, dict) and isinstance(item.get("topic"), str) and item["topic"].strip():
            variables = {k: v for k, v in item.items() if k != "topic"}
            if isinstance(item.get("vars"), dict):  # {topic: ..., vars: {...}} works too
                variables = {**{k: v for k, v in variables.items() if k != "vars"}, **item["vars"]}
            out.append(Topic(slug(item["topic"]), item["topic"].strip(), variables, where))
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
