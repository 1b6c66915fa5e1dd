"""The soundtrack as a listener measures it: loudness, true peak, stereo 48 kHz, the bed and its ducking.

Real ffmpeg builds the track (``build_soundtrack``); an independent meter reads it back
(pyloudnorm's BS.1770 integrated loudness; true peak by 4x oversampling with scipy). The voice
is a 300 Hz tone and the bed a 3 kHz tone, so the bed's level can be read under the voice too
(the energy at 3 kHz, Hann-windowed FFT).
"""

from __future__ import annotations

import asyncio
import subprocess
import wave
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from vidflow.media.audio import AudioMix, bundled_music, music_digest, pick_music
from vidflow.media.compose import LineClip, VideoSettings, build_soundtrack, scene_timeline
from vidflow.media.ffmpeg import ffmpeg_exe
from vidflow.media.probe import probe

pytestmark = pytest.mark.ffmpeg

RATE = 48000
PAUSE = 1.2  # long gaps, so the bed comes all the way back between lines
S = VideoSettings(width=64, height=64, fps=30, pause=PAUSE)
VOICE_HZ, BED_HZ = 300.0, 3000.0


def _wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    data = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    channels = 1 if data.ndim == 1 else data.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return path


def _voice(path: Path, seconds: float, amp: float) -> Path:
    """A mono 'speech' line: a 300 Hz tone with a 4 Hz syllable envelope, at 22.05 kHz."""
    rate = 22050
    t = np.arange(round(seconds * rate)) / rate
    env = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    return _wav(path, amp * env * np.sin(2 * np.pi * VOICE_HZ * t), rate)


def _bed(path: Path, seconds: float = 1.5) -> Path:
    """A stereo 3 kHz tone at 44.1 kHz, shorter than the video (it must loop)."""
    rate = 44100
    t = np.arange(round(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * BED_HZ * t)
    return _wav(path, np.stack([x, x], axis=1), rate)


def _decode(path: Path) -> np.ndarray:
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "f32le", "-acodec", "pcm_f32le", "-"], capture_output=True, check=True).stdout
    ch = probe(path).of_type("audio")[0].channels
    return np.frombuffer(raw, dtype="<f4").reshape(-1, ch)


def _true_peak_db(x: np.ndarray) -> float:
    up = resample_poly(x, 4, 1, axis=0)
    return 20 * np.log10(np.max(np.abs(up)))


def _tone_db(x: np.ndarray, t0: float, t1: float, hz: float) -> float:
    """Level (dBFS, of a full-scale sine = 0) of the ``hz`` component of channel 0 in [t0, t1]."""
    seg = x[round(t0 * RATE) : round(t1 * RATE), 0]
    win = np.hanning(len(seg))
    spec = np.abs(np.fft.rfft(seg * win))
    freqs = np.fft.rfftfreq(len(seg), 1 / RATE)
    band = (freqs > hz - 40) & (freqs < hz + 40)
    amp = 2 * spec[band].max() / win.sum()
    return 20 * np.log10(max(amp, 1e-9))


def _build(tmp: Path, amps, durations, *, music: Path | None, mix: AudioMix = AudioMix()):
    clips = [LineClip("Nova" if i % 2 == 0 else "Pip", "la la la", str(_voice(tmp / f"l{i}.wav", d, a)), d, ()) for i, (a, d) in enumerate(zip(amps, durations))]
    tl = scene_timeline(durations, S)
    out = tmp / "track.m4a"
    st = asyncio.run(build_soundtrack([(tl, clips)], S, mix, out, tmp / "work", music=music))
    return out, tl, st


@pytest.fixture(scope="module")
def with_bed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bed")
    out, tl, st = _build(tmp, [0.25, 0.25, 0.25], [2.0, 2.5, 2.0], music=_bed(tmp / "bed.wav"))
    return _decode(out), tl, st, out


def test_track_is_stereo_48k_and_as_long_as_the_video(with_bed):
    x, tl, st, out = with_bed
    a = probe(out).of_type("audio")[0]
    assert (a.channels, a.sample_rate, a.codec) == (2, 48000, "aac")
    assert abs(len(x) / RATE - tl.duration) < 0.03
    assert st.duration == pytest.approx(tl.duration)


def test_loudness_and_true_peak_on_target_with_music(with_bed):
    x, *_ = with_bed
    loudness = pyloudnorm.Meter(RATE).integrated_loudness(x)
    assert abs(loudness - (-14.0)) <= 1.0, loudness
    assert _true_peak_db(x) <= -1.0


def test_bed_audible_in_gaps_and_ducked_at_least_10_db_under_speech(with_bed):
    x, tl, *_ = with_bed
    # the gaps after the first two lines (the last one is in the bed's 2 s fade-out)
    for start, end in list(zip(tl.starts, tl.ends))[:2]:
        under = _tone_db(x, start + 0.5, end - 0.4, BED_HZ)
        gap = _tone_db(x, end + 0.6, end + PAUSE - 0.2, BED_HZ)  # after the release, before the next attack
        voice_in_gap = _tone_db(x, end + 0.6, end + PAUSE - 0.2, VOICE_HZ)
        assert gap > -40, gap  # clearly audible: the voice track alone is digital silence here
        assert voice_in_gap < gap - 30
        assert gap - under >= 10, (start, gap, under)


@pytest.mark.parametrize("amp", [0.02, 0.9])
def test_quiet_and_loud_voices_without_music_land_on_target(tmp_path, amp):
    out, *_ = _build(tmp_path, [amp, amp], [1.5, 1.5], music=None)
    x = _decode(out)
    assert x.shape[1] == 2
    assert abs(pyloudnorm.Meter(RATE).integrated_loudness(x) - (-14.0)) <= 1.0
    assert _true_peak_db(x) <= -1.0


def test_other_targets_are_met(tmp_path):
    out, *_ = _build(tmp_path, [0.3, 0.3], [1.5, 1.5], music=None, mix=AudioMix(loudness=-18.0, true_peak=-2.0))
    x = _decode(out)
    assert abs(pyloudnorm.Meter(RATE).integrated_loudness(x) - (-18.0)) <= 1.0
    assert _true_peak_db(x) <= -2.0


def test_bundled_bed_is_a_real_stereo_loop():
    path = bundled_music("gentle")
    a = probe(path).of_type("audio")[0]
    assert a.channels == 2 and 20 < probe(path).duration < 60
    assert (path.parent / "LICENSE.txt").read_text().count("CC0") >= 1


def test_folder_pick_is_deterministic_and_spreads_topics(tmp_path):
    files = [tmp_path / f"{n}.ogg" for n in "abc"]
    picks = [pick_music(files, f"topic-{i}") for i in range(30)]
    assert picks == [pick_music(files, f"topic-{i}") for i in range(30)]
    assert set(picks) == set(files)


def test_music_digest_follows_content_not_path(tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    _bed(a)
    b.write_bytes(a.read_bytes())
    assert music_digest(a) == music_digest(b)
    _bed(b, seconds=1.0)
    assert music_digest(a) != music_digest(b)
