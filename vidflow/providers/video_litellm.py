"""``video.litellm``: clips through litellm's video API (Gemini Veo, OpenAI-style ``/v1/videos``, ...).

A job protocol (see :mod:`.video_contract`): :meth:`LiteLLMVideo.submit` is
``litellm.avideo_generation`` (the one paid call), :meth:`~LiteLLMVideo.status` is
``avideo_status`` and :meth:`~LiteLLMVideo.content` is ``avideo_content``. The job id litellm
returns encodes the vendor and the model (``video_`` + base64), so later calls need only the id.

Traps of litellm 1.106 this adapter works around (checked in the installed source):

* Gemini: a finished operation is ``done: true`` whether it succeeded or failed, and litellm
  reports both as ``completed`` (the ``error`` is dropped); its content download also calls a
  *synchronous* HTTP client on the event loop. So for ``gemini/`` models the adapter reads the
  operation itself with httpx (the vendor's reason when it failed, the video's URI when it did
  not) and downloads the URI with httpx.
* A 404 on status (an expired or deleted job) is reported as ``expired``, never raised.
* litellm's video handler raises its own ``BaseLLMException`` for an HTTP error reply, which
  the shared error boundary cannot tell from a status litellm made up; here it only ever comes
  from a real reply (it carries the reply's headers), so its status is used as is: a 500 while
  polling is transient (polled again), a 429 waits for Retry-After.
"""

from __future__ import annotations

import base64
from contextlib import contextmanager
from typing import Any, ClassVar, Iterator

from pydantic import Field

from ..errors import BadRequestError
from ._errors import bad_reply, error_for_status, excerpt, map_errors
from ._litellm import LiteLLMProvider
from .base import EndpointOptions, ProviderOptions
from .video_contract import JobExpiredError, JobStatus, VideoInput, VideoJob, VideoRequest, job_failed

__all__ = ["LiteLLMVideo", "LiteLLMVideoOptions", "video_size"]

_STATES = {"queued": "queued", "pending": "queued", "in_progress": "in_progress", "processing": "in_progress",
           "running": "in_progress", "completed": "completed", "succeeded": "completed", "failed": "failed",
           "cancelled": "failed", "expired": "expired", "deleted": "expired"}  # fmt: skip


class LiteLLMVideoOptions(EndpointOptions):
    model: str = Field(description="a litellm video model, e.g. gemini/veo-3.1-fast-generate-preview")
    size: str | None = Field(default=None, pattern=r"^\d{2,5}x\d{2,5}$", description="force a vendor size")
    timeout: float = Field(default=120.0, gt=0, description="seconds one request (submit, poll, download) may take")
    poll_interval: float = Field(default=10.0, gt=0, description="seconds before the first poll; later polls back off")
    max_poll_interval: float = Field(default=60.0, gt=0, description="longest wait between two polls")
    extra: dict[str, Any] = Field(default_factory=dict, description="extra parameters litellm passes to the vendor")


@contextmanager
def _real_http_status(kind: str) -> Iterator[None]:
    """A vendor HTTP error that litellm's video handler wrapped: the vidflow error for its status."""
    try:
        yield
    except Exception as e:
        import httpx

        link: BaseException | None = e
        for _ in range(8):
            if link is None:
                break
            status = getattr(link, "status_code", None)
            if type(link).__name__ == "BaseLLMException" and isinstance(status, int) and status >= 400 and isinstance(getattr(link, "headers", None), httpx.Headers):
                raise error_for_status(status, excerpt(getattr(link, "message", "") or str(link), 300), kind=kind, headers=dict(link.headers)) from e
            link = link.__cause__ or link.__context__
        raise


def video_size(model: str, width: int, height: int) -> str:
    """The size to ask a vendor for a frame of ``width`` x ``height``: 720p at the frame's
    orientation (what Veo and the OpenAI-style APIs make; compose scales to the frame)."""
    return "720x1280" if height >= width else "1280x720"


