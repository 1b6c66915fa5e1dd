"""Clips in compose, motion on stills and crossfades (issue 10 build item 4, issue 11 item 6).

The clip source is a small capability written here the way a plugin would be (registered in a
capability registry passed to ``load_recipe_file``; vidflow has no code for it): it renders an
ffmpeg ``testsrc2`` clip (a moving pattern with a tone) per scene and stores it as a ``video``
blob with its width, height and duration, the artifact shape the ``video`` capability gives.
The run is real: espeak voices, compose with a narrator (no sprites) and Nova, ``words``
captions and crossfades, published to a folder.
"""

from __future__ import annotations

import array
import asyncio
import json
import math
import os
import wave
from pathlib import Path
from typing import ClassVar

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from tests.compose.helpers import frames
from tests.media.helpers import decode_audio, make_tone, words_for
from vidflow.api import load_recipe_file, run
from vidflow.cache.store import Artifact
from vidflow.capabilities.base import Capability, Prepared
from vidflow.capabilities.compose import ComposeStep
from vidflow.capabilities._compose_settings import video_settings
from vidflow.capabilities.registry import CapabilityRegistry
from vidflow.media.compose import LineClip, render_segment
from vidflow.media.ffmpeg import run_ffmpeg
from vidflow.media.subtitles import frame_layout
from vidflow.media.timeline import CharacterLook
from vidflow.recipe.schema import StepModel
from vidflow.settings import Settings

pytestmark = [pytest.mark.ffmpeg, pytest.mark.slow]

CLIP_SECONDS = 1.0  # shorter than any scene: compose loops it


class ClipSourceStep(StepModel):
    clip: str
    for_each: str | None = None


class ClipSourceCapability(Capability):
    """``clip: testsrc2``: one moving test-pattern clip (with a tone) per item."""

    name: ClassVar[str] = "testclip"
    Step: ClassVar[type[StepModel]] = ClipSourceStep
    trigger: ClassVar[str] = "clip"

    def prepare(self, task, step, inputs, loaded, adapters):
        return Prepared({"node": "testclip", "source": step.spec.clip, "item": task.item, "seconds": CLIP_SECONDS})

    async def execute(self, task, step, prepared, rt) -> Artifact:
        out = os.path.join(rt.scratch("clip-"), "clip.mp4")
        hue = 40 * (task.item or 0)
        await run_ffmpeg([
            "-f", "lavfi", "-i", f"{step.spec.clip}=size=320x180:rate=10:duration={CLIP_SECONDS},hue=h={hue}",
            "-f", "lavfi", "-i", f"sine=frequency=330:duration={CLIP_SECONDS}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", out,
        ])
        ref = rt.store.put_blob_file(out, media_type="video/mp4", ext="mp4")
        return Artifact(value={"width": 320, "height": 180, "duration": CLIP_SECONDS}, blobs={"video": ref}, meta={"kind": "testclip"})


RECIPE = """\
vidflow: 1
name: clips
topics: ["Why is the sky blue?"]
characters: [nova, narrator]
providers:
  writer: {kind: text.offline}
  voice: {kind: speech.espeak}
steps:
  script: {uses: writer, output: dialogue, lines: 4, scenes: 2, prompt: "{{ topic }}"}
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
  broll: {for_each: script.scenes, clip: testsrc2}
  video:
    compose: vertical
    visuals: broll
    width: 360
    height: 640
    fps: 10
    subtitles: words
    transition: crossfade
    transition_seconds: 0.5
    clip_audio: mix
  publish: {to: "out/{{ topic | slug }}.mp4"}
"""

NARRATOR = 'name: Narrator\ncolour: "#FFFFFF"\nvoices: {espeak: en-us}\n'


def _diff(a, b, box=None) -> float:
    """Mean absolute difference of two frames (inside ``box``: x0, y0, x1, y1)."""
    if box:
        a, b = a.crop(box), b.crop(box)
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from tests.conftest import REPO
    import shutil

    root = tmp_path_factory.mktemp("clips")
    shutil.copytree(REPO / "characters", root / "characters")
    (root / "characters" / "narrator.yaml").write_text(NARRATOR)
    (root / "recipe.yaml").write_text(RECIPE)
    caps = CapabilityRegistry()
    caps.register("testclip", ClipSourceCapability)
    settings = Settings(cache_url=str(root / "cache"), runs_dir=str(root / "runs"), scratch_dir=str(root / "scratch"))
    cwd = os.getcwd()
    os.chdir(root)
    try:
        loaded = load_recipe_file(root / "recipe.yaml", capabilities=caps)
        result = asyncio.run(run(loaded, settings=settings, output_root=str(root)))
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.summary.failures
    video = root / "out" / "why-is-the-sky-blue.mp4"
    manifest = json.loads((root / "out" / "why-is-the-sky-blue.json").read_text())
    return root, video, manifest, frames(video, 360, 640)


