"""The ``compose`` capability: a dialogue's lines, voices and stills -> one video (local ffmpeg).

``compose: vertical`` takes a dialogue step (``script``), a speech step over its lines and,
optionally, an image step over its scenes (each found by itself when there is only one).
Its nodes, named once the script exists:

* ``video.scene[j]``: one video-only segment per scene with lines (its still, the cast's
  sprites, burned-in captions); it needs only its own lines and image, so it starts as soon as
  those exist, and segments encode in parallel;
* ``video.audio``: the whole audio track, once (it needs only the lines);
* ``video``: segments joined with ``-c copy`` and the audio muxed (the step's output).

What enters a segment's key: compose settings, the scene image digest, each line's text,
speaker, audio digest and word timings, the cast's colours, sides and sprite digests, the font
digest. The video's key: the segment and audio digests.
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
from ..providers.base import WordTiming
from ..recipe.schema import StepModel
from .base import UNKNOWN, Capability, Expansion, Prepared, Runtime, TaskInputs, TaskSpec, require

if TYPE_CHECKING:  # pragma: no cover
    from ..recipe.load import LoadedRecipe, StepInfo

__all__ = ["ComposeCapability", "ComposeStep", "video_settings"]

COMPOSE_VERSION = "1"
#: Seconds of one CPU slot per second of output, before past runs measured this machine
#: (an x264 veryfast 1080x1920 segment on one core of the 2-core CI machine).
DEFAULT_RATE = {"segment": 0.6, "audio": 0.05, "video": 0.03}


class ComposeStep(StepModel):
    compose: Literal["vertical"]
    subtitles: Literal["karaoke", "plain", "none"] = "karaoke"
    script: str | None = None
    speech: str | None = None
    art: str | None = None
    width: int = Field(default=1080, ge=64, le=4096, multiple_of=2)
    height: int = Field(default=1920, ge=64, le=4096, multiple_of=2)
    fps: int = Field(default=30, ge=1, le=120)
    pause: float = Field(default=0.3, ge=0.05, le=10)
    zoom: float = Field(default=0.0, ge=0, le=0.5)
    crf: int = Field(default=23, ge=0, le=51)
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"] = "veryfast"
    font_size: int = Field(default=72, ge=8, le=400)


_SETTINGS = ("width", "height", "fps", "pause", "crf", "preset", "zoom", "subtitles", "font_size")


def video_settings(spec: Any, *, parallel: int = 1):
    """The media layer's settings for a compose step; ``parallel`` = segments encoded at once."""
    from ..media.compose import VideoSettings

    return VideoSettings(
        width=spec.width, height=spec.height, fps=spec.fps, pause=spec.pause, crf=spec.crf,
        preset=spec.preset, zoom=spec.zoom, subtitles=spec.subtitles, font_size=spec.font_size,
        threads=max(1, (os.cpu_count() or 1) // max(1, parallel)),
    )


class ComposeCapability(Capability):
    name: ClassVar[str] = "compose"
    Step: ClassVar[type[ComposeStep]] = ComposeStep
    trigger: ClassVar[str] = "compose"
    exclusive: ClassVar[bool] = True

    # ------------------------------------------------------------------ load time
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
        scenes = [t for t in steps.values() if t.capability == "image" and t.for_each == (script, "scenes")]
        art = _pick("art", spec.art, scenes, step, loaded, problems, capability="image", required=False)
        for name, want in ((speech, "lines"), (art, "scenes")):
            if name and steps[name].for_each != (script, want):
                problems.append(Problem(loaded.loc("steps", name, "for_each"), f"steps.{name}.for_each", f"step `{name}` is composed per {want[:-1]}: give it `for_each: {script}.{want}`"))
        step.links.update({k: v for k, v in (("script", script), ("speech", speech), ("art", art)) if v})
        step.deps.update(n for n in (script, speech, art) if n)

    # ------------------------------------------------------------------ plan time
    def expand_needs(self, step: StepInfo) -> dict[str, str]:
        needs = {step.links["script"]: "value", step.links["speech"]: "nodes"}
        if "art" in step.links:
            needs[step.links["art"]] = "nodes"
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
        for j in scenes:
            deps = (script_id, *(speech_ids[i] for i in scene_lines[j]))
            if art_ids is not None and j < len(art_ids):
                deps += (art_ids[j],)
            out.append(TaskSpec(f"{name}.scene[{j}]", role="segment", deps=deps, params={"scene": j, "lines": tuple(scene_lines[j])}, estimated=estimated, result=False))
        order = tuple(i for j in scenes for i in scene_lines[j])
        layout = {"scenes": tuple(scenes), "scene_lines": tuple(tuple(ls) for ls in scene_lines)}
        out.append(TaskSpec(f"{name}.audio", role="audio", deps=(script_id, *(speech_ids[i] for i in order)), params=layout, estimated=estimated, result=False))
        seg_ids = tuple(x.node_id(f"{name}.scene[{j}]") for j in scenes)
        out.append(TaskSpec(name, role="video", deps=(script_id, *seg_ids, x.node_id(f"{name}.audio")), params=layout, estimated=estimated))
        return out

    def estimate(self, task: Any, step: StepInfo, loaded: LoadedRecipe, adapter: Any, calibration: Calibration) -> Prepared:
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
        dialogue = arts[task.deps[0]].value
        pause = step.spec.pause
        if task.role == "segment":
            j, line_ids = task.params["scene"], task.params["lines"]
            lines = [arts[d] for d in task.deps[1 : 1 + len(line_ids)]]
            image = arts[task.deps[1 + len(line_ids)]] if len(task.deps) > 1 + len(line_ids) else None
            fields = {
                "node": "compose.segment",
                "version": COMPOSE_VERSION,
                "settings": {k: getattr(step.spec, k) for k in _SETTINGS},
                "image": image.blobs["image"].digest if image is not None else {"card": dialogue["scenes"][j].get("caption", ""), "title": dialogue.get("title", "")},
                "lines": [
                    {"speaker": dialogue["lines"][i]["speaker"], "text": a.value["text"], "audio": a.blobs["audio"].digest, "duration": a.value["duration"], "words": a.value["words"]}
                    for i, a in zip(line_ids, lines)
                ],
                "cast": [
                    {"name": c.name, "colour": c.profile.colour, "side": c.profile.side, "telling": c.telling_digest, "hearing": c.hearing_digest}
                    for c in loaded.characters.values()
                ],
                "font": _fonts_digest(),
            }
            out_s = sum(a.value["duration"] + pause for a in lines)
            return self._timed(task, out_s, inputs.calibration, fields=fields, payload={"dialogue": dialogue, "lines": lines, "image": image})
        lines = [arts[d] for d in task.deps[1:]] if task.role == "audio" else None
        if task.role == "audio":
            by_id = dict(zip(_order(task.params), lines))
            fields = {
                "node": "compose.audio",
                "version": COMPOSE_VERSION,
                "settings": {"fps": step.spec.fps, "pause": step.spec.pause},
                "scenes": [[[by_id[i].blobs["audio"].digest, by_id[i].value["duration"]] for i in task.params["scene_lines"][j]] for j in task.params["scenes"]],
            }
            out_s = sum(a.value["duration"] + pause for a in lines)
            return self._timed(task, out_s, inputs.calibration, fields=fields, payload={"dialogue": dialogue, "lines": by_id})
        segments = [arts[d] for d in task.deps[1:-1]]
        audio = arts[task.deps[-1]]
        fields = {"node": "compose.video", "version": COMPOSE_VERSION, "segments": [a.blobs["video"].digest for a in segments], "audio": audio.blobs["audio"].digest}
        out_s = sum(a.value["duration"] for a in segments)
        return self._timed(task, out_s, inputs.calibration, fields=fields, payload={"dialogue": dialogue, "segments": segments, "audio": audio})

    async def execute(self, task: Any, step: StepInfo, prepared: Prepared, rt: Runtime) -> Artifact:
        run = {"segment": _segment, "audio": _audio, "video": _video}[task.role]
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
        }
        shape, blob = shapes[task.role]
        return lambda art: require(art.value, shape, blobs=art.blobs, blob=blob)

    def view(self, step: StepInfo, artifact: Artifact) -> Any:
        return dict(artifact.value or {})


