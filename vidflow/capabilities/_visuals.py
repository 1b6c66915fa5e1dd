"""Compose's picture side: what each scene shows and whether the frame can hold it.

Owns, for the ``compose`` capability:

* **load time**: which step gives each scene its picture (``visuals:`` an image, video or local
  step over the script's scenes; ``art:`` an image step, as before), the recipe's font chain
  (``fonts:`` folder + the bundled fonts, ``captions.font``), the frame's layout for the cast
  (at most four drawn characters, sprites and captions that fit), and glyph coverage of the
  topics (a character no font can draw is a problem at the topic's line);
* **run time**: a scene's :class:`~vidflow.media.timeline.Visual` from an upstream artifact
  (image, video or any blob), the crossfade's previous picture, the run-time glyph check of
  generated lines (the topic fails naming the line) and the segment's ffmpeg work.
"""

from __future__ import annotations

import difflib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cache.store import Artifact
from ..errors import MediaError, Problem

if TYPE_CHECKING:  # pragma: no cover
    from ..fonts import FontChain
    from ..media.timeline import Visual
    from ..recipe.load import LoadedRecipe, StepInfo

__all__ = ["check_frame", "font_chain", "pick_visuals", "scene_root", "visual_of"]

#: Capabilities whose output is never a scene's picture.
_NOT_VISUAL = ("text", "speech", "compose", "publish")


def scene_root(loaded: LoadedRecipe, name: str) -> tuple[str, str | None] | None:
    """The ``for_each`` a step's items come from, following chains (``for_each: art`` over a
    step with ``for_each: script.scenes`` gives ``(script, scenes)``)."""
    seen = set()
    while name in loaded.steps and name not in seen:
        seen.add(name)
        fe = loaded.steps[name].for_each
        if fe is None:
            return None
        src = loaded.steps.get(fe[0])
        if src is None or (src.for_each is None and getattr(src.spec, "for_each", None) is None):
            return fe
        name = fe[0]
    return None


def pick_visuals(step: StepInfo, loaded: LoadedRecipe, script: str, problems: list[Problem]) -> str | None:
    """The step that gives each scene its picture (None: generated cards), or a problem."""
    spec, steps = step.spec, loaded.steps
    if spec.visuals and spec.art:
        problems.append(Problem(loaded.loc("steps", step.name, "visuals"), f"steps.{step.name}.visuals", "give `visuals:` or `art:`, not both (`art:` is the older name for an image step)"))
        return None
    key, name = ("visuals", spec.visuals) if spec.visuals else ("art", spec.art)
    where = (loaded.loc("steps", step.name, key), f"steps.{step.name}.{key}")
    if name:
        info = steps.get(name)
        if info is None or info.capability in _NOT_VISUAL or (key == "art" and info.capability != "image"):
            what = "an image step" if key == "art" else "an image, video or local step"
            close = difflib.get_close_matches(name, [n for n, t in steps.items() if t.capability not in _NOT_VISUAL], n=1)
            problems.append(Problem(*where, f"`{key}: {name}` must name {what}" + (f"; did you mean `{close[0]}`?" if close else "")))
            return None
        if scene_root(loaded, name) != (script, "scenes"):
            problems.append(Problem(loaded.loc("steps", name, "for_each"), f"steps.{name}.for_each", f"step `{name}` gives each scene its picture: give it `for_each: {script}.scenes` (or a `for_each:` over a step that has it)"))
            return None
        return name
    found = [t.name for t in steps.values() if t.capability == "image" and t.for_each == (script, "scenes")]
    if len(found) > 1:
        problems.append(Problem(loaded.loc("steps", step.name), f"steps.{step.name}", "found more than one art step to compose; name it with `visuals: <step>`"))
        return None
    return found[0] if found else None


def font_chain(loaded: LoadedRecipe, spec: Any) -> FontChain:
    """The fonts of a compose step: its ``fonts:`` folder first, then the bundled chain, with
    ``captions.font`` first if set. Raises MediaError (a folder without fonts, an unknown family)."""
    from ..fonts import default_chain, folder_fonts

    extra: list[Path] = []
    if spec.fonts:
        folder = (loaded.base_dir / spec.fonts).resolve()
        if not folder.is_dir():
            raise MediaError(f"fonts folder {spec.fonts} not found (looked at {folder})")
        extra = folder_fonts(folder)
        if not extra:
            raise MediaError(f"fonts folder {spec.fonts} has no .ttf, .otf or .ttc files")
    chain = default_chain(extra)
    return chain.with_primary(spec.captions.font) if spec.captions.font else chain


