"""Deterministic media for the loopback servers: a soft tone as PCM/WAV, ffmpeg encodes, PNGs."""

from __future__ import annotations

import functools
import hashlib
import io
import math
import random
import subprocess
import sys
import threading
import wave
from array import array

__all__ = ["tone_pcm", "wav_bytes", "encode_audio", "image_bytes", "AUDIO_CODECS"]


@functools.lru_cache(maxsize=32)
def _cycle(rate: int, freq: float = 220.0, amp: float = 0.1) -> bytes:
    period = max(2, round(rate / freq))
    samples = array("h", (int(amp * 32767 * math.sin(2 * math.pi * i / period)) for i in range(period)))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def tone_pcm(seconds: float, rate: int) -> bytes:
    """Mono s16le: a quiet ~220 Hz tone, exactly round(seconds * rate) samples."""
    n = round(seconds * rate)
    cycle = _cycle(rate)
    per = len(cycle) // 2
    reps, rem = divmod(n, per)
    return cycle * reps + cycle[: rem * 2]


def wav_bytes(pcm: bytes, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


# name -> (ffmpeg output args, content-type); {rate} / {kbps} are filled in.
AUDIO_CODECS = {
    "mp3": (["-c:a", "libmp3lame", "-ar", "{rate}", "-b:a", "{kbps}k", "-f", "mp3"], "audio/mpeg"),
    "opus": (["-c:a", "libopus", "-ar", "48000", "-b:a", "{kbps}k", "-f", "ogg"], "audio/ogg"),
    "aac": (["-c:a", "aac", "-ar", "{rate}", "-b:a", "{kbps}k", "-f", "adts"], "audio/aac"),
    "flac": (["-c:a", "flac", "-ar", "{rate}", "-f", "flac"], "audio/flac"),
    "ulaw": (["-c:a", "pcm_mulaw", "-ar", "{rate}", "-f", "mulaw"], "audio/basic"),
    "alaw": (["-c:a", "pcm_alaw", "-ar", "{rate}", "-f", "alaw"], "audio/alaw"),
}

_encode_lock = threading.Lock()
_encode_cache: dict[tuple, bytes] = {}


def encode_audio(pcm: bytes, in_rate: int, codec: str, *, rate: int | None = None, kbps: int = 128) -> bytes:
    """Encode mono s16le PCM with the imageio-ffmpeg binary. Cached: the tone depends only on its length."""
    key = (hashlib.sha256(pcm).hexdigest(), in_rate, codec, rate, kbps)
    with _encode_lock:
        hit = _encode_cache.get(key)
    if hit is not None:
        return hit
    import imageio_ffmpeg

    args, _ = AUDIO_CODECS[codec]
    out_args = [a.format(rate=rate or in_rate, kbps=kbps) for a in args]
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "s16le", "-ar", str(in_rate), "-ac", "1", "-i", "pipe:0", *out_args, "pipe:1",
    ]  # fmt: skip
    out = subprocess.run(cmd, input=pcm, capture_output=True, check=True, timeout=60).stdout
    with _encode_lock:
        _encode_cache[key] = out
    return out


@functools.lru_cache(maxsize=64)
def image_bytes(width: int, height: int, key: str, fmt: str = "PNG") -> bytes:
    """A smooth colour field seeded by ``key`` (e.g. prompt + seed + index), at exactly width x height."""
    from PIL import Image

    rnd = random.Random(hashlib.sha256(key.encode()).digest())
    small = Image.new("RGB", (6, 6))
    small.putdata([(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)) for _ in range(36)])
    img = small.resize((width, height), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    if fmt == "PNG":
        img.save(buf, "PNG", compress_level=1)
    else:
        img.save(buf, fmt, quality=85)
    return buf.getvalue()
