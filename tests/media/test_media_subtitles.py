"""ASS colours, times, escaping and karaoke arithmetic (pure)."""

from __future__ import annotations

import re

import pytest

from vidflow.errors import MediaError
from vidflow.media.subtitles import (
    FALLBACK_STYLE,
    ass_colour,
    ass_escape,
    ass_time,
    karaoke_ass,
    karaoke_parts,
)
from vidflow.media.subtitles import frame_layout
from vidflow.media.timeline import CharacterLook, LineClip, VideoSettings, scene_timeline
from vidflow.providers.base import WordTiming

CAST = [
    CharacterLook("Nova", "#FFD400", "left", "nt.png", "nh.png"),
    CharacterLook("Pip", "#33ccff", "right", "pt.png", "ph.png"),
]


def wt(text: str, starts: list[float]) -> tuple[WordTiming, ...]:
    out, pos = [], 0
    for tok, st in zip(text.split(), starts):
        a = text.index(tok, pos)
        pos = a + len(tok)
        out.append(WordTiming(tok, st, st + 0.1, a, pos))
    return tuple(out)


def k_values(dialogue: str) -> list[int]:
    return [int(k) for k in re.findall(r"\{\\k(\d+)\}", dialogue)]


@pytest.mark.parametrize(
    "rgb,alpha,expected",
    [("#FFD400", 0, "&H0000D4FF"), ("#336699", 0x80, "&H80996633"), ("33ccff", 0, "&H00FFCC33"),
     ("#000000", 255, "&HFF000000")],
)
def test_ass_colour_is_alpha_blue_green_red(rgb, alpha, expected):
    assert ass_colour(rgb, alpha) == expected


@pytest.mark.parametrize("bad", ["#FFF", "red", "#GG0000", ""])
def test_ass_colour_rejects_non_hex(bad):
    with pytest.raises(MediaError):
        ass_colour(bad)


@pytest.mark.parametrize(
    "sec,expected",
    [(0, "0:00:00.00"), (61.234, "0:01:01.23"), (3725.999, "1:02:06.00"), (1.005, "0:00:01.01"),
     (-0.2, "0:00:00.00")],
)
def test_ass_time_is_h_mm_ss_cc(sec, expected):
    assert ass_time(sec) == expected


def test_ass_escape_neutralises_braces_backslashes_and_newlines():
    assert ass_escape("a{b}c") == "a\\{b\\}c"
    # a backslash gets a zero-width word joiner, so "\N" never becomes a line break
    assert ass_escape("C:\\New") == "C:\\\u2060New"
    assert ass_escape("one\ntwo\r\nthree") == "one two three"
    assert not re.search(r"\\[Nnh]", ass_escape("\\N \\n \\h"))


def test_karaoke_parts_keep_punctuation_and_cover_the_text():
    text = "Hello, world! How are you?"
    line = LineClip("Nova", text, "x.wav", 2.0, wt(text, [0.1, 0.5, 1.0, 1.3, 1.6]))
    parts = karaoke_parts(line)
    assert [p for p, _ in parts] == ["Hello, ", "world! ", "How ", "are ", "you?"]
    # the first word starts at 0 (not 0.1), the last ends at the audio end
    assert [cs for _, cs in parts] == [50, 50, 30, 30, 40]


@pytest.mark.parametrize("duration", [1.0, 1.005, 2.3333, 0.987654, 3.14159])
def test_karaoke_parts_sum_to_rounded_duration(duration):
    text = "one two three four five six"
    starts = [i * duration / 6 + 0.0049 for i in range(6)]  # awkward fractions on purpose
    parts = karaoke_parts(LineClip("Nova", text, "x.wav", duration, wt(text, starts)))
    assert sum(cs for _, cs in parts) == int(duration * 100 + 0.5 + 1e-7)


def test_karaoke_parts_cumulative_rounding_beats_per_word_rounding():
    # each word lasts 0.335 s: rounding each would give 34*3 = 102, the line is 1.005 s -> 101
    text = "a b c"
    parts = karaoke_parts(LineClip("P", text, "x", 1.005, wt(text, [0.0, 0.335, 0.67])))
    assert [cs for _, cs in parts] == [34, 33, 34]
    assert sum(cs for _, cs in parts) == 101


