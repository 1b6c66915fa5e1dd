"""Gemini Veo loopback server: ``:predictLongRunning`` + operations, the protocol litellm speaks for gemini/veo-*.

Routes (``x-goog-api-key`` auth on all):

- ``POST /v1beta/models/{model}:predictLongRunning`` — JSON ``{"instances": [{"prompt", "image"?:
  {"bytesBase64Encoded", "mimeType"}}], "parameters": {"aspectRatio", "durationSeconds",
  "resolution"}}`` -> ``{"name": "models/{model}/operations/{id}"}``;
- ``GET /v1beta/models/{model}/operations/{id}`` — ``{"name", "done": false, "metadata": {...}}``
  while running; when done either ``{"done": true, "response": {"generateVideoResponse":
  {"generatedSamples": [{"video": {"uri": ...}}]}}}`` or ``{"done": true, "error": {"code",
  "message"}}``; unknown operations -> 404 ``NOT_FOUND``;
- ``GET /v1beta/files/{id}:download`` (the sample's ``uri``) — the MP4 bytes.

Errors have Google's shape: ``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

import base64
from typing import Any

from .base import LoopbackServer, Record, Reply, format_retry_after, new_id
from .video_jobs import Job, VideoJobs

__all__ = ["GeminiVideoServer"]

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_SIZES = {("9:16", "720p"): "720x1280", ("16:9", "720p"): "1280x720", ("9:16", "1080p"): "1080x1920", ("16:9", "1080p"): "1920x1080"}


class GeminiVideoServer(VideoJobs, LoopbackServer):
    name = "gemini-veo"
    auth_header = "x-goog-api-key"

    def __init__(self, *, polls_to_complete: int = 3, fail_when: dict[str, str] | None = None, clip: bytes | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.init_jobs(polls_to_complete=polls_to_complete, fail_when=fail_when, clip=clip)

    # ----- hooks -------------------------------------------------------------------------------
    def check_auth(self, rec: Record) -> Reply | None:
        if rec.headers.get("x-goog-api-key", "") != self.api_key:
            return self.error_reply(401 if not rec.headers.get("x-goog-api-key") else 400, "invalid_api_key", "API key not valid. Please pass a valid API key.")
        return None

    def error_reply(self, status: int, code: str, message: str, *, retry_after: float | None = None) -> Reply:
        headers = {"retry-after": format_retry_after(retry_after)} if retry_after is not None else {}
        return Reply(status, headers, {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}})

    def route(self, rec: Record) -> Reply:
        path = rec.path
        if rec.method == "POST" and path.startswith("/v1beta/models/") and path.endswith(":predictLongRunning"):
            return self._create(rec, path[len("/v1beta/models/") : -len(":predictLongRunning")])
        if rec.method == "GET" and path.startswith("/v1beta/models/") and "/operations/" in path:
            fault = self.next_fault()
            if fault is not None:
                return fault
            name = path[len("/v1beta/") :]
            job = self.poll(name)
            return self._operation(job) if job is not None else self._unknown(name)
        if rec.method == "GET" and path.startswith("/v1beta/files/") and path.endswith(":download"):
            name = base64.urlsafe_b64decode(path[len("/v1beta/files/") : -len(":download")].encode()).decode()
            data = self.content(name)
            return Reply(200, {"content-type": "video/mp4"}, data) if data is not None else self._unknown(name)
        return self.error_reply(404, "not_found", f"no route for {rec.method} {path}")

    # ----- routes ------------------------------------------------------------------------------
    def _create(self, rec: Record, model: str) -> Reply:
        body = rec.json if isinstance(rec.json, dict) else {}
        instances = body.get("instances") or [{}]
        inst = instances[0] if isinstance(instances[0], dict) else {}
        params = body.get("parameters") or {}
        if not inst.get("prompt"):
            return self.error_reply(400, "invalid", "instances[0].prompt is required")
        image = inst.get("image")
        data = base64.b64decode(image["bytesBase64Encoded"]) if isinstance(image, dict) and image.get("bytesBase64Encoded") else None
        size = _SIZES.get((params.get("aspectRatio", "16:9"), params.get("resolution", "720p")), "1280x720")
        name = f"models/{model}/operations/{new_id()[:12]}"
        self.new_job(name, prompt=inst["prompt"], model=model, seconds=int(params.get("durationSeconds") or 8), size=size, image=data)
        return Reply(200, {}, {"name": name})

    def _operation(self, job: Job) -> Reply:
        body: dict[str, Any] = {"name": job.id, "done": job.state in ("completed", "failed"), "metadata": {"progressPercent": job.progress}}
        if job.state == "failed":
            body["error"] = {"code": 3, "message": job.error}
        elif job.state == "completed":
            file_id = base64.urlsafe_b64encode(job.id.encode()).decode()
            body["response"] = {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
                "generateVideoResponse": {"generatedSamples": [{"video": {"uri": f"{self.url}/v1beta/files/{file_id}:download?alt=media"}}]},
            }
        return Reply(200, {}, body)

    def _unknown(self, name: str) -> Reply:
        return self.error_reply(404, "not_found", f"Operation {name} not found.")
