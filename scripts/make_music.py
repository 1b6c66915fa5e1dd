"""Make vidflow's bundled music bed: ``python scripts/make_music.py``.

Writes ``vidflow/media/music/gentle.ogg`` (Opus, 48 kHz stereo, about 300 KB): a gentle 32 s
loop in C major, four chords twice (C Am F G, then C Em F G), each 4 s. Three voices, all
synthesized here from sines, with no sample, no randomness and no outside input, so the result
is the same on every machine:

* a pad: each chord's triad, two slightly detuned oscillators spread left and right, with soft
  raised-cosine swells that overlap from one chord to the next;
* a bass: the chord's root two octaves down, a sine with its octave;
* a pluck: the chord's tones an octave up in eighth notes (0.5 s), decaying, panned a little
  left and right in turn.

Every envelope wraps around the loop's end (the last chord's swell fades into the first, a
late pluck's tail rings over the start), so the file loops without a seam. The audio is
dedicated to the public domain (CC0 1.0): see ``vidflow/media/music/LICENSE.txt``.

Synthesis runs at 24 kHz (everything it makes is below 4 kHz) in plain Python (about 20 s);
ffmpeg (imageio-ffmpeg's) resamples to 48 kHz and encodes Opus, with bit-exact flags.
"""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "vidflow" / "media" / "music" / "gentle.ogg"
RATE = 24000
CHORD_SECONDS = 4.0
BITRATE = "80k"

# (bass root, pad notes, pluck notes) as MIDI numbers; C4 = 60.
CHORDS = [
    (36, (64, 67, 72), (72, 76, 79, 84)),  # C
    (45, (64, 69, 72), (69, 72, 76, 81)),  # Am
    (41, (65, 69, 72), (65 + 12, 69 + 12, 72 + 12, 77 + 12)),  # F
    (43, (62, 67, 71), (67, 71, 74, 79)),  # G
    (36, (64, 67, 72), (72, 76, 79, 84)),  # C
    (40, (64, 67, 71), (64 + 12, 67 + 12, 71 + 12, 76 + 12)),  # Em
    (41, (65, 69, 72), (65 + 12, 69 + 12, 72 + 12, 77 + 12)),  # F
    (43, (62, 67, 71), (67, 71, 74, 79)),  # G
]
PLUCK_PATTERN = (0, 1, 2, 3, 2, 1, 2, 1)  # chord-tone index per eighth note


def hz(midi: int) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def swell(t: float, length: float, fade: float) -> float:
    """0 -> 1 -> 0 over ``length`` seconds with raised-cosine ramps of ``fade`` seconds."""
    if t < 0 or t > length:
        return 0.0
    if t < fade:
        return 0.5 - 0.5 * math.cos(math.pi * t / fade)
    if t > length - fade:
        return 0.5 - 0.5 * math.cos(math.pi * (length - t) / fade)
    return 1.0


class Loop:
    """A stereo buffer whose writes wrap around its end (the loop point)."""

    def __init__(self, seconds: float):
        self.n = round(seconds * RATE)
        self.left = [0.0] * self.n
        self.right = [0.0] * self.n

    def note(self, start: float, seconds: float, freq: float, partials: tuple[float, ...], pan: float, env, gain: float) -> None:
        """Add a tone of ``partials`` (amplitude per harmonic) shaped by ``env(t)``, panned 0..1."""
        first = round(start * RATE)
        gl, gr = gain * math.cos(pan * math.pi / 2), gain * math.sin(pan * math.pi / 2)
        steps = [2 * math.pi * freq * (k + 1) / RATE for k in range(len(partials))]
        left, right, n = self.left, self.right, self.n
        for i in range(round(seconds * RATE)):
            e = env(i / RATE)
            if e == 0.0:
                continue
            s = e * sum(a * math.sin(w * i) for a, w in zip(partials, steps))
            j = (first + i) % n
            left[j] += gl * s
            right[j] += gr * s


def render() -> Loop:
    loop = Loop(CHORD_SECONDS * len(CHORDS))
    fade = 1.2  # pad swells overlap the next chord by this much
    for c, (root, pad, pluck) in enumerate(CHORDS):
        t0 = c * CHORD_SECONDS
        length = CHORD_SECONDS + fade
        pad_env = lambda t, L=length: swell(t, L, fade)  # noqa: E731
        for note in pad:
            for detune, pan in ((0.9985, 0.2), (1.0015, 0.8)):  # a slow chorus, spread wide
                loop.note(t0 - fade / 2, length, hz(note) * detune, (1.0, 0.25, 0.06), pan, pad_env, 0.045)
        loop.note(t0 - fade / 2, length, hz(root), (1.0, 0.3), 0.5, pad_env, 0.16)
        for k, idx in enumerate(PLUCK_PATTERN):
            start = t0 + k * CHORD_SECONDS / len(PLUCK_PATTERN)
            pluck_env = lambda t: (min(1.0, t / 0.01)) * math.exp(-t / 0.35)  # noqa: E731
            loop.note(start, 1.6, hz(pluck[idx]), (1.0, 0.18), 0.35 if k % 2 else 0.65, pluck_env, 0.07)
    return loop


def write_wav(loop: Loop, path: Path) -> None:
    peak = max(max(abs(x) for x in loop.left), max(abs(x) for x in loop.right))
    scale = 10 ** (-3 / 20) / peak  # peak at -3 dBFS
    frames = bytearray()
    for a, b in zip(loop.left, loop.right):
        frames += struct.pack("<hh", round(a * scale * 32767), round(b * scale * 32767))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))


def main() -> None:
    import imageio_ffmpeg

    loop = render()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "gentle.wav"
        write_wav(loop, wav)
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
             "-i", str(wav), "-af", "aresample=48000", "-c:a", "libopus", "-b:a", BITRATE,
             "-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1", str(OUT)],
            check=True,
        )
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {loop.n / RATE:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
