"""The recipe's top level, as pydantic models. Pure data: no I/O, no registry, no templates.

Steps are not modelled here: each capability (``vidflow/capabilities/``) owns the schema of its
own steps, and ``recipe/load.py`` asks the capability a step belongs to to validate it. What is
here is what every recipe shares: providers, budget, topics, variables.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..limits import Rate, parse_rate

__all__ = ["Budget", "ProviderSpec", "Recipe", "StepModel", "TopicSpec"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StepModel(_Strict):
    """Base of every capability's step schema: the keys any step may have.

    ``needs`` names steps that must finish first although no template reads them.
    """

    needs: list[str] = []


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
    steps: dict[str, Any]
    budget: Budget | None = None
    cache_salt: str = ""