def _fonts_digest() -> str:
    from ..media.fonts import fonts_digest

    return fonts_digest()


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


def _clips(rt: Runtime, dialogue: dict, line_ids: Any, lines: list[Artifact]):
    from ..media.compose import LineClip

    clips = []
    for i, a in zip(line_ids, lines):
        words = tuple(WordTiming(w[0], w[1], w[2], w[3], w[4]) for w in a.value["words"])
        clips.append(LineClip(speaker=dialogue["lines"][i]["speaker"], text=a.value["text"], audio_path=rt.store.blob_file(a.blobs["audio"]), duration=a.value["duration"], words=words))
    return clips


def _cast(loaded: LoadedRecipe):
    from ..media.compose import CharacterLook

    return [CharacterLook(c.name, c.profile.colour, c.profile.side, c.telling, c.hearing) for c in loaded.characters.values()]


async def _segment(task: Any, step: StepInfo, p: dict, rt: Runtime, workdir: str) -> Artifact:
    from ..media.compose import render_segment

    j, line_ids = task.params["scene"], task.params["lines"]
    dialogue, image = p["dialogue"], p["image"]
    clips = await rt.io(_clips, rt, dialogue, line_ids, p["lines"])
    if image is not None:
        image_path = await rt.io(rt.store.blob_file, image.blobs["image"])
    else:
        from ..providers.image_procedural import render_card

        scene = dialogue["scenes"][j]
        data = await asyncio.to_thread(render_card, scene.get("image_prompt") or dialogue.get("title", ""), caption=scene.get("caption", ""), width=step.spec.width, height=step.spec.height)
        image_path = os.path.join(workdir, "card.png")
        with open(image_path, "wb") as f:
            f.write(data)
    out = os.path.join(workdir, "segment.mp4")
    async with rt.cpu():
        t0 = time.monotonic()
        timeline = await render_segment(image_path, clips, _cast(rt.loaded), video_settings(step.spec, parallel=rt.settings.max_ffmpeg), out, workdir)
        seconds = time.monotonic() - t0
    ref = await rt.io(lambda: rt.store.put_blob_file(out, media_type="video/mp4", ext="mp4"))
    value = {
        "scene": j, "frames": timeline.frames, "duration": timeline.duration, "starts": list(timeline.starts),
        "ends": list(timeline.ends), "slot_samples": list(timeline.slot_samples),
        "durations": [c.duration for c in clips],
    }
    return Artifact(value=value, blobs={"video": ref}, meta={"kind": "compose.segment", "seconds": round(seconds, 4)})


