"""Helpers for the media tests: inputs made on the spot (Pillow, wave), frame and audio readers."""

from __future__ import annotations

import math
import struct
import subprocess
import wave
from pathlib import Path

from PIL import Image, ImageDraw

from vidflow.media.ffmpeg import ffmpeg_exe
from vidflow.media.timeline import CharacterLook, LineClip
from vidflow.providers.base import WordTiming

# Colours chosen far apart from each other and from the grey background.
NOVA = "#FFD400"  # yellow subtitles
PIP = "#33CCFF"  # cyan subtitles
NOVA_TELLING, NOVA_HEARING = (255, 0, 0), (255, 0, 255)  # red / magenta sprites
PIP_TELLING, PIP_HEARING = (0, 0, 255), (0, 160, 0)  # blue / green sprites


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def make_still(path: Path, size: tuple[int, int] = (450, 800)) -> Path:
    """A grey 9:16 still with a darker disc."""
    im = Image.new("RGB", size, (110, 110, 110))
    ImageDraw.Draw(im).ellipse([size[0] // 3, size[1] // 4, size[0] // 2, size[1] // 2], (70, 70, 70))
    im.save(path)
    return path


def make_sprite(path: Path, rgb: tuple[int, int, int]) -> Path:
    """A 300x360 RGBA sprite: a solid block, transparent margin at the top and sides."""
    im = Image.new("RGBA", (300, 360), (0, 0, 0, 0))
    ImageDraw.Draw(im).rectangle([20, 20, 279, 359], fill=(*rgb, 255))
    im.save(path)
    return path


def make_tone(path: Path, seconds: float, freq: float = 440.0, rate: int = 22050) -> Path:
    """A mono s16 sine WAV of exactly round(seconds*rate) samples."""
    n = round(seconds * rate)
    amp = 12000
    data = b"".join(
        struct.pack("<h", int(amp * math.sin(2 * math.pi * freq * i / rate))) for i in range(n)
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data)
    return path


def words_for(text: str, duration: float) -> tuple[WordTiming, ...]:
    """Evenly spaced word timings over the whitespace-separated tokens of ``text``."""
    tokens, pos = [], 0
    for tok in text.split():
        start = text.index(tok, pos)
        tokens.append((tok, start, start + len(tok)))
        pos = start + len(tok)
    step = duration / len(tokens)
    return tuple(
        WordTiming(tok, round(i * step, 3), round((i + 1) * step, 3), a, b)
        for i, (tok, a, b) in enumerate(tokens)
    )


def line(speaker: str, text: str, audio: Path, duration: float) -> LineClip:
    return LineClip(speaker, text, str(audio), duration, words_for(text, duration))


def make_cast(d: Path) -> list[CharacterLook]:
    return [
        CharacterLook("Nova", NOVA, "left",
                      str(make_sprite(d / "nova_t.png", NOVA_TELLING)),
                      str(make_sprite(d / "nova_h.png", NOVA_HEARING))),
        CharacterLook("Pip", PIP, "right",
                      str(make_sprite(d / "pip_t.png", PIP_TELLING)),
                      str(make_sprite(d / "pip_h.png", PIP_HEARING))),
    ]


def extract_frame(video: Path, t: float, out: Path) -> Image.Image:
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-ss", f"{t:.3f}",
         "-i", str(video), "-frames:v", "1", str(out)],
        check=True,
    )
    return Image.open(out).convert("RGB")


def decode_audio(video: Path, out: Path) -> Path:
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(video),
         "-vn", "-c:a", "pcm_s16le", str(out)],
        check=True,
    )
    return out


def pixels(im: Image.Image) -> list[tuple[int, int, int]]:
    flat = getattr(im, "get_flattened_data", None)  # Pillow >= 12; getdata is deprecated
    return list(flat() if flat else im.getdata())


def count_close(im: Image.Image, box: tuple[int, int, int, int], rgb: tuple[int, int, int],
                tol: int = 60) -> int:
    """Pixels in ``box`` within ``tol`` (sum of |channel differences|) of ``rgb``."""
    return sum(
        1 for p in pixels(im.crop(box)) if sum(abs(a - b) for a, b in zip(p, rgb)) <= tol
    )


def median_colour(im: Image.Image, cx: int, cy: int, r: int = 10) -> tuple[int, int, int]:
    px = pixels(im.crop((cx - r, cy - r, cx + r, cy + r)))
    return tuple(sorted(c[i] for c in px)[len(px) // 2] for i in range(3))  # type: ignore[return-value]


def near(a: tuple[int, ...], b: tuple[int, ...], tol: int = 40) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))
