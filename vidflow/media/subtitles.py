"""Karaoke (and plain) subtitles as an ASS script, for libass via ffmpeg's ``ass`` filter.

Owns the ASS text format: colours, times, styles, escaping and the ``\\k`` arithmetic. Pure: it
returns a string; ``compose`` writes it to a file and ``ffmpeg`` points libass at it (always with
``fontsdir``). Layout: bottom-centred text whose bottom edge sits at 66% of the frame height, so a
line or two fill the band 52%-66%, above the character sprites.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import MediaError
from .fonts import FONT_FAMILY
from .timeline import (
    CharacterLook,
    LineClip,
    SceneTimeline,
    VideoSettings,
    round_half_up,
    scene_timeline,
)

__all__ = ["ass_colour", "ass_escape", "ass_time", "karaoke_ass", "karaoke_parts"]

#: Style used for a speaker that has no :class:`CharacterLook` (a narrator, say).
FALLBACK_STYLE = "vidflow-default"
_REFERENCE_HEIGHT = 1920  # font_size, outline and shadow are given for this frame height
_BAND_BOTTOM = 0.66  # bottom edge of the text, as a fraction of the height
_WORD_JOINER = "\u2060"  # zero-width, present in Roboto
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")


def ass_colour(rgb: str, alpha: int = 0) -> str:
    """``"#RRGGBB"`` -> ``"&HAABBGGRR"`` (ASS stores blue first; alpha 0 is opaque, 255 clear)."""
    m = _HEX.fullmatch(rgb.strip())
    if not m or not 0 <= alpha <= 255:
        raise MediaError(f"colour must look like '#RRGGBB' (alpha 0-255), got {rgb!r}/{alpha}")
    h = m.group(1).upper()
    return f"&H{alpha:02X}{h[4:6]}{h[2:4]}{h[0:2]}"


def ass_time(seconds: float) -> str:
    """Seconds -> ``H:MM:SS.cc`` (centiseconds, rounded half up; negatives clamp to 0)."""
    cs = max(0, round_half_up(seconds * 100))
    h, rest = divmod(cs, 360_000)
    m, rest = divmod(rest, 6_000)
    sec, cs = divmod(rest, 100)
    return f"{h}:{m:02d}:{sec:02d}.{cs:02d}"


def ass_escape(text: str) -> str:
    """Make user text literal in an ASS Dialogue.

    ``{``/``}`` become ``\\{``/``\\}`` (libass prints them). A backslash is followed by a
    zero-width word joiner so ``\\N``, ``\\n``, ``\\h`` or ``\\{`` in the text never act as
    codes. Newlines and tabs become spaces (a raw newline would end the event).
    """
    text = re.sub(r"[\r\n\t]+", " ", text)
    text = text.replace("\\", "\\" + _WORD_JOINER)
    return text.replace("{", "\\{").replace("}", "\\}")


def karaoke_parts(line: LineClip) -> list[tuple[str, int]]:
    """Split a line into ``(text, centiseconds)`` karaoke syllables, one per word.

    Word i runs from its start to the next word's start; the first from 0, the last to the end
    of the audio. Its text runs from its first character to the next word's first character,
    so spaces and punctuation are kept. Centiseconds are rounded cumulatively, so the parts
    sum to ``round(duration * 100)`` exactly.
    """
    text, dur = line.text, max(0.0, line.duration)
    words = sorted(
        (w for w in line.words if 0 <= w.char_start < len(text)), key=lambda w: w.char_start
    )
    cuts = [0] + [w.char_start for w in words[1:]] + [len(text)]
    times = [0.0]
    for w in words[1:]:
        times.append(min(max(w.start, times[-1]), dur))
    times.append(dur)
    pieces = [text[a:b] for a, b in zip(cuts, cuts[1:])]
    pieces[0] = pieces[0].lstrip()
    pieces[-1] = pieces[-1].rstrip()
    marks = [round_half_up(t * 100) for t in times]
    return [(p, b - a) for p, a, b in zip(pieces, marks, marks[1:])]


def _style_name(name: str) -> str:
    return re.sub(r"[,\r\n]", " ", name).strip() or "speaker"


def _style(name: str, colour: str, s: VideoSettings, karaoke: bool) -> str:
    scale = s.height / _REFERENCE_HEIGHT
    size = max(1, round_half_up(s.font_size * scale))
    outline = max(1, round_half_up(6 * scale))
    shadow = max(0, round_half_up(3 * scale))
    primary = ass_colour(colour)
    secondary = ass_colour("#FFFFFF") if karaoke else primary
    margin_lr = round_half_up(s.width * 0.06)
    margin_v = round_half_up(s.height * (1 - _BAND_BOTTOM))
    fields = [
        _style_name(name), FONT_FAMILY, str(size), primary, secondary,
        ass_colour("#000000"), ass_colour("#000000", alpha=0x60),
        "-1", "0", "0", "0", "100", "100", "0", "0",
        "1", str(outline), str(shadow), "2",
        str(margin_lr), str(margin_lr), str(margin_v), "1",
    ]
    return "Style: " + ",".join(fields)


def karaoke_ass(
    lines: Sequence[LineClip],
    cast: Sequence[CharacterLook],
    settings: VideoSettings,
    timeline: SceneTimeline | None = None,
) -> str:
    """The ASS script for one scene: one style per character, one event per line.

    ``settings.subtitles`` picks ``karaoke`` (a ``\\k`` per word: spoken words turn from white
    to the speaker's colour) or ``plain`` (the whole line in the speaker's colour); ``none``
    gives a script without events. Event times come from ``timeline`` (by default
    :func:`scene_timeline` of the lines), relative to the scene start.
    """
    s = settings
    tl = timeline or scene_timeline([ln.duration for ln in lines], s)
    karaoke = s.subtitles == "karaoke"
    looks = {c.name: c for c in cast}
    out = [
        "[Script Info]",
        "; written by vidflow",
        "ScriptType: v4.00+",
        f"PlayResX: {s.width}",
        f"PlayResY: {s.height}",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
        "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
        "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
        _style(FALLBACK_STYLE, "#FFFFFF", s, karaoke),
    ]
    out += [_style(c.name, c.colour, s, karaoke) for c in cast]
    out += [
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    if s.subtitles == "none":
        return "\n".join(out) + "\n"
    for line, start, end in zip(lines, tl.starts, tl.ends):
        style = _style_name(line.speaker) if line.speaker in looks else FALLBACK_STYLE
        if karaoke:
            text = "".join(f"{{\\k{cs}}}{ass_escape(p)}" for p, cs in karaoke_parts(line))
        else:
            text = ass_escape(line.text.strip())
        out.append(f"Dialogue: 0,{ass_time(start)},{ass_time(end)},{style},,0,0,0,,{text}")
    return "\n".join(out) + "\n"
