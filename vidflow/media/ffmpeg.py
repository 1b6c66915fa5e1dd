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
from dataclasses import dataclass

from ..errors import FFmpegError, MediaError
from .layout import ArtFit, Layout, fit_art, motion_window
from .timeline import CharacterLook, LineClip, SceneTimeline, VideoSettings, Visual, round_half_up

__all__ = [
    "COMMON_FLAGS",
    "Previous",
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


@dataclass(frozen=True)
class Previous:
    """The picture a crossfade starts from: the previous scene's visual, its scene number (the
    direction of its motion) and its length in frames (where a clip stopped)."""

    visual: Visual
    scene: int
    frames: int


def _fit_chain(v: Visual, s: VideoSettings, p: str = "f") -> tuple[str, ArtFit]:
    """Filters scaling a picture to fill the frame (see ``layout.fit_art``); input one stream.
    ``p`` prefixes the labels of the blurred fill (unique per graph)."""
    w, h = s.width, s.height
    fit = fit_art(v.width, v.height, w, h, v.keep)
    (sw, sh), (ox, oy) = fit.size, fit.offset
    if fit.mode == "cover":
        return f"scale={sw}:{sh},setsar=1,crop={w}:{h}:{ox}:{oy},format=yuv420p", fit
    cover = fit_art(v.width, v.height, w, h, (0.5, 0.5, 0.5, 0.5))
    (cw, ch), (cx, cy) = cover.size, cover.offset
    bw, bh = max(2, w // 8), max(2, h // 8)
    # the blurred fill is made small and scaled up: a large blur at full size costs far more
    return (
        f"split[{p}a][{p}b];[{p}a]scale={cw}:{ch},crop={w}:{h}:{cx}:{cy},scale={bw}:{bh},"
        f"boxblur=4:2,scale={w}:{h},setsar=1,eq=brightness=-0.12[{p}bg];"
        f"[{p}b]scale={sw}:{sh},setsar=1[{p}fg];[{p}bg][{p}fg]overlay={ox}:{oy},format=yuv420p"
    ), fit


def _motion_chain(s: VideoSettings, fit: ArtFit, frames: int, scene: int) -> str:
    """One decoded still -> ``frames`` frames: a slow zoom/pan (zoompan, which makes every frame
    from the one still) or, without motion, the ``loop`` filter (the still is decoded once)."""
    fps = s.fps
    if s.zoom <= 0 and s.pan <= 0:
        return f"loop=loop=-1:size=1,settb=1/{fps},setpts=N"
    end = motion_window(s.width, s.height, fit.keep, s.zoom, s.pan, scene)
    n = max(1, frames - 1)
    # the visible window goes linearly from the whole frame to `end`; zoompan crops whole
    # pixels (measured jitter <= 0.3 px at 1080x1920; a 2x pre-scale halves it, costs 2x)
    z = f"{s.width}/({s.width}-on/{n}*{s.width - end.w})"
    return (
        f"zoompan=z='{z}':x='on/{n}*{end.x}':y='on/{n}*{end.y}'"
        f":d={frames}:s={s.width}x{s.height}:fps={fps},settb=1/{fps},setpts=N"
    )


def _clip_chain(v: Visual, s: VideoSettings, frames: int) -> str:
    """A clip's frames at ``s.fps``, slowed when its plan says so; the last frame is held if
    the clip runs out early (``-frames:v`` stops the output at ``frames``)."""
    mode, k = v.clip_plan(frames / s.fps)
    slow = f"setpts={k:.6f}*(PTS-STARTPTS)," if mode == "slow" else "setpts=PTS-STARTPTS,"
    return f"{slow}fps={s.fps},tpad=stop_mode=clone:stop=-1"


def _visual_inputs(v: Visual, frames: int, s: VideoSettings) -> list[str]:
    if v.kind == "clip" and v.clip_plan(frames / s.fps)[0] == "loop":
        return ["-stream_loop", "-1", "-i", path_arg(v.path)]
    return ["-i", path_arg(v.path)]


def _previous_inputs(p: Previous, s: VideoSettings) -> list[str]:
    if p.visual.kind == "clip":
        t = p.visual.source_time(p.frames / s.fps, max(0.0, (p.frames - 1) / s.fps))
        return ["-ss", _num(t), "-i", path_arg(p.visual.path)]
    return ["-i", path_arg(p.visual.path)]


def _previous_chain(p: Previous, s: VideoSettings, label: int) -> str:
    """The previous scene's last picture, fading out over ``transition_seconds``."""
    w, h, fps = s.width, s.height, s.fps
    fit_filters, fit = _fit_chain(p.visual, s, "p")
    last = f"[{label}:v]trim=end_frame=1,{fit_filters}"
    if p.visual.kind == "still" and (s.zoom > 0 or s.pan > 0):
        end = motion_window(w, h, fit.keep, s.zoom, s.pan, p.scene)
        last += f",crop={end.w}:{end.h}:{end.x}:{end.y},scale={w}:{h},setsar=1"
    n = max(1, round_half_up(s.transition_seconds * fps))
    return (
        f"{last},loop=loop={n}:size=1,settb=1/{fps},setpts=N,format=yuva420p,"
        f"fade=t=out:st=0:d={_num(n / fps)}:alpha=1[prev]"
    )


def _sprite_inputs(
    lines: Sequence[LineClip], cast: Sequence[CharacterLook], tl: SceneTimeline
) -> list[tuple[str, CharacterLook, str | None, bool]]:
    """(sprite path, look, enable expression or None = always, telling) per overlay, in cast
    order; narrators (no sprites) have none."""
    out: list[tuple[str, CharacterLook, str | None, bool]] = []
    for look in cast:
        if not look.drawn:
            continue
        spans = [
            f"between(t,{_num(a)},{_num(b)})"
            for line, a, b in zip(lines, tl.starts, tl.ends)
            if line.speaker == look.name
        ]
        if not spans:
            out.append((look.hearing, look, None, False))  # type: ignore[arg-type]
            continue
        speaking = "+".join(spans)
        out.append((look.telling, look, speaking, True))  # type: ignore[arg-type]
        out.append((look.hearing, look, f"not({speaking})", False))  # type: ignore[arg-type]
    return out


def segment_filtergraph(
    visual: Visual,
    lines: Sequence[LineClip],
    cast: Sequence[CharacterLook],
    s: VideoSettings,
    tl: SceneTimeline,
    lay: Layout,
    ass_path: PathLike | None,
    fonts_dir: PathLike,
    *,
    scene: int = 0,
    previous: Previous | None = None,
) -> str:
    """The ``-filter_complex`` of a segment; input 0 is the visual, then the previous scene's
    visual (with ``previous``), then one per sprite.

    Output label ``[out]``: yuv420p frames, the picture (fitted, moving) with the cast's sprites
    in their layout boxes (the speaker's bobbing by ``s.bob``) and burned-in captions.
    """
    fps = s.fps
    fit_filters, fit = _fit_chain(visual, s)
    if visual.kind == "clip":
        chains = [f"[0:v]{_clip_chain(visual, s, tl.frames)},{fit_filters},settb=1/{fps},setpts=N[bg]"]
    else:
        chains = [f"[0:v]{fit_filters},{_motion_chain(s, fit, tl.frames, scene)}[bg]"]
    last, first = "bg", 1
    if previous is not None:
        chains.append(_previous_chain(previous, s, 1))
        chains.append("[bg][prev]overlay=0:0:eof_action=pass[xf]")
        last, first = "xf", 2
    for i, (_, look, enable, telling) in enumerate(_sprite_inputs(lines, cast, tl), start=first):
        placed = lay.placed(look.name)
        if placed is None:
            raise MediaError(f"no place for {look.name}'s sprite in the layout")
        b = placed.box
        fit_sprite = f"scale={b.w}:{b.h}" if telling else f"scale={b.w}:{b.h}:force_original_aspect_ratio=decrease"
        chains.append(f"[{i}:v]{fit_sprite},format=yuva420p,loop=loop=-1:size=1,settb=1/{fps},setpts=N[s{i}]")
        x = str(b.x) if telling else f"{b.x}+({b.w}-w)/2"
        y = f"{b.bottom}-h"
        if telling and s.bob > 0:
            y += f"-{max(1, round_half_up(s.bob * b.h))}*abs(sin(2*PI*t))"
        when = f":enable='{enable}'" if enable else ""
        chains.append(f"[{last}][s{i}]overlay=x='{x}':y='{y}'{when}[v{i}]")
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
    visual: Visual,
    lines: Sequence[LineClip],
    cast: Sequence[CharacterLook],
    s: VideoSettings,
    tl: SceneTimeline,
    lay: Layout,
    out_path: PathLike,
    *,
    ass_path: PathLike | None,
    fonts_dir: PathLike,
    scene: int = 0,
    previous: Previous | None = None,
    graph_path: PathLike | None = None,
) -> list[str]:
    """argv (after the common flags) encoding one scene as a video-only h264 mp4 of exactly
    ``tl.frames`` frames. The output format is forced to mp4, so ``out_path`` may be a temp name.
    With ``graph_path``, the graph is read from that file (write it first).
    """
    inputs = _visual_inputs(visual, tl.frames, s)
    if previous is not None:
        inputs += _previous_inputs(previous, s)
    for sprite, _, _, _ in _sprite_inputs(lines, cast, tl):
        inputs += ["-i", path_arg(sprite)]
    if graph_path is None:
        graph = segment_filtergraph(visual, lines, cast, s, tl, lay, ass_path, fonts_dir,
                                    scene=scene, previous=previous)
        filt = ["-filter_complex", graph]
    else:
        filt = ["-/filter_complex", os.fspath(graph_path)]
    return [
        *inputs,
        *filt,
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
