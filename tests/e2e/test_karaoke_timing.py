"""Karaoke \\k timings come from espeak's word events and add up to the line's audio."""

from __future__ import annotations

import re

import pytest

from vidflow.media.compose import CharacterLook, LineClip, VideoSettings
from vidflow.media.subtitles import karaoke_ass
from vidflow.media.timeline import scene_timeline
from vidflow.providers.base import SpeechRequest
from vidflow.providers.speech_espeak import EspeakSpeech

SENTENCES = [
    "It costs $5.50, not 12 — really? At 3:45 pm, 100% of us agree!",
    "Déjà vu: 1,000,000 bees (roughly) make 2.5 kg of honey... per year?!",
    "Hi.",
]


@pytest.mark.parametrize("text", SENTENCES)
async def test_k_durations_sum_to_the_line_audio_and_follow_espeak_words(text):
    res = await EspeakSpeech().synthesize(SpeechRequest(text=text, voice="en-us+f3"))
    clip = LineClip("Nova", text, "unused.wav", res.duration, tuple(res.words))
    s = VideoSettings()
    tl = scene_timeline([res.duration], s)
    ass = karaoke_ass([clip], [CharacterLook("Nova", "#FFB000", "left", "t.png", "h.png")], s, tl)
    [event] = [l for l in ass.splitlines() if l.startswith("Dialogue:")]
    ks = [int(k) for k in re.findall(r"\\k(\d+)", event)]
    # one \k per word of the line, in order, and the words are the line's own tokens
    assert len(ks) == len(text.split()) == len(res.words)
    assert abs(sum(ks) / 100 - res.duration) <= 0.020
    # each word's karaoke start is espeak's start for that word (to the centisecond)
    starts = [0.0]
    for k in ks[:-1]:
        starts.append(starts[-1] + k / 100)
    for word, start in zip(res.words[1:], starts[1:]):
        assert abs(word.start - start) <= 0.0101, (word, start)
    # word starts are real speech timings, not an even split of the line
    spans = [b.start - a.start for a, b in zip(res.words, res.words[1:])]
    if len(spans) > 3:
        assert max(spans) - min(spans) > 0.05