async def _audio(task: Any, step: StepInfo, p: dict, rt: Runtime, workdir: str) -> Artifact:
    from ..media.compose import build_audio, scene_timeline

    s = video_settings(step.spec)
    dialogue, by_id = p["dialogue"], p["lines"]
    scenes_arg = []
    for j in task.params["scenes"]:
        ids = task.params["scene_lines"][j]
        arts = [by_id[i] for i in ids]
        clips = await rt.io(_clips, rt, dialogue, ids, arts)
        scenes_arg.append((scene_timeline([a.value["duration"] for a in arts], s), clips))
    out = os.path.join(workdir, "audio.m4a")
    async with rt.cpu():
        t0 = time.monotonic()
        duration = await build_audio(scenes_arg, s, out, workdir)
        seconds = time.monotonic() - t0
    ref = await rt.io(lambda: rt.store.put_blob_file(out, media_type="audio/mp4", ext="m4a"))
    return Artifact(value={"duration": duration}, blobs={"audio": ref}, meta={"kind": "compose.audio", "seconds": round(seconds, 4)})


async def _video(task: Any, step: StepInfo, p: dict, rt: Runtime, workdir: str) -> Artifact:
    from ..media.compose import mux

    dialogue, segments, audio = p["dialogue"], p["segments"], p["audio"]
    seg_paths = [await rt.io(rt.store.blob_file, a.blobs["video"]) for a in segments]
    audio_path = await rt.io(rt.store.blob_file, audio.blobs["audio"])
    out = os.path.join(workdir, "video.mp4")
    duration = sum(a.value["frames"] for a in segments) / step.spec.fps
    async with rt.cpu():
        t0 = time.monotonic()
        await mux(seg_paths, audio_path, duration, video_settings(step.spec), out, workdir)
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
    value = {"duration": duration, "title": dialogue.get("title", ""), "scenes": timeline}
    return Artifact(value=value, blobs={"video": ref}, meta={"kind": "compose.video", "seconds": round(seconds, 4)})
