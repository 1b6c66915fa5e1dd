"""Shorts captions and long lines, timed by the voice (issue 11, must show 4 and build item 3).

Lines are spoken by the real espeak-ng, so the word timings are a voice's, not an even split.
``words`` shows 1-3 words at a time, each group from its first word's start to the next
group's; a 300-character line in ``karaoke`` becomes timed chunks of at most two rows.
"""

from __future__ import annotations

import re

import pytest

from vidflow.media.compose import CharacterLook, LineClip, VideoSettings
from vidflow.media.subtitles import karaoke_ass
from vidflow.media.timeline import scene_timeline
from vidflow.providers.base import SpeechRequest
from vidflow.providers.speech_espeak import EspeakSpeech

CAST = [CharacterLook("Nova", "#FFB000", "left", None, None)]  # a narrator: no sprites needed
LONG = ("Sunlight looks white, but it is a mix of every colour, and when it meets the tiny "
        "molecules of nitrogen and oxygen high in the air, the short blue waves bounce around far "
        "more than the long red ones, so blue light reaches our eyes from every direction at once, "
        "and the whole sky glows blue above us all day long.")


def _events(ass: str) -> list[tuple[float, float, str]]:
    """(start, end, visible text with \\N as a newline) of each Dialogue line."""
    out = []
    for line in ass.splitlines():
        if not line.startswith("Dialogue:"):
            continue
        f = line.split(",", 9)
        secs = [int(h) * 3600 + int(m) * 60 + float(s) for h, m, s in (t.split(":") for t in f[1:3])]
        text = re.sub(r"\{[^}]*\}", "", f[9]).replace("\\N", "\n")
        out.append((secs[0], secs[1], text))
    return out


async def _spoken(text: str) -> LineClip:
    res = await EspeakSpeech().synthesize(SpeechRequest(text=text, voice="en-us+f3"))
    return LineClip("Nova", text, "unused.wav", res.duration, tuple(res.words))


@pytest.mark.parametrize("text", [
    "Why is the sky blue? Sunlight scatters in the air, and blue scatters the most!",
    "It costs $5.50, not 12 — really? At 3:45 pm, 100% of us agree!",
])
async def test_words_style_shows_at_most_three_words_in_time_with_the_voice(text):
    clip = await _spoken(text)
    s = VideoSettings(subtitles="words")
    tl = scene_timeline([clip.duration], s)
    events = _events(karaoke_ass([clip], CAST, s, tl))
    assert len(events) > 1
    assert all(1 <= len(t.split()) <= 3 for _, _, t in events), events
    # the groups say the whole line, in order
    assert " ".join(t for _, _, t in events).split() == text.split()
    # each group starts when the voice says its first word (to the centisecond: ASS times)
    first_words, n = [], 0
    for _, _, t in events:
        first_words.append(clip.words[n])
        n += len(t.split())
    for (start, _, t), w in zip(events, first_words):
        assert abs(start - (tl.starts[0] + (w.start if w is not clip.words[0] else 0.0))) <= 0.0101, (t, start, w)
    # and stays until the next group starts; the last until the line's audio ends
    for (_, end, _), (nxt, _, _) in zip(events, events[1:]):
        assert abs(end - nxt) <= 0.0101
    assert events[-1][1] >= tl.ends[0] - 0.0101


async def test_a_long_line_becomes_timed_chunks_of_at_most_two_rows():
    clip = await _spoken(LONG)
    s = VideoSettings(subtitles="karaoke")
    tl = scene_timeline([clip.duration], s)
    events = _events(karaoke_ass([clip], CAST, s, tl))
    assert len(events) >= 3
    assert all(t.count("\n") <= 1 for _, _, t in events), events
    # together they say the line once, in order, one after another
    assert " ".join(t.replace("\n", " ") for _, _, t in events).split() == LONG.split()
    for (_, end, _), (start, _, _) in zip(events, events[1:]):
        assert abs(end - start) <= 0.0101
    # no chunk stays up for most of the line (the bug: one block for 21 s)
    assert max(e - b for b, e, _ in events) < 0.6 * clip.duration