def test_karaoke_parts_without_timings_share_the_time_by_length():
    parts = karaoke_parts(LineClip("P", " Just text. ", "x", 1.234, ()))
    assert parts == [("Just ", 62), ("text.", 61)]


def lines_two() -> list[LineClip]:
    t1, t2 = "Why is {the} sky blue?", "Because of \\N scattering."
    return [
        LineClip("Nova", t1, "a.wav", 1.5, wt(t1, [0.0, 0.3, 0.6, 0.9, 1.2])),
        LineClip("Pip", t2, "b.wav", 2.047, wt(t2, [0.0, 0.4, 0.8, 1.1])),
    ]


def test_karaoke_ass_one_style_per_character_with_layout():
    s = VideoSettings()
    doc = karaoke_ass(lines_two(), CAST, s)
    assert "PlayResX: 1080" in doc and "PlayResY: 1920" in doc
    assert "WrapStyle: 2" in doc and "ScaledBorderAndShadow: yes" in doc  # rows break at \\N only
    styles = {ln.split(",")[0][7:]: ln.split(",") for ln in doc.splitlines() if ln.startswith("Style:")}
    assert set(styles) == {"Nova", "Pip", FALLBACK_STYLE}
    nova = styles["Nova"]
    assert nova[1] == "Noto Sans" and nova[2] == "72" and nova[7] == "-1"
    assert nova[3] == "&H0000D4FF" and nova[4] == "&H00FFFFFF"  # primary = spoken, white = not yet
    assert styles["Pip"][3] == "&H00FFCC33"
    assert nova[22] == "-1"  # Encoding -1: libass finds each run's direction itself
    # every event sits bottom-centred on the layout's caption box
    box = frame_layout(CAST, s).caption
    place = f"{{\\an2\\pos({box.x + box.w // 2},{box.bottom})}}"
    events = [ln for ln in doc.splitlines() if ln.startswith("Dialogue:")]
    assert events and all(place in e for e in events)


def test_karaoke_ass_events_follow_the_timeline_and_sum_exactly():
    s = VideoSettings()
    lines = lines_two()
    tl = scene_timeline([ln.duration for ln in lines], s)
    events = [ln for ln in karaoke_ass(lines, CAST, s).splitlines() if ln.startswith("Dialogue:")]
    assert len(events) == 2
    assert events[0].startswith("Dialogue: 0,0:00:00.00,0:00:01.50,Nova,,0,0,0,,")
    assert events[1].startswith("Dialogue: 0,0:00:01.80,0:00:03.85,Pip,,0,0,0,,")
    assert tl.starts[1] == pytest.approx(1.8)
    assert sum(k_values(events[0])) == 150
    assert sum(k_values(events[1])) == 205  # round(2.047 * 100)
    assert len(k_values(events[0])) == 5 and len(k_values(events[1])) == 4
    assert "\\{the\\}" in events[0]  # braces escaped, kept as text
    assert "\\\u2060N" in events[1]  # "\N" in the text stays text


def test_karaoke_ass_scales_font_with_height():
    doc = karaoke_ass(lines_two(), CAST, VideoSettings(width=270, height=480))
    nova = next(ln for ln in doc.splitlines() if ln.startswith("Style: Nova")).split(",")
    assert nova[2] == "18" and "PlayResY: 480" in doc


def test_plain_mode_has_no_karaoke_and_speaker_colour_everywhere():
    doc = karaoke_ass(lines_two(), CAST, VideoSettings(subtitles="plain"))
    assert "\\k" not in doc
    nova = next(ln for ln in doc.splitlines() if ln.startswith("Style: Nova")).split(",")
    assert nova[3] == nova[4] == "&H0000D4FF"
    assert sum(ln.startswith("Dialogue:") for ln in doc.splitlines()) == 2


def test_none_mode_has_no_events():
    doc = karaoke_ass(lines_two(), CAST, VideoSettings(subtitles="none"))
    assert "Dialogue:" not in doc


def test_unknown_speaker_uses_fallback_style():
    lines = [LineClip("Narrator", "Meanwhile.", "n.wav", 1.0, ())]
    doc = karaoke_ass(lines, CAST, VideoSettings())
    assert f",{FALLBACK_STYLE},," in doc
