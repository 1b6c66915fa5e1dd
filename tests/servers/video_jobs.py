"""What the video loopback servers share: long-running jobs, the controls tests use, a real clip.

A video vendor takes a prompt, answers at once with a job id, and the client polls until the job
is done, then downloads the clip. :class:`VideoJobs` is that vendor's memory, independent of the
wire protocol (``video_openai.py``: OpenAI-style ``/v1/videos``; ``video_gemini.py``: Gemini Veo
``:predictLongRunning`` + operations). Job progress is counted in **polls**, not seconds, so tests
are deterministic on a busy machine:

* a job answers ``queued`` to its first poll, ``in_progress`` until its ``polls_to_complete``-th
  poll, then ``completed`` (or ``failed`` with a reason, when its prompt contains a key of
  ``fail_when``); ``hold()`` keeps every job in progress until ``release()``;
* ``poll_faults(Reply, ...)``: the next status requests get these replies (429 with Retry-After,
  500...) instead of the job's state;
* ``forget()``: the server no longer knows a job (a 404, as for an expired one);
* ``submits`` counts submits per prompt, ``polls`` status requests per job id.

:func:`sample_clip` is a tiny real H.264 + AAC MP4 made once per process with ffmpeg.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
import threading
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

from .base import Reply

__all__ = ["Job", "VideoJobs", "sample_clip"]


@functools.lru_cache(maxsize=8)
def sample_clip(seconds: float = 2.0, width: int = 96, height: int = 160, audio: bool = True) -> bytes:
    """A real MP4 (H.264, 16 fps, with a quiet AAC tone unless ``audio`` is False), cached per process."""
    import imageio_ffmpeg

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        cmd = [
            imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=16:duration={seconds}",
        ]  # fmt: skip
        if audio:
            cmd += ["-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=22050:duration={seconds}", "-c:a", "aac", "-b:a", "32k"]
        cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest", "-movflags", "+faststart", str(out)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        return out.read_bytes()


@dataclass
class Job:
    id: str
    prompt: str
    model: str
    seconds: int
    size: str
    image: bytes | None = None
    polls: int = 0
    state: str = "queued"
    error: str = ""
    progress: int = 0


class VideoJobs:
    """The vendor's jobs and the test controls (mixed into a LoopbackServer subclass)."""

    def init_jobs(self, *, polls_to_complete: int = 3, fail_when: dict[str, str] | None = None, clip: bytes | None = None) -> None:
        self.polls_to_complete = polls_to_complete
        self.fail_when = dict(fail_when or {})  # prompt substring -> the vendor's reason
        self.clip = clip  # what a finished job serves (default: sample_clip())
        self.jobs: dict[str, Job] = {}
        self.submits: Counter = Counter()  # prompt -> submits
        self.polls: Counter = Counter()  # job id -> status requests answered with its state
        self.downloads: Counter = Counter()  # job id -> content downloads
        self._held = False
        self._faults: deque[Reply] = deque()
        self._jobs_lock = threading.Lock()

    # ----- controls ---------------------------------------------------------------------------
    def hold(self) -> None:
        """Keep every job in progress (however often it is polled) until :meth:`release`."""
        self._held = True

    def release(self) -> None:
        self._held = False

    def poll_faults(self, *replies: Reply) -> None:
        """The next ``len(replies)`` status requests get these replies instead of the job's state."""
        with self._jobs_lock:
            self._faults.extend(replies)

    def forget(self, job_id: str | None = None) -> None:
        """Forget one job (or all): its status and content answer 404 from now on."""
        with self._jobs_lock:
            if job_id is None:
                self.jobs.clear()
            else:
                self.jobs.pop(job_id, None)

    def submitted(self) -> int:
        return sum(self.submits.values())

    # ----- for the protocol classes ------------------------------------------------------------
    def new_job(self, job_id: str, *, prompt: str, model: str, seconds: int, size: str, image: bytes | None) -> Job:
        job = Job(job_id, prompt, model, seconds, size, image)
        with self._jobs_lock:
            self.jobs[job_id] = job
            self.submits[prompt] += 1
        return job

    def next_fault(self) -> Reply | None:
        with self._jobs_lock:
            return self._faults.popleft() if self._faults else None

    def poll(self, job_id: str) -> Job | None:
        """Advance a job by one poll (None if unknown)."""
        with self._jobs_lock:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            job.polls += 1
            self.polls[job_id] += 1
            if job.state in ("completed", "failed"):
                return job
            if job.polls >= self.polls_to_complete and not self._held:
                reason = next((r for k, r in self.fail_when.items() if k in job.prompt), None)
                job.state, job.error = ("failed", reason) if reason is not None else ("completed", "")
                job.progress = 100 if reason is None else job.progress
            else:
                job.state = "queued" if job.polls <= 1 else "in_progress"
                job.progress = min(95, job.polls * 100 // max(1, self.polls_to_complete))
            return job

    def content(self, job_id: str) -> bytes | None:
        """A finished job's clip (None if the job is unknown or not completed)."""
        with self._jobs_lock:
            job = self.jobs.get(job_id)
            if job is None or job.state != "completed":
                return None
            self.downloads[job_id] += 1
        return self.clip if self.clip is not None else sample_clip()