def test_clips_move_under_the_sprites(published):
    root, video, manifest, shots = published
    nova = CharacterLook("Nova", "#FFB000", "left", str(root / "characters/nova/telling.png"), str(root / "characters/nova/hearing.png"))
    narrator = CharacterLook("Narrator", "#FFFFFF", "left", None, None)
    spec = ComposeStep(compose="vertical", width=360, height=640, fps=10, subtitles="words")
    [placed] = frame_layout([nova, narrator], video_settings(spec)).sprites  # the narrator takes no place
    b = placed.box
    sprite_box = (b.x + b.w // 4, b.y + b.h // 2, b.right - b.w // 4, b.bottom - 4)  # the body
    lines = [ln for s in manifest["scenes"] for ln in s["lines"]]
    told = [ln for ln in lines if ln["speaker"] == "Narrator"]
    assert told and {ln["speaker"] for ln in lines} == {"Nova", "Narrator"}
    ln = told[0]
    i, k = (round((ln["start"] + f * (ln["end"] - ln["start"])) * 10) for f in (0.3, 0.8))
    assert k - i >= 3
    # the clip plays: the picture changes within the scene ...
    assert _diff(shots[i], shots[k]) > 8, _diff(shots[i], shots[k])
    # ... while Nova, listening, stands still on top of it
    assert _diff(shots[i], shots[k], sprite_box) < 3, _diff(shots[i], shots[k], sprite_box)


def test_scenes_crossfade_and_the_video_lasts_what_the_manifest_says(published):
    root, video, manifest, shots = published
    assert len(shots) == round(manifest["duration"] * 10)
    start = round(manifest["scenes"][1]["start"] * 10)
    last, first, settled = shots[start - 1], shots[start], shots[start + 6]
    # the new scene opens on the old picture fading out, then shows its own
    assert _diff(first, last) < _diff(settled, last)
    assert _diff(first, settled) > 3


def test_clip_sound_is_mixed_under_the_voices_in_the_pauses(published, tmp_path):
    root, video, manifest, _ = published
    with wave.open(str(decode_audio(video, tmp_path / "a.wav"))) as w:
        rate, ch = w.getframerate(), w.getnchannels()
        samples = array.array("h", w.readframes(w.getnframes()))

    def rms(a: float, b: float) -> float:
        part = samples[int(a * rate) * ch:int(b * rate) * ch]
        return math.sqrt(sum(x * x for x in part) / max(1, len(part)))

    lines = [ln for s in manifest["scenes"] for ln in s["lines"]]
    # between two lines nobody speaks: what is heard there is the clip's tone, low
    gaps = [rms(a["end"] + 0.05, b["start"] - 0.05) for a, b in zip(lines, lines[1:]) if b["start"] - a["end"] > 0.15]
    assert gaps and all(100 < g < 6000 for g in gaps), gaps


async def test_stills_move_by_default(tmp_path: Path):
    """The recipe defaults (no motion keys) zoom and pan a still; zoom 0, pan 0 holds it."""
    still = tmp_path / "still.png"
    im = Image.new("RGB", (360, 640), (90, 90, 90))
    draw = ImageDraw.Draw(im)
    for x in range(0, 360, 40):  # a checkerboard: any zoom or pan changes many pixels
        for y in range(0, 640, 40):
            if (x + y) // 40 % 2:
                draw.rectangle([x, y, x + 39, y + 39], fill=(220, 220, 220))
    im.save(still)
    make_tone(tmp_path / "t.wav", 1.0)
    ln = [LineClip("Narrator", "The sky", str(tmp_path / "t.wav"), 1.0, words_for("The sky", 1.0))]
    for name, spec in (("moving", ComposeStep(compose="vertical", width=360, height=640, fps=10, subtitles="none")),
                       ("still", ComposeStep(compose="vertical", width=360, height=640, fps=10, subtitles="none", zoom=0, pan=0))):
        await render_segment(str(still), ln, [], video_settings(spec), tmp_path / f"{name}.mp4", tmp_path / "w")
    moving, fixed = frames(tmp_path / "moving.mp4", 360, 640), frames(tmp_path / "still.mp4", 360, 640)
    assert _diff(moving[0], moving[-1]) > 10
    assert _diff(fixed[0], fixed[-1]) < 0.5