def _cast(loaded: LoadedRecipe):
    from ..media.layout import CastMember

    return [CastMember(c.name, c.profile.side, c.sprite_size if not c.narrator else None) for c in loaded.characters.values()]


def check_frame(step: StepInfo, loaded: LoadedRecipe, problems: list[Problem]) -> None:
    """Fonts, layout and topic glyphs of a compose step, each failure a problem with its line."""
    from ..media.layout import LayoutError
    from ..media.subtitles import frame_layout

    spec, name = step.spec, step.name
    if spec.captions.style and spec.subtitles and spec.captions.style != spec.subtitles:
        problems.append(Problem(loc_of(loaded, name, "subtitles"), f"steps.{name}.subtitles", f"`subtitles: {spec.subtitles}` and `captions: {{style: {spec.captions.style}}}` disagree; keep `captions.style` (subtitles is its older name)"))
    if spec.captions.size and spec.font_size and spec.captions.size != spec.font_size:
        problems.append(Problem(loc_of(loaded, name, "font_size"), f"steps.{name}.font_size", "`font_size` and `captions.size` disagree; keep `captions.size`"))
    try:
        chain = font_chain(loaded, spec)
    except MediaError as e:
        key = "fonts" if "folder" in str(e) else "captions"
        problems.append(Problem(loc_of(loaded, name, key), f"steps.{name}.{key}", str(e)))
        chain = None
    try:
        frame_layout(_cast(loaded), video_settings_of(spec))
    except LayoutError as e:
        where = loc_of(loaded, name, "width") if "frame" in str(e) else loaded.loc("characters")
        problems.append(Problem(where, f"steps.{name}", f"the frame cannot hold this cast: {e}"))
    if chain is None or spec.caption_style == "none":
        return
    from ..fonts import is_emoji

    for t in loaded.topics:
        missing = [c for c in chain.missing(t.text) if not is_emoji(c)]
        if missing:
            chars = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing)
            problems.append(Problem(t.where or loaded.loc("topics"), "topics", f"topic {t.text[:60]!r}: no configured font can draw {chars}; add a font that has them in `fonts:` of step `{name}` (Chinese, Japanese, Korean: pip install 'vidflow[cjk]')"))


def loc_of(loaded: LoadedRecipe, step: str, key: str) -> str:
    """Where a step's key is written (the step's own line when it is not)."""
    return loaded.loc("steps", step, key)


def video_settings_of(spec: Any):
    from ._compose_settings import video_settings

    return video_settings(spec)


# --------------------------------------------------------------------------- run time


def visual_of(art: Artifact, path_of, *, fit: str) -> tuple[Visual, str]:
    """A scene's :class:`Visual` from an upstream artifact, and the blob name it came from.

    ``path_of(blob_ref)`` gives a blob's local file. An image step's ``image`` blob is a still
    that keeps its caption card; a ``video`` blob (or any ``video/*`` blob of a local step) is a
    clip; any other ``image/*`` blob a still. Sizes and durations come from the artifact's
    value or, when it has none, from probing the file.
    """
    from ..media.probe import probe
    from ..media.timeline import CARD_KEEP, CENTRE_KEEP, Visual

    blobs = dict(art.blobs or {})
    order = ["video", "image"] + sorted(blobs)
    name = next((n for n in order if n in blobs and blobs[n].media_type.split("/")[0] in ("video", "image")), None)
    if name is None:
        raise MediaError(f"the scene's visual has no image or video output (outputs: {', '.join(blobs) or 'none'})")
    ref, value = blobs[name], art.value if isinstance(art.value, dict) else {}
    path = path_of(ref)
    kind = "clip" if ref.media_type.startswith("video/") else "still"
    w, h, duration = value.get("width"), value.get("height"), value.get("duration") or 0.0
    if not (isinstance(w, int) and isinstance(h, int) and (kind == "still" or duration > 0)):
        info = probe(path)
        streams = info.of_type("video")
        if not streams or not streams[0].width:
            raise MediaError(f"the scene's visual {os.path.basename(path)} has no picture")
        w, h, duration = streams[0].width, streams[0].height, info.duration
    keep = CARD_KEEP if name == "image" else CENTRE_KEEP
    return Visual(path, kind, int(w), int(h), float(duration or 0.0), keep=keep, fit=fit), name  # type: ignore[arg-type]


def _visual_key(art: Artifact | None, dialogue: dict, j: int) -> Any:
    if art is None:  # a card drawn from the script
        return {"card": dialogue["scenes"][j].get("caption", ""), "title": dialogue.get("title", "")}
    value = art.value if isinstance(art.value, dict) else {}
    return {"blobs": {n: b.digest for n, b in sorted((art.blobs or {}).items())},
            **{k: value.get(k) for k in ("width", "height", "duration") if k in value}}


