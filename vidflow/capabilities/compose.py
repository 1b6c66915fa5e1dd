"""The ``compose`` capability: a dialogue's lines, voices and pictures -> one video (local ffmpeg).

``compose: vertical`` takes a dialogue step (``script``), a speech step over its lines and,
optionally, a step giving each scene its picture (``visuals:``/``art:``: stills or clips; an
image step over the scenes is found by itself). Any frame size works: the layout, the fonts
and the topics' glyphs are checked at load time (``_visuals``). Its nodes, named once the
script exists:

* ``video.scene[j]``: one video-only segment per scene with lines (its picture, still or
  clip, the cast's sprites, burned-in captions; with ``transition: crossfade`` also the previous
  scene's picture and lines); it needs only its own inputs, so it starts as soon as those
  exist, and segments encode in parallel;
* ``video.audio``: the whole soundtrack, once: the lines in their slots, the ``music:`` bed
  looped, faded and ducked under every line, normalised to ``loudness:`` (it needs only the
  lines and the bed, so it runs while segments encode);
* ``video``: segments joined with ``-c copy``, the soundtrack muxed (with the clips' own sound
  under it when ``clip_audio: mix``), then the file measured (``media.qa``: real duration,
  loudness, true peak, black/frozen/silent stretches). The figures are part of its cached
  output, so a rerun never measures again;
* ``video.qa`` (unless ``qa: false``): the figures checked against the ``qa:`` limits, the
  step's output. Outside a limit, it fails with the figure, and so does its topic only.

What enters a segment's key: compose settings, the scene picture's digests and size, each
line's text, speaker, audio digest and word timings, the cast's colours, sides, sprite digests
and sizes, the font chain's digest. The soundtrack's: the lines' audio digests and durations,
the mix settings and the music's digest (never its path). The video's: the segment and
soundtrack digests (and the clips' sound, and the QA measurement's version). The check's: the
video digest and the limits.

``music:`` is a step name (a single-node step whose output has an ``audio`` blob), a bundled
bed (``vidflow:gentle``), a file, or a folder (one file per topic, see ``media.audio.pick_music``);
paths are relative to the recipe's folder and checked at load time.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal

from pydantic import Field

from ..cache.store import Artifact
from ..calibration import Calibration
from ..errors import Problem
from ..recipe.schema import StepModel
from ._compose_settings import CAPTION_SIZE, COMPOSE_VERSION, WORDS_SIZE, Captions, SafeArea, line_clips, video_settings
from ._visuals import check_frame, emoji_warning, pick_visuals, segment, segment_fields, topic_emoji_warnings
from .base import UNKNOWN, Capability, Expansion, Prepared, Runtime, TaskInputs, TaskSpec, require
from .compose_audio import (
    AUDIO_VERSION,
    QA_SECONDS,
    QA_VERSION,
    QASpec,
    audio_mix,
    check_qa,
    min_stretch,
    music_source,
    prepare_qa,
    qa_limits,
    wire_music,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..recipe.load import LoadedRecipe, StepInfo

__all__ = ["ComposeCapability", "ComposeStep", "video_settings"]

#: Seconds of one CPU slot per second of output, before past runs measured this machine
#: (an x264 veryfast 1080x1920 segment on one core of the 2-core CI machine). The soundtrack
#: includes its loudness passes; the video node includes the QA measurement (one decode).
DEFAULT_RATE = {"segment": 0.6, "audio": 0.08, "video": 0.12}


class ComposeStep(StepModel):
    compose: Literal["vertical"]
    subtitles: Literal["karaoke", "words", "plain", "none"] | None = None  # = captions.style
    captions: Captions = Captions()
    fonts: str | None = None
    script: str | None = None
    speech: str | None = None
    art: str | None = None
    visuals: str | None = None
    width: int = Field(default=1080, ge=64, le=4096, multiple_of=2)
    height: int = Field(default=1920, ge=64, le=4096, multiple_of=2)
    fps: int = Field(default=30, ge=1, le=120)
    pause: float = Field(default=0.3, ge=0.05, le=10)
    zoom: float = Field(default=0.06, ge=0, le=0.5)
    pan: float = Field(default=0.03, ge=0, le=0.5)
    bob: float = Field(default=0.02, ge=0, le=0.2)
    transition: Literal["cut", "crossfade"] = "cut"
    transition_seconds: float = Field(default=0.4, gt=0, le=5)
    clip_audio: Literal["drop", "mix"] = "drop"
    clip_fit: Literal["auto", "loop", "slow"] = "auto"
    safe_area: SafeArea | None = None
    crf: int = Field(default=23, ge=0, le=51)
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"] = "veryfast"
    font_size: int | None = Field(default=None, ge=8, le=400)  # = captions.size
    music: str | None = None
    music_volume: float = Field(default=-12.0, ge=-40, le=0)
    duck: float = Field(default=12.0, ge=0, le=40)
    loudness: float | None = Field(default=-14.0, ge=-40, le=-5)
    true_peak: float = Field(default=-1.0, ge=-9, le=0)
    qa: QASpec | bool = True

    @property
    def caption_style(self) -> str:
        return self.captions.style or self.subtitles or "karaoke"

    @property
    def caption_size(self) -> int:
        return self.captions.size or self.font_size or (WORDS_SIZE if self.caption_style == "words" else CAPTION_SIZE)


class ComposeCapability(Capability):
    name: ClassVar[str] = "compose"
    Step: ClassVar[type[ComposeStep]] = ComposeStep
    trigger: ClassVar[str] = "compose"
    exclusive: ClassVar[bool] = True

    # ------------------------------------------------------------------ load time
    def plan_warnings(self, step: StepInfo, loaded: LoadedRecipe) -> list[str]:
        return topic_emoji_warnings(loaded, step)

    def wire(self, step: StepInfo, loaded: LoadedRecipe, problems: list[Problem]) -> None:
        steps, spec = loaded.steps, step.spec
        dialogues = [t for t in steps.values() if t.capability == "text" and t.spec.output == "dialogue"]
        script = _pick("script", spec.script, dialogues, step, loaded, problems, capability="text", required=True)
        if script is None:
            return
        if steps[script].spec.output != "dialogue":
            problems.append(Problem(loaded.loc("steps", step.name, "script"), f"steps.{step.name}.script", f"step `{script}` must have `output: dialogue`"))
            return
        lines = [t for t in steps.values() if t.capability == "speech" and t.for_each == (script, "lines")]
        speech = _pick("speech", spec.speech, lines, step, loaded, problems, capability="speech", required=True)
        if speech and steps[speech].for_each != (script, "lines"):
            problems.append(Problem(loaded.loc("steps", speech, "for_each"), f"steps.{speech}.for_each", f"step `{speech}` is composed per line: give it `for_each: {script}.lines`"))
        art = pick_visuals(step, loaded, script, problems)
        check_frame(step, loaded, problems)
        step.links.update({k: v for k, v in (("script", script), ("speech", speech), ("art", art)) if v})
        step.deps.update(n for n in (script, speech, art) if n)
        if spec.music is not None:
            wire_music(step, loaded, problems)

    # ------------------------------------------------------------------ plan time
    def expand_needs(self, step: StepInfo) -> dict[str, str]:
        needs = {step.links["script"]: "value", step.links["speech"]: "nodes"}
        if "art" in step.links:
            needs[step.links["art"]] = "nodes"
        if "music" in step.links:
            needs[step.links["music"]] = "nodes"
        return needs

    def expand(self, step: StepInfo, x: Expansion) -> list[TaskSpec]:
        script_id = x.results[step.links["script"]][0]
        speech_ids = x.results[step.links["speech"]]
        art_ids = x.results.get(step.links["art"]) if "art" in step.links else None
        dialogue = x.values[step.links["script"]]
        if dialogue is UNKNOWN:
            info = x.loaded.steps[step.links["script"]]
            n = len(art_ids) if art_ids is not None else x.loaded.capability(info).expected_items(info, "scenes", x.adapters(info.provider))
            scene_lines: list[list[int]] = [[] for _ in range(max(1, n))]
            for i in range(len(speech_ids)):
                scene_lines[min(i * len(scene_lines) // max(1, len(speech_ids)), len(scene_lines) - 1)].append(i)
        else:
            scene_lines = [[] for _ in dialogue["scenes"]]
            for i, line in enumerate(dialogue["lines"]):
                scene_lines[line["scene"]].append(i)
        estimated = dialogue is UNKNOWN
        scenes = [j for j, ls in enumerate(scene_lines) if ls]
        name = step.name
        out = []
        crossfade = step.spec.transition == "crossfade"
        for k, j in enumerate(scenes):
            deps = (script_id, *(speech_ids[i] for i in scene_lines[j]))
            visual = art_ids is not None and j < len(art_ids)
            deps += (art_ids[j],) if visual else ()
            params: dict[str, Any] = {"scene": j, "lines": tuple(scene_lines[j]), "visual": visual, "previous": None}
            if crossfade and k > 0:  # the previous scene's picture, and its lines (its length)
                p = scenes[k - 1]
                p_visual = art_ids is not None and p < len(art_ids)
                deps += ((art_ids[p],) if p_visual else ()) + tuple(speech_ids[i] for i in scene_lines[p])
                params["previous"] = {"scene": p, "lines": tuple(scene_lines[p]), "visual": p_visual}
            out.append(TaskSpec(f"{name}.scene[{j}]", role="segment", deps=deps, params=params, estimated=estimated, result=False))
        order = tuple(i for j in scenes for i in scene_lines[j])
        # clip_audio: "mix" tells the video node that segments carry a `clip_audio` blob (the
        # clip's own sound, fitted to the scene) to mix under the voices
        layout = {"scenes": tuple(scenes), "scene_lines": tuple(tuple(ls) for ls in scene_lines), "clip_audio": step.spec.clip_audio}
        music = x.results[step.links["music"]][:1] if "music" in step.links else ()
        out.append(TaskSpec(f"{name}.audio", role="audio", deps=(script_id, *(speech_ids[i] for i in order), *music), params={**layout, "music": bool(music)}, estimated=estimated, result=False))
        seg_ids = tuple(x.node_id(f"{name}.scene[{j}]") for j in scenes)
        checked = qa_limits(step.spec) is not None
        out.append(TaskSpec(name, role="video", deps=(script_id, *seg_ids, x.node_id(f"{name}.audio")), params=layout, estimated=estimated, result=not checked))
        if checked:
            out.append(TaskSpec(f"{name}.qa", role="qa", deps=(x.node_id(name),), estimated=estimated))
        return out

    def estimate(self, task: Any, step: StepInfo, loaded: LoadedRecipe, adapter: Any, calibration: Calibration) -> Prepared:
        if task.role == "qa":
            return Prepared(None, seconds=QA_SECONDS)
        speech = loaded.steps[step.links["speech"]]
        per_line = calibration.line_seconds(loaded.providers[speech.provider].kind if speech.provider else None) + step.spec.pause
        lines = len(task.params["lines"]) if task.role == "segment" else sum(len(task.params["scene_lines"][j]) for j in task.params["scenes"])
        return self._timed(task, lines * per_line, calibration)

    @staticmethod
    def _timed(task: Any, output_seconds: float, calibration: Calibration, **kw: Any) -> Prepared:
        """A node's seconds from the length of what it makes (learnt rate, or the default)."""
        default = DEFAULT_RATE[task.role] * output_seconds
        seconds = calibration.seconds(f"cpu:compose.{task.role}", default, output_seconds=output_seconds)
        return Prepared(kw.pop("fields", None), seconds=seconds, units={"output_seconds": round(output_seconds, 3)}, **kw)

    # ------------------------------------------------------------------ run time
    def prepare(self, task: Any, step: StepInfo, inputs: TaskInputs, loaded: LoadedRecipe, adapters: Callable[[str], Any]) -> Prepared | None:
        if not inputs.known():
            return None
        arts = {d: inputs.artifact(d) for d in task.deps}
        if task.role == "qa":
            return prepare_qa(task, step, arts[task.deps[0]], loaded)
        dialogue = arts[task.deps[0]].value
        pause = step.spec.pause
        if task.role == "segment":
            fields, payload = segment_fields(task, step, arts, dialogue, loaded)
            out_s = sum(a.value["duration"] + pause for a in payload["lines"])
            return self._timed(task, out_s, inputs.calibration, fields=fields, payload=payload)
        if task.role == "audio":
            order = _order(task.params)
            by_id = dict(zip(order, (arts[d] for d in task.deps[1 : 1 + len(order)])))
            music = music_source(task, step, arts[task.deps[-1]] if task.params.get("music") else None, loaded)
            fields = {
                "node": "compose.audio",
                "version": AUDIO_VERSION,
                "settings": {"fps": step.spec.fps, "pause": step.spec.pause},
                "mix": dict(vars(audio_mix(step.spec))),
                "music": music[0] if music else None,
                "scenes": [[[by_id[i].blobs["audio"].digest, by_id[i].value["duration"]] for i in task.params["scene_lines"][j]] for j in task.params["scenes"]],
            }
            out_s = sum(a.value["duration"] + pause for a in by_id.values())
            bed = {"path": music[1], "name": music[2], "digest": music[0]} if music else None
            return self._timed(task, out_s, inputs.calibration, fields=fields, payload={"dialogue": dialogue, "lines": by_id, "music": bed})
        segments = [arts[d] for d in task.deps[1:-1]]
        audio = arts[task.deps[-1]]
        fields = {"node": "compose.video", "version": COMPOSE_VERSION, "segments": [a.blobs["video"].digest for a in segments], "audio": audio.blobs["audio"].digest}
        if qa_limits(step.spec) is not None:
            fields["qa"] = {"version": QA_VERSION, "min_stretch": min_stretch(step.spec)}
        if task.params.get("clip_audio") == "mix":  # the clips' own sound, mixed under the voices
            fields["clip_audio"] = [a.blobs["clip_audio"].digest if "clip_audio" in (a.blobs or {}) else None for a in segments]
        out_s = sum(a.value["duration"] for a in segments)
        return self._timed(task, out_s, inputs.calibration, fields=fields, payload={"dialogue": dialogue, "segments": segments, "audio": audio})

    async def execute(self, task: Any, step: StepInfo, prepared: Prepared, rt: Runtime) -> Artifact:
        if task.role == "qa":
            return check_qa(prepared.payload)
        run = {"segment": segment, "audio": _audio, "video": _video}[task.role]
        workdir = rt.scratch(f"{task.role}-")
        try:
            return await run(task, step, prepared.payload, rt, workdir)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    def cached_value_check(self, step: StepInfo, task: Any):
        shapes = {
            "segment": ({"frames": int, "duration": (int, float), "starts": list, "ends": list, "slot_samples": list, "durations": list}, "video"),
            "audio": ({"duration": (int, float)}, "audio"),
            "video": ({"duration": (int, float), "scenes": list}, "video"),
            "qa": ({"duration": (int, float), "scenes": list, "qa": dict}, "video"),
        }
        shape, blob = shapes[task.role]
        if task.role == "video" and qa_limits(step.spec) is not None:
            shape = {**shape, "qa": dict}
        return lambda art: require(art.value, shape, blobs=art.blobs, blob=blob)

    def view(self, step: StepInfo, artifact: Artifact) -> Any:
        return dict(artifact.value or {})


