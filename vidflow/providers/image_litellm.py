"""``image.litellm``: images through litellm (OpenAI gpt-image and dall-e, Together FLUX, ...).

* The frame is portrait (1080x1920 by default); each vendor gets its own nearest portrait size:
  gpt-image ``1024x1536``, dall-e-3 ``1024x1792``, Together ``width``/``height`` (768x1344),
  others ``size`` as the step asks. Composition scales and crops to the frame.
* Replies in ``b64_json`` and ``url`` are both handled (a URL is fetched once, at call time).
* ``seed`` is passed to vendors that take one (Together); OpenAI has no seed.
* Cost: vidflow's price table per image and size, else litellm's ``response_cost``.
* litellm 1.106 ignores ``max_retries`` on image calls for OpenAI-compatible routes (the openai
  SDK's 2 silent retries win). vidflow owns retries, so those routes get a pinned client whose
  ``max_retries`` is always 0: exactly one request per attempt, and 429s reach the scheduler.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar

from pydantic import Field

from ._errors import bad_reply, excerpt, map_errors
from ._litellm import LiteLLMProvider
from .base import EndpointOptions, ImageRequest, ImageResult, ProviderOptions

__all__ = ["LiteLLMImage", "vendor_size"]


class LiteLLMImageOptions(EndpointOptions):
    model: str = Field(description="a litellm image model, e.g. openai/gpt-image-1")
    size: str | None = Field(default=None, pattern=r"^(\d{2,5}x\d{2,5}|auto)$", description="force a vendor size")
    quality: str | None = None
    steps: int | None = Field(default=None, ge=1, le=100, description="Together/FLUX sampling steps")
    timeout: float = Field(default=180.0, gt=0)
    extra: dict[str, Any] = Field(default_factory=dict)


def vendor_size(model: str, width: int, height: int) -> dict[str, Any]:
    """The size parameters a vendor takes for a frame of ``width`` x ``height``."""
    portrait = height > width
    name = model.split("/", 1)[-1]
    if model.startswith("together_ai/"):
        # FLUX wants multiples of 16; keep the frame's aspect at about one megapixel.
        w, h = (768, 1344) if portrait else ((1344, 768) if width > height else (1024, 1024))
        return {"width": w, "height": h}
    if name.startswith("gpt-image"):
        return {"size": "1024x1536" if portrait else ("1536x1024" if width > height else "1024x1024")}
    if name == "dall-e-3":
        return {"size": "1024x1792" if portrait else ("1792x1024" if width > height else "1024x1024")}
    if name == "dall-e-2":
        return {"size": "1024x1024"}
    return {"size": f"{width}x{height}"}


def _dims(params: dict[str, Any]) -> tuple[int, int]:
    if "width" in params:
        return int(params["width"]), int(params["height"])
    size = str(params.get("size", "1024x1024"))
    if "x" not in size:
        return 1024, 1024
    w, h = size.split("x")
    return int(w), int(h)


def _media_type(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\x89PNG"):
        return "image/png", "png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg", "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    raise bad_reply("image.litellm", f"the image is not PNG, JPEG or WebP (starts with {data[:8]!r})")


#: OpenAI-compatible image routes and their default endpoints (for the pinned no-retry client).
OPENAI_COMPATIBLE = {"openai": "https://api.openai.com/v1", "together_ai": "https://api.together.xyz/v1", "xai": "https://api.x.ai/v1"}


def _no_retry_client(base_url: str, api_key: str | None, timeout: float):
    import openai

    class NoRetryAsyncOpenAI(openai.AsyncOpenAI):
        # litellm overwrites max_retries on the client it is given; this one cannot be changed.
        max_retries = property(lambda self: 0, lambda self, value: None)  # type: ignore[assignment]

    return NoRetryAsyncOpenAI(base_url=base_url, api_key=api_key or "missing", timeout=timeout)


class LiteLLMImage(LiteLLMProvider):
    kind: ClassVar[str] = "image.litellm"
    capability: ClassVar[str] = "image"
    version: ClassVar[str] = "1"
    Options: ClassVar[type[ProviderOptions]] = LiteLLMImageOptions
    default_concurrency: ClassVar[int] = 4
    typical_latency: ClassVar[float] = 12.0

    async def warm_up(self) -> None:
        await super().warm_up()
        self._pinned_client()

    async def aclose(self) -> None:
        client, self._client = getattr(self, "_client", None), None
        if client is not None:
            await client.close()
        await super().aclose()

    def _pinned_client(self):
        """The no-retry client for OpenAI-compatible routes (None for other routes)."""
        prefix = self.options.model.split("/", 1)[0]
        if prefix not in OPENAI_COMPATIBLE:
            return None
        if getattr(self, "_client", None) is None:
            self._client = _no_retry_client(self.options.api_base or OPENAI_COMPATIBLE[prefix], self.api_key(), self.options.timeout)
        return self._client


    def _size_params(self, req: ImageRequest) -> dict[str, Any]:
        if self.options.size:
            return {"size": self.options.size}
        return vendor_size(self.options.model, req.width, req.height)

    def estimate_cost(self, req: ImageRequest) -> float:
        if self.prices is None:
            return 0.0
        w, h = _dims(self._size_params(req))
        return self.prices.image_cost(self.options.model, w, h) or 0.0

    async def generate_image(self, req: ImageRequest) -> ImageResult:
        litellm = self.litellm()
        o = self.options
        params = self._size_params(req)
        kwargs: dict[str, Any] = {**o.extra, **params}
        if o.quality:
            kwargs["quality"] = o.quality
        if o.steps:
            kwargs["steps"] = o.steps
        if req.seed is not None and o.model.startswith("together_ai/"):
            kwargs["seed"] = req.seed
        key = self.api_key()
        client = self._pinned_client()
        if client is not None:
            kwargs["client"] = client
        red = self.redactor()
        with map_errors(self.kind, redactor=red):
            resp = await litellm.aimage_generation(
                model=o.model, prompt=req.prompt, n=1, api_base=o.api_base, api_key=key, timeout=o.timeout,
                max_retries=0, num_retries=0, **kwargs,
            )
        # Reading the reply is outside the vendor boundary: a reply of another shape is a
        # BadOutputError (permanent), never a transient error that would be paid for again.
        b64, url = self._image_ref(resp)
        if b64 is not None:
            try:
                data = base64.b64decode("".join(b64.split()), validate=True)  # line breaks are fine
            except (binascii.Error, ValueError) as e:
                raise bad_reply(self.kind, f"b64_json is not base64 ({e}): {excerpt(b64, 40)!r}", redactor=red) from None
        else:
            with map_errors(self.kind, redactor=red):  # fetching the image is a vendor call too
                data = await _fetch(url, o.timeout)
        media_type, ext = _media_type(data)
        w, h = _dims(params)
        cost = self.prices.image_cost(o.model, w, h) if self.prices is not None else None
        if cost is None:
            hidden = getattr(resp, "_hidden_params", None)
            raw = hidden.get("response_cost") if isinstance(hidden, dict) else None
            cost = float(raw) if isinstance(raw, (int, float)) else 0.0
        return ImageResult(data=data, media_type=media_type, extension=ext, width=w, height=h, cost_usd=cost, model=o.model)

    def _image_ref(self, resp: Any) -> tuple[str | None, str]:
        """(b64_json, "") or (None, url) of the reply's first image; BadOutputError otherwise."""
        items = getattr(resp, "data", None)
        if not isinstance(items, list) or not items:
            raise bad_reply(self.kind, f"{self.options.model}: the reply has no image", redactor=self.redactor())
        item = items[0]
        b64, url = getattr(item, "b64_json", None), getattr(item, "url", None)
        if isinstance(b64, str) and b64:
            return b64, ""
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return None, url
        shown = excerpt(b64 if b64 else url, 40)
        raise bad_reply(self.kind, f"{self.options.model}: the reply has neither b64_json nor an http(s) url (got {shown!r})", redactor=self.redactor())


async def _fetch(url: str, timeout: float) -> bytes:
    import httpx

    async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
        r = await client.get(url)
        r.raise_for_status()
        return r.content
