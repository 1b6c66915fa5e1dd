"""The one place that knows ffmpeg: finding it, running it, and building its argv.

Owns the executable lookup, the async runner (:func:`run_ffmpeg`: errors as
:class:`~vidflow.errors.FFmpegError`, no orphan process on cancel) and the pure builders for a
scene segment and the final assembly, golden-tested without running anything. What a scene
contains and when things happen is decided in ``timeline``; the ASS text in ``subtitles``;
file handling in ``compose``. Builders return the arguments *after* the executable and the
common flags that :func:`run_ffmpeg` adds.

ffmpeg facts relied on (imageio-ffmpeg's n9.0.2 build): a still is decoded once and repeated by
the ``loop`` filter (``-loop 1`` decodes it every frame, ~3x slower); ``-filter_complex_script``
is gone, a graph in a file is ``-/filter_complex FILE``; libass needs ``fontsdir``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
from collections.abc import Sequence

from ..errors import FFmpegError
from .timeline import CharacterLook, LineClip, SceneTimeline, VideoSettings, round_half_up

__all__ = [
    "COMMON_FLAGS",
    "audio_argv",
    "mux_argv",
    "assemble_filtergraph",
    "concat_list",
    "ffmpeg_exe",
    "filter_escape",
    "path_arg",
    "run_ffmpeg",
    "segment_argv",
    "segment_filtergraph",
]

#: Flags every run gets: quiet, never prompt, never read stdin, overwrite outputs.
COMMON_FLAGS = ("-hide_banner", "-nostdin", "-y", "-loglevel", "error")
_STDERR_TAIL = 40
SPRITE_WIDTH = 0.40  # of the frame width
SPRITE_MARGIN_X = 0.04  # left sprite's left edge / right sprite's right edge from the border
SPRITE_BOTTOM = 0.97  # sprite bottom edge, of the frame height
PathLike = str | os.PathLike[str]


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary from imageio-ffmpeg (env ``IMAGEIO_FFMPEG_EXE`` overrides).

    Imported lazily so that importing vidflow never looks for a binary; cached after the first
    call (``ffmpeg_exe.cache_clear()`` resets it).
    """
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


async def run_ffmpeg(argv: Sequence[str]) -> str:
    """Run ``ffmpeg COMMON_FLAGS *argv`` and return its stderr (warnings, usually empty).

    The process inherits the current environment. Raises :class:`FFmpegError` (full argv,
    return code, last 40 stderr lines) on a non-zero exit. If the awaiting task is cancelled
    (Ctrl-C), the process is killed and reaped before the cancellation propagates.
    """
    full = [ffmpeg_exe(), *COMMON_FLAGS, *argv]
    proc = await asyncio.create_subprocess_exec(
        *full,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await proc.communicate()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        raise
    text = err.decode("utf-8", "replace")
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-_STDERR_TAIL:])
        raise FFmpegError(full, proc.returncode or -1, tail)
    return text


# --------------------------------------------------------------------------- escaping


def filter_escape(value: str) -> str:
    """Escape a string (a path) for use as an option value inside a filtergraph.

    Two parsers read it: the option parser (``key=value:key=value``), then the graph parser
    (``,`` ``;`` ``[`` ``]`` separate filters), each taking ``\\`` escapes and quotes.
    """
    value = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", value)


def concat_list(paths: Sequence[PathLike]) -> str:
    """The concat demuxer's list file for ``paths`` (use absolute paths and ``-safe 0``)."""
    lines = ["ffconcat version 1.0"]
    for p in paths:
        lines.append("file '" + os.fspath(p).replace("'", "'\\''") + "'")
    return "\n".join(lines) + "\n"


def path_arg(path: PathLike) -> str:
    """A file path as an ffmpeg input/output argument.

    A relative path gets ``./`` so that ``a:b.png`` is not read as protocol ``a`` and
    ``-x.png`` not as an option.
    """
    p = os.fspath(path)
    return p if os.path.isabs(p) else os.path.join(".", p)


def _num(x: float) -> str:
    return f"{x:.3f}"


def _still_chain(s: VideoSettings, frames: int) -> str:
    """Filters turning one decoded still into ``frames`` frames at ``s.fps``."""
    w, h, fps = s.width, s.height, s.fps
    fit = f"scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h}"
    if s.zoom <= 0:
        return f"{fit},loop=loop=-1:size=1,settb=1/{fps},setpts=N"
    # Ken Burns: zoom from 1 to 1+zoom around the centre; zoompan makes every frame from the one
    # decoded still (d=frames). Its crop is whole pixels: measured jitter <= 0.3 px at 1080x1920
    # (a 2x pre-scale halves that but doubles the cost).
    z = f"1+{s.zoom:g}*on/{max(1, frames - 1)}"
    return (
        f"{fit},zoompan=z='{z}':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2'"
        f":d={frames}:s={w}x{h}:fps={fps},settb=1/{fps},setpts=N"
    )


def _sprite_inputs(
    lines: Sequence[LineClip], cast: Sequence[CharacterLook], tl: SceneTimeline
) -> list[tuple[str, CharacterLook, str | None]]:
    """(sprite path, look, enable expression or None = always) per overlay, in cast order."""
    out: list[tuple[str, CharacterLook, str | None]] = []
    for look in cast:
        spans = [
            f"between(t,{_num(a)},{_num(b)})"
            for line, a, b in zip(lines, tl.starts, tl.ends)
            if line.speaker == look.name
        ]
        if not spans:
            out.append((look.hearing, look, None))
            continue
        speaking = "+".join(spans)
        out.append((look.telling, look, speaking))
        out.append((look.hearing, look, f"not({speaking})"))
    return out


