"""Measuring a finished video, and judging the figures against limits.

Owns the QA of a published video: one ffmpeg run decodes the file once and measures what a
viewer would notice (:func:`measure`): its real length (frames decoded, audio samples decoded,
not the length vidflow meant to make), integrated loudness and true peak (``ebur128``), and the
black (``blackdetect``), frozen (``freezedetect``) and silent (``silencedetect``) stretches
longer than ``min_stretch``. :func:`check` compares the figures with :class:`QALimits` and
returns one sentence per limit crossed, each carrying the measured figure.

The argv builder and the parser are pure (golden-tested); :func:`measure` runs them.
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import MediaError
from .audio import parse_loudness
from .ffmpeg import PathLike, path_arg, run_ffmpeg
from .probe import probe

__all__ = ["QAFailedError", "QAFigures", "QALimits", "Stretch", "check", "figures_from_dict", "measure", "parse_qa", "qa_argv"]

#: Quieter than this (dBFS) is silence; the music bed and any speech are far above it.
SILENCE_DB = -50
#: A frame is black when 98% of its pixels are darker than 10% (blackdetect's defaults).
BLACK_PIXEL, BLACK_RATIO = 0.10, 0.98
#: Frames differing by less than this (freezedetect's default noise) are the same frame.
FREEZE_NOISE_DB = -60
#: A black stretch ending this many frames before the end runs to the end (see ``parse_qa``).
TAIL_FRAMES = 4


class QAFailedError(MediaError):
    """A finished video is outside the recipe's ``qa:`` limits; the message names each figure."""


@dataclass(frozen=True)
class Stretch:
    """A black, frozen or silent stretch, in seconds from the video's start."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class QAFigures:
    """What :func:`measure` found. Loudness in LUFS, true peak in dBTP (``-inf``: digital
    silence); ``duration`` = decoded video frames / fps; stretches longer than ``min_stretch``."""

    duration: float
    frames: int
    fps: float
    audio_duration: float | None
    loudness: float | None
    loudness_range: float | None
    true_peak: float | None
    channels: int | None
    sample_rate: int | None
    min_stretch: float
    silence: tuple[Stretch, ...] = ()
    black: tuple[Stretch, ...] = ()
    frozen: tuple[Stretch, ...] = ()

    def longest(self, kind: str) -> float:
        """The longest stretch of ``silence``, ``black`` or ``frozen`` (0.0 when none)."""
        return max((s.duration for s in getattr(self, kind)), default=0.0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures for manifests and reports (seconds to the millisecond, dB to 0.1)."""

        def db(x: float | None) -> float | str | None:
            return None if x is None else ("-inf" if x == -math.inf else round(x, 1))

        out: dict[str, Any] = {
            "duration": round(self.duration, 3), "frames": self.frames, "fps": self.fps,
            "audio_duration": None if self.audio_duration is None else round(self.audio_duration, 3),
            "loudness": db(self.loudness), "loudness_range": db(self.loudness_range), "true_peak": db(self.true_peak),
            "channels": self.channels, "sample_rate": self.sample_rate, "min_stretch": round(self.min_stretch, 3),
        }
        for kind in ("silence", "black", "frozen"):
            out[kind] = {
                "longest": round(self.longest(kind), 3),
                "stretches": [[round(s.start, 3), round(s.end, 3)] for s in getattr(self, kind)],
            }
        return out


@dataclass(frozen=True)
class QALimits:
    """The limits a video must stay inside (None: not checked).

    ``loudness``: (low, high) LUFS; ``true_peak``: highest dBTP; ``max_silence``, ``max_black``,
    ``max_frozen``: the longest stretch allowed (seconds); ``duration``: (shortest, longest)
    seconds, either end None.
    """

    loudness: tuple[float, float] | None = None
    true_peak: float | None = None
    max_silence: float | None = None
    max_black: float | None = None
    max_frozen: float | None = None
    duration: tuple[float | None, float | None] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


