"""The ``speech`` capability: a line of text and a voice in, audio with word timings out.

``voice:`` renders to a character's name or id (the character's voice for this provider is
used, with its vendor settings) or to a vendor voice id. Word timings feed karaoke captions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..cache.store import Artifact
from ..errors import Problem, TemplateError
from ..providers.base import SpeechRequest
from ..recipe.templating import render
from ._provider import ProviderCapability, ProviderStep
from .base import Runtime, require, template_where

if TYPE_CHECKING:  # pragma: no cover
    from ..recipe.load import LoadedRecipe, StepInfo

__all__ = ["SpeechCapability", "SpeechStep"]

#: A spoken line, when the script does not exist yet (plan estimates).
ESTIMATED_LINE_CHARS = 80


class SpeechStep(ProviderStep):
    text: str
    voice: str


class SpeechCapability(ProviderCapability):
    name: ClassVar[str] = "speech"
    Step: ClassVar[type[SpeechStep]] = SpeechStep
    provider_capability: ClassVar[str] = "speech"
    template_fields: ClassVar[tuple[str, ...]] = ("text", "voice")

    def wire(self, step: StepInfo, loaded: LoadedRecipe, problems: list[Problem]) -> None:
        super().wire(step, loaded, problems)
        if "{" not in step.spec.voice:
            return
        # Voices for every character the dialogue may use, for the provider and its fallbacks.
        for pname in (step.provider, *step.fallbacks):
            if pname not in loaded.providers:
                continue
            info = loaded.providers[pname]
            key = info.cls(info.options).voice_key()
            for c in loaded.characters.values():
                if c.voice_for(key) is None:
                    problems.append(Problem(c.voices_at or c.file, "voices", f"character `{c.id}` has no voice for `{key}` (used by step `{step.name}` via `{pname}`); add `voices: {{{key}: ...}}`"))

    def request(self, step: StepInfo, adapter: Any, ctx: dict[str, Any], loaded: LoadedRecipe) -> SpeechRequest:
        where = template_where(loaded, step, ctx)
        text = render(step.spec.text, ctx, where=where("text")).strip()
        if not text:
            raise TemplateError(f"{where('text')}: rendered to nothing; a line to speak needs words")
        voice = render(step.spec.voice, ctx, where=where("voice")).strip()
        speakers = loaded.speaker_names()
        by_name = {c.name: c for c in loaded.characters.values()}
        who = loaded.characters.get(voice) or by_name.get(speakers.get(voice.lower(), ""))
        params = dict(step.spec.params)
        if who is not None:
            resolved = who.voice_for(adapter.voice_key())
            if resolved is None:
                raise TemplateError(f"{who.file}: character `{who.id}` has no voice for `{adapter.voice_key()}`")
            voice = resolved
            params = {**who.voice_params(adapter.voice_key()), **params}
        return SpeechRequest(text=text, voice=voice, params=params)

    def sketch(self, step: StepInfo, adapter: Any, loaded: LoadedRecipe) -> SpeechRequest:
        return SpeechRequest(text="x" * ESTIMATED_LINE_CHARS, voice="")

    def units(self, request: SpeechRequest) -> dict[str, float]:
        return {"chars": float(len(request.text))}

    async def invoke(self, adapter: Any, request: SpeechRequest) -> Any:
        return await adapter.synthesize(request)

    async def artifact(self, step: StepInfo, request: SpeechRequest, result: Any, meta: dict[str, Any], rt: Runtime) -> Artifact:
        ref = await rt.io(lambda: rt.store.put_blob(result.audio, media_type=result.media_type, ext=result.extension))
        words = [[w.word, round(w.start, 4), round(w.end, 4), w.char_start, w.char_end] for w in result.words]
        value = {"text": request.text, "duration": result.duration, "words": words, "estimated_timings": result.timings_estimated}
        return Artifact(value=value, blobs={"audio": ref}, meta=meta)

    def cached_value_check(self, step: StepInfo, task: Any):
        def check(art: Artifact) -> None:
            require(art.value, {"text": str, "duration": (int, float), "words": list}, blobs=art.blobs, blob="audio")
            for w in art.value["words"]:
                if not isinstance(w, list) or len(w) != 5:
                    raise ValueError("a word timing is not [word, start, end, char_start, char_end]")

        return check

    def view(self, step: StepInfo, artifact: Artifact) -> Any:
        v = artifact.value or {}
        return {"text": v.get("text", ""), "duration": v.get("duration", 0.0)}