def segment_filtergraph(
    lines: Sequence[LineClip],
    cast: Sequence[CharacterLook],
    s: VideoSettings,
    tl: SceneTimeline,
    ass_path: PathLike | None,
    fonts_dir: PathLike,
) -> str:
    """The ``-filter_complex`` of a segment; input 0 is the still, then one per sprite.

    Output label ``[out]``: yuv420p frames, the still with sprites and burned-in subtitles.
    """
    w, h, fps = s.width, s.height, s.fps
    chains = [f"[0:v]{_still_chain(s, tl.frames)}[bg]"]
    sprite_w = round_half_up(w * SPRITE_WIDTH)
    margin = round_half_up(w * SPRITE_MARGIN_X)
    bottom = round_half_up(h * SPRITE_BOTTOM)
    last = "bg"
    for i, (_, look, enable) in enumerate(_sprite_inputs(lines, cast, tl), start=1):
        chains.append(
            f"[{i}:v]scale={sprite_w}:-1,loop=loop=-1:size=1,settb=1/{fps},setpts=N[s{i}]"
        )
        x = str(margin) if look.side == "left" else f"{w - margin}-w"
        when = f":enable='{enable}'" if enable else ""
        chains.append(f"[{last}][s{i}]overlay=x={x}:y={bottom}-h{when}[v{i}]")
        last = f"v{i}"
    tail = []
    if ass_path is not None:
        tail.append(
            f"ass=filename={filter_escape(os.fspath(ass_path))}"
            f":fontsdir={filter_escape(os.fspath(fonts_dir))}"
        )
    tail.append("format=yuv420p")
    chains.append(f"[{last}]{','.join(tail)}[out]")
    return ";".join(chains)


def segment_argv(
    image_path: PathLike,
    lines: Sequence[LineClip],
    cast: Sequence[CharacterLook],
    s: VideoSettings,
    tl: SceneTimeline,
    out_path: PathLike,
    *,
    ass_path: PathLike | None,
    fonts_dir: PathLike,
) -> list[str]:
    """argv (after the common flags) encoding one scene as a video-only h264 mp4 of exactly
    ``tl.frames`` frames. The output format is forced to mp4, so ``out_path`` may be a temp name.
    """
    inputs = ["-i", path_arg(image_path)]
    for sprite, _, _ in _sprite_inputs(lines, cast, tl):
        inputs += ["-i", path_arg(sprite)]
    graph = segment_filtergraph(lines, cast, s, tl, ass_path, fonts_dir)
    return [
        *inputs,
        "-filter_complex", graph,
        "-map", "[out]",
        "-frames:v", str(tl.frames),
        "-r", str(s.fps),
        "-c:v", "libx264",
        *(["-threads:v", str(s.threads)] if s.threads > 0 else []),
        "-preset", s.preset,
        "-crf", str(s.crf),
        "-pix_fmt", "yuv420p",
        "-an",
        "-f", "mp4",
        path_arg(out_path),
    ]


# --------------------------------------------------------------------------- assembly


def assemble_filtergraph(pieces: Sequence[tuple[PathLike | None, int]], s: VideoSettings, *, first_input: int = 0) -> str:
    """The audio graph of the assembly: one ``(audio file or None, samples)`` per piece.

    Files are inputs ``first_input``, +1, ... in order; each is resampled to mono s16
    at ``s.audio_rate`` and padded/trimmed to exactly its samples. ``None`` is silence (a scene
    without lines). Output label ``[aout]``.
    """
    fmt = "aformat=sample_fmts=s16:channel_layouts=mono"
    chains, labels, n_in = [], [], first_input - 1
    for i, (path, n) in enumerate(pieces):
        if path is None:
            src = f"anullsrc=r={s.audio_rate}:cl=mono,{fmt}"
        else:
            n_in += 1
            src = f"[{n_in}:a]aresample={s.audio_rate},{fmt}"
        chains.append(f"{src},apad=whole_len={n},atrim=end_sample={n}[a{i}]")
        labels.append(f"[a{i}]")
    chains.append(f"{''.join(labels)}concat=n={len(pieces)}:v=0:a=1[aout]")
    return ";".join(chains)


def audio_argv(pieces: Sequence[tuple[PathLike | None, int]], s: VideoSettings, out_path: PathLike, *, graph: str, graph_path: PathLike | None = None) -> list[str]:
    """argv encoding the whole audio track once (aac in mp4) from ``pieces``.

    ``graph`` is :func:`assemble_filtergraph` with ``first_input=0`` (no video input).
    """
    argv: list[str] = []
    for path, _ in pieces:
        if path is not None:
            argv += ["-i", path_arg(path)]
    argv += ["-filter_complex", graph] if graph_path is None else ["-/filter_complex", os.fspath(graph_path)]
    return [*argv, "-map", "[aout]", "-c:a", "aac", "-b:a", s.audio_bitrate, "-ar", str(s.audio_rate), "-f", "mp4", path_arg(out_path)]


def mux_argv(list_path: PathLike, audio_path: PathLike, out_path: PathLike) -> list[str]:
    """argv joining the segments of ``list_path`` and the finished audio track, both copied."""
    return [
        "-f", "concat", "-safe", "0", "-i", path_arg(list_path),
        "-i", path_arg(audio_path),
        "-map", "0:v:0", "-map", "1:a:0",
        "-c", "copy",
        "-movflags", "+faststart",
        "-f", "mp4",
        path_arg(out_path),
    ]
