"""OpenAI-style video loopback server: the ``/v1/videos`` protocol litellm speaks for openai/azure.

Routes (Bearer auth on all):

- ``POST /v1/videos`` — multipart/form-data (``model``, ``prompt``, ``seconds``, ``size``, optional
  ``input_reference`` file) -> ``{"id": "video_...", "object": "video", "status": "queued", ...}``;
- ``GET /v1/videos/{id}`` — the video object; ``status`` is ``queued | in_progress | completed |
  failed`` (with ``error: {code, message}``), ``progress`` 0..100; unknown ids -> 404;
- ``GET /v1/videos/{id}/content`` — the MP4 bytes of a completed video (404 otherwise).

Jobs advance per poll (see :mod:`tests.servers.video_jobs`). Latency, 429s and 500s come from
:class:`~tests.servers.base.LoopbackServer` (``latency``, ``fail_rate``, ``script``) and
``poll_faults`` (status requests only).
"""

from __future__ import annotations

import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from .base import LoopbackServer, Record, Reply, format_retry_after, new_id
from .video_jobs import Job, VideoJobs

__all__ = ["OpenAIVideoServer"]


class OpenAIVideoServer(VideoJobs, LoopbackServer):
    name = "openai-videos"

    def __init__(self, *, polls_to_complete: int = 3, fail_when: dict[str, str] | None = None, clip: bytes | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.init_jobs(polls_to_complete=polls_to_complete, fail_when=fail_when, clip=clip)

    # ----- hooks -------------------------------------------------------------------------------
    def check_auth(self, rec: Record) -> Reply | None:
        scheme, _, key = rec.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or key.strip() != self.api_key:
            return self.error_reply(401, "invalid_api_key", "Incorrect API key provided.")
        return None

    def error_reply(self, status: int, code: str, message: str, *, retry_after: float | None = None) -> Reply:
        etype = "rate_limit_exceeded" if status == 429 else ("server_error" if status >= 500 else "invalid_request_error")
        headers = {"retry-after": format_retry_after(retry_after)} if retry_after is not None else {}
        return Reply(status, headers, {"error": {"message": message, "type": etype, "param": None, "code": code}})

    def decorate(self, rec: Record, reply: Reply) -> None:
        reply.headers.setdefault("x-request-id", new_id("req_"))

    def route(self, rec: Record) -> Reply:
        parts = rec.path.strip("/").split("/")
        if rec.method == "POST" and parts == ["v1", "videos"]:
            return self._create(rec)
        if rec.method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "videos"]:
            fault = self.next_fault()
            if fault is not None:
                return fault
            job = self.poll(parts[2])
            return self._object(job) if job is not None else self._unknown(parts[2])
        if rec.method == "GET" and len(parts) == 4 and parts[:2] == ["v1", "videos"] and parts[3] == "content":
            data = self.content(parts[2])
            if data is None:
                return self._unknown(parts[2]) if parts[2] not in self.jobs else self.error_reply(400, "video_not_ready", "Video is not ready yet.")
            return Reply(200, {"content-type": "video/mp4"}, data)
        return self.error_reply(404, "unknown_url", f"Invalid URL ({rec.method} {rec.path})")

    # ----- routes ------------------------------------------------------------------------------
    def _create(self, rec: Record) -> Reply:
        ctype = rec.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return self.error_reply(400, "invalid_request", "Expected multipart/form-data.")
        msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + rec.body)
        form: dict[str, Any] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            form[name] = payload if name == "input_reference" else payload.decode()
        if not form.get("prompt") or not form.get("model"):
            return self.error_reply(400, "missing_required_parameter", "`model` and `prompt` are required.")
        try:
            seconds = int(form.get("seconds") or 4)
        except ValueError:
            return self.error_reply(400, "invalid_value", f"Invalid seconds {form.get('seconds')!r}.")
        job = self.new_job(new_id("video_"), prompt=form["prompt"], model=form["model"], seconds=seconds,
                           size=form.get("size") or "720x1280", image=form.get("input_reference"))
        return Reply(200, {}, self._body(job))

    def _body(self, job: Job) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": job.id, "object": "video", "status": job.state, "model": job.model, "progress": job.progress,
            "seconds": str(job.seconds), "size": job.size, "created_at": int(time.time()),
        }  # fmt: skip
        if job.state == "failed":
            body["error"] = {"code": "generation_failed", "message": job.error}
        return body

    def _object(self, job: Job) -> Reply:
        return Reply(200, {}, self._body(job))

    def _unknown(self, job_id: str) -> Reply:
        return self.error_reply(404, "video_not_found", f"Video with id '{job_id}' not found.")
