"""recipes/offline-motion.yaml: a local Python step draws cards, video.procedural moves them,
compose puts sprites and captions over the clips. Run as shipped (one topic), offline.

What a viewer sees is checked on the published mp4: 1080x1920 with sound; inside one scene the
picture changes over time (the clip moves); the cast's sprites are drawn; captions appear in the
middle band (the shorts style) while someone speaks.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import REPO
from tests.media.helpers import count_close, extract_frame, hex_rgb
from vidflow.cli import main
from vidflow.media.probe import probe

pytestmark = [pytest.mark.ffmpeg, pytest.mark.slow]


@pytest.fixture(scope="module")
def motion(tmp_path_factory):
    root = tmp_path_factory.mktemp("motion")
    shutil.copytree(REPO / "recipes", root / "recipes")
    shutil.copytree(REPO / "characters", root / "characters")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for k in ("VIDFLOW_CACHE", "VIDFLOW_RUNS_DIR"):
            mp.delenv(k, raising=False)
        assert main(["run", "recipes/offline-motion.yaml", "--only", "why-is-the-sky-blue", "--plain"]) == 0
    video = root / "out" / "motion" / "why-is-the-sky-blue.mp4"
    return root, video, json.loads(video.with_suffix(".json").read_text())


def _diff(a, b) -> float:
    """Mean absolute difference per channel (0-255) of two same-size frames."""
    pa, pb = a.convert("RGB").tobytes(), b.convert("RGB").tobytes()
    return sum(abs(x - y) for x, y in zip(pa, pb)) / len(pa)


def test_the_video_is_vertical_with_sound(motion):
    _, video, manifest = motion
    info = probe(str(video))
    (v,) = info.of_type("video")
    assert (v.width, v.height) == (1080, 1920) and info.of_type("audio")
    assert manifest["qa"]["passed"] and len(manifest["scenes"]) == 2
    assert manifest["made_by"]["why-is-the-sky-blue/clips[0]"] == "mover"  # clips by video.procedural


def test_inside_a_scene_the_picture_moves_under_the_cast(motion, tmp_path):
    _, video, manifest = motion
    scene = manifest["scenes"][0]
    t0, t1 = scene["start"] + 0.3, scene["start"] + scene["duration"] - 0.5
    a, b = extract_frame(video, t0, tmp_path / "a.png"), extract_frame(video, t1, tmp_path / "b.png")
    top = (0, 0, 1080, 700)  # the card's title area, above captions and sprites
    assert _diff(a.crop(top), b.crop(top)) > 2.0  # the clip moved (a still would be ~0)
    # the cast is drawn over the clip: Nova's and Pip's colours in the lower part of the frame
    low = (0, 1100, 1080, 1920)
    assert count_close(a, low, hex_rgb("#FFB000"), tol=50) > 500
    assert count_close(a, low, hex_rgb("#2EC4B6"), tol=50) > 500


def test_words_captions_show_in_the_middle_while_someone_speaks(motion, tmp_path):
    _, video, manifest = motion
    line = manifest["scenes"][0]["lines"][1]  # Pip's line: captions in Pip's colour
    mid = (line["start"] + line["end"]) / 2
    frame = extract_frame(video, mid, tmp_path / "m.png")
    band = (0, 700, 1080, 1150)  # the middle band, between the card's title and the sprites
    assert count_close(frame, band, hex_rgb("#2EC4B6"), tol=60) > 300
