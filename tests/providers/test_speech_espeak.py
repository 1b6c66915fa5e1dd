"""speech.espeak: real espeak-ng (from the espeakng-loader wheel), no mocks; align_words alone."""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import io
import re
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from vidflow.errors import BadRequestError
from vidflow.providers.base import SpeechRequest, SpeechResult, WordTiming
from vidflow.providers.speech_espeak import EspeakOptions, EspeakSpeech, align_words, list_voices

PLAIN = "Hello world, this is vidflow."
TRICKY = "It costs $5.50, not 12 — really? Déjà vu at 3:45 pm!"


def tokens(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]


async def say(text: str, voice: str = "en-us", provider: EspeakSpeech | None = None,
              **params: int) -> SpeechResult:
    return await (provider or EspeakSpeech()).synthesize(SpeechRequest(text, voice, params))


def read_wav(data: bytes) -> tuple[Any, bytes]:
    with wave.open(io.BytesIO(data)) as w:
        return w.getparams(), w.readframes(w.getnframes())


def assert_well_formed(res: SpeechResult, text: str) -> None:
    """The contract every result keeps, whatever the text."""
    assert [(w.word, w.char_start, w.char_end) for w in res.words] == tokens(text)
    begins = [w.start for w in res.words]
    assert begins == sorted(begins)
    assert all(0 <= w.start <= w.end <= res.duration for w in res.words)
    assert all(a.end == b.start for a, b in zip(res.words, res.words[1:]))
    assert res.words[-1].end == res.duration


# --------------------------------------------------------------------------- synthesis


async def test_plain_sentence_gives_a_wav_and_a_timing_per_word():
    res = await say(PLAIN)
    params, frames = read_wav(res.audio)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 22050)
    assert (res.media_type, res.extension, res.sample_rate) == ("audio/wav", "wav", 22050)
    assert res.duration == params.nframes / 22050
    assert len(frames) == params.nframes * 2
    assert res.duration > 0.5
    assert max(abs(int.from_bytes(frames[i:i + 2], "little", signed=True))
               for i in range(0, len(frames), 2)) > 1000  # not silence
    assert_well_formed(res, PLAIN)
    begins = [w.start for w in res.words]
    assert all(a < b for a, b in zip(begins, begins[1:]))
    assert begins[0] < 0.3
    assert res.model.startswith("espeak-ng ")


async def test_numbers_and_punctuation_still_give_one_timing_per_token():
    res = await say(TRICKY)
    assert_well_formed(res, TRICKY)
    assert [w.word for w in res.words] == TRICKY.split()
    # "$5.50," is spoken as several words: it must take longer than the short "not" after it.
    by_word = {w.word: w for w in res.words}
    assert by_word["$5.50,"].end - by_word["$5.50,"].start > by_word["not"].end - by_word["not"].start


@pytest.mark.parametrize("text", ["...", "—", "I know—maybe.", "  spaced\tout\n words  ", "😀 ok", "a"])
async def test_odd_texts_keep_the_contract(text):
    assert_well_formed(await say(text), text)


async def test_voices_differ():
    female, male = await say(PLAIN, "en-us+f3"), await say(PLAIN, "en-us+m3")
    assert read_wav(female.audio)[1] != read_wav(male.audio)[1]


async def test_a_language_code_that_is_not_a_file_name_works():
    # espeak's own lookup rejects "en-gb" (the voice file is gmw/en); the language table finds it.
    gb, us = await say(PLAIN, "en-gb+m3"), await say(PLAIN, "en-us+m3")
    assert_well_formed(gb, PLAIN)
    assert gb.audio != us.audio


@pytest.mark.parametrize("voice", ["en-us", "en-us+f3", "en-us+Reed"])
async def test_the_same_request_gives_the_same_bytes_even_after_other_requests(voice):
    # espeak-ng keeps state in C statics between calls (without a fresh library per call these
    # differ by ~10 ms), seeds its noise from the clock, and klatt voices with breath (Reed) use
    # libc's rand(). None of that may leak into the output.
    first = await say(PLAIN, voice)
    await say(TRICKY, "en-gb")
    await say("Something else entirely, much longer than the first one.", "en-us+m3", rate=300)
    libc = ctypes.CDLL(None)
    libc.srand(int(time.time()))
    for _ in range(97):
        libc.rand()
    again = await say(PLAIN, voice)
    assert again.audio == first.audio
    assert again.words == first.words
    assert again.duration == first.duration


async def test_output_does_not_depend_on_the_clock():
    # espeak-ng seeds its noise generator with time(NULL), in whole seconds: speak other lines
    # until the second changes (at most a second of real work), then speak the first one again.
    first = await say(PLAIN, "en-us+f3")
    second = int(time.time())
    while int(time.time()) == second:
        await say("Filler while the clock moves on.", "en-us+whisper")
    assert (await say(PLAIN, "en-us+f3")).audio == first.audio


