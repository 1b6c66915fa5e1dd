"""Helpers shared by speech adapters: WAV wrapping and word timings.

* :func:`wav_from_pcm` wraps raw mono s16le samples in a WAV header.
* :func:`words_from_alignment` turns per-character times (ElevenLabs' ``alignment``) into one
  :class:`WordTiming` per whitespace-separated token of the text.
* :func:`estimate_word_timings` spreads a line's duration over its words by length, for vendors
  that return no timings (OpenAI TTS); results carry ``timings_estimated=True``.
"""

from __future__ import annotations

import io
import re
import wave
from typing import Sequence

from .base import WordTiming

__all__ = ["estimate_word_timings", "tokens", "normalize_wav", "wav_from_pcm", "words_from_alignment"]

_TOKEN = re.compile(r"\S+")
_PAUSE_AFTER = {",": 1.5, ";": 2.0, ":": 2.0, ".": 3.0, "!": 3.0, "?": 3.0, "—": 2.0}


def tokens(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]


def wav_from_pcm(pcm: bytes, sample_rate: int) -> bytes:
    """A WAV (mono, 16-bit) around little-endian samples."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setparams((1, 2, sample_rate, 0, "NONE", "not compressed"))
        out.writeframes(pcm[: len(pcm) - len(pcm) % 2])
    return buf.getvalue()


def normalize_wav(data: bytes) -> tuple[bytes, float, int]:
    """(WAV bytes with a correct header, seconds, sample rate).

    Streamed WAVs (OpenAI's among them) may declare a bogus length (0xFFFFFFFF); the samples
    actually present are what counts.
    """
    with wave.open(io.BytesIO(data), "rb") as w:
        params = w.getparams()
        frames = w.readframes(w.getnframes())
    block = params.nchannels * params.sampwidth
    n = len(frames) // block
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setparams((params.nchannels, params.sampwidth, params.framerate, 0, "NONE", "not compressed"))
        out.writeframes(frames[: n * block])
    return buf.getvalue(), n / params.framerate, params.framerate


def estimate_word_timings(text: str, duration: float, *, lead: float = 0.05, tail: float = 0.1) -> list[WordTiming]:
    """Word starts spread over ``duration`` in proportion to word length plus punctuation pauses."""
    toks = tokens(text)
    if not toks:
        return []
    weights = [len(w) + 1 + _PAUSE_AFTER.get(w[-1], 0.0) for _, _, w in toks]
    span = max(0.0, duration - lead - tail) or duration
    t = min(lead, duration - span)  # no lead-in when the audio is too short for one
    out = []
    total = sum(weights)
    for (a, b, w), wt in zip(toks, weights):
        out.append([w, t, a, b])
        t += span * wt / total
    return [WordTiming(w, s, (out[i + 1][1] if i + 1 < len(out) else duration), a, b) for i, (w, s, a, b) in enumerate(out)]


def words_from_alignment(text: str, chars: Sequence[str], starts: Sequence[float], ends: Sequence[float], duration: float) -> list[WordTiming]:
    """One WordTiming per token of ``text`` from per-character times.

    The alignment's characters are matched to the text in order (they normally are the text);
    a token's start is its first character's start. Tokens the alignment misses are
    interpolated from their neighbours, and starts never go backwards.
    """
    toks = tokens(text)
    if not toks:
        return []
    # Text position -> start time. The alignment normally spells the text exactly; if it does
    # not (normalisation), match its characters to the text in order.
    pos_start: dict[int, float] = {}
    if "".join(chars) == text:
        pos_start = {i: float(st) for i, st in enumerate(starts)}
    else:
        i = 0
        for ch, st in zip(chars, starts):
            j = text.find(ch, i) if ch else -1
            if j != -1:
                pos_start.setdefault(j, float(st))
                i = j + len(ch)
    anchors: list[float | None] = []
    for a, b, _ in toks:
        hit = next((pos_start[p] for p in range(a, b) if p in pos_start), None)
        anchors.append(hit)
    # interpolate gaps
    known = [k for k, v in enumerate(anchors) if v is not None]
    if not known:
        return estimate_word_timings(text, duration)
    filled: list[float] = []
    for k, v in enumerate(anchors):
        if v is not None:
            filled.append(v)
            continue
        prev = max((p for p in known if p < k), default=None)
        nxt = min((p for p in known if p > k), default=None)
        lo = anchors[prev] if prev is not None else 0.0
        hi = anchors[nxt] if nxt is not None else duration
        left = prev if prev is not None else -1
        right = nxt if nxt is not None else len(anchors)
        filled.append(lo + (hi - lo) * (k - left) / (right - left))
    out: list[WordTiming] = []
    last = 0.0
    for k, ((a, b, w), st) in enumerate(zip(toks, filled)):
        st = min(max(st, last), duration)
        last = st
        out.append(WordTiming(w, st, duration, a, b))
    return [WordTiming(t.word, t.start, out[k + 1].start if k + 1 < len(out) else duration, t.char_start, t.char_end) for k, t in enumerate(out)]
