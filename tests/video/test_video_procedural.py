"""``video.procedural``: offline clips from a still (image-to-video) or a prompt, that really move."""

from __future__ import annotations

import subprocess

import imageio_ffmpeg
import pytest

from tests.engine.util import run_recipe, write
from vidflow.cache.store import CacheStore
from vidflow.providers.image_procedural import render_card
from vidflow.providers.registry import default_registry
from vidflow.providers.video_procedural import MOTIONS, render_clip

pytestmark = [pytest.mark.ffmpeg]

RECIPE = """
vidflow: 1
name: motion
topics: ["Why is the sky blue?"]
characters: [nova, pip]
providers:
  writer: {kind: text.offline}
  painter: {kind: image.procedural}
  mover: {kind: video.procedural, fps: 8}
steps:
  script: {uses: writer, output: dialogue, lines: 2, scenes: 2, prompt: "{{ topic }}"}
  art: {for_each: script.scenes, uses: painter, size: 96x160, prompt: "{{ item.image_prompt }}"}
  clip: {for_each: art, uses: mover, seconds: 2, size: 96x160, prompt: "{{ item.caption }}"}
"""


def frames(data: bytes, width: int, height: int) -> list[bytes]:
    proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", "-", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                          input=data, capture_output=True, check=True)
    n = width * height
    return [proc.stdout[i : i + n] for i in range(0, len(proc.stdout), n)]


def mean_diff(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b)) / len(a)


@pytest.mark.parametrize("motion", MOTIONS)
def test_every_motion_moves_and_is_deterministic(motion):
    still = render_card("a lighthouse at dusk", width=96, height=160)
    clip = render_clip(still, motion=motion, width=96, height=160, seconds=1, fps=8)
    assert clip == render_clip(still, motion=motion, width=96, height=160, seconds=1, fps=8)
    fs = frames(clip, 96, 160)
    assert len(fs) == 8
    assert mean_diff(fs[0], fs[-1]) > 1.0  # the picture changes over the clip


def test_image_to_video_in_a_recipe_makes_clips_that_move_and_are_cached(project):
    path = write(project, RECIPE)
    result = run_recipe(path, default_registry(), project)
    assert result.exit_code == 0
    clips = result.outcomes
    made = [o.artifact for n, o in clips.items() if "/clip[" in n]
    assert len(made) == 2
    store = CacheStore(str(project / "cache"))
    try:
        for art in made:
            assert art.value["width"] == 96 and art.value["height"] == 160 and art.value["duration"] == pytest.approx(2.0, abs=0.2)
            assert art.value["has_audio"] is False and art.meta["provider"] == "mover"
            data = store.read_blob(art.blobs["video"])
            fs = frames(data, 96, 160)
            assert mean_diff(fs[0], fs[-1]) > 1.0
    finally:
        store.close()
    again = run_recipe(path, default_registry(), project)
    assert {s for n, s in again.summary.nodes.items() if "/clip[" in n} == {"cached"}