def _order(layout: Any) -> list[int]:
    return [i for j in layout["scenes"] for i in layout["scene_lines"][j]]


def _pick(kind: str, explicit: str | None, candidates: list[StepInfo], s: StepInfo, loaded: LoadedRecipe, problems: list[Problem], *, capability: str, required: bool) -> str | None:
    steps = loaded.steps
    where = ("steps", s.name)
    if explicit:
        if explicit not in steps or steps[explicit].capability != capability:
            problems.append(Problem(loaded.loc(*where, kind), f"steps.{s.name}.{kind}", f"`{kind}: {explicit}` must name a {capability} step"))
            return None
        return explicit
    if len(candidates) == 1:
        return candidates[0].name
    if not candidates and not required:
        return None
    what = "no" if not candidates else "more than one"
    problems.append(Problem(loaded.loc(*where), f"steps.{s.name}", f"found {what} {kind} step to compose; name it with `{kind}: <step>`"))
    return None


# --------------------------------------------------------------------------- the ffmpeg work


async def _audio(task: Any, step: StepInfo, p: dict, rt: Runtime, workdir: str) -> Artifact:
    from ..media.compose import build_soundtrack, scene_timeline

    s = video_settings(step.spec)
    dialogue, by_id = p["dialogue"], p["lines"]
    scenes_arg = []
    for j in task.params["scenes"]:
        ids = task.params["scene_lines"][j]
        arts = [by_id[i] for i in ids]
        clips = await rt.io(line_clips, rt, dialogue, ids, arts)
        scenes_arg.append((scene_timeline([a.value["duration"] for a in arts], s), clips))
    bed, music = p["music"], None
    if bed is not None:
        music = bed["path"] if isinstance(bed["path"], str) else await rt.io(rt.store.blob_file, bed["path"])
    out = os.path.join(workdir, "audio.m4a")
    async with rt.cpu():
        t0 = time.monotonic()
        st = await build_soundtrack(scenes_arg, s, audio_mix(step.spec), out, workdir, music=music)
        seconds = time.monotonic() - t0
    ref = await rt.io(lambda: rt.store.put_blob_file(out, media_type="audio/mp4", ext="m4a"))
    mixed = {
        "voice_loudness": st.voice.integrated, "music_loudness": st.music.integrated if st.music else None,
        "music_gain": st.music_gain, "gain": st.gain, "correction": round(st.correction, 3),
    }
    value: dict[str, Any] = {"duration": st.duration, "mix": mixed}
    if bed is not None:  # for the manifest: which bed this topic got (its name when it was mixed)
        value["music"] = {"name": bed["name"], "digest": bed["digest"]}
    return Artifact(value=value, blobs={"audio": ref}, meta={"kind": "compose.audio", "seconds": round(seconds, 4)})


