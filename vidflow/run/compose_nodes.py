"""Compose nodes: one segment per scene (cached and encoded in parallel), then the video.

A segment needs only its own scene's image and lines, so it starts as soon as those exist.
The video node joins the segments (concat demuxer, ``-c copy``) and muxes the audio once.
All ffmpeg work runs under the engine's CPU semaphore (``max_ffmpeg`` processes at once).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

from ..cache.store import Artifact
from ..errors import NodeFailedError, UpstreamFailedError
from ..providers.base import WordTiming
from ..recipe.load import StepInfo
from .engine import UNKNOWN, NodeSpec

if TYPE_CHECKING:
    from .nodes import TopicRun

__all__ = ["compose_topic", "video_settings"]

COMPOSE_VERSION = "1"


def video_settings(spec: Any, *, parallel: int = 1):
    """The media layer's settings for a compose step; ``parallel`` = segments encoded at once."""
    import os

    from ..media.compose import VideoSettings

    return VideoSettings(
        width=spec.width, height=spec.height, fps=spec.fps, pause=spec.pause, crf=spec.crf,
        preset=spec.preset, zoom=spec.zoom, subtitles=spec.subtitles, font_size=spec.font_size,
        threads=max(1, (os.cpu_count() or 1) // max(1, parallel)),
    )


def _settings_fields(spec: Any) -> dict[str, Any]:
    keys = ("width", "height", "fps", "pause", "crf", "preset", "zoom", "subtitles", "font_size")
    return {k: getattr(spec, k) for k in keys}


_FONT_DIGEST: str | None = None


def font_digest() -> str:
    global _FONT_DIGEST
    if _FONT_DIGEST is None:
        import hashlib
        from pathlib import Path

        h = hashlib.sha256()
        fonts = Path(__file__).resolve().parent.parent / "media" / "fonts"
        for f in sorted(fonts.glob("*.ttf")):
            h.update(f.name.encode())
            h.update(f.read_bytes())
        _FONT_DIGEST = h.hexdigest()
    return _FONT_DIGEST


async def _await_step(tr: TopicRun, name: str | None, *, items: bool) -> Any:
    if name is None:
        return None
    try:
        return await (tr.items[name] if items else tr.single[name])
    except NodeFailedError as e:
        raise UpstreamFailedError(e.node, f"upstream `{name}` failed") from e


async def compose_topic(tr: TopicRun, info: StepInfo) -> Any:
    e = tr.e
    video_id = f"{tr.topic.id}/{info.name}"
    try:
        script = await _await_step(tr, info.script, items=False)
        speech_children = await _await_step(tr, info.speech, items=True)
        art_children = await _await_step(tr, info.art, items=True)
    except UpstreamFailedError as exc:
        e.skipped(video_id, info.name, tr.topic, "compose.video", exc)
        raise UpstreamFailedError(video_id, str(exc)) from exc
    if script is UNKNOWN:
        dialogue = None
        n_scenes = len(art_children) if art_children is not None else tr._estimate_count(tr.loaded.steps[info.script], "scenes")
        scene_lines: list[list[int]] = [[] for _ in range(n_scenes)]
        for i in range(len(speech_children)):
            scene_lines[min(i * n_scenes // max(1, len(speech_children)), n_scenes - 1)].append(i)
    else:
        dialogue = script.value
        n_scenes = len(dialogue["scenes"])
        scene_lines = [[] for _ in range(n_scenes)]
        for i, line in enumerate(dialogue["lines"]):
            scene_lines[line["scene"]].append(i)
    scenes = [j for j in range(n_scenes) if scene_lines[j]]
    segment_tasks = [
        asyncio.ensure_future(_segment(tr, info, j, dialogue, scene_lines[j], speech_children, art_children))
        for j in scenes
    ]
    # The audio track needs only the lines: it encodes while the segments do.
    audio_task = asyncio.ensure_future(_audio(tr, info, dialogue, scenes, scene_lines, speech_children))
    results = await asyncio.gather(*segment_tasks, audio_task, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        e.skipped(video_id, info.name, tr.topic, "compose.video", failed[0])
        raise UpstreamFailedError(video_id, f"a scene of {tr.topic.id} failed") from failed[0]
    *seg_results, audio = results
    segments = [(j, r) for j, r in zip(scenes, seg_results)]
    lines_art = await asyncio.gather(*(speech_children[i] for j in scenes for i in scene_lines[j]))
    known = dialogue is not None and audio is not UNKNOWN and all(a is not UNKNOWN for _, a in segments)
    fields = None
    if known:
        fields = {
            "node": "compose.video",
            "version": COMPOSE_VERSION,
            "segments": [a.blobs["video"].digest for _, a in segments],
            "audio": audio.blobs["audio"].digest,
        }

    async def execute() -> Artifact:
        return await _assemble(tr, info, dialogue, segments, scene_lines, lines_art, audio)

    node = NodeSpec(
        id=video_id, topic=tr.topic, step=info.name, kind="compose.video", fields=fields, execute=execute,
        deps=[f"{tr.topic.id}/{info.name}.scene[{j}]" for j in scenes] + [f"{tr.topic.id}/{info.name}.audio"],
        estimated=dialogue is None, estimate={"latency": 0.3},
    )
    return await e.resolve(node)


async def _audio(tr: TopicRun, info: StepInfo, dialogue: dict | None, scenes: list[int], scene_lines: list[list[int]], speech_children: list) -> Any:
    """The audio track, once: every line padded to its slot, encoded to AAC."""
    e = tr.e
    node_id = f"{tr.topic.id}/{info.name}.audio"
    ids = [i for j in scenes for i in scene_lines[j]]
    try:
        lines = await asyncio.gather(*(speech_children[i] for i in ids))
    except NodeFailedError as exc:
        e.skipped(node_id, info.name, tr.topic, "compose.audio", exc)
        raise UpstreamFailedError(node_id, "a line's audio failed") from exc
    by_id = dict(zip(ids, lines))
    known = dialogue is not None and all(a is not UNKNOWN for a in lines)
    fields = None
    if known:
        spec = info.spec
        fields = {
            "node": "compose.audio",
            "version": COMPOSE_VERSION,
            "settings": {"fps": spec.fps, "pause": spec.pause},
            "scenes": [[[by_id[i].blobs["audio"].digest, by_id[i].value["duration"]] for i in scene_lines[j]] for j in scenes],
        }

    async def execute() -> Artifact:
        from ..media.compose import build_audio, scene_timeline

        s = video_settings(info.spec)
        workdir = tempfile.mkdtemp(prefix="vidflow-audio-", dir=e.workdir)
        try:
            scenes_arg = []
            for j in scenes:
                arts = [by_id[i] for i in scene_lines[j]]
                clips = await e.io(_clips, tr, dialogue, scene_lines[j], arts)
                scenes_arg.append((scene_timeline([a.value["duration"] for a in arts], s), clips))
            out = os.path.join(workdir, "audio.m4a")
            async with e.cpu:
                duration = await build_audio(scenes_arg, s, out, workdir)
            ref = await e.io(lambda: e.store.put_blob_file(out, media_type="audio/mp4", ext="m4a"))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return Artifact(value={"duration": duration}, blobs={"audio": ref}, meta={"kind": "compose.audio"})

    node = NodeSpec(
        id=node_id, topic=tr.topic, step=info.name, kind="compose.audio", fields=fields, execute=execute,
        deps=[f"{tr.topic.id}/{info.speech}[{i}]" for i in ids], estimated=dialogue is None, estimate={"latency": 0.5},
    )
    return await e.resolve(node)


async def _segment(tr: TopicRun, info: StepInfo, j: int, dialogue: dict | None, line_ids: list[int], speech_children: list, art_children: list | None) -> Any:
    e = tr.e
    node_id = f"{tr.topic.id}/{info.name}.scene[{j}]"
    try:
        lines = await asyncio.gather(*(speech_children[i] for i in line_ids))
        image = await art_children[j] if art_children is not None and j < len(art_children) else None
    except NodeFailedError as exc:
        e.skipped(node_id, info.name, tr.topic, "compose.segment", exc)
        raise UpstreamFailedError(node_id, f"an input of scene {j} failed") from exc
    deps = [f"{tr.topic.id}/{info.speech}[{i}]" for i in line_ids]
    if art_children is not None:
        deps.append(f"{tr.topic.id}/{info.art}[{j}]")
    known = dialogue is not None and image is not UNKNOWN and all(a is not UNKNOWN for a in lines)
    cast = list(tr.loaded.characters.values())
    fields = None
    if known:
        caption = dialogue["scenes"][j].get("caption", "")
        fields = {
            "node": "compose.segment",
            "version": COMPOSE_VERSION,
            "settings": _settings_fields(info.spec),
            "image": image.blobs["image"].digest if image is not None else {"card": caption, "title": dialogue.get("title", "")},
            "lines": [
                {"speaker": dialogue["lines"][i]["speaker"], "text": a.value["text"], "audio": a.blobs["audio"].digest, "duration": a.value["duration"], "words": a.value["words"]}
                for i, a in zip(line_ids, lines)
            ],
            "cast": [
                {"name": c.name, "colour": c.profile.colour, "side": c.profile.side, "telling": c.telling_digest, "hearing": c.hearing_digest}
                for c in cast
            ],
            "font": font_digest(),
        }

    async def execute() -> Artifact:
        return await _render_segment(tr, info, j, dialogue, line_ids, lines, image)

    node = NodeSpec(
        id=node_id, topic=tr.topic, step=info.name, kind="compose.segment", fields=fields, execute=execute,
        deps=deps, estimated=dialogue is None, estimate={"latency": 1.0},
    )
    return await e.resolve(node)


def _clips(tr: TopicRun, dialogue: dict, line_ids: list[int], lines: list[Artifact]):
    from ..media.compose import LineClip

    clips = []
    for i, a in zip(line_ids, lines):
        words = tuple(WordTiming(w[0], w[1], w[2], w[3], w[4]) for w in a.value["words"])
        clips.append(
            LineClip(
                speaker=dialogue["lines"][i]["speaker"], text=a.value["text"], audio_path=tr.e.store.blob_file(a.blobs["audio"]),
                duration=a.value["duration"], words=words,
            )
        )
    return clips


def _cast(tr: TopicRun):
    from ..media.compose import CharacterLook

    return [CharacterLook(c.name, c.profile.colour, c.profile.side, c.telling, c.hearing) for c in tr.loaded.characters.values()]


async def _render_segment(tr: TopicRun, info: StepInfo, j: int, dialogue: dict, line_ids: list[int], lines: list[Artifact], image: Artifact | None) -> Artifact:
    from ..media.compose import render_segment

    e = tr.e
    workdir = tempfile.mkdtemp(prefix="vidflow-seg-", dir=e.workdir)
    try:
        clips = await e.io(_clips, tr, dialogue, line_ids, lines)
        if image is not None:
            image_path = await e.io(e.store.blob_file, image.blobs["image"])
        else:
            from ..providers.image_procedural import render_card

            scene = dialogue["scenes"][j]
            data = await asyncio.to_thread(render_card, scene.get("image_prompt") or dialogue.get("title", ""), caption=scene.get("caption", ""), width=info.spec.width, height=info.spec.height)
            image_path = os.path.join(workdir, "card.png")
            with open(image_path, "wb") as f:
                f.write(data)
        out = os.path.join(workdir, "segment.mp4")
        async with e.cpu:
            timeline = await render_segment(image_path, clips, _cast(tr), video_settings(info.spec, parallel=e.settings.max_ffmpeg), out, workdir)
        ref = await e.io(lambda: e.store.put_blob_file(out, media_type="video/mp4", ext="mp4"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    value = {
        "scene": j,
        "frames": timeline.frames,
        "duration": timeline.duration,
        "starts": list(timeline.starts),
        "ends": list(timeline.ends),
        "slot_samples": list(timeline.slot_samples),
    }
    return Artifact(value=value, blobs={"video": ref}, meta={"kind": "compose.segment"})


async def _assemble(tr: TopicRun, info: StepInfo, dialogue: dict, segments: list, scene_lines: list[list[int]], lines_art: list[Artifact], audio: Artifact) -> Artifact:
    from ..media.compose import mux

    e = tr.e
    workdir = tempfile.mkdtemp(prefix="vidflow-video-", dir=e.workdir)
    try:
        seg_paths = [await e.io(e.store.blob_file, a.blobs["video"]) for _, a in segments]
        audio_path = await e.io(e.store.blob_file, audio.blobs["audio"])
        out = os.path.join(workdir, "video.mp4")
        duration = sum(a.value["frames"] for _, a in segments) / info.spec.fps
        async with e.cpu:
            await mux(seg_paths, audio_path, duration, video_settings(info.spec), out, workdir)
        ref = await e.io(lambda: e.store.put_blob_file(out, media_type="video/mp4", ext="mp4"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    timeline = []
    offset = 0.0
    k = 0
    for j, a in segments:
        v = a.value
        scene_entry = {"scene": j, "start": round(offset, 4), "duration": v["duration"], "caption": dialogue["scenes"][j].get("caption", ""), "lines": []}
        for n, i in enumerate(scene_lines[j]):
            line = dialogue["lines"][i]
            la = lines_art[k]
            k += 1
            scene_entry["lines"].append({
                "speaker": line["speaker"], "text": line["text"],
                "start": round(offset + v["starts"][n], 4), "end": round(offset + v["ends"][n], 4),
                "audio_duration": la.value["duration"],
            })
        timeline.append(scene_entry)
        offset += v["duration"]
    value = {"duration": duration, "title": dialogue.get("title", ""), "scenes": timeline}
    return Artifact(value=value, blobs={"video": ref}, meta={"kind": "compose.video"})
