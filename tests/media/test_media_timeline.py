"""scene_timeline arithmetic and VideoSettings validation (pure)."""

from __future__ import annotations

import random

import pytest

from vidflow.errors import MediaError
from vidflow.media.timeline import VideoSettings, round_half_up, scene_timeline

S = VideoSettings()


def test_timeline_last_pause_absorbs_frame_rounding():
    tl = scene_timeline([1.0, 1.234], S)
    # 1.3 + 1.534 = 2.834 s = 85.02 frames -> 85
    assert tl.frames == 85
    assert tl.duration == pytest.approx(85 / 30)
    assert tl.starts == pytest.approx((0.0, 1.3))
    assert tl.ends == pytest.approx((1.0, 2.534))
    assert tl.slot_samples == (62400, 136000 - 62400)
    assert sum(tl.slot_samples) == 85 * 1600


def test_timeline_rounds_half_frames_up():
    # 0.75 + 0.3 = 1.05 s = 31.5 frames (31.4999... in floats) -> 32, not banker's 32/31
    tl = scene_timeline([0.75], S)
    assert tl.frames == 32
    assert tl.slot_samples == (32 * 1600,)


def test_timeline_rounds_down_and_last_slot_shrinks():
    tl = scene_timeline([1.0, 0.51], S)  # 2.11 s = 63.3 frames -> 63
    assert tl.frames == 63
    assert tl.slot_samples == (62400, 63 * 1600 - 62400)
    assert tl.slot_samples[-1] >= round(0.51 * 48000)  # the last line's audio is never cut


def test_timeline_never_cuts_last_line_when_pause_is_zero():
    tl = scene_timeline([1.01], VideoSettings(pause=0.0))  # 30.3 frames: round() would cut audio
    assert tl.frames == 31
    assert tl.slot_samples == (31 * 1600,)


def test_timeline_cuts_slots_at_rounded_start_samples():
    tl = scene_timeline([0.123456, 0.2], S)
    # line 2 starts at 0.423456 s = 20325.888 samples -> 20326; 0.923456 s = 27.7 -> 28 frames
    assert tl.frames == 28
    assert tl.slot_samples == (20326, 28 * 1600 - 20326)


def test_timeline_empty_scene_is_one_frame():
    tl = scene_timeline([], S)
    assert (tl.frames, tl.starts, tl.slot_samples) == (1, (), ())


@pytest.mark.parametrize("fps,rate", [(30, 48000), (25, 44100), (24, 48000), (60, 48000)])
def test_timeline_samples_always_sum_to_whole_frames(fps, rate):
    s = VideoSettings(fps=fps, audio_rate=rate, pause=0.25)
    rng = random.Random(fps * rate)
    for _ in range(200):
        durs = [rng.uniform(0.05, 6.0) for _ in range(rng.randint(1, 6))]
        tl = scene_timeline(durs, s)
        assert sum(tl.slot_samples) * fps == tl.frames * rate
        assert tl.frames == round_half_up(sum(d + 0.25 for d in durs) * fps)
        assert all(n > 0 for n in tl.slot_samples)
        for start, n, d in zip(tl.starts, tl.slot_samples, durs):
            assert n >= d * rate - 1  # every slot holds its line's audio


def test_timeline_rejects_negative_duration():
    with pytest.raises(MediaError):
        scene_timeline([1.0, -0.1], S)


@pytest.mark.parametrize(
    "kw",
    [{"width": 1081}, {"fps": 0}, {"fps": 24, "audio_rate": 44100}, {"subtitles": "fancy"},
     {"zoom": -0.1}, {"pause": -1.0}],
)
def test_settings_reject_bad_values(kw):
    with pytest.raises(MediaError):
        VideoSettings(**kw)


def test_round_half_up_forgives_float_noise():
    assert round_half_up(1.05 * 30) == 32
    assert round_half_up(2.5) == 3
    assert round_half_up(2.4999) == 2
