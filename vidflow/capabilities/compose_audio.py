"""The sound and QA half of the ``compose`` capability: music, mix settings, ``qa:`` limits.

Owns what the compose step's soundtrack and QA nodes need besides ffmpeg (which is
``media.audio`` and ``media.qa``): the ``qa:`` schema and its defaults, the mix settings of a
step, where ``music:`` comes from (resolved at load time, digested at prepare time), and the
QA gate's prepare and check. ``compose`` names the nodes and runs them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..cache.store import Artifact
from ..errors import BadOutputError, ConfigError, Problem
from .base import Prepared

if TYPE_CHECKING:  # pragma: no cover
    from ..recipe.load import LoadedRecipe, StepInfo

__all__ = ["AUDIO_VERSION", "QA_SECONDS", "QA_VERSION", "QASpec", "audio_mix", "check_qa", "min_stretch", "music_source", "prepare_qa", "qa_limits", "wire_music"]

#: Bumped when the same inputs give a different soundtrack, or a different QA measurement.
AUDIO_VERSION, QA_VERSION = "3", "2"
#: The QA gate only compares numbers: no CPU slot, no time.
QA_SECONDS = 0.0
#: A stretch counts as black, frozen or silent when it is this much longer than the pause.
STRETCH_MARGIN = 0.5


class QASpec(BaseModel):
    """``qa:`` of a compose step: the limits a finished video must stay inside.

    A key left out takes its default (see :func:`qa_limits`); a key set to null is not checked.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    loudness: tuple[float, float] | None = None
    true_peak: float | None = Field(default=None, ge=-20, le=3)
    max_silence: float | None = Field(default=None, ge=0)
    max_black: float | None = Field(default=1.0, ge=0)
    max_frozen: float | None = Field(default=None, ge=0)
    duration: tuple[float | None, float | None] | None = None

    @model_validator(mode="after")
    def _ranges(self) -> QASpec:
        for name in ("loudness", "duration"):
            pair = getattr(self, name)
            if pair is not None and None not in pair and pair[0] > pair[1]:
                raise ValueError(f"qa.{name}: the low end {pair[0]} is above the high end {pair[1]}")
        return self


def audio_mix(spec: Any):
    """The media layer's mix settings for a compose step."""
    from ..media.audio import AudioMix

    return AudioMix(loudness=spec.loudness, true_peak=spec.true_peak, music_volume=spec.music_volume, duck=spec.duck)


def qa_limits(spec: Any):
    """The ``qa:`` limits of a compose step, defaults filled in; None with ``qa: false``.

    Defaults: loudness within 2 LU of ``loudness:`` and true peak at most 0.5 dB over
    ``true_peak:`` (neither when ``loudness: null``); no silence longer than the pause plus
    2 s; no black stretch over 1 s; frozen stretches and duration not checked.
    """
    from ..media.qa import QALimits

    if spec.qa is False:
        return None
    q = spec.qa if isinstance(spec.qa, QASpec) else QASpec()
    given = q.model_fields_set
    target = spec.loudness
    loudness = q.loudness if "loudness" in given else (None if target is None else (target - 2.0, target + 2.0))
    peak = q.true_peak if "true_peak" in given else (None if target is None else spec.true_peak + 0.5)
    silence = q.max_silence if "max_silence" in given else round(spec.pause + 2.0, 3)
    return QALimits(loudness=loudness, true_peak=peak, max_silence=silence, max_black=q.max_black, max_frozen=q.max_frozen, duration=q.duration)


#: Built-in capabilities whose outputs never hold an ``audio`` file: ``music:`` cannot name them.
_NO_AUDIO = frozenset({"text", "image", "video", "compose", "publish"})