async def _with_clip_sound(rt: Runtime, step: StepInfo, segments: list[Artifact], audio_path: str, workdir: str) -> str:
    """The audio track with each clip's own sound (``clip_audio: mix``) under the voices."""
    from ..media.compose import mix_clip_sound

    s = video_settings(step.spec)
    pieces = []
    for a in segments:
        wav = await rt.io(rt.store.blob_file, a.blobs["clip_audio"]) if "clip_audio" in (a.blobs or {}) else None
        pieces.append((wav, a.value["frames"] * s.samples_per_frame))
    out = os.path.join(workdir, "mixed.m4a")
    await mix_clip_sound(audio_path, pieces, s, out)
    return out


async def _video(task: Any, step: StepInfo, p: dict, rt: Runtime, workdir: str) -> Artifact:
    from ..media.compose import mux

    dialogue, segments, audio = p["dialogue"], p["segments"], p["audio"]
    seg_paths = [await rt.io(rt.store.blob_file, a.blobs["video"]) for a in segments]
    audio_path = await rt.io(rt.store.blob_file, audio.blobs["audio"])
    out = os.path.join(workdir, "video.mp4")
    duration = sum(a.value["frames"] for a in segments) / step.spec.fps
    figures = None
    async with rt.cpu():
        t0 = time.monotonic()
        if any("clip_audio" in (a.blobs or {}) for a in segments) and task.params.get("clip_audio") == "mix":
            audio_path = await _with_clip_sound(rt, step, segments, audio_path, workdir)
        await mux(seg_paths, audio_path, duration, video_settings(step.spec), out, workdir)
        if qa_limits(step.spec) is not None:
            from ..media.qa import measure

            figures = await measure(out, min_stretch=min_stretch(step.spec))
        seconds = time.monotonic() - t0
    ref = await rt.io(lambda: rt.store.put_blob_file(out, media_type="video/mp4", ext="mp4"))
    timeline, offset = [], 0.0
    for j, a in zip(task.params["scenes"], segments):
        v = a.value
        entry = {"scene": j, "start": round(offset, 4), "duration": v["duration"], "caption": dialogue["scenes"][j].get("caption", ""), "lines": []}
        for n, i in enumerate(task.params["scene_lines"][j]):
            line = dialogue["lines"][i]
            entry["lines"].append({
                "speaker": line["speaker"], "text": line["text"],
                "start": round(offset + v["starts"][n], 4), "end": round(offset + v["ends"][n], 4),
                "audio_duration": v["durations"][n],
            })
        timeline.append(entry)
        offset += v["duration"]
    value: dict[str, Any] = {"duration": duration, "title": dialogue.get("title", ""), "scenes": timeline}
    warnings = [emoji_warning(d) for a in segments for d in a.value.get("dropped_emoji", ())]
    if warnings:  # reported with the published topic (run summary, manifest)
        value["warnings"] = warnings
    if audio.value.get("music"):
        value["music"] = audio.value["music"]
    if figures is not None:  # the real length, measured on the file
        value.update(duration=round(figures.duration, 4), qa=figures.as_dict())
    return Artifact(value=value, blobs={"video": ref}, meta={"kind": "compose.video", "seconds": round(seconds, 4)})
