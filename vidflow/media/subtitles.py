"""Captions as an ASS script, for libass via ffmpeg's ``ass`` filter.

Owns the ASS text format: colours, times, styles, escaping, ``\\k`` and ``\\fn`` tags and the
position of each event. What is shown when comes from ``captions``; where the caption box is
from ``layout``. Pure: it returns a string; ``compose`` writes it to a file and ``ffmpeg``
points libass at it (always with ``fontsdir``).

Every event is placed with ``\\pos`` at its caption box (bottom-, middle- or top-centred), with
``WrapStyle: 2`` (rows break only where ``captions`` put ``\\N``), so no caption leaves its box.
Styles use ``Encoding: -1`` and text stays in logical order: libass runs the bidi algorithm
over each event as a whole, across ``\fn`` runs, so a right-to-left line starts on the right
and a Latin word inside it keeps its place (checked by pixels in tests/compose/test_scripts.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import MediaError
from .captions import CaptionEvent, ass_escape, caption_events, tokens
from ..fonts import FontChain, default_chain
from .layout import Box, CastMember, Layout, layout
from .timeline import CharacterLook, LineClip, SceneTimeline, VideoSettings, round_half_up, scene_timeline

__all__ = [
    "ass_colour",
    "ass_escape",
    "ass_time",
    "caption_metrics",
    "frame_layout",
    "karaoke_ass",
    "karaoke_parts",
    "scene_ass",
    "sprite_size",
]

#: Style used for a speaker that is not in the cast.
FALLBACK_STYLE = "vidflow-default"
DEFAULT_SPRITE = (480, 600)  # the bundled sprites' shape, for a sprite whose file is unreadable
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


def karaoke_parts(line: LineClip) -> list[tuple[str, int]]:
    """A line as ``(text, centiseconds)`` karaoke syllables, one per word (see
    :func:`captions.tokens`): spaces and punctuation kept, parts summing to the duration."""
    return [(t.text, t.end - t.start) for t in tokens(line)]


def sprite_size(path: str | None) -> tuple[int, int] | None:
    """(width, height) of a PNG from its header; the bundled shape if unreadable; None: no sprite."""
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(24)
        if head[:8] == b"\x89PNG\r\n\x1a\n":
            return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    except OSError:
        pass
    return DEFAULT_SPRITE


def caption_metrics(s: VideoSettings) -> tuple[int, int, int]:
    """(font size, outline, caption box height) in pixels of this frame: two rows, or one for
    ``words``, plus the outline and a fifth of a row of room."""
    size = max(1, round_half_up(s.font_size * s.scale))
    outline = round_half_up(s.outline * s.scale)
    rows = 1 if s.subtitles == "words" else 2
    return size, outline, rows * size + 2 * outline + round_half_up(0.2 * size)


def frame_layout(cast: Sequence[CharacterLook | CastMember], s: VideoSettings) -> Layout:
    """The layout of a frame for this cast and these caption settings (raises LayoutError)."""
    members = [
        c if isinstance(c, CastMember)
        else CastMember(c.name, c.side, (c.size or sprite_size(c.telling)) if c.drawn else None)
        for c in cast
    ]
    return layout(s.width, s.height, members, caption_h=caption_metrics(s)[2],
                  position=s.position, margins=s.margins)  # type: ignore[arg-type]


def _style_name(name: str) -> str:
    return re.sub(r"[,\r\n]", " ", name).strip() or "speaker"


def _style(name: str, colour: str, s: VideoSettings, chain: FontChain) -> str:
    size, outline, _ = caption_metrics(s)
    shadow = max(0, round_half_up(3 * s.scale))
    primary = ass_colour(colour)
    secondary = ass_colour("#FFFFFF") if s.subtitles == "karaoke" else primary
    fields = [
        _style_name(name), chain.primary.family, str(size), primary, secondary,
        ass_colour("#000000"), ass_colour("#000000", alpha=0x60),
        "-1", "0", "0", "0", "100", "100", "0", "0",
        "1", str(outline), str(shadow), "2", "0", "0", "0", "-1",
    ]
    return "Style: " + ",".join(fields)


def _place(box: Box, position: str) -> str:
    cx = box.x + box.w // 2
    if position == "top":
        return f"{{\\an8\\pos({cx},{box.y})}}"
    if position == "center":
        return f"{{\\an5\\pos({cx},{box.y + box.h // 2})}}"
    return f"{{\\an2\\pos({cx},{box.bottom})}}"


def _body(ev: CaptionEvent, chain: FontChain, colour: str) -> str:
    """The event's text: rows joined by ``\\N``, font runs named, karaoke or spoken colours."""
    primary = chain.primary
    rows, i = [], 0
    for n in ev.lines:
        rows.append(list(range(i, i + n)))
        i += n
    runs = {j: chain.runs(ev.parts[j].strip() if ev.karaoke is None else ev.parts[j]) for j in range(len(ev.parts))}
    tagged = ev.karaoke is not None or ev.spoken is not None or any(
        len(r) > 1 or (r and r[0][1] is not primary) for r in runs.values())
    if not tagged:
        return "\\N".join(ass_escape("".join(ev.parts[j] for j in row).strip()) for row in rows)
    out_rows, face = [], primary
    for row in rows:
        # logical order: libass reorders the whole event itself, across \fn runs (measured:
        # "السماء blue زرقاء" shows زرقاء leftmost, السماء rightmost); reordering here
        # as well turned the words back into left-to-right order
        order = row
        bits = []
        for k, j in enumerate(order):
            tags = ""
            if ev.karaoke is not None:
                tags += f"\\k{ev.karaoke[j]}"
            if ev.spoken is not None:
                tags += "\\1c" + ass_colour(colour if j < ev.spoken else "#FFFFFF")
            text = ""
            for t, f in runs[j]:
                if k + 1 == len(order) and ev.karaoke is not None:
                    t = t.rstrip()
                if f is not face:
                    tags += f"\\fn{f.family}"
                    face = f
                text += (f"{{{tags}}}" if tags else "") + ass_escape(t)
                tags = ""
            if tags:
                text = f"{{{tags}}}" + text
            bits.append(text)
        out_rows.append("".join(bits) if ev.karaoke is not None else " ".join(bits))
    return "\\N".join(out_rows)


