"""The ``text`` capability: a prompt in, text, JSON or a dialogue out (``uses:`` a text provider).

``output: dialogue`` asks for a script (``{title, lines: [{speaker, text, scene}], scenes}``)
spoken by the recipe's characters; the answer is untrusted and checked (``dialogue.py``).
A ``for_each`` may run over ``<step>.lines`` / ``<step>.scenes`` of a dialogue, or over any
list field of a JSON answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from ..cache.store import Artifact
from ..errors import BadOutputError
from ..providers.base import SpeakerInfo, TextRequest
from ..recipe.templating import render
from ._provider import ProviderCapability, ProviderStep
from .base import DEFAULT_LIST_ESTIMATE, Runtime, template_where
from .dialogue import check_dialogue, dialogue_schema

if TYPE_CHECKING:  # pragma: no cover
    from ..recipe.load import LoadedRecipe, StepInfo

__all__ = ["TextCapability", "TextStep"]

DIALOGUE_LISTS = ("lines", "scenes")


class TextStep(ProviderStep):
    prompt: str
    system: str = ""
    output: Literal["text", "json", "dialogue"] = "text"
    lines: int | None = Field(default=None, ge=1, le=500, description="dialogue: how many lines")
    scenes: int | None = Field(default=None, ge=1, le=100, description="dialogue: how many scenes")
    schema_: dict[str, Any] | None = Field(default=None, alias="schema", description="json: the JSON schema of the answer")


class TextCapability(ProviderCapability):
    name: ClassVar[str] = "text"
    Step: ClassVar[type[TextStep]] = TextStep
    provider_capability: ClassVar[str] = "text"
    template_fields: ClassVar[tuple[str, ...]] = ("prompt", "system")

    def items_problem(self, step: StepInfo, field_name: str | None) -> str | None:
        out = step.spec.output
        if out == "dialogue":
            if field_name in DIALOGUE_LISTS:
                return None
            if field_name == "title":
                return f"for_each over `{step.name}.title`, which is text, not a list; use `{step.name}.lines` or `{step.name}.scenes`"
            return f"a dialogue has no list `{field_name or '(none)'}`; use `{step.name}.lines` or `{step.name}.scenes`"
        if out == "text":
            return f"step `{step.name}` writes plain text, not a list; give it `output: json` or `output: dialogue`"
        return None  # json: checked when the answer exists

    def expected_items(self, step: StepInfo, field_name: str | None, adapter: Any) -> int:
        spec = step.spec
        if spec.output != "dialogue":
            return DEFAULT_LIST_ESTIMATE
        hints = {"lines": spec.lines, "scenes": spec.scenes}
        if hasattr(adapter, "expected_size"):
            lines, scenes = adapter.expected_size(hints)
        else:
            lines, scenes = (spec.lines or 8), (spec.scenes or 4)
        return lines if field_name == "lines" else scenes

    def request(self, step: StepInfo, adapter: Any, ctx: dict[str, Any], loaded: LoadedRecipe) -> TextRequest:
        spec = step.spec
        fixed = step.memo.get("text.request")
        if fixed is None:  # what every node of the step shares: speakers, hints, schema
            speakers: tuple[SpeakerInfo, ...] = ()
            if spec.output == "dialogue":
                speakers = tuple(SpeakerInfo(c.name, tuple(c.profile.catchphrases), c.profile.persona) for c in loaded.characters.values())
            hints = {k: v for k, v in (("lines", spec.lines), ("scenes", spec.scenes)) if v}
            schema = dialogue_schema([s.name for s in speakers]) if spec.output == "dialogue" else spec.schema_
            fixed = step.memo["text.request"] = (speakers, {**hints, **spec.params}, schema)
        speakers, hints, schema = fixed
        where = template_where(loaded, step, ctx)
        return TextRequest(
            prompt=render(spec.prompt, ctx, where=where("prompt")),
            system=render(spec.system, ctx, where=where("system")) if spec.system else "",
            output=spec.output, topic=ctx["topic"] if adapter.wants_topic else "", speakers=speakers,
            hints=dict(hints), schema=schema,
        )

    def sketch(self, step: StepInfo, adapter: Any, loaded: LoadedRecipe) -> TextRequest:
        return TextRequest(prompt="x" * 400, output=step.spec.output)

    def cached_value_check(self, step: StepInfo, task: Any):
        output = step.spec.output
        if output == "json":
            return None

        def check(art: Artifact) -> None:
            if output == "text":
                if not isinstance(art.value, str):
                    raise ValueError(f"the text is {type(art.value).__name__}")
                return
            try:
                check_dialogue(art.value, None)
            except BadOutputError as e:
                raise ValueError(str(e)) from None

        return check

    def units(self, request: TextRequest) -> dict[str, float]:
        return {"prompt_chars": float(len(request.prompt) + len(request.system))}

    async def invoke(self, adapter: Any, request: TextRequest) -> Any:
        return await adapter.generate(request)

    async def artifact(self, step: StepInfo, request: TextRequest, result: Any, meta: dict[str, Any], rt: Runtime) -> Artifact:
        value = result.value
        if step.spec.output == "dialogue":
            value = check_dialogue(value, rt.loaded.speaker_names() or None)
        meta["tokens"] = {"input": result.input_tokens, "output": result.output_tokens}
        return Artifact(value=value, meta=meta)

