"""Probing media without ffprobe (imageio-ffmpeg ships none).

Owns reading facts about a file: streams and duration parsed from ``ffmpeg -i`` stderr, a WAV's
exact length from its header, and an exact frame count by decoding. Synchronous on purpose
(header parsing takes milliseconds); call it through ``asyncio.to_thread`` from async code.
``ffmpeg -i`` prints the duration in centiseconds, so :attr:`MediaInfo.duration` is only that
precise; count frames or read the WAV header when exactness matters.
"""

from __future__ import annotations

import re
import subprocess
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import MediaError
from .ffmpeg import PathLike, ffmpeg_exe

__all__ = ["MediaInfo", "StreamInfo", "count_frames", "parse_probe", "probe", "wav_duration"]


@dataclass(frozen=True)
class StreamInfo:
    """One audio or video stream (``index`` is the stream number within the file)."""

    index: int
    type: Literal["video", "audio"]
    codec: str
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    sample_rate: int | None = None
    channels: int | None = None


@dataclass(frozen=True)
class MediaInfo:
    """A file's duration (seconds, centisecond precision; 0.0 if unknown) and streams."""

    duration: float
    streams: list[StreamInfo] = field(default_factory=list)

    def of_type(self, kind: Literal["video", "audio"]) -> list[StreamInfo]:
        """The streams of one type, in file order."""
        return [st for st in self.streams if st.type == kind]


_DURATION = re.compile(r"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_STREAM = re.compile(r"^\s*Stream #\d+:(\d+)\S*: (Video|Audio): (\w+)(.*)$", re.MULTILINE)
_SIZE = re.compile(r"(?<![\w])(\d{1,5})x(\d{1,5})(?![\w])")
_FPS = re.compile(r"([\d.]+)(k?) fps")
_TBR = re.compile(r"([\d.]+)(k?) tbr")
_RATE = re.compile(r"(\d+) Hz")
_LAYOUTS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6, "7.1": 8}
_CHANNELS = re.compile(r"Hz, ([\w.()]+)")


def _rate(m: re.Match[str] | None) -> float | None:
    if not m:
        return None
    return float(m.group(1)) * (1000 if m.group(2) else 1)


def parse_probe(stderr: str) -> MediaInfo:
    """Parse the stderr of ``ffmpeg -hide_banner -i FILE`` (pure; golden-testable)."""
    m = _DURATION.search(stderr)
    duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else 0.0
    streams = []
    for sm in _STREAM.finditer(stderr):
        index, kind, codec, rest = int(sm.group(1)), sm.group(2), sm.group(3), sm.group(4)
        if kind == "Video":
            size = _SIZE.search(rest)
            streams.append(StreamInfo(
                index, "video", codec,
                width=int(size.group(1)) if size else None,
                height=int(size.group(2)) if size else None,
                fps=_rate(_FPS.search(rest)) or _rate(_TBR.search(rest)),
            ))
        else:
            rate = _RATE.search(rest)
            layout = _CHANNELS.search(rest)
            channels = None
            if layout:
                name = layout.group(1)
                n = re.match(r"(\d+) channels", name)
                channels = _LAYOUTS.get(name) or (int(n.group(1)) if n else None)
            streams.append(StreamInfo(
                index, "audio", codec,
                sample_rate=int(rate.group(1)) if rate else None,
                channels=channels,
            ))
    return MediaInfo(duration=duration, streams=streams)


def probe(path: PathLike) -> MediaInfo:
    """Streams and duration of a media file. Raises :class:`MediaError` if ffmpeg can't read it."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        check=False,
    )
    err = proc.stderr.decode("utf-8", "replace")
    if "Input #0" not in err:
        last = err.strip().splitlines()[-1:] or ["no output"]
        raise MediaError(f"cannot probe {path}: {last[0]}")
    return parse_probe(err)


def wav_duration(path: PathLike) -> float:
    """Exact length of a PCM WAV file in seconds, from its header."""
    try:
        with wave.open(str(Path(path)), "rb") as w:
            return w.getnframes() / w.getframerate()
    except (wave.Error, EOFError, OSError) as e:
        raise MediaError(f"cannot read WAV {path}: {e}") from e


def count_frames(path: PathLike) -> int:
    """Exact number of video frames (decodes the whole file)."""
    import imageio_ffmpeg

    try:
        frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    except (RuntimeError, OSError) as e:
        raise MediaError(f"cannot count frames of {path}: {e}") from e
    return int(frames)
