"""The dialogue a text step writes with ``output: dialogue``, and how it is checked.

A provider's answer is untrusted input: it is validated here, and a bad one fails the node with
:class:`~vidflow.errors.BadOutputError` naming what is wrong.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import BadOutputError

__all__ = ["Dialogue", "Line", "Scene", "check_dialogue", "dialogue_schema"]


def dialogue_schema(speakers: list[str]) -> dict[str, Any]:
    """The JSON schema a dialogue answer must satisfy (vendors' strict structured-output subset)."""
    speaker: dict[str, Any] = {"type": "string"}
    if speakers:
        speaker["enum"] = list(speakers)
    line = {
        "type": "object",
        "properties": {"speaker": speaker, "text": {"type": "string"}, "scene": {"type": "integer"}},
        "required": ["speaker", "text", "scene"],
        "additionalProperties": False,
    }
    scene = {
        "type": "object",
        "properties": {"caption": {"type": "string"}, "image_prompt": {"type": "string"}},
        "required": ["caption", "image_prompt"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"title": {"type": "string"}, "lines": {"type": "array", "items": line}, "scenes": {"type": "array", "items": scene}},
        "required": ["title", "lines", "scenes"],
        "additionalProperties": False,
    }


class Line(BaseModel):
    model_config = ConfigDict(extra="ignore")
    speaker: str = Field(min_length=1)
    text: str = Field(min_length=1)
    scene: int = Field(default=0, ge=0)


class Scene(BaseModel):
    model_config = ConfigDict(extra="ignore")
    caption: str = ""
    image_prompt: str = ""


class Dialogue(BaseModel):
    model_config = ConfigDict(extra="ignore")
    title: str = ""
    lines: list[Line] = Field(min_length=1)
    scenes: list[Scene] = []


def check_dialogue(value: Any, speakers: dict[str, str] | None) -> dict[str, Any]:
    """Validate and normalise a dialogue; ``speakers`` maps lower-cased names/ids -> name.

    Returns plain JSON data: scenes always exist (one per scene index used), every line's
    ``speaker`` is a character's display name when characters are known.
    """
    try:
        d = Dialogue.model_validate(value)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "dialogue"
        raise BadOutputError(f"the dialogue is malformed at `{where}`: {first['msg']}") from None
    lines = []
    for i, line in enumerate(d.lines):
        speaker = line.speaker.strip()
        if speakers:
            name = speakers.get(speaker.lower())
            if name is None:
                raise BadOutputError(
                    f"line {i} is spoken by `{speaker}`, who is not in the recipe's characters ({', '.join(sorted(set(speakers.values())))})"
                )
            speaker = name
        lines.append({"speaker": speaker, "text": " ".join(line.text.split()), "scene": line.scene})
    n_scenes = max(len(d.scenes), max(l["scene"] for l in lines) + 1)
    scenes = [s.model_dump() for s in d.scenes] + [
        {"caption": d.title, "image_prompt": d.title} for _ in range(n_scenes - len(d.scenes))
    ]
    return {"title": d.title, "lines": lines, "scenes": scenes}
