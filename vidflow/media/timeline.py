"""What a scene is made of, and when everything in it happens.

Owns the records that cross the media layer (:class:`VideoSettings`, :class:`CharacterLook`,
:class:`LineClip`, :class:`SceneTimeline`) and the frame/sample arithmetic of a scene. Pure: no
ffmpeg, no file access. ``subtitles``, ``ffmpeg`` (argv builders) and ``compose`` all read the
same :class:`SceneTimeline`, so video, subtitles and audio agree to the frame and the sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from ..errors import MediaError

__all__ = [
    "CharacterLook",
    "LineClip",
    "SceneTimeline",
    "VideoSettings",
    "round_half_up",
    "scene_timeline",
]

SubtitleMode = Literal["karaoke", "plain", "none"]
Side = Literal["left", "right"]


def round_half_up(x: float) -> int:
    """Round to the nearest integer, halves up, forgiving float noise (1.05*30 -> 32).

    ``round()`` rounds halves to even and ``31.499999999999996`` down; inputs here are decimal
    seconds, so both would surprise whoever wrote them.
    """
    return math.floor(x + 0.5 + 1e-7)


@dataclass(frozen=True)
class VideoSettings:
    """How a video is rendered.

    ``font_size`` is in pixels of a 1920-pixel-high frame and scales with ``height``, so a small
    preview has the same layout as the full-size video. ``audio_rate`` must be a multiple of
    ``fps`` so a frame holds a whole number of samples (48000/30 = 1600).
    """

    width: int = 1080
    height: int = 1920
    fps: int = 30
    pause: float = 0.3
    crf: int = 23
    preset: str = "veryfast"
    zoom: float = 0.0
    subtitles: SubtitleMode = "karaoke"
    font_size: int = 72
    audio_rate: int = 48000
    audio_bitrate: str = "128k"
    # x264 threads per segment (0: ffmpeg's choice). Segments are encoded several at once, so
    # the engine sets cpu_count // parallel segments; output bytes do not depend on it.
    threads: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.width <= 0 or self.height <= 0 or self.width % 2 or self.height % 2:
            problems.append(f"width and height must be positive and even (yuv420p), "
                            f"got {self.width}x{self.height}")
        if self.fps <= 0:
            problems.append(f"fps must be positive, got {self.fps}")
        elif self.audio_rate <= 0 or self.audio_rate % self.fps:
            problems.append(f"audio_rate ({self.audio_rate}) must be a multiple of fps "
                            f"({self.fps}) so every frame holds whole samples")
        if not (self.pause >= 0 and math.isfinite(self.pause)):
            problems.append(f"pause must be >= 0, got {self.pause}")
        if not (0 <= self.zoom <= 1):
            problems.append(f"zoom must be between 0 and 1, got {self.zoom}")
        if self.subtitles not in ("karaoke", "plain", "none"):
            problems.append(f"subtitles must be karaoke, plain or none, got {self.subtitles!r}")
        if self.font_size <= 0:
            problems.append(f"font_size must be positive, got {self.font_size}")
        if problems:
            raise MediaError("invalid video settings: " + "; ".join(problems))

    @property
    def samples_per_frame(self) -> int:
        """Audio samples in one video frame (exact, see the class docstring)."""
        return self.audio_rate // self.fps


@dataclass(frozen=True)
class CharacterLook:
    """How a character looks on screen: subtitle colour ``#RRGGBB``, side, and two RGBA
    sprite PNGs (``telling`` while its line plays, ``hearing`` otherwise)."""

    name: str
    colour: str
    side: Side
    telling: str
    hearing: str


class WordTiming(Protocol):
    """One spoken word, as speech providers time it (``providers.base.WordTiming`` fits).

    The media layer needs only these attributes, so it does not import the providers layer.
    """

    word: str
    start: float
    end: float
    char_start: int
    char_end: int


@dataclass(frozen=True)
class LineClip:
    """One spoken line: who says it, its text, its audio file, the audio's exact duration in
    seconds and its word timings (char spans index ``text``)."""

    speaker: str
    text: str
    audio_path: str
    duration: float
    words: tuple[WordTiming, ...] = ()


@dataclass(frozen=True)
class SceneTimeline:
    """When the lines of one scene play, relative to the scene start.

    ``starts[i]``/``ends[i]``: line i's audio, in seconds. ``frames``: the scene's length in
    whole frames; ``duration = frames / fps``. ``slot_samples[i]``: samples of line i's slot
    (audio plus pause) at ``audio_rate``; they sum to ``frames * audio_rate / fps`` exactly.
    """

    starts: tuple[float, ...]
    ends: tuple[float, ...]
    frames: int
    duration: float
    slot_samples: tuple[int, ...]


def scene_timeline(durations: Sequence[float], s: VideoSettings) -> SceneTimeline:
    """Lay the lines of a scene end to end, each followed by ``s.pause``.

    The scene lasts ``round(total * fps)`` frames (at least 1); the last line's pause absorbs
    the rounding. If that rounding would cut into the last line's audio (a pause shorter than
    half a frame), the scene gets one more frame instead. Sample slots are cut at
    ``round(start * audio_rate)``, so audio never drifts from the video, and the last slot
    takes what is left.
    """
    starts: list[float] = []
    t = 0.0
    for d in durations:
        if not (d >= 0 and math.isfinite(d)):
            raise MediaError(f"a line's audio duration must be a finite number >= 0, got {d}")
        starts.append(t)
        t += d + s.pause
    ends = [st + d for st, d in zip(starts, durations)]
    frames = max(1, round_half_up(t * s.fps))
    if ends:
        frames = max(frames, math.ceil(ends[-1] * s.fps - 1e-7))
    total_samples = frames * s.samples_per_frame
    cuts = [min(round_half_up(st * s.audio_rate), total_samples) for st in starts]
    cuts.append(total_samples)
    slots = tuple(b - a for a, b in zip(cuts, cuts[1:]))
    return SceneTimeline(
        starts=tuple(starts),
        ends=tuple(ends),
        frames=frames,
        duration=frames / s.fps,
        slot_samples=slots,
    )
