"""``video.procedural``: free, offline, deterministic clips: a still set in motion with ffmpeg.

The still is the request's input image (image-to-video, e.g. a ``for_each`` over an image step)
or, for text-to-video, the ``image.procedural`` card of the prompt. Motions:

* ``zoom_in`` / ``zoom_out``: a slow Ken Burns zoom on the middle of the frame;
* ``pan_left`` / ``pan_right``: the frame glides across a still scaled 25 % wider;
* ``parallax``: a blurred, slowly zooming copy of the still behind a smaller sharp copy that
  drifts sideways (two depths moving at different speeds);
* ``auto`` (the default): one of the above, picked from sha256(prompt, seed, still).

It speaks the same job protocol as a vendor (:mod:`.video_contract`), so the ``video``
capability's path (job record, polls, probe, cache) is the same offline as online. A job id
encodes its request, so a job survives the process that submitted it; only an image-to-video
job whose still is no longer in memory is reported expired (and is submitted again).
Same request, same bytes: one x264 thread, bit-exact flags, no metadata.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import subprocess
import tempfile
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from ..errors import BadRequestError
from .base import Provider, ProviderOptions
from .image_procedural import render_card
from .video_contract import JobExpiredError, JobStatus, VideoInput, VideoJob, VideoRequest

__all__ = ["MOTIONS", "ProceduralVideo", "motion_filter", "render_clip"]

Motion = Literal["auto", "zoom_in", "zoom_out", "pan_left", "pan_right", "parallax"]
MOTIONS: tuple[str, ...] = ("zoom_in", "zoom_out", "pan_left", "pan_right", "parallax")


class ProceduralVideoOptions(ProviderOptions):
    motion: Motion = Field(default="auto", description="how the still moves")
    fps: int = Field(default=24, ge=1, le=60)
    strength: float = Field(default=0.2, gt=0, le=1.0, description="how far it zooms or pans (0.2: 20 %)")


def motion_filter(motion: str, width: int, height: int, frames: int, fps: int, strength: float) -> str:
    """The filtergraph moving input 0 (one still frame) for ``frames`` frames at ``width`` x ``height``.

    The still is first scaled to cover the frame (cropped to its aspect), twice as large for
    zoompan so sub-pixel motion stays smooth. Pure: golden-testable.
    """
    w2, h2 = 2 * width, 2 * height
    cover = f"scale={w2}:{h2}:force_original_aspect_ratio=increase,crop={w2}:{h2},setsar=1"
    last = max(1, frames - 1)
    z = f"(1+{strength:g}*on/{last})" if motion != "zoom_out" else f"(1+{strength:g}*(1-on/{last}))"
    centre = "x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'"
    zp = f"d={frames}:s={width}x{height}:fps={fps}"
    if motion in ("zoom_in", "zoom_out"):
        return f"[0:v]{cover},zoompan=z='{z}':{centre}:{zp},format=yuv420p[v]"
    if motion in ("pan_left", "pan_right"):
        zoom = 1 + strength
        progress = f"on/{last}" if motion == "pan_right" else f"(1-on/{last})"
        return f"[0:v]{cover},zoompan=z='{zoom:g}':x='(iw-iw/zoom)*{progress}':y='ih/2-(ih/zoom/2)':{zp},format=yuv420p[v]"
    if motion == "parallax":
        fw = 2 * round(width * 0.72 / 2)
        amp = round(width * strength * 0.5)
        return (
            f"[0:v]{cover},split[a][b];"
            f"[a]boxblur=10:2,zoompan=z='{z}':{centre}:{zp}[bg];"
            f"[b]scale={fw}:-2,loop=loop={frames}:size=1,setpts=N/({fps}*TB)[fg];"
            f"[bg][fg]overlay=x='(W-w)/2+{amp}*sin(2*PI*n/{frames})':y='(H-h)/2':eof_action=endall,format=yuv420p[v]"
        )
    raise BadRequestError(f"video.procedural: unknown motion {motion!r}; use one of {', '.join(MOTIONS)}", kind="video.procedural")


def pick_motion(req: VideoRequest, motion: str) -> str:
    if motion != "auto":
        return motion
    digest = hashlib.sha256(f"{req.prompt}\0{req.seed!r}\0{req.image}".encode()).digest()
    return MOTIONS[digest[0] % len(MOTIONS)]


def render_clip(still: bytes, *, motion: str, width: int, height: int, seconds: float, fps: int = 24, strength: float = 0.2) -> bytes:
    """An H.264 MP4 (no audio) of ``still`` moving for ``seconds``. Same arguments, same bytes."""
    import imageio_ffmpeg

    w, h = width - width % 2, height - height % 2
    frames = max(1, round(seconds * fps))
    graph = motion_filter(motion, w, h, frames, fps, strength)
    with tempfile.TemporaryDirectory(prefix="vidflow-clip-") as tmp:
        src, out = Path(tmp) / "still", Path(tmp) / "clip.mp4"
        src.write_bytes(still)
        argv = [
            imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-i", str(src), "-filter_complex", graph, "-map", "[v]", "-frames:v", str(frames), "-r", str(fps),
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-threads", "1", "-pix_fmt", "yuv420p",
            "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1", "-movflags", "+faststart", str(out),
        ]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, timeout=600, check=False)
        if proc.returncode != 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise BadRequestError(f"video.procedural: ffmpeg could not move the still ({' / '.join(tail) or proc.returncode})", kind="video.procedural")
        return out.read_bytes()


class ProceduralVideo(Provider):
    """``video.procedural``: offline, deterministic clips from a still or a prompt (no model)."""

    kind: ClassVar[str] = "video.procedural"
    capability: ClassVar[str] = "video"  # type: ignore[assignment]
    version: ClassVar[str] = "1"
    paid: ClassVar[bool] = False
    Options: ClassVar[type[ProviderOptions]] = ProceduralVideoOptions
    default_concurrency: ClassVar[int] = 2
    typical_latency: ClassVar[float] = 2.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stills: dict[str, bytes] = {}  # still digest -> bytes, for this adapter's lifetime

    async def submit(self, req: VideoRequest, image: VideoInput | None = None) -> VideoJob:
        if image is not None:
            self._stills[req.image or hashlib.sha256(image.data).hexdigest()] = image.data
        spec = {"prompt": req.prompt, "seconds": req.seconds, "width": req.width, "height": req.height, "seed": req.seed,
                "image": req.image or (hashlib.sha256(image.data).hexdigest() if image is not None else "")}  # fmt: skip
        job = "proc_" + base64.urlsafe_b64encode(json.dumps(spec, sort_keys=True).encode()).decode()
        return VideoJob(id=job, cost_usd=0.0, model=f"procedural/{self.options.motion}")

    async def status(self, job: str) -> JobStatus:
        spec = self._spec(job)
        if spec is None or (spec["image"] and spec["image"] not in self._stills):
            return JobStatus("expired", error="this process does not hold the job's still")
        return JobStatus("completed", progress=100.0)

    async def content(self, job: str) -> bytes:
        spec = self._spec(job)
        if spec is None or (spec["image"] and spec["image"] not in self._stills):
            raise JobExpiredError(f"{self.kind}: job is gone", kind=self.kind, status=404)
        req = VideoRequest(spec["prompt"], spec["seconds"], spec["width"], spec["height"], spec["seed"], spec["image"])
        o = self.options
        if req.image:
            still = self._stills[req.image]
        else:
            still = await asyncio.to_thread(render_card, req.prompt, seed=req.seed, width=req.width - req.width % 2, height=req.height - req.height % 2)
        motion = pick_motion(req, o.motion)
        return await asyncio.to_thread(render_clip, still, motion=motion, width=req.width, height=req.height, seconds=req.seconds, fps=o.fps, strength=o.strength)

    @staticmethod
    def _spec(job: str) -> dict | None:
        if not job.startswith("proc_"):
            return None
        try:
            spec = json.loads(base64.urlsafe_b64decode(job[5:].encode()))
        except (ValueError, TypeError):
            return None
        return spec if isinstance(spec, dict) and {"prompt", "seconds", "width", "height", "seed", "image"} <= set(spec) else None
