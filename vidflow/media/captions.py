"""What is on screen when: a scene's lines cut into timed caption events. Pure.

Owns the timing and the text of captions, not the ASS file around them (``subtitles``):

* **tokens**: a line cut at its words (speech providers' char spans), each with its start and
  end in centiseconds on one cumulative scale, so karaoke parts add up to the line exactly.
  A token wider than the caption box is cut between characters (CJK has no spaces).
* **karaoke / plain**: tokens wrapped greedily into lines as wide as the caption box (widths
  from the fonts' own advances) and grouped into chunks of at most two lines; a chunk shows from
  its first word to the next chunk's first word. No 10-line blocks.
* **words**: 1 to ``max_words`` words at a time (a group also ends after . , ! ? ; : or when
  the next word would not fit one line), from the group's first word to the next group's.
* **scripts**: each token is cut into font runs (``FontChain.runs``), named with ``\\fn``.
  Text stays in logical order (libass reorders each event itself). Right-to-left karaoke is
  written as one event per word, each with the words already spoken in the speaker's colour,
  rather than ``\\k`` sweeps. :func:`visual_order` (word-level display order) is what a
  viewer sees, for checks.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ..fonts import FontChain, text_direction, visual_order
from .timeline import LineClip, SceneTimeline, round_half_up

__all__ = ["CaptionEvent", "Token", "base_rtl", "caption_events", "tokens", "visual_order"]

_BREAK_AFTER = re.compile(r"[.,!?;:\u2026\u3002\uff0c\uff01\uff1f\u060c\u061f\u0964]['\"\u201d\u2019)\]]*\s*$")
_ESCAPES = re.compile(r"[\r\n\t]+")
_WORD_JOINER = "\u2060"


@dataclass(frozen=True)
class Token:
    """A word with what follows it up to the next word (spaces, punctuation), on the line's
    centisecond scale: it shows from ``start`` to ``end``."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class CaptionEvent:
    """One caption on screen, times in seconds from the scene start. ``parts`` are the
    tokens shown (logical order) and ``lines`` how they break into rows; ``karaoke`` the
    centiseconds of each part (``\\k``) or None; ``spoken`` how many leading parts are
    already spoken (the per-word form of right-to-left karaoke), or None."""

    start: float
    end: float
    speaker: str
    parts: tuple[str, ...]
    lines: tuple[int, ...]  # number of parts on each row
    karaoke: tuple[int, ...] | None = None
    spoken: int | None = None

    @property
    def text(self) -> str:
        return " ".join(p.strip() for p in self.parts)

    @property
    def words(self) -> int:
        return len(self.text.split())


def ass_escape(text: str) -> str:
    """Make user text literal in an ASS Dialogue: braces escaped, a backslash followed by a
    zero-width word joiner (so ``\\N`` never acts), newlines and tabs as spaces."""
    text = _ESCAPES.sub(" ", text)
    text = text.replace("\\", "\\" + _WORD_JOINER)
    return text.replace("{", "\\{").replace("}", "\\}")


def tokens(line: LineClip) -> list[Token]:
    """A line's words with their times (centiseconds; they add up to ``round(duration*100)``).

    Word i runs from its start to the next word's start (the first from 0, the last to the end
    of the audio). Without word timings the line is cut at spaces and time shared by length.
    """
    text, dur = line.text, max(0.0, line.duration)
    words = sorted((w for w in line.words if 0 <= w.char_start < len(text)), key=lambda w: w.char_start)
    if words:
        cuts = [0] + [w.char_start for w in words[1:]] + [len(text)]
        times = [0.0]
        for w in words[1:]:
            times.append(min(max(w.start, times[-1]), dur))
        times.append(dur)
    else:
        text = text.strip()
        cuts = [0] + [m.start() for m in re.finditer(r"(?<=\s)\S", text)] + [len(text)]
        total = max(1, len(text))
        times = [dur * c / total for c in cuts]
    pieces = [text[a:b] for a, b in zip(cuts, cuts[1:])]
    pieces[0], pieces[-1] = pieces[0].lstrip(), pieces[-1].rstrip()
    marks = [round_half_up(t * 100) for t in times]
    return [Token(p, a, b) for p, a, b in zip(pieces, marks, marks[1:]) if p or b > a]


def _split_wide(tok: Token, fits) -> list[Token]:
    """Cut a token too wide for a row between characters, sharing its time by length."""
    if fits(tok.text.strip()):
        return [tok]
    out, cur, start = [], "", tok.start
    n = max(1, len(tok.text))
    done = 0
    for ch in tok.text:
        if cur and not unicodedata.category(ch).startswith("M") and not fits((cur + ch).strip()):
            end = tok.start + round_half_up((tok.end - tok.start) * (done + len(cur)) / n)
            out.append(Token(cur, start, end))
            done += len(cur)
            cur, start = "", end
        cur += ch
    out.append(Token(cur, start, tok.end))
    return out


def base_rtl(text: str) -> bool:
    """Whether a text's first strong character is right-to-left (its paragraph direction)."""
    return text_direction(text) == "R"


def _rows(toks: Sequence[Token], width: float, measure) -> list[list[Token]]:
    rows: list[list[Token]] = []
    for t in toks:
        if rows and measure("".join(x.text for x in rows[-1]) + t.text.rstrip()) <= width:
            rows[-1].append(t)
        else:
            rows.append([t])
    return rows


def caption_events(lines: Sequence[LineClip], tl: SceneTimeline, *, style: str, chain: FontChain,
                   size: float, width: float, max_words: int = 3) -> list[CaptionEvent]:
    """The caption events of one scene: ``style`` karaoke, words, plain or none; ``size`` the
    font size (ASS units = pixels of this frame); ``width`` the caption box's usable width."""
    if style == "none":
        return []

    def measure(text: str) -> float:
        return chain.width(text.strip(), size)

    def fits(text: str) -> bool:
        return measure(text) <= width

    out: list[CaptionEvent] = []
    for line, t0, t_end in zip(lines, tl.starts, tl.ends):
        toks = [s for t in tokens(line) for s in _split_wide(t, fits)]
        if not toks:
            continue
        if style == "words":
            groups: list[list[Token]] = [[]]
            for t in toks:
                g = groups[-1]
                if g and (len(" ".join(x.text for x in g).split()) + len(t.text.split()) > max_words
                          or not fits("".join(x.text for x in g) + t.text)
                          or _BREAK_AFTER.search(g[-1].text)):
                    groups.append([])
                groups[-1].append(t)
            chunks = [[g] for g in groups]
        else:
            rows = _rows(toks, width, measure)
            chunks = [rows[i:i + 2] for i in range(0, len(rows), 2)]
        rtl = base_rtl(line.text)
        for k, chunk in enumerate(chunks):
            flat = [t for row in chunk for t in row]
            start = t0 + flat[0].start / 100
            end = t0 + chunks[k + 1][0][0].start / 100 if k + 1 < len(chunks) else max(t_end, start)
            parts = tuple(t.text for t in flat)
            rows_n = tuple(len(r) for r in chunk)
            if style != "karaoke":
                out.append(CaptionEvent(start, end, line.speaker, parts, rows_n))
            elif not rtl:
                cs = tuple(t.end - t.start for t in flat)
                out.append(CaptionEvent(start, end, line.speaker, parts, rows_n, karaoke=cs))
            else:  # one event per word: \k would light the words up left to right
                for n, t in enumerate(flat):
                    a = t0 + t.start / 100
                    b = t0 + flat[n + 1].start / 100 if n + 1 < len(flat) else end
                    out.append(CaptionEvent(a, b, line.speaker, parts, rows_n, spoken=n + 1))
    return out
