"""The recipe, as pydantic models. Pure data: no I/O, no registry, no templates rendered.

A step is one of five shapes, told apart by its keys:

* ``uses: <provider>`` with a text provider  -> :class:`TextStep`
* ``uses: <provider>`` with a speech provider -> :class:`SpeechStep`
* ``uses: <provider>`` with an image provider -> :class:`ImageStep`
* ``compose: vertical``                       -> :class:`ComposeStep`
* ``to: <path or URL template>``              -> :class:`PublishStep`

``recipe/load.py`` picks the shape and validates it, collecting every problem at once.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Budget",
    "ComposeStep",
    "ImageStep",
    "ProviderSpec",
    "PublishStep",
    "Rate",
    "Recipe",
    "SpeechStep",
    "Step",
    "TextStep",
    "parse_rate",
]

_PERIODS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*\.?\d*)\s*([a-z]+)\s*$")


class Rate(BaseModel):
    """At most ``calls`` starts in any window of ``period`` seconds."""

    model_config = ConfigDict(frozen=True)
    calls: int
    period: float

    def __str__(self) -> str:
        return f"{self.calls}/{self.period:g}s"


def parse_rate(text: str) -> Rate:
    """``"6/min"``, ``"2/s"``, ``"100/hour"``, ``"10/30s"`` -> Rate. ValueError with a fix."""
    m = _RATE_RE.match(str(text).lower())
    unit = m.group(3) if m else ""
    if unit.endswith("s") and unit not in _PERIODS:
        unit = unit[:-1]
    if not m or unit not in _PERIODS or int(m.group(1)) < 1:
        raise ValueError(f"rate {text!r} is not N/period; write e.g. `6/min`, `2/s`, `100/hour` or `10/30s`")
    mult = float(m.group(2)) if m.group(2) else 1.0
    if mult <= 0:
        raise ValueError(f"rate {text!r} has a zero period; write e.g. `6/min` or `10/30s`")
    return Rate(calls=int(m.group(1)), period=mult * _PERIODS[unit])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ProviderSpec(BaseModel):
    """A named provider instance. Keys other than vidflow's own are the adapter's options."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str
    concurrency: int | None = Field(default=None, ge=1, le=10_000)
    rate: Rate | None = None
    latency: float | None = Field(default=None, ge=0, description="seconds per call, for plan estimates")

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, v: Any) -> Any:
        if v is None or isinstance(v, Rate):
            return v
        if not isinstance(v, str):
            raise ValueError(f"rate must be text like `6/min`, got {type(v).__name__}")
        return parse_rate(v)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class _ProviderStep(_Strict):
    uses: str
    fallback: list[str] = []
    for_each: str | None = None
    needs: list[str] = []
    on_failure: Literal["fail", "placeholder"] = "fail"
    params: dict[str, Any] = {}


class TextStep(_ProviderStep):
    prompt: str
    system: str = ""
    output: Literal["text", "json", "dialogue"] = "text"
    lines: int | None = Field(default=None, ge=1, le=500, description="dialogue: how many lines")
    scenes: int | None = Field(default=None, ge=1, le=100, description="dialogue: how many scenes")
    schema_: dict[str, Any] | None = Field(default=None, alias="schema", description="json: the JSON schema of the answer")


class SpeechStep(_ProviderStep):
    text: str
    voice: str


class ImageStep(_ProviderStep):
    prompt: str
    caption: str = ""
    size: str | None = Field(default=None, pattern=r"^\d{2,5}x\d{2,5}$")
    seed: int | None = None


class ComposeStep(_Strict):
    compose: Literal["vertical"]
    subtitles: Literal["karaoke", "plain", "none"] = "karaoke"
    script: str | None = None
    speech: str | None = None
    art: str | None = None
    needs: list[str] = []
    width: int = Field(default=1080, ge=64, le=4096, multiple_of=2)
    height: int = Field(default=1920, ge=64, le=4096, multiple_of=2)
    fps: int = Field(default=30, ge=1, le=120)
    pause: float = Field(default=0.3, ge=0.05, le=10)
    zoom: float = Field(default=0.0, ge=0, le=0.5)
    crf: int = Field(default=23, ge=0, le=51)
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"] = "veryfast"
    font_size: int = Field(default=72, ge=8, le=400)


class PublishStep(_Strict):
    to: str
    from_: str | None = Field(default=None, alias="from")
    manifest: bool = True
    needs: list[str] = []


Step = TextStep | SpeechStep | ImageStep | ComposeStep | PublishStep


class Budget(_Strict):
    max_usd: float | None = Field(default=None, ge=0)
    per_topic_usd: float | None = Field(default=None, ge=0)


class TopicSpec(_Strict):
    """One topic and its own template variables."""

    topic: str
    vars: dict[str, Any] = {}


class Recipe(_Strict):
    """A validated recipe. ``steps`` keeps the file's order."""

    vidflow: Literal[1]
    name: str = Field(min_length=1)
    description: str = ""
    topics: list[TopicSpec] = []
    topics_file: str | None = None
    characters: list[str] = []
    characters_dir: str | None = None
    vars: dict[str, Any] = {}
    providers: dict[str, ProviderSpec]
    steps: dict[str, Step]
    budget: Budget | None = None
    cache_salt: str = ""

    @field_validator("vidflow", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        if type(v) is not int:  # `true` and `1.0` equal 1 in Python, but are not a version
            raise ValueError("`vidflow:` is the format version, the number 1; write `vidflow: 1`")
        return v
