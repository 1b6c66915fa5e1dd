"""render_segment + assemble with the real ffmpeg: lengths, streams, audio placement, pixels."""

from __future__ import annotations

import asyncio
import math
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import pytest

from vidflow.media.compose import (
    CharacterLook,
    LineClip,
    SceneTimeline,
    VideoSettings,
    assemble,
    render_segment,
)
from vidflow.media.probe import count_frames, probe, wav_duration

from .helpers import (
    NOVA,
    NOVA_HEARING,
    NOVA_TELLING,
    PIP,
    PIP_HEARING,
    PIP_TELLING,
    count_close,
    decode_audio,
    extract_frame,
    hex_rgb,
    line,
    make_cast,
    make_still,
    make_tone,
    median_colour,
    near,
)

pytestmark = pytest.mark.ffmpeg


@dataclass
class Rendered:
    dir: Path
    s: VideoSettings
    cast: list[CharacterLook]
    scenes: list[tuple[SceneTimeline, list[LineClip]]]
    out: Path
    duration: float


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """Two scenes x two lines at the default 1080x1920, rendered once for the module."""
    d = tmp_path_factory.mktemp("compose")
    s = VideoSettings()
    cast = make_cast(d)
    still = make_still(d / "still.png")
    texts = [
        [("Nova", "Why is the sky so blue today?", 1.2), ("Pip", "Sunlight scatters in air.", 1.0)],
        [("Pip", "Blue light bounces the most.", 1.1), ("Nova", "So the whole sky glows!", 0.9)],
    ]
    scenes_lines = []
    for j, scene in enumerate(texts):
        lines = []
        for i, (who, text, dur) in enumerate(scene):
            wav = make_tone(d / f"l{j}{i}.wav", dur, freq=330 + 110 * i)
            lines.append(line(who, text, wav, dur))
        scenes_lines.append(lines)

    async def go() -> tuple[list[SceneTimeline], float]:
        tls = await asyncio.gather(*(
            render_segment(still, lines, cast, s, d / f"seg{j}.mp4", d / "work")
            for j, lines in enumerate(scenes_lines)
        ))
        segs = [d / f"seg{j}.mp4" for j in range(len(tls))]
        dur = await assemble(segs, list(zip(tls, scenes_lines)), s, d / "out.mp4", d / "work")
        return list(tls), dur

    tls, duration = asyncio.run(go())
    return Rendered(d, s, cast, list(zip(tls, scenes_lines)), d / "out.mp4", duration)


def total_frames(v: Rendered) -> int:
    return sum(tl.frames for tl, _ in v.scenes)


def test_output_has_h264_video_and_aac_audio(video: Rendered):
    info = probe(video.out)
    (v,), (a,) = info.of_type("video"), info.of_type("audio")
    assert (v.codec, v.width, v.height, v.fps) == ("h264", 1080, 1920, 30.0)
    assert (a.codec, a.sample_rate, a.channels) == ("aac", 48000, 1)
    assert not list(video.dir.glob("*.partial"))


def test_frame_count_and_duration_are_exact(video: Rendered):
    frames = total_frames(video)
    assert [tl.frames for tl, _ in video.scenes] == [84, 78]  # 2.8 s and 2.6 s at 30 fps
    assert count_frames(video.out) == frames
    assert video.duration == frames / 30
    assert probe(video.out).duration == pytest.approx(frames / 30, abs=0.05)


def test_audio_lasts_as_long_as_the_video(video: Rendered):
    wav = decode_audio(video.out, video.dir / "decoded.wav")
    assert wav_duration(wav) == pytest.approx(total_frames(video) / 30, abs=0.05)


def _rms(samples: list[int]) -> float:
    return math.sqrt(sum(x * x for x in samples) / max(1, len(samples)))


def test_each_line_sounds_in_its_slot_and_pauses_are_silent(video: Rendered):
    wav = decode_audio(video.out, video.dir / "placed.wav")
    with wave.open(str(wav)) as w:
        rate, raw = w.getframerate(), w.readframes(w.getnframes())
    pcm = struct.unpack(f"<{len(raw) // 2}h", raw)
    offset = 0.0
    for tl, lines in video.scenes:
        for start, end in zip(tl.starts, tl.ends):
            a, b = offset + start, offset + end
            voiced = pcm[int((a + 0.05) * rate): int((b - 0.05) * rate)]
            pause = pcm[int((b + 0.06) * rate): int((b + 0.24) * rate)]
            assert _rms(voiced) > 3000, f"no tone in line at {a:.2f}s"
            assert _rms(pause) < 300, f"noise in the pause after {b:.2f}s"
        offset += tl.duration


def band(s: VideoSettings) -> tuple[int, int, int, int]:
    return (0, round(s.height * 0.50), s.width, round(s.height * 0.67))


def sprite_centres(s: VideoSettings) -> tuple[tuple[int, int], tuple[int, int]]:
    cy = round(s.height * 0.97) - round(s.width * 0.4 * 1.2) // 3  # lower part of the block
    return (round(s.width * 0.24), cy), (round(s.width * 0.76), cy)


@pytest.mark.parametrize("scene,idx", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_frame_mid_line_shows_speaker_colour_and_sprites(video: Rendered, scene, idx):
    offset = sum(tl.duration for tl, _ in video.scenes[:scene])
    tl, lines = video.scenes[scene]
    speaker = lines[idx].speaker
    t = offset + tl.starts[idx] + 0.6 * lines[idx].duration
    im = extract_frame(video.out, t, video.dir / f"mid{scene}{idx}.png")
    own, other = (NOVA, PIP) if speaker == "Nova" else (PIP, NOVA)
    # karaoke: words already spoken are in the speaker's colour, nothing in the other's
    assert count_close(im, band(video.s), hex_rgb(own)) > 1500
    assert count_close(im, band(video.s), hex_rgb(other)) < 30
    left, right = sprite_centres(video.s)
    if speaker == "Nova":
        assert near(median_colour(im, *left), NOVA_TELLING)
        assert near(median_colour(im, *right), PIP_HEARING)
    else:
        assert near(median_colour(im, *left), NOVA_HEARING)
        assert near(median_colour(im, *right), PIP_TELLING)


def test_pause_shows_both_hearing_sprites(video: Rendered):
    tl, _ = video.scenes[0]
    t = tl.ends[0] + 0.15  # in the pause after the first line
    im = extract_frame(video.out, t, video.dir / "pause.png")
    left, right = sprite_centres(video.s)
    assert near(median_colour(im, *left), NOVA_HEARING)
    assert near(median_colour(im, *right), PIP_HEARING)


async def test_zoom_keeps_the_frame_count_and_moves_the_image(tmp_path: Path):
    s = VideoSettings(width=270, height=480, zoom=0.2, subtitles="none")
    cast = make_cast(tmp_path)
    wav = make_tone(tmp_path / "a.wav", 1.0)
    lines = [line("Nova", "Zoom in slowly", wav, 1.0)]
    seg = tmp_path / "zoom.mp4"
    tl = await render_segment(make_still(tmp_path / "still.png"), lines, cast, s, seg, tmp_path)
    assert count_frames(seg) == tl.frames == 39
    first = extract_frame(seg, 0.0, tmp_path / "first.png")
    last = extract_frame(seg, (tl.frames - 1) / 30 - 0.01, tmp_path / "last.png")
    top = (0, 0, s.width, round(s.height * 0.5))  # the still only (no sprites, no text)
    grey = (110, 110, 110)
    # the dark disc grows: fewer background-grey pixels in the top half at the end
    assert count_close(last, top, grey, tol=15) < count_close(first, top, grey, tol=15) - 500