class LiteLLMVideo(LiteLLMProvider):
    kind: ClassVar[str] = "video.litellm"
    capability: ClassVar[str] = "video"  # type: ignore[assignment]
    version: ClassVar[str] = "1"
    Options: ClassVar[type[ProviderOptions]] = LiteLLMVideoOptions
    default_concurrency: ClassVar[int] = 2
    typical_latency: ClassVar[float] = 90.0  # submit to download, for plans
    non_identity: ClassVar[frozenset[str]] = frozenset({"api_base", "api_key_env", "timeout", "poll_interval", "max_poll_interval"})

    @property
    def _gemini(self) -> bool:
        return self.options.model.startswith("gemini/")

    def size(self, req: VideoRequest) -> str:
        return self.options.size or video_size(self.options.model, req.width, req.height)

    def estimate_cost(self, req: VideoRequest) -> float:
        if self.prices is None:
            return 0.0
        w, h = (int(x) for x in self.size(req).split("x"))
        return self.prices.video_cost(self.options.model, req.seconds, w, h) or 0.0

    def _common(self) -> dict[str, Any]:
        o = self.options
        return {"api_base": o.api_base, "api_key": self.api_key(), "timeout": o.timeout, "max_retries": 0, "num_retries": 0}

    # ------------------------------------------------------------------ the job protocol
    async def submit(self, req: VideoRequest, image: VideoInput | None = None) -> VideoJob:
        litellm = self.litellm()
        o = self.options
        kwargs: dict[str, Any] = {**o.extra, "size": self.size(req), "seconds": str(req.seconds)}
        if image is not None:
            if self._gemini:  # litellm passes a ready dict through as the instance's image
                kwargs["input_reference"] = {"bytesBase64Encoded": base64.b64encode(image.data).decode(), "mimeType": image.media_type}
            else:
                kwargs["input_reference"] = image.data
        if req.seed is not None and "seed" not in kwargs and not o.model.startswith(("openai/", "azure/")):
            kwargs["seed"] = req.seed
        with map_errors(self.kind, redactor=self.redactor()), _real_http_status(self.kind):
            obj = await litellm.avideo_generation(prompt=req.prompt, model=o.model, **self._common(), **kwargs)
        job = getattr(obj, "id", None)
        if not isinstance(job, str) or not job:
            raise bad_reply(self.kind, f"{o.model}: the reply has no job id ({excerpt(obj, 80)})", redactor=self.redactor())
        w, h = (int(x) for x in self.size(req).split("x"))
        cost = self.prices.video_cost(o.model, req.seconds, w, h) if self.prices is not None else None
        return VideoJob(id=job, cost_usd=float(cost or 0.0), model=o.model)

    async def status(self, job: str) -> JobStatus:
        if self._gemini:
            op = await self._gemini_operation(job)
            if op is None:
                return JobStatus("expired", error="the vendor no longer knows this operation (404)")
            if not op.get("done"):
                meta = op.get("metadata") or {}
                return JobStatus("in_progress", progress=_num(meta.get("progressPercent")))
            err = op.get("error")
            if err:
                return JobStatus("failed", error=str(err.get("message") if isinstance(err, dict) else err))
            return JobStatus("completed", progress=100.0)
        litellm = self.litellm()
        try:
            with map_errors(self.kind, redactor=self.redactor()), _real_http_status(self.kind):
                obj = await litellm.avideo_status(video_id=job, **self._common())
        except BadRequestError as e:
            if e.status == 404:
                return JobStatus("expired", error=str(e))
            raise
        raw = str(getattr(obj, "status", "") or "")
        state = _STATES.get(raw.lower())
        if state is None:
            raise bad_reply(self.kind, f"unknown job status {raw!r}", redactor=self.redactor())
        err = getattr(obj, "error", None)
        reason = str(err.get("message") or err) if isinstance(err, dict) else (str(err) if err else "")
        return JobStatus(state, progress=_num(getattr(obj, "progress", None)), error=reason)  # type: ignore[arg-type]

    async def content(self, job: str) -> bytes:
        if self._gemini:
            op = await self._gemini_operation(job)
            if op is None:
                raise JobExpiredError(f"{self.kind}: job {job} is gone", kind=self.kind, status=404)
            if op.get("error"):
                err = op["error"]
                raise job_failed(self.kind, job, err.get("message", "") if isinstance(err, dict) else str(err))
            try:
                uri = op["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
            except (KeyError, IndexError, TypeError):
                raise bad_reply(self.kind, f"the finished operation has no video: {excerpt(op, 160)}", redactor=self.redactor()) from None
            return await self._get(uri)
        litellm = self.litellm()
        try:
            with map_errors(self.kind, redactor=self.redactor()), _real_http_status(self.kind):
                data = await litellm.avideo_content(video_id=job, **self._common())
        except BadRequestError as e:
            if e.status == 404:
                raise JobExpiredError(f"{self.kind}: job {job} is gone: {e}", kind=self.kind, status=404) from e
            raise
        if not isinstance(data, (bytes, bytearray)):
            raise bad_reply(self.kind, f"the download is {type(data).__name__}, not bytes", redactor=self.redactor())
        return bytes(data)

    # ------------------------------------------------------------------ Gemini, read directly
    def _gemini_base(self) -> str:
        import os

        return (self.options.api_base or os.environ.get("GEMINI_API_BASE") or "https://generativelanguage.googleapis.com").rstrip("/")

    async def _gemini_operation(self, job: str) -> dict[str, Any] | None:
        """The operation document (None on 404): read with httpx, not litellm (see the docstring)."""
        from litellm.types.videos.utils import extract_original_video_id

        name = extract_original_video_id(job)
        body = await self._get(f"{self._gemini_base()}/v1beta/{name}", json_reply=True, missing_ok=True)
        if body is None:
            return None
        if not isinstance(body, dict):
            raise bad_reply(self.kind, f"the operation is not a JSON object: {excerpt(body, 80)}", redactor=self.redactor())
        return body

    async def _get(self, url: str, *, json_reply: bool = False, missing_ok: bool = False) -> Any:
        import httpx

        client = self.__dict__.get("_http")
        if client is None:
            client = self.__dict__["_http"] = httpx.AsyncClient(timeout=self.options.timeout, follow_redirects=True)
        red = self.redactor()
        with map_errors(self.kind, redactor=red):
            r = await client.get(url, headers={"x-goog-api-key": self.api_key() or ""})
        if r.status_code == 404 and missing_ok:
            return None
        if r.status_code >= 400:
            raise error_for_status(r.status_code, red(excerpt(r.text, 300)), kind=self.kind, headers=dict(r.headers))
        if not json_reply:
            return r.content
        try:
            return r.json()
        except ValueError:
            raise bad_reply(self.kind, f"the reply is not JSON: {excerpt(r.text, 80)}", redactor=red) from None

    async def aclose(self) -> None:
        client = self.__dict__.pop("_http", None)
        if client is not None:
            await client.aclose()
        await super().aclose()


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None
