"""The README's quickstart, end to end, as a new user runs it: real espeak, real ffmpeg.

No API key, no system ffmpeg on PATH, no network. Each output is checked the way a viewer
would: streams, size, duration, and pixels (karaoke words in the speaker's colour, the
speaker's telling sprite in its place).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO
from tests.media.helpers import decode_audio, extract_frame, hex_rgb, pixels
from vidflow.media.ffmpeg import SPRITE_BOTTOM, SPRITE_MARGIN_X, SPRITE_WIDTH
from vidflow.media.probe import count_frames, probe, wav_duration

pytestmark = [pytest.mark.ffmpeg, pytest.mark.slow]

PAUSE = 0.3  # the quickstart's compose pause (the default)


def _clean_env(tmp: Path) -> dict[str, str]:
    """No API keys, and a PATH on which no ffmpeg can be found."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python3")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("VIDFLOW_")}
    env["PATH"] = str(bin_dir)
    env["PYTHONPATH"] = str(REPO)  # the checkout, installed or not
    env.pop("IMAGEIO_FFMPEG_EXE", None)
    return env


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    root = tmp_path_factory.mktemp("quickstart")
    shutil.copytree(REPO / "recipes", root / "recipes")
    shutil.copytree(REPO / "characters", root / "characters")
    env = _clean_env(root)
    assert shutil.which("ffmpeg", path=env["PATH"]) is None
    first = subprocess.run([str(root / "bin" / "python3"), "-m", "vidflow", "run", "recipes/quickstart.yaml"], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    second = subprocess.run([str(root / "bin" / "python3"), "-m", "vidflow", "run", "recipes/quickstart.yaml", "--json", "--new-run"], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    return root, first, second


TOPICS = ["why-is-the-sky-blue", "how-do-bees-make-honey"]


def test_quickstart_publishes_both_videos(quickstart):
    root, first, _ = quickstart
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Traceback" not in first.stderr
    for t in TOPICS:
        assert (root / "out" / f"{t}.mp4").stat().st_size > 100_000
        assert json.loads((root / "out" / f"{t}.json").read_text())["topic_id"] == t


def test_cached_rerun_makes_no_call_and_runs_nothing(quickstart):
    root, _, second = quickstart
    assert second.returncode == 0, second.stderr[-2000:]
    summary = json.loads(second.stdout)
    assert summary["nodes"]["ran"] == 0 and summary["nodes"]["cached"] == summary["nodes"]["total"] > 20


@pytest.mark.parametrize("topic", TOPICS)
def test_streams_size_and_duration(quickstart, topic, tmp_path):
    root, _, _ = quickstart
    video = root / "out" / f"{topic}.mp4"
    info = probe(video)
    v = [s for s in info.streams if s.type == "video"]
    a = [s for s in info.streams if s.type == "audio"]
    assert len(v) == 1 and v[0].codec == "h264" and (v[0].width, v[0].height) == (1080, 1920)
    assert len(a) == 1 and a[0].codec == "aac"
    manifest = json.loads((root / "out" / f"{topic}.json").read_text())
    lines = [l for s in manifest["scenes"] for l in s["lines"]]
    expected = sum(l["audio_duration"] + PAUSE for l in lines)
    video_seconds = count_frames(video) / 30
    audio_seconds = wav_duration(decode_audio(video, tmp_path / "a.wav"))
    assert abs(video_seconds - expected) <= 0.05, (video_seconds, expected)
    assert abs(audio_seconds - expected) <= 0.05, (audio_seconds, expected)
    assert abs(manifest["duration"] - video_seconds) < 0.001


def _sprite_error(frame: Image.Image, sprite_path: Path, side: str) -> float:
    """Mean |difference| between the frame and the sprite over the sprite's solid interior."""
    w, h = frame.size
    sw = round(w * SPRITE_WIDTH)
    sprite = Image.open(sprite_path).convert("RGBA")
    sprite = sprite.resize((sw, round(sprite.height * sw / sprite.width)), Image.LANCZOS)
    x = round(w * SPRITE_MARGIN_X) if side == "left" else w - round(w * SPRITE_MARGIN_X) - sw
    y = round(h * SPRITE_BOTTOM) - sprite.height
    region = frame.crop((x, y, x + sprite.width, y + sprite.height))
    total = n = 0
    alpha = sprite.getchannel("A")
    for (sr, sg, sb, sa), (fr, fg, fb), al in zip(pixels(sprite), pixels(region), pixels(alpha)):
        if al == 255:
            total += abs(sr - fr) + abs(sg - fg) + abs(sb - fb)
            n += 1
    return total / max(1, n)


def _close(im: Image.Image, rgb, tol=70) -> int:
    return sum(1 for p in pixels(im) if sum(abs(a - b) for a, b in zip(p, rgb)) <= tol)


@pytest.mark.parametrize("topic", TOPICS)
def test_mid_line_frame_shows_speaker_colour_and_telling_sprite(quickstart, topic, tmp_path):
    root, _, _ = quickstart
    manifest = json.loads((root / "out" / f"{topic}.json").read_text())
    chars = {}
    for f in (root / "characters").glob("*.yaml"):
        import yaml

        d = yaml.safe_load(f.read_text())
        chars[d["name"]] = {"colour": hex_rgb(d["colour"]), "side": d["side"], "telling": f.parent / d["sprites"]["telling"], "hearing": f.parent / d["sprites"]["hearing"]}
    video = root / "out" / f"{topic}.mp4"
    checked = 0
    for scene in manifest["scenes"]:
        for line in scene["lines"]:
            me = chars[line["speaker"]]
            # late in the line most words are spoken (karaoke: spoken words take the speaker's colour)
            t_line = line["start"] + 0.8 * line["audio_duration"]
            t_pause = line["start"] + line["audio_duration"] + PAUSE / 2  # no subtitle, nobody telling
            f_line = extract_frame(video, t_line, tmp_path / "line.png")
            f_pause = extract_frame(video, t_pause, tmp_path / "pause.png")
            w, h = f_line.size
            band = (0, int(h * 0.45), w, int(h * 0.68))
            gained = _close(f_line.crop(band), me["colour"]) - _close(f_pause.crop(band), me["colour"])
            assert gained > 2000, (line, gained)
            others = [c for n, c in chars.items() if n != line["speaker"]]
            for other in others:
                assert _close(f_line.crop(band), other["colour"], tol=40) - _close(f_pause.crop(band), other["colour"], tol=40) < 200
            tell = _sprite_error(f_line, me["telling"], me["side"])
            hear = _sprite_error(f_line, me["hearing"], me["side"])
            assert tell < 25 and tell < hear * 0.6, (line["speaker"], tell, hear)
            # during the pause the same character listens
            assert _sprite_error(f_pause, me["hearing"], me["side"]) < _sprite_error(f_pause, me["telling"], me["side"])
            checked += 1
            break  # one line per scene keeps this test quick
    assert checked == len(manifest["scenes"]) >= 3


def test_manifest_lists_scenes_lines_nodes_and_cost(quickstart):
    root, _, _ = quickstart
    m = json.loads((root / "out" / "why-is-the-sky-blue.json").read_text())
    assert m["topic"] == "Why is the sky blue?" and m["output"].endswith("why-is-the-sky-blue.mp4")
    assert len(m["scenes"]) == 3 and sum(len(s["lines"]) for s in m["scenes"]) == 6
    for s in m["scenes"]:
        for l in s["lines"]:
            assert l["speaker"] in ("Nova", "Pip") and l["text"] and l["end"] > l["start"]
    ran = set(m["nodes"]["ran"]) | set(m["nodes"]["cached"])
    assert {"why-is-the-sky-blue/script", "why-is-the-sky-blue/video"} <= ran
    assert m["cost_usd"] == 0.0 and m["placeholders"] == []
