"""Compose's settings shared by its two halves (``compose`` and ``_visuals``), kept apart so
neither imports the other: the ``captions:`` and ``safe_area:`` blocks of a compose step, the
media layer's :class:`~vidflow.media.timeline.VideoSettings` made from a step, the settings
that enter a segment's key, and a node's lines as media ``LineClip`` s.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..cache.store import Artifact
from ..providers.base import WordTiming

__all__ = ["CAPTION_SIZE", "COMPOSE_VERSION", "WORDS_SIZE", "Captions", "SafeArea", "line_clips", "settings_key", "video_settings"]

#: Bumped when the same inputs would give different pixels or sound (enters every compose key).
COMPOSE_VERSION = "1"

#: Default caption sizes (pixels of a 1920-high frame): karaoke/plain rows, shorts-style words.
CAPTION_SIZE, WORDS_SIZE = 72, 110


class Captions(BaseModel):
    """``captions:``: how lines are shown (sizes in pixels of a 1920-high frame)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    style: Literal["karaoke", "words", "plain", "none"] | None = None
    font: str | None = None
    size: int | None = Field(default=None, ge=8, le=400)
    outline: float = Field(default=6, ge=0, le=40)
    position: Literal["auto", "bottom", "center", "top"] = "auto"
    max_words: int = Field(default=3, ge=1, le=3)


class SafeArea(BaseModel):
    """``safe_area:``: fractions of the frame that platform UI covers, instead of the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    top: float = Field(ge=0, le=0.45)
    bottom: float = Field(ge=0, le=0.45)
    left: float = Field(ge=0, le=0.45)
    right: float = Field(ge=0, le=0.45)


def video_settings(spec: Any, *, parallel: int = 1):
    """The media layer's settings for a compose step; ``parallel`` = segments encoded at once."""
    from ..media.compose import VideoSettings

    c, sa = spec.captions, spec.safe_area
    return VideoSettings(
        width=spec.width, height=spec.height, fps=spec.fps, pause=spec.pause, crf=spec.crf,
        preset=spec.preset, zoom=spec.zoom, subtitles=spec.caption_style, font_size=spec.caption_size,
        font=c.font, outline=c.outline, caption_position=c.position, max_words=c.max_words,
        pan=spec.pan, bob=spec.bob, transition=spec.transition, transition_seconds=spec.transition_seconds,
        margins=(sa.top, sa.bottom, sa.left, sa.right) if sa else None,
        threads=max(1, (os.cpu_count() or 1) // max(1, parallel)),
    )


def settings_key(spec: Any) -> dict[str, Any]:
    """Every compose setting that changes a segment's pixels, resolved (defaults applied)."""
    v = video_settings(spec)
    keys = ("width", "height", "fps", "pause", "crf", "preset", "zoom", "subtitles", "font_size", "font",
            "outline", "caption_position", "max_words", "pan", "bob", "transition", "transition_seconds", "margins")
    return {**{k: getattr(v, k) for k in keys}, "clip_audio": spec.clip_audio, "clip_fit": spec.clip_fit}


def line_clips(rt: Any, dialogue: dict, line_ids: Any, lines: list[Artifact]):
    """The lines of a node as media ``LineClip`` s (audio paths from ``rt.store``)."""
    from ..media.compose import LineClip

    clips = []
    for i, a in zip(line_ids, lines):
        words = tuple(WordTiming(w[0], w[1], w[2], w[3], w[4]) for w in a.value["words"])
        clips.append(LineClip(speaker=dialogue["lines"][i]["speaker"], text=a.value["text"], audio_path=rt.store.blob_file(a.blobs["audio"]), duration=a.value["duration"], words=words))
    return clips
