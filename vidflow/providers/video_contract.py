"""The video contract: what a video provider takes and gives back, as a job protocol.

Video vendors do not answer a request with a clip: they accept a **job** and make it in
minutes. So a video provider has three methods instead of one, and the ``video`` capability
(``capabilities/video.py``) drives them: it records the job id the moment :meth:`submit`
returns, polls :meth:`status` (never holding a concurrency slot while it waits) and downloads
with :meth:`content` once the job is completed.

* :meth:`VideoGenerator.submit` is the one paid call; it returns a :class:`VideoJob`.
* :meth:`VideoGenerator.status` reports a :class:`JobStatus`: ``queued``, ``in_progress``,
  ``completed``, ``failed`` (with the vendor's reason) or ``expired`` (the vendor no longer knows
  the job: a 404, or a job past its retention). It raises only for transport or vendor errors.
* :meth:`VideoGenerator.content` returns the clip's bytes; it may raise :class:`JobExpiredError`
  (gone since the last poll) or :class:`JobFailedError` (a vendor that only says why a job failed
  when asked for its result).

Adapters hold no retry, polling or caching logic: the capability and the scheduler own them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol, runtime_checkable

from ..errors import BadRequestError, ContentRejectedError, PermanentProviderError

__all__ = [
    "JobExpiredError",
    "JobFailedError",
    "JobState",
    "JobStatus",
    "VideoGenerator",
    "VideoInput",
    "VideoJob",
    "VideoRequest",
    "job_failed",
]

JobState = Literal["queued", "in_progress", "completed", "failed", "expired"]

# Words in a vendor's failure reason that mean the content was refused (safety, moderation).
_REFUSAL_WORDS = ("safety", "moderation", "content policy", "content_policy", "responsible ai", "filtered", "violat")


@dataclass(frozen=True)
class VideoRequest:
    """One clip to make. ``width`` x ``height`` is the frame asked for (the adapter picks the
    nearest size its vendor makes); ``image`` is the sha256 of the still it starts from ("" for
    text-to-video): the still's bytes travel beside the request (:class:`VideoInput`), never in it.
    """

    __key_tag__ = "video.request"  # names this record in cache keys; never change it

    prompt: str
    seconds: int = 4
    width: int = 1080
    height: int = 1920
    seed: int | None = None
    image: str = ""


@dataclass(frozen=True)
class VideoInput:
    """The still an image-to-video request starts from."""

    data: bytes
    media_type: str = "image/png"


@dataclass(frozen=True)
class VideoJob:
    """A job the vendor accepted. ``id`` is opaque: store it as is. ``cost_usd``: what it will cost."""

    id: str
    cost_usd: float = 0.0
    model: str = ""


@dataclass(frozen=True)
class JobStatus:
    state: JobState
    progress: float | None = None  # 0..100 when the vendor says
    error: str = ""  # the vendor's reason (failed, expired)


class JobFailedError(PermanentProviderError):
    """The vendor says the job failed; the message carries its reason."""


class JobExpiredError(BadRequestError):
    """The vendor no longer knows the job (expired, deleted, never existed)."""


def job_failed(kind: str, job: str, reason: str) -> PermanentProviderError:
    """The error for a job the vendor failed: refused content, or any other reason."""
    reason = " ".join(str(reason or "no reason given").split())[:500]
    message = f"{kind}: the vendor failed job {job}: {reason}"
    if any(w in reason.lower() for w in _REFUSAL_WORDS):
        return ContentRejectedError(message, kind=kind)
    return JobFailedError(message, kind=kind)


@runtime_checkable
class VideoGenerator(Protocol):
    kind: ClassVar[str]

    async def submit(self, req: VideoRequest, image: VideoInput | None = None) -> VideoJob:
        """Start one job. Raises TransientProviderError (retried) or PermanentProviderError."""
        ...

    async def status(self, job: str) -> JobStatus:
        """Where the job is. Idempotent; raises only for transport or vendor errors."""
        ...

    async def content(self, job: str) -> bytes:
        """The finished clip (an MP4). Raises JobExpiredError / JobFailedError as above."""
        ...