def segment_fields(task: Any, step: StepInfo, arts: dict[str, Artifact], dialogue: dict, loaded: LoadedRecipe) -> tuple[dict, dict]:
    """Key fields and payload of a segment node. Its deps: the script, its lines, its visual
    (``params["visual"]``), then for a crossfade the previous scene's visual and lines."""
    from ..fonts import default_chain
    from ._compose_settings import COMPOSE_VERSION, settings_key

    j, line_ids, prm = task.params["scene"], task.params["lines"], task.params
    deps = list(task.deps[1:])
    lines = [arts[d] for d in deps[: len(line_ids)]]
    deps = deps[len(line_ids):]
    visual = arts[deps.pop(0)] if prm.get("visual") else None
    prev = prm.get("previous")
    prev_visual = arts[deps.pop(0)] if prev and prev["visual"] else None
    prev_lines = [arts[d] for d in deps] if prev else []
    try:
        fonts = font_chain(loaded, step.spec).digest()
    except MediaError:
        fonts = default_chain().digest()
    fields = {
        "node": "compose.segment",
        "version": COMPOSE_VERSION,
        "settings": settings_key(step.spec),
        "scene": j,
        "image": _visual_key(visual, dialogue, j),
        "previous": None if not prev else {
            "scene": prev["scene"], "image": _visual_key(prev_visual, dialogue, prev["scene"]),
            "durations": [a.value["duration"] for a in prev_lines],
        },
        "lines": [
            {"speaker": dialogue["lines"][i]["speaker"], "text": a.value["text"], "audio": a.blobs["audio"].digest, "duration": a.value["duration"], "words": a.value["words"]}
            for i, a in zip(line_ids, lines)
        ],
        "cast": [
            {"name": c.name, "colour": c.profile.colour, "side": c.profile.side, "telling": c.telling_digest,
             "hearing": c.hearing_digest, "size": list(c.sprite_size) if c.sprite_size else None}
            for c in loaded.characters.values()
        ],
        "font": fonts,
    }
    payload = {"dialogue": dialogue, "lines": lines, "image": visual, "previous": prev, "prev_image": prev_visual, "prev_lines": prev_lines}
    return fields, payload


def cast_looks(loaded: LoadedRecipe):
    from ..media.timeline import CharacterLook

    return [CharacterLook(c.name, c.profile.colour, c.profile.side, c.telling, c.hearing, c.sprite_size) for c in loaded.characters.values()]


async def _picture(rt: Any, step: StepInfo, art: Artifact | None, dialogue: dict, j: int, workdir: str) -> Visual:
    """A scene's picture: its visual step's output, or a card drawn from the script."""
    import asyncio

    from ..media.timeline import Visual

    if art is not None:
        visual, _ = await rt.io(lambda: visual_of(art, rt.store.blob_file, fit=step.spec.clip_fit))
        return visual
    from ..providers.image_procedural import render_card

    scene = dialogue["scenes"][j]
    w, h = step.spec.width, step.spec.height
    data = await asyncio.to_thread(render_card, scene.get("image_prompt") or dialogue.get("title", ""), caption=scene.get("caption", ""), width=w, height=h)
    path = os.path.join(workdir, f"card-{j}.png")
    with open(path, "wb") as f:
        f.write(data)
    return Visual(path, "still", w, h)


def _glyph_check(chain: FontChain, clips: list, line_ids: Any, rt: Any, task: Any) -> None:
    """A generated line with a character no font can draw fails its topic, naming the line."""
    from ..fonts import is_emoji

    for i, c in zip(line_ids, clips):
        missing = [ch for ch in chain.missing(c.text) if not is_emoji(ch)]
        if missing:
            chars = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in missing)
            topic = task.id.split("/", 1)[0]
            raise MediaError(f"topic {topic}: line {i} ({c.speaker}: {c.text[:60]!r}) has {chars}, which no configured font can draw; add a font that has them in `fonts:` (Chinese, Japanese, Korean: pip install 'vidflow[cjk]')")


def _drop_emoji(chain: FontChain, clips: list, line_ids: Any) -> tuple[list, list[dict]]:
    """Lines without the emoji no font draws (the rest of the line is kept), and what went:
    one ``{"line", "speaker", "text", "chars"}`` per line that lost some (``line``: the
    script's line number, as in glyph errors)."""
    from dataclasses import replace

    out, dropped = [], []
    for i, c in zip(line_ids, clips):
        gone = _undrawn_emoji(chain, c.text)
        if gone:
            dropped.append({"line": i, "speaker": c.speaker, "text": c.text, "chars": gone})
            c = replace(c, text="".join(" " if ch in gone else ch for ch in c.text))
        out.append(c)
    return out, dropped