def wire_music(step: StepInfo, loaded: LoadedRecipe, problems: list[Problem]) -> None:
    """Resolve ``music:`` at load time: a step, a bundled bed, a file or a folder (see the module doc)."""
    from ..errors import MediaError
    from ..media.audio import MUSIC_EXTENSIONS, bundled_music, music_files

    value, where = step.spec.music, loaded.loc("steps", step.name, "music")
    path_key = f"steps.{step.name}.music"
    kinds = ", ".join(MUSIC_EXTENSIONS)
    if value in loaded.steps:
        src = loaded.steps[value]
        if value == step.name or src.for_each is not None:
            problems.append(Problem(where, path_key, f"`music: {value}` must name a step that makes one audio file, not a for_each step"))
            return
        if src.capability in _NO_AUDIO:  # e.g. the script: it would also be read as this step's dialogue
            problems.append(Problem(where, path_key, f"`music: {value}` names a {src.capability} step, which makes no audio file; name a step that makes one (a speech step without for_each, a python step with an audio output), a file, a folder or `vidflow:gentle`"))
            return
        step.links["music"] = value
        step.deps.add(value)
        return
    if value.startswith("vidflow:"):
        try:
            step.links["music_file"] = str(bundled_music(value.removeprefix("vidflow:")))
        except MediaError as e:
            problems.append(Problem(where, path_key, str(e)))
        return
    path = (loaded.base_dir / value).resolve()
    if path.is_file() and path.suffix.lower() in MUSIC_EXTENSIONS:
        if _not_audio(path, value, where, path_key, problems):
            return
        step.links["music_file"] = str(path)
    elif path.is_file():
        problems.append(Problem(where, path_key, f"`music: {value}` is not an audio file vidflow reads ({kinds})"))
    elif path.is_dir() and music_files(path):
        if any(_not_audio(f, f"{value}/{f.name}", where, path_key, problems) for f in music_files(path)):
            return
        step.links["music_dir"] = str(path)
    elif path.is_dir():
        problems.append(Problem(where, path_key, f"the music folder {path} holds no audio file ({kinds})"))
    else:
        problems.append(Problem(where, path_key, f"`music: {value}` is not a step, a bundled bed (`vidflow:gentle`), or a file or folder beside the recipe ({path} does not exist)"))


def _not_audio(path: Path, shown: str, where: str, path_key: str, problems: list[Problem]) -> bool:
    """Add a problem if ``path`` is plainly not audio (else ffmpeg fails each topic's soundtrack
    at run time with a message that names neither the file nor the recipe line)."""
    from ..media.audio import not_audio

    try:
        why = not_audio(path)
    except OSError as e:
        why = f"cannot read it: {e.strerror}"
    if why:
        problems.append(Problem(where, path_key, f"music file {shown} is not audio ({why}); give an audio file (.mp3, .wav, .ogg, ...) or drop it"))
    return bool(why)


def music_source(task: Any, step: StepInfo, art: Artifact | None, loaded: LoadedRecipe) -> tuple[str, Any, str] | None:
    """(digest, where to read it: a path or a BlobRef, what to call it in a manifest) of this
    topic's bed, or None. The name is the step's, ``vidflow:<bed>``, or the file's name."""
    from ..media.audio import music_digest, music_files, pick_music

    if art is not None:
        ref = (art.blobs or {}).get("audio")
        if ref is None:
            raise BadOutputError(f"step `{step.links['music']}` made no audio for `music:` (its output has no `audio` file)")
        return ref.digest, ref, f"step {step.links['music']}"
    try:
        if "music_file" in step.links:
            path = step.links["music_file"]
        elif "music_dir" in step.links:
            path = str(pick_music(music_files(step.links["music_dir"]), task.topic))
        else:
            return None
        spec = step.spec.music
        name = spec if spec.startswith("vidflow:") else os.path.basename(path)
        return music_digest(path), path, name
    except (OSError, ValueError) as e:
        raise ConfigError(f"{loaded.loc('steps', step.name, 'music')}: steps.{step.name}.music: cannot read the music: {e}") from None


def min_stretch(spec: Any) -> float:
    return round(spec.pause + STRETCH_MARGIN, 3)


def prepare_qa(task: Any, step: StepInfo, video: Artifact, loaded: LoadedRecipe) -> Prepared:
    limits = qa_limits(step.spec)
    where = loaded.loc("steps", step.name, "qa") if "qa" in step.spec.model_fields_set else loaded.loc("steps", step.name)
    fields = {"node": "compose.qa", "version": QA_VERSION, "video": video.blobs["video"].digest, "limits": limits.as_dict()}
    return Prepared(fields, payload={"video": video, "limits": limits, "where": f"{where}: steps.{step.name}.qa"}, seconds=QA_SECONDS)


def check_qa(p: dict) -> Artifact:
    """The gate: the video's measured figures against the limits; fails with every figure out."""
    from ..media.qa import QAFailedError, check, figures_from_dict

    video, limits = p["video"], p["limits"]
    figures = video.value["qa"]
    problems = check(figures_from_dict(figures), limits)
    if problems:
        raise QAFailedError(f"the video failed QA ({p['where']}): " + "; ".join(problems))
    value = {**video.value, "qa": {**figures, "limits": limits.as_dict(), "passed": True}}
    return Artifact(value=value, blobs=dict(video.blobs), meta={"kind": "compose.qa"})
