"""The ``image`` capability: a prompt in, a still out (``uses:`` an image provider).

The size is the step's ``size:``, else the frame of the compose step that shows these images
(directly as its ``art:``/``visuals:``, or through a step made from them, such as a clip over
``for_each: art``), so each video gets stills at its own aspect; with no such compose, the
recipe's first compose step's frame (1080x1920 without one). ``on_failure: placeholder`` keeps a video going with a generated
card when the provider fails for good (the card is not cached: the next run tries again).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from ..cache.store import Artifact
from ..providers.base import ImageRequest
from ..recipe.templating import render
from ._provider import ProviderCapability, ProviderStep
from .base import Runtime, require, template_where

if TYPE_CHECKING:  # pragma: no cover
    from ..recipe.load import LoadedRecipe, StepInfo

__all__ = ["ImageCapability", "ImageStep", "frame_size"]


class ImageStep(ProviderStep):
    prompt: str
    caption: str = ""
    size: str | None = Field(default=None, pattern=r"^\d{2,5}x\d{2,5}$")
    seed: int | None = None


def _feeds(loaded: LoadedRecipe, source: str, target: str) -> bool:
    """Whether step ``target``'s items are made from ``source``'s (``for_each`` chains)."""
    seen = set()
    while target in loaded.steps and target not in seen:
        if target == source:
            return True
        seen.add(target)
        fe = loaded.steps[target].for_each
        target = fe[0] if fe else ""
    return False


def frame_size(loaded: LoadedRecipe, step: str | None = None) -> tuple[int, int]:
    """The frame of the compose step that shows ``step``'s images (see the module docstring)."""
    composes = [s for s in loaded.steps.values() if s.capability == "compose"]
    if step is not None:
        for c in composes:
            shown = c.links.get("art")
            if shown and _feeds(loaded, step, shown):
                return c.spec.width, c.spec.height
    for c in composes:
        return c.spec.width, c.spec.height
    return 1080, 1920


class ImageCapability(ProviderCapability):
    name: ClassVar[str] = "image"
    Step: ClassVar[type[ImageStep]] = ImageStep
    provider_capability: ClassVar[str] = "image"
    template_fields: ClassVar[tuple[str, ...]] = ("prompt", "caption")
    placeholder_allowed: ClassVar[bool] = True
    params_passed: ClassVar[bool] = False  # ImageRequest has no params: options live on the provider

    def _size(self, step: StepInfo, loaded: LoadedRecipe) -> tuple[int, int]:
        if step.spec.size:
            w, h = step.spec.size.split("x")
            return int(w), int(h)
        return frame_size(loaded, step.name)

    def request(self, step: StepInfo, adapter: Any, ctx: dict[str, Any], loaded: LoadedRecipe) -> ImageRequest:
        where = template_where(loaded, step, ctx)
        width, height = self._size(step, loaded)
        item = ctx.get("item")
        if step.spec.caption:
            caption = render(step.spec.caption, ctx, where=where("caption"))
        else:
            caption = item.get("caption", "") if isinstance(item, dict) else ""
        return ImageRequest(prompt=render(step.spec.prompt, ctx, where=where("prompt")), width=width, height=height, seed=step.spec.seed, caption=caption)

    def sketch(self, step: StepInfo, adapter: Any, loaded: LoadedRecipe) -> ImageRequest:
        width, height = self._size(step, loaded)
        return ImageRequest(prompt="", width=width, height=height, seed=step.spec.seed)

    def units(self, request: ImageRequest) -> dict[str, float]:
        return {"images": 1.0}

    async def invoke(self, adapter: Any, request: ImageRequest) -> Any:
        return await adapter.generate_image(request)

    async def artifact(self, step: StepInfo, request: ImageRequest, result: Any, meta: dict[str, Any], rt: Runtime) -> Artifact:
        ref = await rt.io(lambda: rt.store.put_blob(result.data, media_type=result.media_type, ext=result.extension))
        return Artifact(value={"width": result.width, "height": result.height, "caption": request.caption}, blobs={"image": ref}, meta=meta)

    async def placeholder(self, step: StepInfo, request: ImageRequest, error: BaseException, rt: Runtime) -> Artifact:
        from ..providers.image_procedural import render_placeholder

        data = await asyncio.to_thread(render_placeholder, request.caption, width=request.width, height=request.height)
        ref = await rt.io(lambda: rt.store.put_blob(data, media_type="image/png", ext="png"))
        return Artifact(
            value={"width": request.width, "height": request.height, "caption": request.caption},
            blobs={"image": ref},
            meta={"placeholder": True, "cause": f"{type(error).__name__}: {error}", "provider": "placeholder"},
        )

    def cached_value_check(self, step: StepInfo, task: Any):
        return lambda art: require(art.value, {"width": int, "height": int}, blobs=art.blobs, blob="image")

    def view(self, step: StepInfo, artifact: Artifact) -> Any:
        return dict(artifact.value or {})