def qa_argv(path: PathLike, *, min_stretch: float, audio: bool = True) -> list[str]:
    """argv (after the runner's common flags) measuring ``path`` in one run, outputs discarded.

    Two outputs of one input: the video stream copied (first, so ffmpeg's final ``frame=``
    counts every frame in the file, without decoding), and the measured streams. Decoding is
    most of the cost, so the detectors see the reference frames only (``-skip_frame noref``:
    x264's non-reference B-frames, about half of them, are not decoded; a stretch worth
    reporting spans dozens of frames), decoded without the deblocking filter and shrunk 4x:
    none of this changes whether a frame is black or equal to the previous one. The audio is
    decoded in full. ``-loglevel info`` (the last level given wins) lets the detectors' lines
    through.
    """
    d = f"{min_stretch:.3f}"
    graph = (
        f"[0:v]scale=trunc(iw/8)*2:trunc(ih/8)*2:flags=fast_bilinear,"
        f"blackdetect=d={d}:pix_th={BLACK_PIXEL}:pic_th={BLACK_RATIO},"
        f"freezedetect=n={FREEZE_NOISE_DB}dB:d={d}[v]"
    )
    maps = ["-map", "[v]"]
    if audio:
        graph += (
            f";[0:a]ebur128@qa=peak=true:framelog=quiet,silencedetect=n={SILENCE_DB}dB:d={d},"
            "astats=measure_overall=Number_of_samples:measure_perchannel=none[a]"
        )
        maps += ["-map", "[a]"]
    return [
        "-loglevel", "info", "-nostats", "-threads", "1", "-skip_loop_filter", "all", "-skip_frame", "noref",
        "-i", path_arg(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-",
        "-filter_complex", graph, *maps, "-f", "null", "-",
    ]


_FRAMES = re.compile(r"frame=\s*(\d+)")
_SAMPLES = re.compile(r"Number of samples:\s*(\d+)")
_BLACK = re.compile(r"black_start:\s*([\d.]+)\s+black_end:\s*([\d.]+)")
_FREEZE = re.compile(r"freeze_(start|end):\s*([\d.]+)")
_SILENCE = re.compile(r"silence_(start|end):\s*(-?[\d.]+)")


def _pairs(events: list[tuple[str, float]], end: float) -> tuple[Stretch, ...]:
    """start/end events in order -> stretches; a start with no end runs to ``end`` (EOF)."""
    out, start = [], None
    for what, t in events:
        if what == "start":
            start = t
        elif start is not None:
            out.append(Stretch(max(0.0, start), t))
            start = None
    if start is not None:
        out.append(Stretch(max(0.0, start), max(start, end)))
    return tuple(out)


def parse_qa(stderr: str, *, fps: float, sample_rate: int | None, channels: int | None, min_stretch: float) -> QAFigures:
    """Figures from the stderr of a :func:`qa_argv` run (pure)."""
    frames = [int(x) for x in _FRAMES.findall(stderr)]
    if not frames:
        raise MediaError("QA: ffmpeg reported no decoded frames")
    n = frames[-1]
    duration = n / fps
    samples = _SAMPLES.search(stderr)
    audio_duration = int(samples.group(1)) / sample_rate if samples and sample_rate else None
    loud = parse_loudness(stderr).get("qa") if sample_rate else None
    black = tuple(Stretch(float(a), float(b)) for a, b in _BLACK.findall(stderr))
    # blackdetect's end is the last black frame it saw: a black tail ends with the video (the
    # last frames may be non-reference frames the detectors did not see)
    black = tuple(Stretch(s.start, duration) if s.end > duration - TAIL_FRAMES / fps else s for s in black)
    frozen = _pairs([(w, float(t)) for w, t in _FREEZE.findall(stderr)], duration)
    silence = _pairs([(w, float(t)) for w, t in _SILENCE.findall(stderr)], audio_duration or duration)
    return QAFigures(
        duration=duration, frames=n, fps=fps, audio_duration=audio_duration,
        loudness=loud.integrated if loud else None, loudness_range=loud.lra if loud else None,
        true_peak=loud.true_peak if loud else None, channels=channels, sample_rate=sample_rate,
        min_stretch=min_stretch, silence=silence, black=black, frozen=frozen,
    )


async def measure(path: PathLike, *, min_stretch: float) -> QAFigures:
    """Measure a finished video (one decode; run it in a CPU slot).

    Raises:
        FFmpegError: ffmpeg could not decode it.
        MediaError: it has no video stream, or ffmpeg's output lacked a figure.
    """
    info = await asyncio.to_thread(probe, path)
    video, audio = info.of_type("video"), info.of_type("audio")
    if not video or not video[0].fps:
        raise MediaError(f"QA: {path} has no video stream with a frame rate")
    a = audio[0] if audio else None
    stderr = await run_ffmpeg(qa_argv(path, min_stretch=min_stretch, audio=a is not None))
    return parse_qa(stderr, fps=video[0].fps, sample_rate=a.sample_rate if a else None, channels=a.channels if a else None, min_stretch=min_stretch)


def _fmt(x: float | None, unit: str) -> str:
    if x is None:
        return "not measured"
    return f"{'-inf' if x == -math.inf else f'{x:.1f}'} {unit}"


def check(fig: QAFigures, limits: QALimits) -> list[str]:
    """One sentence per limit the figures cross (empty: the video passes), each with its figure."""
    out: list[str] = []
    if limits.loudness is not None:
        lo, hi = limits.loudness
        if fig.loudness is None or not lo <= fig.loudness <= hi:
            out.append(f"integrated loudness {_fmt(fig.loudness, 'LUFS')} is outside qa.loudness [{lo:g}, {hi:g}]")
    if limits.true_peak is not None and fig.true_peak is not None and fig.true_peak > limits.true_peak:
        out.append(f"true peak {_fmt(fig.true_peak, 'dBTP')} is above qa.true_peak {limits.true_peak:g}")
    for kind, limit, key in (("silence", limits.max_silence, "max_silence"), ("black", limits.max_black, "max_black"), ("frozen", limits.max_frozen, "max_frozen")):
        worst = max(getattr(fig, kind), key=lambda s: s.duration, default=None)
        if limit is not None and worst is not None and worst.duration > limit:
            out.append(f"{worst.duration:.2f} s of {kind} (from {worst.start:.2f} s to {worst.end:.2f} s) is longer than qa.{key} {limit:g} s")
    if limits.duration is not None:
        lo, hi = limits.duration
        if (lo is not None and fig.duration < lo) or (hi is not None and fig.duration > hi):
            out.append(f"duration {fig.duration:.2f} s is outside qa.duration [{lo}, {hi}]")
    return out



def figures_from_dict(d: dict[str, Any]) -> QAFigures:
    """The inverse of :meth:`QAFigures.as_dict` (figures kept in a cached artifact)."""

    def num(x: Any) -> float | None:
        return None if x is None else (-math.inf if x == "-inf" else float(x))

    def stretches(kind: str) -> tuple[Stretch, ...]:
        return tuple(Stretch(float(a), float(b)) for a, b in d[kind]["stretches"])

    return QAFigures(
        duration=float(d["duration"]), frames=int(d["frames"]), fps=float(d["fps"]),
        audio_duration=num(d.get("audio_duration")), loudness=num(d.get("loudness")),
        loudness_range=num(d.get("loudness_range")), true_peak=num(d.get("true_peak")),
        channels=d.get("channels"), sample_rate=d.get("sample_rate"), min_stretch=float(d["min_stretch"]),
        silence=stretches("silence"), black=stretches("black"), frozen=stretches("frozen"),
    )
