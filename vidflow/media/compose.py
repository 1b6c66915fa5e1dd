"""Scene segments and the final assembly: the effectful half of the media layer.

Owns running the two ffmpeg steps of a video and checking what they made:

1. :func:`render_segment`: one scene -> a video-only h264 segment of exactly ``frames``
   frames (still or clip, fitted and moving + sprites + burned-in captions). Segments are independent, so they can be
   cached and rendered in parallel.
2. :func:`assemble`: segments joined with the concat demuxer (``-c:v copy``) plus the audio of
   every line built once (aac), so audio and video lengths match by construction.
3. :func:`build_soundtrack`: that audio track with a music bed, ducking and loudness
   normalisation (``audio`` builds the three passes; this module runs them and reads back
   what ``ebur128`` measured).

It writes into ``workdir`` and publishes outputs by rename, so a failed or cancelled run never
leaves a complete-looking file. argv comes from ``ffmpeg``; timing from ``timeline``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import MediaError
from . import audio as _audio
from .audio import AudioMix, Loudness
from .ffmpeg import (
    PathLike,
    Previous,
    assemble_filtergraph,
    audio_argv,
    concat_list,
    mux_argv,
    run_ffmpeg,
    segment_argv,
    segment_filtergraph,
)
from .clipsound import clip_audio_argv, clip_mix_argv
from ..fonts import FontChain, FontFace, default_chain
from .probe import probe
from .subtitles import frame_layout, scene_ass
from .timeline import (
    CARD_KEEP,
    CENTRE_KEEP,
    CharacterLook,
    LineClip,
    SceneTimeline,
    VideoSettings,
    Visual,
    scene_timeline,
)


class GlyphError(MediaError):
    """A caption has characters that no configured font can draw."""

    def __init__(self, text: str, missing: Sequence[str], line: int = 0):
        self.text, self.missing, self.line = text, list(missing), line
        chars = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in self.missing)
        super().__init__(f"no font can draw {chars} in {text[:80]!r}; add a font that has "
                         "them in a `fonts:` folder (CJK: pip install 'vidflow[cjk]')")

__all__ = [
    "AudioMix",
    "CharacterLook",
    "GlyphError",
    "Previous",
    "Visual",
    "check_glyphs",
    "clip_audio",
    "mix_clip_sound",
    "still",
    "LineClip",
    "SceneTimeline",
    "Soundtrack",
    "VideoSettings",
    "assemble",
    "build_audio",
    "build_soundtrack",
    "mux",
    "render_segment",
    "scene_timeline",
]

#: A filtergraph longer than this goes to a file (one argv string may not exceed 128 KiB).
GRAPH_INLINE_MAX = 8000


def _partial(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


async def _publish(argv_for: Callable[[Path], list[str]], out: Path) -> None:
    """Run ffmpeg writing to a temp name, then rename onto ``out``; clean up on any failure."""
    tmp = _partial(out)
    try:
        await run_ffmpeg(argv_for(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


async def _check_duration(path: Path, expected: float, fps: int, what: str) -> None:
    # ffmpeg prints durations in centiseconds: half a frame of slack still catches a lost frame.
    info = await asyncio.to_thread(probe, path)
    if abs(info.duration - expected) > 0.5 / fps + 0.006:
        raise MediaError(f"{what} {path} lasts {info.duration:.3f}s, expected {expected:.3f}s")


def still(path: PathLike, *, caption: bool = True) -> Visual:
    """A still image as a :class:`Visual` (its size read from the file); ``caption``: it shows
    a caption card that fitting must keep (``image.procedural``'s cards do)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, UnidentifiedImageError) as e:
        raise MediaError(f"cannot read image {path}: {e}") from None
    return Visual(os.fspath(path), "still", w, h, keep=CARD_KEEP if caption else CENTRE_KEEP)


def check_glyphs(lines: Sequence[LineClip], chain: FontChain) -> None:
    """Raise :class:`GlyphError` if a line has a character no font of ``chain`` can draw."""
    for i, ln in enumerate(lines):
        missing = chain.missing(ln.text)
        if missing:
            raise GlyphError(ln.text, missing, i)


def used_faces(lines: Sequence[LineClip], chain: FontChain) -> list[FontFace]:
    """The faces the captions of ``lines`` use (the primary face always)."""
    faces = {chain.primary}
    for ln in lines:
        faces.update(f for _, f in chain.runs(ln.text))
    return [f for f in chain.faces if f in faces]


async def render_segment(
    visual: Visual | PathLike,
    lines: Sequence[LineClip],
    cast: Sequence[CharacterLook],
    s: VideoSettings,
    out_path: PathLike,
    workdir: PathLike,
    *,
    chain: FontChain | None = None,
    scene: int = 0,
    previous: Previous | None = None,
) -> SceneTimeline:
    """Encode one scene as a video-only mp4 segment; return its timeline.

    The visual (a still, or a clip trimmed, slowed or looped to the scene) fills the frame as
    ``layout.fit_art`` says, a still moving by ``s.zoom``/``s.pan``. Each drawn character shows
    its ``telling`` sprite while one of its lines plays and ``hearing`` otherwise, in its
    layout box. Captions follow ``s.subtitles`` (ASS written to ``workdir``), in the fonts of
    ``chain`` (default: the bundled chain). ``previous`` crossfades from the previous scene.

    Raises:
        GlyphError: a line has a character no font can draw (nothing is rendered).
        LayoutError: the cast or the captions do not fit the frame.
        FFmpegError: ffmpeg failed (bad image, unreadable sprite, ...).
        MediaError: the segment does not have the expected length.
    """
    v = visual if isinstance(visual, Visual) else await asyncio.to_thread(still, visual)
    chain = chain or default_chain()
    if s.font:
        chain = chain.with_primary(s.font)
    tl = scene_timeline([ln.duration for ln in lines], s)
    out, work = Path(out_path), Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    lay = frame_layout(cast, s)
    ass_path = None
    fonts = work / f"{out.stem}.fonts"
    if s.subtitles != "none" and lines:
        check_glyphs(lines, chain)
        ass_path = work / f"{out.stem}.ass"
        ass_path.write_text(scene_ass(lines, cast, s, tl, lay, chain), encoding="utf-8")
        chain.make_fontsdir(fonts, used_faces(lines, chain))
    graph = segment_filtergraph(v, lines, cast, s, tl, lay, ass_path, fonts, scene=scene, previous=previous)
    graph_path = None
    if len(graph) > GRAPH_INLINE_MAX:
        graph_path = work / f"{out.stem}.fgraph"
        graph_path.write_text(graph, encoding="utf-8")

    def argv(tmp: Path) -> list[str]:
        return segment_argv(v, lines, cast, s, tl, lay, tmp, ass_path=ass_path, fonts_dir=fonts,
                            scene=scene, previous=previous, graph_path=graph_path)

    await _publish(argv, out)
    await _check_duration(out, tl.duration, s.fps, "segment")
    return tl


async def clip_audio(v: Visual, frames: int, s: VideoSettings, out_path: PathLike, workdir: PathLike) -> bool:
    """Write a clip's own sound fitted to its scene (see :func:`clipsound.clip_audio_argv`);
    False (nothing written) when the clip has no sound."""
    info = await asyncio.to_thread(probe, v.path)
    if not info.of_type("audio"):
        return False
    await _publish(lambda tmp: clip_audio_argv(v, frames, s, tmp), Path(out_path))
    return True


async def mix_clip_sound(audio_path: PathLike, pieces: Sequence[tuple[PathLike | None, int]], s: VideoSettings, out_path: PathLike) -> None:
    """Write ``audio_path`` with the clips' own sound mixed under it (see
    :func:`clipsound.clip_mix_argv`; ``pieces``: one (WAV or None, samples) per segment)."""
    await _publish(lambda tmp: clip_mix_argv(audio_path, pieces, s, tmp), Path(out_path))


def _pieces(
    scenes: Sequence[tuple[SceneTimeline, Sequence[LineClip]]], s: VideoSettings
) -> list[tuple[PathLike | None, int]]:
    pieces: list[tuple[PathLike | None, int]] = []
    for tl, lines in scenes:
        if len(lines) != len(tl.slot_samples):
            raise MediaError(
                f"a scene has {len(lines)} lines but its timeline {len(tl.slot_samples)} slots"
            )
        if lines:
            pieces += [(ln.audio_path, n) for ln, n in zip(lines, tl.slot_samples)]
        else:
            pieces.append((None, tl.frames * s.samples_per_frame))
    return pieces


async def build_audio(
    scenes: Sequence[tuple[SceneTimeline, Sequence[LineClip]]],
    s: VideoSettings,
    out_path: PathLike,
    workdir: PathLike,
) -> float:
    """Encode the whole audio track once (aac): every line fills its slot exactly.

    It needs only the lines and their timelines, so it runs while the segments encode.
    Returns the duration, ``sum(frames) / fps``.
    """
    out, work = Path(out_path), Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    pieces = _pieces(scenes, s)
    graph = assemble_filtergraph(pieces, s)
    graph_path = None
    if len(graph) > GRAPH_INLINE_MAX:
        graph_path = work / f"{out.stem}.audio.fgraph"
        graph_path.write_text(graph, encoding="utf-8")
    await _publish(lambda tmp: audio_argv(pieces, s, tmp, graph=graph, graph_path=graph_path), out)
    return sum(tl.frames for tl, _ in scenes) / s.fps


@dataclass(frozen=True)
class Soundtrack:
    """What :func:`build_soundtrack` made: its length and what it measured on the way.

    ``voice``/``music``: pass 1's measurements (``music`` None without a bed); ``mixed``: the
    mix after gain and limiter, before the final correction; ``music_gain``, ``gain``,
    ``correction``: the dB applied to the bed, to the sum, and in the last pass.
    """

    duration: float
    voice: Loudness
    music: Loudness | None
    mixed: Loudness
    music_gain: float | None
    gain: float
    correction: float


def _spans(scenes: Sequence[tuple[SceneTimeline, Sequence[LineClip]]]) -> list[tuple[float, float]]:
    """Every line's (start, end) in seconds from the video's start."""
    out, offset = [], 0.0
    for tl, _ in scenes:
        out += [(offset + a, offset + b) for a, b in zip(tl.starts, tl.ends)]
        offset += tl.duration
    return out


async def build_soundtrack(
    scenes: Sequence[tuple[SceneTimeline, Sequence[LineClip]]],
    s: VideoSettings,
    mix: AudioMix,
    out_path: PathLike,
    workdir: PathLike,
    *,
    music: PathLike | None = None,
) -> Soundtrack:
    """The video's whole audio track: lines in their slots, the bed under them, normalised.

    Three ffmpeg runs (see ``audio``): the voice WAV plus loudness of voice and bed; the mix
    plus its loudness; the correction and the AAC encode. Every pass keeps the sample count,
    so the track lasts ``sum(frames) / fps`` like the video.

    Raises:
        FFmpegError: ffmpeg failed (an unreadable music file, ...).
        MediaError: inputs disagree, or a measurement is missing.
    """
    out, work = Path(out_path), Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    pieces = _pieces(scenes, s)
    samples = sum(n for _, n in pieces)
    music_arg = Path(music).absolute() if music is not None else None
    graph = _audio.voice_filtergraph(pieces, s, music_input=sum(1 for p, _ in pieces if p is not None) if music_arg else None)
    graph_path = None
    if len(graph) > GRAPH_INLINE_MAX:
        graph_path = work / f"{out.stem}.voice.fgraph"
        graph_path.write_text(graph, encoding="utf-8")
    voice_wav = work / f"{out.stem}.voice.wav"
    measured = _audio.parse_loudness(await run_ffmpeg(_audio.voice_argv(pieces, music_arg, voice_wav, graph=graph, graph_path=graph_path)))
    voice, bed = measured["voice"], measured.get("music") if music_arg else None
    music_gain, gain = _audio.gains(mix, voice, bed)
    mix_graph = _audio.mix_filtergraph(samples, s, mix, spans=_spans(scenes), music_gain=music_gain, gain=gain)
    mix_wav = work / f"{out.stem}.mix.wav"
    mixed = _audio.parse_loudness(await run_ffmpeg(_audio.mix_argv(voice_wav, music_arg, mix_wav, graph=mix_graph)))["mix"]
    fix = _audio.correction(mix, mixed)
    await _publish(lambda tmp: _audio.finish_argv(mix_wav, s, mix, tmp, correction=fix), out)
    for p in (voice_wav, mix_wav):
        p.unlink(missing_ok=True)
    duration = sum(tl.frames for tl, _ in scenes) / s.fps
    return Soundtrack(duration, voice, bed, mixed, music_gain, gain, fix)


async def mux(segment_paths: Sequence[PathLike], audio_path: PathLike, duration: float, s: VideoSettings, out_path: PathLike, workdir: PathLike) -> float:
    """Join the segments (``-c copy``) with the finished audio track (``-c copy``), +faststart."""
    if not segment_paths:
        raise MediaError("no segments to join")
    out, work = Path(out_path), Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    list_path = work / f"{out.stem}.concat.txt"
    list_path.write_text(concat_list([Path(p).absolute() for p in segment_paths]), encoding="utf-8")
    await _publish(lambda tmp: mux_argv(list_path, audio_path, tmp), out)
    await _check_duration(out, duration, s.fps, "video")
    return duration


async def assemble(
    segment_paths: Sequence[PathLike],
    scenes: Sequence[tuple[SceneTimeline, Sequence[LineClip]]],
    s: VideoSettings,
    out_path: PathLike,
    workdir: PathLike,
    *,
    mix: AudioMix | None = None,
    music: PathLike | None = None,
) -> float:
    """Join the segments and mux the audio of every line once; return the duration (seconds).

    Without ``mix`` the audio is the lines alone (mono, as recorded); with it,
    :func:`build_soundtrack` (stereo, normalised, ``music`` as its bed).

    ``scenes[i]`` is segment i's timeline and lines, as :func:`render_segment` used them. Each
    line's audio fills its slot exactly (padded with silence or trimmed), so the audio lasts
    ``sum(frames) / fps`` like the video. (:func:`build_audio` then :func:`mux`.)

    Raises:
        FFmpegError: ffmpeg failed.
        MediaError: inputs disagree, or the output does not have the expected length.
    """
    if not segment_paths or len(segment_paths) != len(scenes):
        raise MediaError(
            f"need one timeline per segment, got {len(segment_paths)} segments "
            f"and {len(scenes)} timelines"
        )
    work = Path(workdir)
    audio = work / f"{Path(out_path).stem}.audio.m4a"
    if mix is None:
        duration = await build_audio(scenes, s, audio, work)
    else:
        duration = (await build_soundtrack(scenes, s, mix, audio, work, music=music)).duration
    return await mux(segment_paths, audio, duration, s, out_path, work)
