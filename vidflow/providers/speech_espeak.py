"""``speech.espeak``: offline text-to-speech with espeak-ng, with real word timings.

Owns driving espeak-ng (from the ``espeakng-loader`` wheel) through ctypes: one request in, a mono
16-bit WAV and word timings out; mapping espeak's WORD events onto vidflow's tokens
(:func:`align_words`, pure); listing voices. Retries, limits and caching are the scheduler's.

Licence: espeak-ng and its data are GPL-3.0-or-later. vidflow does not bundle them; it loads the
separately installed wheel at run time.

Determinism: espeak-ng keeps synthesis state in C statics (pitch flutter phase, gain control)
that neither ``espeak_Terminate`` nor ``espeak_Initialize`` resets, and seeds its noise from the
clock. So each call loads the library afresh, seeds espeak's and libc's ``rand`` (klatt voices
use it), and unloads it (``dlclose``): ~5 ms, for byte-identical output, while nothing else in
the process holds the same library file open.
"""

from __future__ import annotations

import _ctypes
import asyncio
import ctypes
import re
import sys
import threading
from bisect import bisect_right
from collections.abc import Mapping
from ctypes import CFUNCTYPE, POINTER, c_char_p, c_int, c_long, c_short, c_size_t, c_uint, c_void_p
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

from pydantic import Field

from ..errors import BadRequestError, PermanentProviderError
from ._speech import wav_from_pcm
from .base import Provider, ProviderOptions, SpeechRequest, SpeechResult, WordTiming

__all__ = ["EspeakOptions", "EspeakSpeech", "align_words", "list_voices"]

KIND = "speech.espeak"
Events = list[tuple[int, int, float]]  # (1-based text position, length, start seconds)
_TOKEN = re.compile(r"\S+")
_SPEAKABLE = re.compile(r"[A-Za-z0-9]")  # every voice that has its dictionary says these
_HINT = "use a voice such as 'en-us', 'en-gb+f3' or 'en-us+m3' (see list_voices())"

# From espeak-ng's speak_lib.h.
_SYNCHRONOUS, _POS_CHARACTER, _CHARS_UTF8 = 2, 1, 1
_EVENT_END_OF_LIST, _EVENT_WORD = 0, 1
_RATE, _PITCH, _WORDGAP = 1, 3, 7

_LOCK = threading.Lock()  # the library is process-global state: one synthesis at a time
_unload = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary")
_libc_srand = None if sys.platform == "win32" else ctypes.CDLL(None).srand


class _Event(ctypes.Structure):
    _fields_ = [("type", c_int), ("unique_identifier", c_uint), ("text_position", c_int),
                ("length", c_int), ("audio_position", c_int), ("sample", c_int),
                ("user_data", c_void_p), ("id", c_void_p)]  # id: union of int, char*, char[8]


_Callback = CFUNCTYPE(c_int, POINTER(c_short), c_int, POINTER(_Event))
_SIGNATURES: dict[str, list[Any]] = {
    "espeak_Initialize": [c_int, c_int, c_char_p, c_int], "espeak_SetSynthCallback": [_Callback],
    "espeak_SetVoiceByName": [c_char_p], "espeak_SetParameter": [c_int, c_int, c_int],
    "espeak_Synth": [c_void_p, c_size_t, c_uint, c_int, c_uint, c_uint, c_void_p, c_void_p],
    "espeak_ng_SetRandSeed": [c_long],
}


class EspeakOptions(ProviderOptions):
    """Settings of ``speech.espeak``; a request's ``params`` may override ``rate`` and ``pitch``."""

    rate: int = Field(default=165, ge=80, le=450, description="words per minute")
    pitch: int = Field(default=50, ge=0, le=99, description="0 low, 50 normal, 99 high")
    gap_ms: int = Field(default=0, ge=0, le=100,
                        description="extra pause between words, rounded to espeak's 10 ms steps")


#: The step params espeak reads, and their ranges (the options of the same names have the same).
_PARAM_RANGES = {"rate": (80, 450), "pitch": (0, 99)}