def scene_ass(lines: Sequence[LineClip], cast: Sequence[CharacterLook], s: VideoSettings,
              tl: SceneTimeline, lay: Layout, chain: FontChain) -> str:
    """The ASS script of one scene: one style per character, events from ``captions``."""
    size, outline, _ = caption_metrics(s)
    box = lay.caption
    usable = max(1, box.w - 2 * outline)
    events = caption_events(lines, tl, style=s.subtitles, chain=chain, size=size, width=usable,
                            max_words=s.max_words)
    looks = {c.name: c for c in cast}
    out = [
        "[Script Info]",
        "; written by vidflow",
        "ScriptType: v4.00+",
        f"PlayResX: {s.width}",
        f"PlayResY: {s.height}",
        "WrapStyle: 2",
        "ScaledBorderAndShadow: yes",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
        "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
        "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
        _style(FALLBACK_STYLE, "#FFFFFF", s, chain),
    ]
    out += [_style(c.name, c.colour, s, chain) for c in cast]
    out += ["", "[Events]", "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text"]
    place = _place(box, s.position)
    for ev in events:
        look = looks.get(ev.speaker)
        style = _style_name(ev.speaker) if look else FALLBACK_STYLE
        body = _body(ev, chain, look.colour if look else "#FFFFFF")
        out.append(f"Dialogue: 0,{ass_time(ev.start)},{ass_time(ev.end)},{style},,0,0,0,,{place}{body}")
    return "\n".join(out) + "\n"


def karaoke_ass(lines: Sequence[LineClip], cast: Sequence[CharacterLook], settings: VideoSettings,
                timeline: SceneTimeline | None = None, *, chain: FontChain | None = None,
                lay: Layout | None = None) -> str:
    """The ASS script of one scene with its layout worked out here (:func:`scene_ass`).

    ``settings.subtitles`` picks karaoke (a ``\\k`` per word: spoken words turn from white to
    the speaker's colour), words, plain or none (a script without events).
    """
    s = settings
    chain = chain or default_chain()
    if s.font:
        chain = chain.with_primary(s.font)
    tl = timeline or scene_timeline([ln.duration for ln in lines], s)
    return scene_ass(lines, cast, s, tl, lay or frame_layout(cast, s), chain)
