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
    "CARD_KEEP",
    "CENTRE_KEEP",
    "CharacterLook",
    "LineClip",
    "SceneTimeline",
    "VideoSettings",
    "Visual",
    "round_half_up",
    "scene_timeline",
]

SubtitleMode = Literal["karaoke", "words", "plain", "none"]
CaptionPosition = Literal["auto", "bottom", "center", "top"]
Transition = Literal["cut", "crossfade"]


def round_half_up(x: float) -> int:
    """Round to the nearest integer, halves up, forgiving float noise (1.05*30 -> 32).

    ``round()`` rounds halves to even and ``31.499999999999996`` down; inputs here are decimal
    seconds, so both would surprise whoever wrote them.
    """
    return math.floor(x + 0.5 + 1e-7)


@dataclass(frozen=True)
class VideoSettings:
    """How a video is rendered.

    ``font_size`` and ``outline`` are in pixels of a 1920-pixel-high frame and scale with
    ``height``, so a small preview has the same layout as the full-size video. ``audio_rate``
    must be a multiple of ``fps`` so a frame holds a whole number of samples (48000/30 = 1600).

    Captions: ``subtitles`` is the style (``karaoke``, ``words``: 1 to ``max_words`` words at a
    time, ``plain``, ``none``), ``font`` a family of the font chain (None: its first),
    ``caption_position`` ``auto`` = ``center`` for ``words``, else ``bottom``. Motion: ``zoom``
    and ``pan`` (fractions of the frame) move stills; ``bob`` (fraction of the sprite's height)
    makes the speaking sprite bob; ``transition: crossfade`` fades each scene in from the
    previous scene's picture over ``transition_seconds``. ``margins`` overrides the safe area
    (top, bottom, left, right fractions). The defaults here are static; recipes default to motion.
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
    font: str | None = None
    outline: float = 6.0
    caption_position: CaptionPosition = "auto"
    max_words: int = 3
    pan: float = 0.0
    bob: float = 0.0
    transition: Transition = "cut"
    transition_seconds: float = 0.4
    margins: tuple[float, float, float, float] | None = None
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
        if self.subtitles not in ("karaoke", "words", "plain", "none"):
            problems.append(f"subtitles must be karaoke, words, plain or none, got {self.subtitles!r}")
        if self.caption_position not in ("auto", "bottom", "center", "top"):
            problems.append(f"caption_position must be auto, bottom, center or top, got {self.caption_position!r}")
        if self.font_size <= 0 or self.outline < 0 or not 1 <= self.max_words <= 12:
            problems.append(f"font_size must be positive, outline >= 0 and max_words 1-12, got "
                            f"{self.font_size}, {self.outline}, {self.max_words}")
        if not (0 <= self.pan <= 0.5 and 0 <= self.bob <= 0.2 and 0 < self.transition_seconds <= 5):
            problems.append(f"pan must be 0-0.5, bob 0-0.2 and transition_seconds 0-5, got "
                            f"{self.pan}, {self.bob}, {self.transition_seconds}")
        if self.transition not in ("cut", "crossfade"):
            problems.append(f"transition must be cut or crossfade, got {self.transition!r}")
        if problems:
            raise MediaError("invalid video settings: " + "; ".join(problems))

    @property
    def samples_per_frame(self) -> int:
        """Audio samples in one video frame (exact, see the class docstring)."""
        return self.audio_rate // self.fps

    @property
    def scale(self) -> float:
        """Pixels of this frame per pixel of the 1920-high reference frame."""
        return self.height / 1920

    @property
    def position(self) -> str:
        """Where captions go: ``caption_position`` with ``auto`` resolved."""
        if self.caption_position != "auto":
            return self.caption_position
        return "center" if self.subtitles == "words" else "bottom"


@dataclass(frozen=True)
class CharacterLook:
    """How a character looks on screen: caption colour ``#RRGGBB``, side preference (``left``,
    ``right``, ``center`` or None) and two RGBA sprite PNGs (``telling`` while its line plays,
    ``hearing`` otherwise). A narrator has no sprites (``telling`` None): never drawn, its lines
    still captioned in its colour. ``size`` is the telling sprite's (width, height) in pixels
    (read from the file when None)."""

    name: str
    colour: str
    side: str | None
    telling: str | None
    hearing: str | None
    size: tuple[int, int] | None = None

    @property
    def drawn(self) -> bool:
        return self.telling is not None and self.hearing is not None


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


CARD_KEEP = (0.08, 0.06, 0.92, 0.40)  # image.procedural's caption card, with room around it
CENTRE_KEEP = (0.20, 0.20, 0.80, 0.80)  # a picture without a caption: keep its middle


@dataclass(frozen=True)
class Visual:
    """A scene's picture: a ``still`` (image) or a ``clip`` (video of ``duration`` seconds),
    ``width`` x ``height`` pixels. ``keep`` (x0, y0, x1, y1, fractions of the picture) is what
    fitting and motion must never crop: the caption card of a captioned still, else the middle.
    ``fit`` says how a clip meets the scene's length: ``auto`` trims a longer clip, slows one
    that is at most 25% short and loops a shorter one; ``loop``/``slow`` force that."""

    path: str
    kind: Literal["still", "clip"]
    width: int
    height: int
    duration: float = 0.0
    keep: tuple[float, float, float, float] = CARD_KEEP
    fit: Literal["auto", "loop", "slow"] = "auto"

    def clip_plan(self, seconds: float) -> tuple[str, float]:
        """How this clip fills ``seconds``: (``trim`` | ``slow`` | ``loop``, speed factor: a
        clip second lasts this many scene seconds)."""
        if self.kind != "clip" or self.duration <= 0:
            raise MediaError(f"{self.path} is not a clip with a duration")
        if self.fit == "auto" and self.duration >= seconds:
            return "trim", 1.0
        if self.fit == "slow" or (self.fit == "auto" and seconds <= self.duration * 1.25):
            return "slow", max(1.0, seconds / self.duration)
        return "loop", 1.0

    def source_time(self, seconds: float, t: float) -> float:
        """The clip's own time shown at scene time ``t`` of a ``seconds``-long scene."""
        mode, k = self.clip_plan(seconds)
        if mode == "slow":
            return t / k
        return t % self.duration if mode == "loop" else t


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