def _undrawn_emoji(chain: FontChain, text: str) -> list[str]:
    """The emoji in ``text`` no font of ``chain`` draws, each once, in order."""
    from ..fonts import is_emoji

    return list(dict.fromkeys(ch for ch in chain.missing(text) if is_emoji(ch)))


def _listed(chars: list[str]) -> str:
    return ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in chars)


def emoji_warning(d: dict) -> str:
    """The warning for one line that lost emoji (``d`` from :func:`_drop_emoji`)."""
    chars = _listed(d["chars"])
    return (f"line {d['line']} ({d['speaker']}: {d['text'][:60]!r}): emoji {chars} left out of the captions: "
            "no configured font draws them (add a font that has them in `fonts:`)")


def topic_emoji_warnings(loaded: LoadedRecipe, step: StepInfo) -> list[str]:
    """Topics of a compose step with emoji no font draws: captions will lose them (plan warnings)."""
    spec = step.spec
    if spec.caption_style == "none":
        return []
    try:
        chain = font_chain(loaded, spec)
    except MediaError:  # reported as a problem by check_frame
        return []
    out = []
    for t in loaded.topics:
        gone = _undrawn_emoji(chain, t.text)
        if gone:
            out.append(f"{t.where or loaded.loc('topics')}: topic {t.text[:60]!r}: emoji {_listed(gone)} will be left out of "
                       f"the captions of step `{step.name}`: no configured font draws them (add a font that has them in `fonts:`)")
    return out


async def segment(task: Any, step: StepInfo, p: dict, rt: Any, workdir: str) -> Artifact:
    """Make one scene's segment (and, with ``clip_audio: mix``, its clip's fitted sound)."""
    from ..media.compose import Previous, clip_audio, render_segment
    from ..media.timeline import scene_timeline
    from ._compose_settings import line_clips, video_settings

    j, line_ids = task.params["scene"], task.params["lines"]
    dialogue = p["dialogue"]
    s = video_settings(step.spec, parallel=rt.settings.max_ffmpeg)
    chain = font_chain(rt.loaded, step.spec)
    clips = await rt.io(line_clips, rt, dialogue, line_ids, p["lines"])
    if s.subtitles != "none":
        _glyph_check(chain, clips, line_ids, rt, task)
        clips, dropped = _drop_emoji(chain, clips, line_ids)
    else:
        dropped = []
    visual = await _picture(rt, step, p["image"], dialogue, j, workdir)
    previous = None
    if p["previous"]:
        prev = p["previous"]
        pv = await _picture(rt, step, p["prev_image"], dialogue, prev["scene"], workdir)
        frames = scene_timeline([a.value["duration"] for a in p["prev_lines"]], s).frames
        previous = Previous(pv, prev["scene"], frames)
    out = os.path.join(workdir, "segment.mp4")
    async with rt.cpu():
        t0 = time.monotonic()
        timeline = await render_segment(visual, clips, cast_looks(rt.loaded), s, out, workdir, chain=chain, scene=j, previous=previous)
        seconds = time.monotonic() - t0
    ref = await rt.io(lambda: rt.store.put_blob_file(out, media_type="video/mp4", ext="mp4"))
    blobs = {"video": ref}
    has_clip_audio = False
    if step.spec.clip_audio == "mix" and visual.kind == "clip":
        wav = os.path.join(workdir, "clip-audio.wav")
        async with rt.cpu():
            has_clip_audio = await clip_audio(visual, timeline.frames, s, wav, workdir)
        if has_clip_audio:
            blobs["clip_audio"] = await rt.io(lambda: rt.store.put_blob_file(wav, media_type="audio/wav", ext="wav"))
    value = {
        "scene": j, "frames": timeline.frames, "duration": timeline.duration, "starts": list(timeline.starts),
        "ends": list(timeline.ends), "slot_samples": list(timeline.slot_samples),
        "durations": [c.duration for c in clips], "visual": visual.kind, "clip_audio": has_clip_audio,
        **({"dropped_emoji": dropped} if dropped else {}),
    }
    meta = {"kind": "compose.segment", "seconds": round(seconds, 4), **({"dropped_emoji": dropped} if dropped else {})}
    return Artifact(value=value, blobs=blobs, meta=meta)
