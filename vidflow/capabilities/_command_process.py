"""Running a local step's program, and reading what it made (the ``command`` capability's work).

* :func:`run_program`: the program in its own process group, in the step's folder, with an
  explicit environment (:func:`environment`), stdout and stderr in files, killed on timeout;
* :func:`describe`: an output checked and measured (image sizes; video and audio probed);
* :func:`media_ext`: the file extension of an output's media type.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any, Mapping

from ..errors import VidflowError

__all__ = ["BASE_ENV", "StepCommandError", "describe", "environment", "media_ext", "primary", "run_program", "tail"]

STDERR_LINES = 15
_EXTS = {
    "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif", "image/svg+xml": "svg",
    "video/mp4": "mp4", "video/webm": "webm", "video/quicktime": "mov", "video/x-matroska": "mkv",
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/mp4": "m4a", "audio/ogg": "ogg", "audio/flac": "flac",
    "text/plain": "txt", "text/markdown": "md", "text/csv": "csv", "application/json": "json", "text/vtt": "vtt",
    "application/x-subrip": "srt", "application/octet-stream": "bin",
}  # fmt: skip
#: Variables every local step gets from vidflow's environment (not secrets; not in the key).
BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")

class StepCommandError(VidflowError):
    """A local step failed: its program exited non-zero, timed out, or left an output out."""


def media_ext(media_type: str) -> str | None:
    """The file extension of an output's media type (None: not one vidflow knows)."""
    if media_type in _EXTS:
        return _EXTS[media_type]
    import mimetypes

    ext = mimetypes.guess_extension(media_type, strict=False)
    return ext.lstrip(".") if ext else None


def environment(spec: Any, rendered: dict[str, str], rt: Any, workdir: str) -> dict[str, str]:
    source = rt.settings.env or {}
    env = {k: source[k] for k in BASE_ENV if source.get(k)}
    env.setdefault("PATH", os.defpath)
    env.update(TMPDIR=os.path.join(workdir, "tmp"), VIDFLOW_RECIPE_DIR=str(rt.loaded.base_dir.resolve()))
    missing = [n for n in spec.pass_env if n not in source]
    if missing:
        raise StepCommandError(f"`pass_env` names {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not set in vidflow's environment; set {'it' if len(missing) == 1 else 'them'} or remove {'it' if len(missing) == 1 else 'them'} from `pass_env`")
    env.update({n: source[n] for n in spec.pass_env})
    env.update(rendered)
    return env


async def run_program(argv: list[str], cwd: str, env: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """Run a program in its own process group; (exit code or None on timeout, stderr tail).

    stdout and stderr go to files in the step's folder (a pipe nobody reads could fill up and
    stall the program). On a timeout or a cancelled run the whole group is killed.
    """
    with open(os.path.join(cwd, "stdout.log"), "wb") as out, open(os.path.join(cwd, "stderr.log"), "wb") as err:
        proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        try:
            code: int | None = await asyncio.wait_for(proc.wait(), timeout)
        except BaseException as e:
            if proc.returncode is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            await proc.wait()
            if not isinstance(e, asyncio.TimeoutError):
                raise
            code = None
    return code, _last_lines(os.path.join(cwd, "stderr.log")) or _last_lines(os.path.join(cwd, "stdout.log"))


def _last_lines(path: str, n: int = STDERR_LINES) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 16_384))
        text = f.read().decode("utf-8", "replace")
    return "\n".join(line.rstrip() for line in text.strip().splitlines()[-n:])


def tail(text: str) -> str:
    return "; last lines of its output:\n" + "\n".join(f"  | {line}" for line in text.splitlines()) if text else "; it printed nothing"


def describe(path: str, media_type: str, what: str) -> dict[str, Any]:
    """What downstream steps need to know of an output (sizes, duration); checks it is what its
    media type says for images, video and audio."""
    kind = media_type.split("/")[0]
    out: dict[str, Any] = {"media_type": media_type, "bytes": os.path.getsize(path)}
    if kind == "image" and media_type != "image/svg+xml":
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                out.update(width=int(im.width), height=int(im.height))
        except (UnidentifiedImageError, OSError) as e:
            raise StepCommandError(f"{what} is not a readable {media_type} image: {e}") from None
    elif kind in ("video", "audio"):
        from ..media.probe import probe

        try:
            info = probe(path)
        except VidflowError as e:
            raise StepCommandError(f"{what} is not a readable {media_type} file: {e}") from None
        streams = info.of_type(kind)  # type: ignore[arg-type]
        if not streams or info.duration <= 0:
            raise StepCommandError(f"{what} has no {kind} stream or no duration ({out['bytes']} bytes)")
        out["duration"] = float(info.duration)
        if kind == "video":
            v = streams[0]
            out.update(width=int(v.width or 0), height=int(v.height or 0), fps=float(v.fps or 0.0), has_audio=bool(info.of_type("audio")))
    elif kind == "text" or media_type == "application/json":
        if out["bytes"] <= 65_536:  # small text is readable by later templates
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            if media_type == "application/json":
                try:
                    out["data"] = json.loads(text)
                except json.JSONDecodeError as e:
                    raise StepCommandError(f"{what} is not JSON: {e}") from None
            else:
                out["text"] = text
    return out


def primary(described: Mapping[str, dict], declared: Mapping[str, str]) -> dict[str, Any]:
    """The picture a scene would take from this step (the ``video`` output, else ``image``,
    else the first image or video output by name), its sizes at the top of the value."""
    order = ["video", "image", *sorted(declared)]
    name = next((n for n in order if n in declared and declared[n].split("/")[0] in ("video", "image")), None)
    if name is None:
        return {}
    d = described[name]
    return {k: d[k] for k in ("width", "height", "duration", "fps", "has_audio") if k in d}