def test_another_process_gives_the_same_bytes():
    # A fresh interpreter: another clock second (likely), heap layout and libc rand state.
    code = (
        "import asyncio, hashlib, sys\n"
        "from vidflow.providers.base import SpeechRequest\n"
        "from vidflow.providers.speech_espeak import EspeakSpeech\n"
        "for voice in sys.argv[1:]:\n"
        "    res = asyncio.run(EspeakSpeech().synthesize(SpeechRequest(%r, voice)))\n"
        "    print(hashlib.sha256(res.audio).hexdigest())\n" % PLAIN
    )
    voices = ["en-us+f3", "en-us+Reed", "en-gb"]
    out = subprocess.run([sys.executable, "-c", code, *voices], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    here = [hashlib.sha256(asyncio.run(say(PLAIN, v)).audio).hexdigest() for v in voices]
    assert out.stdout.split() == here


async def test_faster_rate_is_shorter():
    fast, slow = await say(TRICKY, rate=250), await say(TRICKY, rate=120)
    assert fast.duration < slow.duration * 0.75


async def test_request_params_win_over_options():
    provider = EspeakSpeech(EspeakOptions(rate=120, pitch=20))
    from_options = await say(PLAIN, provider=provider)
    overridden = await say(PLAIN, provider=provider, rate=250, pitch=80)
    same_as_override = await say(PLAIN, provider=EspeakSpeech(EspeakOptions(rate=250, pitch=80)))
    assert overridden.duration < from_options.duration
    assert overridden.audio == same_as_override.audio


async def test_pitch_changes_audio_not_timing_much():
    low, high = await say(PLAIN, pitch=10), await say(PLAIN, pitch=90)
    assert low.audio != high.audio
    assert abs(low.duration - high.duration) < 0.3


async def test_word_gap_lengthens_speech():
    plain = await say(PLAIN)
    gapped = await say(PLAIN, provider=EspeakSpeech(EspeakOptions(gap_ms=100)))
    assert gapped.duration > plain.duration + 0.2
    assert_well_formed(gapped, PLAIN)


async def test_concurrent_calls_each_match_their_sequential_result():
    requests = [(PLAIN, "en-us"), (TRICKY, "en-us+f3"), (PLAIN, "en-gb+m3"), ("One.", "en-us"),
                (TRICKY, "en-us"), ("Two words", "en-us+m3"), (PLAIN, "en-us+f3"), ("Three", "fr")]
    sequential = [await say(text, voice) for text, voice in requests]
    together = await asyncio.gather(*(say(text, voice) for text, voice in requests))
    for alone, concurrent in zip(sequential, together):
        assert concurrent.audio == alone.audio
        assert concurrent.words == alone.words


# --------------------------------------------------------------------------- bad requests


@pytest.mark.parametrize("voice", ["nonsense", "xx-yy", "English_(America)", "", "+f3"])
async def test_unknown_voice_is_a_bad_request(voice):
    with pytest.raises(BadRequestError, match="en-us") as info:
        await say(PLAIN, voice)
    assert info.value.kind == "speech.espeak"


@pytest.mark.parametrize("voice", ["en-us+nonsense", "en-us+alex", "en-us+", "en-us+0", "en-us+../m3"])
async def test_unknown_variant_is_a_bad_request(voice):
    # espeak itself ignores these silently and speaks the plain voice.
    with pytest.raises(BadRequestError, match="variant"):
        await say(PLAIN, voice)


@pytest.mark.parametrize("voice", ["en-us+Alex", "en-us+3", "en-us+13", "EN-US+f3"])
async def test_variant_spellings_espeak_accepts(voice):
    assert_well_formed(await say(PLAIN, voice), PLAIN)


async def test_numbered_variants_are_the_named_ones():
    assert (await say(PLAIN, "en-us+13")).audio == (await say(PLAIN, "en-us+f3")).audio


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
async def test_empty_text_is_a_bad_request(text):
    with pytest.raises(BadRequestError, match="empty"):
        await say(text)


@pytest.mark.parametrize("params", [{"rate": 50}, {"rate": 500}, {"pitch": -1}, {"pitch": 100},
                                    {"rate": True}, {"rate": 165.0}, {"rate": "fast"}])
async def test_bad_params_are_bad_requests(params):
    with pytest.raises(BadRequestError, match="rate|pitch"):
        await EspeakSpeech().synthesize(SpeechRequest(PLAIN, "en-us", params))


@pytest.mark.parametrize("settings", [{"rate": 79}, {"rate": 451}, {"pitch": 100}, {"gap_ms": 101},
                                      {"gap_ms": -1}, {"volume": 3}])
def test_options_are_validated(settings):
    with pytest.raises(ValidationError):
        EspeakOptions(**settings)


def test_identity_carries_the_options():
    ident = EspeakSpeech(EspeakOptions(rate=200)).identity()
    assert ident["kind"] == "speech.espeak"
    assert ident["options"] == {"rate": 200, "pitch": 50, "gap_ms": 0}


def test_class_attributes():
    assert (EspeakSpeech.kind, EspeakSpeech.capability, EspeakSpeech.version) == ("speech.espeak", "speech", "1")
    assert (EspeakSpeech.paid, EspeakSpeech.default_concurrency) == (False, 1)
    assert EspeakSpeech.Options is EspeakOptions
    assert EspeakSpeech().voice_key() == "espeak"


# --------------------------------------------------------------------------- voices


def data_dir() -> Path:
    import espeakng_loader

    return Path(espeakng_loader.get_data_path())


def test_list_voices():
    voices = list_voices()
    assert voices == sorted(set(voices))
    assert {"en-us", "en-gb", "en", "fr", "de"} <= set(voices)
    assert all(v == v.lower() and "+" not in v for v in voices)


@pytest.mark.slow
async def test_every_listed_voice_speaks():
    for voice in list_voices():
        res = await say("ok 42", voice)
        assert_well_formed(res, "ok 42")


async def test_a_voice_without_its_dictionary_is_refused():
    if (data_dir() / "fo_dict").exists():
        pytest.skip("this espeak-ng-data has the Faroese dictionary")
    assert "fo" not in list_voices()
    # espeak accepts the voice, then says nothing at all.
    with pytest.raises(BadRequestError, match="dictionary"):
        await say("Hello world", "fo")


# --------------------------------------------------------------------------- align_words


def starts(words: list[WordTiming]) -> list[float]:
    return [w.start for w in words]


def test_align_event_in_the_middle_of_a_token():
    # "$5.50," : espeak points inside the token (at "5"), 1-based position 2 -> index 1.
    words = align_words("$5.50, ok", [(2, 1, 0.1), (8, 2, 0.9)], 1.5)
    assert starts(words) == [0.1, 0.9]
    assert [(w.char_start, w.char_end) for w in words] == [(0, 6), (7, 9)]
    assert [w.end for w in words] == [0.9, 1.5]


def test_align_only_the_first_event_in_a_token_counts():
    words = align_words("3:45 pm", [(1, 1, 0.2), (3, 2, 0.5), (4, 2, 0.8), (6, 2, 1.1)], 1.6)
    assert starts(words) == [0.2, 1.1]


def test_align_token_without_event_is_interpolated_by_length():
    # "a" (1 char) has an event at 0.0, "bb" (2) none, "ccc" at 0.9: [0, 0.9] is shared 1:2.
    words = align_words("a bb ccc", [(1, 1, 0.0), (6, 3, 0.9)], 2.0)
    assert starts(words) == pytest.approx([0.0, 0.3, 0.9])


def test_align_trailing_and_leading_tokens_without_events():
    words = align_words("xx y zz w", [(4, 1, 0.5)], 1.5)
    # "xx", before the first event, starts the audio; after the last, [0.5, 1.5] is shared 1:2:1.
    assert starts(words) == pytest.approx([0.0, 0.5, 0.75, 1.25])
    assert words[-1].end == 1.5


def test_align_zero_length_event_counts():
    # "know—maybe." gave a 0-length event pointing at "k".
    words = align_words("I know—maybe.", [(1, 1, 0.0), (3, 0, 0.093), (8, 5, 0.438)], 0.87)
    assert starts(words) == [0.0, 0.093]


def test_align_events_out_of_order():
    events = [(7, 5, 0.3), (22, 7, 1.2), (1, 5, 0.0), (14, 4, 0.9), (19, 2, 1.1)]
    words = align_words(PLAIN, events, 1.8)
    assert starts(words) == [0.0, 0.3, 0.9, 1.1, 1.2]


def test_align_event_running_backwards_is_ignored():
    # A bogus event puts "c" before "b": "c" is placed between "b" and the end instead.
    words = align_words("a b c", [(1, 1, 0.0), (3, 1, 0.6), (5, 1, 0.2)], 1.0)
    assert starts(words) == pytest.approx([0.0, 0.6, 0.8])


def test_align_ignores_events_in_whitespace_or_past_the_end():
    words = align_words("ab  cd", [(1, 2, 0.0), (3, 1, 0.2), (4, 1, 0.3), (99, 1, 0.4), (5, 2, 0.5)], 1.0)
    assert starts(words) == [0.0, 0.5]


def test_align_clamps_into_the_audio():
    words = align_words("ab cd", [(1, 2, -0.05), (4, 2, 3.0)], 1.0)
    assert starts(words) == [0.0, 1.0]
    assert [w.end for w in words] == [1.0, 1.0]


def test_align_without_events_spreads_by_length():
    assert starts(align_words("aa b c", [], 2.0)) == pytest.approx([0.0, 1.0, 1.5])


def test_align_empty_text():
    assert align_words("", [], 1.0) == []
    assert align_words("  \n ", [(1, 1, 0.0)], 1.0) == []


@given(
    text=st.text(alphabet=st.sampled_from("ab $5.—é😀\n "), max_size=40),
    raw=st.lists(st.tuples(st.integers(-3, 50), st.integers(0, 5), st.floats(-1, 5)), max_size=30),
    duration=st.floats(0.01, 4),
)
def test_align_keeps_the_contract_for_any_events(text, raw, duration):
    words = align_words(text, raw, duration)
    assert [(w.word, w.char_start, w.char_end) for w in words] == tokens(text)
    if words:
        assert starts(words) == sorted(starts(words))
        assert all(0 <= w.start <= w.end <= duration for w in words)
        assert words[-1].end == duration
