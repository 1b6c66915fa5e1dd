"""The stage contract: a step's outputs as one JSON document, out (``--emit``) and in (``--input``).

Production pipelines split a recipe in two (dialogue first, video from it) and talk JSON over
stdin/stdout, so either half can be rerun, edited by hand or driven from outside::

    vidflow run r.yaml --until script --emit json | vidflow run r.yaml --input script=-

The document (version 1)::

    {"vidflow_stage": 1, "recipe": "quickstart", "step": "script", "output": "dialogue",
     "topics": [{"id": "why-is-the-sky-blue", "topic": "Why is the sky blue?", "value": {...}}]}

``value`` is the step's output for that topic: a string (``output: text``), any JSON
(``output: json``) or a dialogue ``{title, lines: [{speaker, text, scene}], scenes: [...]}``.
An imported value is hashed like any artifact, so unchanged parts stay cached downstream.
Only text steps (one node per topic) can be imported.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import BadOutputError, Problem, RecipeError, UserError
from .capabilities.dialogue import check_dialogue
from .recipe.load import LoadedRecipe

__all__ = ["STAGE_VERSION", "emit_document", "parse_input_spec", "read_document"]

STAGE_VERSION = 1


class _TopicOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    topic: str = ""
    value: Any


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vidflow_stage: int
    recipe: str = ""
    step: str
    output: str = ""
    topics: list[_TopicOut]


def emit_document(loaded: LoadedRecipe, step: str, values: dict[str, Any]) -> str:
    """The JSON document for ``step``'s outputs (topic id -> value), in topic order."""
    info = loaded.steps[step]
    topics = [{"id": t.id, "topic": t.text, "value": values[t.id]} for t in loaded.topics if t.id in values]
    doc = {
        "vidflow_stage": STAGE_VERSION,
        "recipe": loaded.name,
        "step": step,
        "output": getattr(info.spec, "output", info.shape),
        "topics": topics,
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


#: The most a stage document may hold (characters, or bytes from a file): a batch of 10,000
#: scripts is ~50 MB.
MAX_STAGE_CHARS = 256 << 20


def parse_input_spec(spec: str, loaded: LoadedRecipe) -> tuple[str, str]:
    """``"script=-"`` -> ("script", "-"); checks the step can be imported."""
    step, sep, source = spec.partition("=")
    if not sep or not step or not source:
        raise UserError(f"--input {spec!r}: write STEP=FILE or STEP=- (stdin), e.g. --input script=-")
    if step not in loaded.steps:
        raise UserError(f"--input {step}: no such step (steps: {', '.join(loaded.order)})")
    info = loaded.steps[step]
    if info.shape != "text" or info.for_each:
        raise UserError(f"--input {step}: only a text step with one output per topic can be imported (`{step}` is a {info.shape} step)")
    return step, source


def _no_constant(name: str) -> Any:
    raise ValueError(f"holds {name}, which is not a JSON number")


def read_document(step: str, source: str, loaded: LoadedRecipe, *, stdin=None) -> dict[str, Any]:
    """Read and check a stage document; returns topic id -> value. Every problem is exit 2."""
    where = "stdin" if source == "-" else source
    try:
        if source == "-":
            text = (stdin or sys.stdin).read(MAX_STAGE_CHARS + 1)
        else:
            with open(source, "rb") as f:  # (a pipe, `<(...)`, is read as it comes)
                text = f.read(MAX_STAGE_CHARS + 1).decode("utf-8")
    except OSError as e:
        raise UserError(f"--input {step}={source}: cannot read it: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise UserError(f"--input {step}={source}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); save it as UTF-8 JSON, as `--emit json` writes it") from None
    if len(text) > MAX_STAGE_CHARS:  # (/dev/zero, a runaway producer: read no further)
        raise UserError(f"--input {step}={source}: larger than {MAX_STAGE_CHARS >> 20} MiB; a stage document holds one value per topic, "
                        "as `--emit json` writes it (split the batch if it is really this big)")
    try:
        raw = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise RecipeError(Problem(f"{where}:{e.lineno}:{e.colno}", "", f"not a JSON document: {e.msg}")) from None
    except RecursionError:
        raise UserError(f"--input {step}={source}: the JSON is nested too deeply to read; a stage document is a few levels deep, as `--emit json` writes it") from None
    except ValueError as e:  # NaN or Infinity: not JSON, and no value a key can hold
        raise UserError(f"--input {step}={source}: {e}; write a number or a string") from None
    try:  # a byte stdin could not decode, or a `\udcff` escape: not text a cache key can hold
        json.dumps(raw, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        raise UserError(f"--input {step}={source}: holds a lone surrogate ({e.object[e.start]!r}), which is not valid Unicode text; save it as UTF-8 JSON, as `--emit json` writes it") from None
    try:
        doc = _Document.model_validate(raw)
    except ValidationError as e:
        problems = [Problem(where, ".".join(str(p) for p in err["loc"]), err["msg"]) for err in e.errors()]
        raise RecipeError(problems) from None
    problems: list[Problem] = []
    if doc.vidflow_stage != STAGE_VERSION:
        problems.append(Problem(where, "vidflow_stage", f"version {doc.vidflow_stage} is not supported (this vidflow reads {STAGE_VERSION})"))
    if doc.step != step:
        problems.append(Problem(where, "step", f"the document holds step `{doc.step}`, not `{step}`; use --input {doc.step}=..."))
    info = loaded.steps[step]
    output = info.spec.output
    speakers = loaded.speaker_names()
    values: dict[str, Any] = {}
    for i, t in enumerate(doc.topics):
        field = f"topics[{i}].value"
        if output == "dialogue":
            try:
                values[t.id] = check_dialogue(t.value, speakers or None)
            except BadOutputError as e:
                problems.append(Problem(where, field, str(e).replace("the dialogue is malformed at ", "")))
                continue
        elif output == "text" and not isinstance(t.value, str):
            problems.append(Problem(where, field, f"step `{step}` writes text: the value must be a string"))
            continue
        else:
            values[t.id] = t.value
    wanted = [t.id for t in loaded.topics]
    missing = [t for t in wanted if t not in {x.id for x in doc.topics}]
    if missing:
        problems.append(Problem(where, "topics", f"no value for topic(s) {', '.join(missing)}; emit them with --until {step} --emit json, or pick topics with --only"))
    if problems:
        raise RecipeError(problems)
    return {k: v for k, v in values.items() if k in wanted}
