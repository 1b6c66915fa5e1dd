"""The ``video`` capability: a prompt (and optionally a still) in, a moving clip out.

Video vendors work in jobs (``providers/video_contract.py``). This module drives one job per
node so that a clip is **paid for once**:

1. the submit is the one paid call, through ``rt.call`` (limits, budget, retries);
2. the job id is written to the cache at once, keyed by the node key (``CacheStore.put_job``):
   a run killed while polling resumes the same job on the next run, on any machine that shares
   the cache; a recorded job the vendor no longer knows is submitted again, with an event why;
3. polls go through ``rt.retrying`` (retries of transient errors, no concurrency slot, no
   budget): a 500 or 429 while polling polls again and never submits again. Between polls the
   wait backs off with jitter, up to the step's overall ``timeout:``;
4. the download is probed (a real video stream and its duration) before it is cached.

A ``for_each`` over a step of pictures (an image step, or a local step with an ``image`` output)
makes one clip per still (image-to-video, the still is the
input reference and its digest is part of the key); otherwise a clip is made from the prompt.
The artifact: ``blobs["video"]`` (an MP4) and ``value = {"width", "height", "duration", "fps",
"has_audio"}`` (what ``compose`` reads for clips).
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from ..cache.store import Artifact
from ..errors import BadOutputError, BudgetExceededError, ContentRejectedError, ProviderError, ProviderTimeoutError, VidflowError
from ..media.probe import probe
from ..providers.video_contract import JobExpiredError, JobFailedError, VideoInput, VideoRequest, job_failed
from ..recipe.templating import render
from ._provider import ProviderCapability, ProviderStep
from .base import Prepared, Runtime, require, template_where
from .image import frame_size

if TYPE_CHECKING:  # pragma: no cover
    from ..recipe.load import LoadedRecipe, StepInfo

__all__ = ["VideoCapability", "VideoStep"]


class VideoStep(ProviderStep):
    prompt: str
    seconds: int = Field(default=4, ge=1, le=60, description="length of the clip asked for")
    size: str | None = Field(default=None, pattern=r"^\d{2,5}x\d{2,5}$", description="frame asked for (default: the compose frame)")
    seed: int | None = None
    timeout: float = Field(default=900.0, gt=0, description="seconds a job may take from submit to download")


class VideoCapability(ProviderCapability):
    name: ClassVar[str] = "video"
    Step: ClassVar[type[VideoStep]] = VideoStep
    provider_capability: ClassVar[str] = "video"
    template_fields: ClassVar[tuple[str, ...]] = ("prompt",)
    params_passed: ClassVar[bool] = False  # VideoRequest has no params: options live on the provider

    def __init__(self) -> None:
        self._rng = random.Random()  # poll jitter only; never part of an output

    # ------------------------------------------------------------------ requests
    def _size(self, step: StepInfo, loaded: LoadedRecipe) -> tuple[int, int]:
        if step.spec.size:
            w, h = step.spec.size.split("x")
            return int(w), int(h)
        return frame_size(loaded)

    def request(self, step: StepInfo, adapter: Any, ctx: dict[str, Any], loaded: LoadedRecipe) -> VideoRequest:
        where = template_where(loaded, step, ctx)
        width, height = self._size(step, loaded)
        return VideoRequest(prompt=render(step.spec.prompt, ctx, where=where("prompt")), seconds=step.spec.seconds, width=width, height=height, seed=step.spec.seed)

    def sketch(self, step: StepInfo, adapter: Any, loaded: LoadedRecipe) -> VideoRequest:
        width, height = self._size(step, loaded)
        return VideoRequest(prompt="", seconds=step.spec.seconds, width=width, height=height, seed=step.spec.seed)

    def units(self, request: VideoRequest) -> dict[str, float]:
        return {"clips": 1.0, "video_seconds": float(request.seconds)}

    def _still(self, task: Any, step: StepInfo, inputs: Any, loaded: LoadedRecipe) -> Any:
        """The image blob a clip starts from: the item of a ``for_each`` over a step whose items
        are pictures (an image step, or a local step with an ``image`` output)."""
        if step.for_each is None or not step.for_each_items or task.item_from is None:
            return None
        art = inputs.artifact(task.item_from[0])
        return (getattr(art, "blobs", None) or {}).get("image")

    def prepare(self, task: Any, step: StepInfo, inputs: Any, loaded: LoadedRecipe, adapters: Any) -> Prepared | None:
        prepared = super().prepare(task, step, inputs, loaded, adapters)
        if prepared is None:
            return None
        still = self._still(task, step, inputs, loaded)
        if still is not None:  # image-to-video: the still's digest decides the clip too
            from dataclasses import replace

            prepared.payload = [(p, replace(r, image=still.digest)) for p, r in prepared.payload]
            prepared.fields = {**prepared.fields, "request": prepared.payload[0][1]}
        prepared.payload = {"candidates": prepared.payload, "still": still}
        return prepared

    # ------------------------------------------------------------------ making a clip
    async def execute(self, task: Any, step: StepInfo, prepared: Prepared, rt: Runtime) -> Artifact:
        candidates = prepared.payload["candidates"]
        still = prepared.payload["still"]
        image = None
        if still is not None:
            data = await rt.io(rt.store.read_blob, still)
            image = VideoInput(data, media_type=getattr(still, "media_type", "") or "image/png")
        error: BaseException | None = None
        for i, (provider, request) in enumerate(candidates):
            try:
                return await self._clip(task, step, provider, request, image, rt, candidate=i)
            except BudgetExceededError:
                raise
            except (ProviderError, VidflowError, OSError) as e:
                error = e
                if i + 1 < len(candidates):
                    rt.fallback(task, provider, e, candidates[i + 1][0])
        assert error is not None
        raise error

    async def _clip(self, task: Any, step: StepInfo, provider: str, request: VideoRequest, image: VideoInput | None, rt: Runtime, *, candidate: int) -> Artifact:
        adapter = rt.adapter(provider)
        fallback = candidate > 0
        # Each candidate provider keeps its own job record: a fallback's job never overwrites
        # the record of a primary job that may still finish (and was paid for).
        store, key = rt.store, (task.key if not fallback else f"{task.key}-{candidate}") if task.key else task.key
        record = await rt.io(store.get_job, key) if key else None
        if record is not None and record.get("provider") != provider:
            record = None
        resubmitted = False
        while True:
            if record is None:
                call = await rt.call(task, provider, lambda: adapter.submit(request, image),
                                     estimate=adapter.estimate_cost(request) if adapter.paid else 0.0, fallback=fallback)
                job = call.value
                record = {"job": job.id, "provider": provider, "kind": adapter.kind, "model": job.model, "cost_usd": job.cost_usd, "started_at": call.started_at, "run_id": rt.run_id}
                if key:  # durable before the first poll: a run killed from here on resumes this job
                    await rt.io(store.put_job, key, record)
                resumed = False
            else:
                rt.note(task, f"resuming video job {record['job']} submitted by run {record.get('run_id', '?')}", data={"job": record["job"], "resumed": True})
                resumed = True
            t0 = rt.clock.now()
            try:
                data = await self._wait_and_fetch(task, step, provider, adapter, record["job"], rt)
            except JobExpiredError as e:
                if key:
                    await rt.io(store.drop_job, key)
                if not resumed or resubmitted:
                    raise
                rt.note(task, f"video job {record['job']} is unknown to the vendor ({e}); submitting it again", error=type(e).__name__, data={"job": record["job"], "resubmit": True})
                record, resubmitted = None, True
                continue
            except (JobFailedError, ContentRejectedError):
                if key:  # the vendor ended this job: a later run submits anew
                    await rt.io(store.drop_job, key)
                raise
            # Any other error (polls that kept failing, the deadline) keeps the record: the job may
            # still finish, and the next run resumes it instead of paying again.
            break
        art = await self._artifact(data, rt)
        art.meta = {
            "provider": provider, "kind": adapter.kind, "model": record.get("model", ""), "cost_usd": float(record.get("cost_usd") or 0.0),
            "seconds": round(rt.clock.now() - t0, 4), "started_at": record.get("started_at"), "job": record["job"],
        }
        if key:
            await rt.io(store.drop_job, key)
        return art

    async def _wait_and_fetch(self, task: Any, step: StepInfo, provider: str, adapter: Any, job: str, rt: Runtime) -> bytes:
        """Poll until the job is completed (backoff with jitter, no slot held), then download it."""
        deadline = rt.clock.now() + float(step.spec.timeout)
        interval = float(getattr(adapter.options, "poll_interval", 2.0) or 2.0)
        ceiling = float(getattr(adapter.options, "max_poll_interval", 30.0) or 30.0)
        wait = interval
        while True:
            status = await rt.retrying(task, provider, lambda: adapter.status(job))
            if status.state == "completed":
                break
            if status.state == "failed":
                raise job_failed(adapter.kind, job, status.error)
            if status.state == "expired":
                raise JobExpiredError(f"{adapter.kind}: job {job} expired at the vendor: {status.error}", kind=adapter.kind, status=404)
            left = deadline - rt.clock.now()
            if left <= 0:
                raise ProviderTimeoutError(f"{adapter.kind}: job {job} did not finish within the step's timeout of {step.spec.timeout:g} s (last state: {status.state}); the next run resumes it", kind=adapter.kind)
            await rt.clock.sleep(min(left, wait * self._rng.uniform(0.5, 1.0)))  # jitter: jobs polled together drift apart
            wait = min(ceiling, wait * 1.5)
        return await rt.retrying(task, provider, lambda: adapter.content(job))

    async def _artifact(self, data: bytes, rt: Runtime) -> Artifact:
        """Probe the clip (a video stream, a duration) in scratch, then store it."""
        path = os.path.join(rt.scratch("clip-"), "clip.mp4")
        with open(path, "wb") as f:
            f.write(data)
        try:
            info = await asyncio.to_thread(probe, path)
        except VidflowError as e:
            raise BadOutputError(f"video: the downloaded clip is not a video ({len(data)} bytes): {e}") from None
        streams = info.of_type("video")
        if not streams or info.duration <= 0 or not streams[0].width:
            raise BadOutputError(f"video: the downloaded clip has no video stream or no duration ({len(data)} bytes)")
        v = streams[0]
        ref = await rt.io(lambda: rt.store.put_blob_file(path, media_type="video/mp4", ext="mp4"))
        value = {"width": int(v.width or 0), "height": int(v.height or 0), "duration": float(info.duration), "fps": float(v.fps or 0.0),
                 "has_audio": bool(info.of_type("audio"))}  # fmt: skip
        return Artifact(value=value, blobs={"video": ref}, meta={})

    def cached_value_check(self, step: StepInfo, task: Any):
        return lambda art: require(art.value, {"width": int, "height": int, "duration": (int, float)}, blobs=art.blobs, blob="video")

    def view(self, step: StepInfo, artifact: Artifact) -> Any:
        return dict(artifact.value or {})