class EspeakSpeech(Provider):
    """``speech.espeak``: free, offline, deterministic speech with word timings from espeak-ng."""

    kind: ClassVar[str] = KIND
    capability: ClassVar[Literal["speech"]] = "speech"
    version: ClassVar[str] = "1"
    Options: ClassVar[type[ProviderOptions]] = EspeakOptions
    paid: ClassVar[bool] = False
    default_concurrency: ClassVar[int] = 1
    typical_latency: ClassVar[float] = 0.02
    params_read: ClassVar[frozenset[str]] = frozenset(_PARAM_RANGES)

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, str]:
        return {name: why for name, (low, high) in _PARAM_RANGES.items() if name in params and (why := _int_problem(params[name], low, high))}

    async def synthesize(self, req: SpeechRequest) -> SpeechResult:
        """Speak ``req.text`` in the espeak voice ``req.voice`` (``en-us``, ``en-gb+f3`` ...).

        Returns a mono s16le WAV (22050 Hz) and one :class:`WordTiming` per ``\\S+`` token.
        ``req.params`` may carry int ``rate``/``pitch`` overriding the options (others ignored).
        Raises: BadRequestError (empty text, unknown voice or variant, bad rate/pitch, a voice
        whose dictionary is missing), PermanentProviderError.
        Idempotent: yes, byte for byte.
        """
        if not req.text.strip():
            raise BadRequestError("speech.espeak got empty text: give it words to say", kind=KIND)
        opts = cast(EspeakOptions, self.options)
        rate = _int_param(req.params, "rate", opts.rate)
        pitch = _int_param(req.params, "pitch", opts.pitch)
        pcm, sample_rate, events, engine = await asyncio.to_thread(
            _say, req.text, req.voice, rate, pitch, (opts.gap_ms + 5) // 10)
        if not pcm:
            raise BadRequestError(f"espeak-ng produced no audio for {req.text!r}", kind=KIND)
        if not events and _SPEAKABLE.search(req.text):
            raise BadRequestError(f"espeak voice {req.voice!r} said none of {req.text!r}; its "
                                  f"dictionary is probably not installed: {_HINT}", kind=KIND)
        duration = len(pcm) // 2 / sample_rate
        return SpeechResult(audio=wav_from_pcm(pcm, sample_rate), media_type="audio/wav", extension="wav",
                            duration=duration, words=align_words(req.text, events, duration),
                            sample_rate=sample_rate, model=engine)


def align_words(text: str, events: Events, duration: float) -> list[WordTiming]:
    """Time each whitespace-separated token of ``text`` from espeak's WORD events.

    A token starts at the earliest event whose position falls inside it; events are never
    counted ("$5.50" gives four, "déjà vu" a bogus position, "know—maybe" a 0-length one). A
    token with no event, or one earlier than a previous token's, is placed between its timed
    neighbours in proportion to character length. A word ends where the next starts.

    Args:
        text: the spoken text.
        events: ``(text_position, length, start)`` per WORD event, any order: 1-based code
            point position, length (unused), start in seconds.
        duration: the audio's length in seconds; the last word's end.

    Returns:
        One :class:`WordTiming` per ``\\S+`` token, in order, starts non-decreasing in
        ``[0, duration]``.
    """
    tokens = list(_TOKEN.finditer(text))
    if not tokens:
        return []
    offsets = [m.start() for m in tokens]
    anchors: list[float | None] = [None] * len(tokens)
    for position, _length, start in sorted(events, key=lambda e: e[2]):
        i = bisect_right(offsets, position - 1) - 1
        if i >= 0 and position - 1 < tokens[i].end() and anchors[i] is None:
            anchors[i] = min(max(start, 0.0), duration)
    latest = 0.0
    for i, anchor in enumerate(anchors):  # a start that runs backwards came from a bogus position
        if anchor is not None and anchor < latest:
            anchors[i] = None
        elif anchor is not None:
            latest = anchor
    starts = _fill(anchors, [m.end() - m.start() for m in tokens], duration)
    ends = starts[1:] + [duration]
    return [WordTiming(m.group(), start, end, m.start(), m.end())
            for m, start, end in zip(tokens, starts, ends)]


def _fill(anchors: list[float | None], weights: list[int], duration: float) -> list[float]:
    """Place each unknown start between the known ones around it, by token weight."""
    times = [anchors[0] or 0.0, *anchors[1:], duration]
    known = [i for i, t in enumerate(times) if t is not None]
    for a, b in zip(known, known[1:]):
        span, total = cast(float, times[b]) - cast(float, times[a]), sum(weights[a:b])
        for k in range(a + 1, b):
            times[k] = cast(float, times[k - 1]) + span * weights[k - 1] / total
    return cast(list[float], times[:-1])


def list_voices() -> list[str]:
    """Sorted language codes whose voice and dictionary are installed (``en-us``, ``fr`` ...).

    Append ``+variant`` (a file in ``espeak-ng-data/voices/!v``: ``f3``, ``m3``, ``Alex`` ...).
    """
    return sorted(_voice_table())


@cache
def _voice_table() -> dict[str, str]:
    """Language code -> the voice file (as espeak names it) with the best priority for it."""
    data = Path(_paths()[1])
    best: dict[str, tuple[int, str]] = {}
    for root in (data / "voices", data / "lang"):
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            ident = path.relative_to(root).as_posix()
            if ident.startswith(("!v/", "mb/")):  # variants and mbrola voices
                continue
            lines = [line.split() for line in path.read_text("utf-8", "replace").splitlines()]
            langs = [(w[1].lower(), int(w[2]) if w[2:3] and w[2].isdigit() else 5)  # the default
                     for w in lines if len(w) > 1 and w[0] == "language"]
            # espeak loads the dictionary named after the first language unless the file names
            # one; without it the voice says nothing (this wheel lacks fo_dict, for one).
            dictionary = next((w[1] for w in lines if len(w) > 1 and w[0] == "dictionary"), None)
            if not langs or not (data / f"{dictionary or langs[0][0].split('-')[0]}_dict").exists():
                continue
            for lang, priority in langs:
                if lang not in best or priority < best[lang][0]:
                    best[lang] = (priority, ident)
    return {lang: ident for lang, (_priority, ident) in best.items()}


def _int_problem(value: Any, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"must be a whole number from {low} to {high}, got {value!r}"
    return None


def _int_param(params: Mapping[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    why = _int_problem(value, *_PARAM_RANGES[name])
    if why:
        raise BadRequestError(f"speech.espeak param {name!r} {why}", kind=KIND)
    return value


def _paths() -> tuple[str, str]:
    import espeakng_loader  # a core dependency, imported late to keep `import vidflow` light

    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


def _say(text: str, voice: str, rate: int, pitch: int, gap: int) -> tuple[bytes, int, Events, str]:
    """Blocking: (pcm, sample rate, WORD events, engine) from a freshly loaded espeak-ng."""
    pcm = bytearray()
    events: Events = []

    def on_synth(wav: Any, count: int, evs: Any) -> int:
        if wav and count > 0:
            pcm.extend(ctypes.string_at(wav, count * 2))
        i = 0
        while evs and evs[i].type != _EVENT_END_OF_LIST:
            if evs[i].type == _EVENT_WORD:
                events.append((evs[i].text_position, evs[i].length, evs[i].audio_position / 1000))
            i += 1
        return 0

    callback = _Callback(on_synth)  # must outlive the synthesis, or espeak calls freed memory
    # A NUL would end the C string and a lone surrogate cannot be encoded; each becomes one
    # character, so espeak's code point positions still index `text`.
    data = text.replace("\0", " ").encode("utf-8", "replace") + b"\0"
    lib_path, data_path = _paths()
    with _LOCK:
        lib, sample_rate = ctypes.CDLL(lib_path), 0
        try:
            for name, argtypes in _SIGNATURES.items():
                getattr(lib, name).argtypes = argtypes
            lib.espeak_Info.restype = c_char_p
            sample_rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, data_path.encode(), 0)
            if sample_rate <= 0:
                raise PermanentProviderError(f"espeak-ng failed to start ({data_path})", kind=KIND)
            lib.espeak_ng_SetRandSeed(0)
            if _libc_srand is not None:
                _libc_srand(0)
            lib.espeak_SetSynthCallback(callback)
            _set_voice(lib, voice)
            for param, value in ((_RATE, rate), (_PITCH, pitch), (_WORDGAP, gap)):
                lib.espeak_SetParameter(param, value, 0)
            status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None,
                                      None) or lib.espeak_Synchronize()
            if status != 0:
                raise PermanentProviderError(f"espeak-ng failed (error {status})", kind=KIND)
            engine = f"espeak-ng {lib.espeak_Info(None).decode()}"
        finally:
            if sample_rate > 0:
                lib.espeak_Terminate()
            _unload(lib._handle)
    return bytes(pcm), sample_rate, events, engine


def _set_voice(lib: ctypes.CDLL, voice: str) -> None:
    base, plus, variant = voice.partition("+")
    if not base:
        raise BadRequestError(f"empty espeak voice {voice!r}: {_HINT}", kind=KIND)
    # espeak skips an unknown variant without a word: every character would sound the same.
    if plus and not _variant_exists(variant):
        raise BadRequestError(f"unknown espeak variant {variant!r} in {voice!r}: use a file name "
                              "from espeak-ng-data/voices/!v, such as f3, m3 or Alex", kind=KIND)
    if lib.espeak_SetVoiceByName(voice.encode()) == 0:
        return
    # espeak matches file and voice names only; a language code such as en-gb (file gmw/en)
    # goes through the language table, as the espeak-ng command line does.
    ident = _voice_table().get(base.lower())
    if ident is None or lib.espeak_SetVoiceByName(f"{ident}{plus}{variant}".encode()) != 0:
        raise BadRequestError(f"unknown espeak voice {voice!r}: {_HINT}", kind=KIND)


def _variant_exists(variant: str) -> bool:
    if variant.isascii() and variant.isdigit():  # espeak reads +3 as m3 and +13 as f3
        variant = f"m{int(variant)}" if int(variant) < 10 else f"f{int(variant) - 10}"
    folder = Path(_paths()[1]) / "voices" / "!v"  # names are case-sensitive
    return bool(variant) and (folder / variant).is_file() and (folder / variant).parent == folder
