"""probe() from ffmpeg's stderr, WAV durations, frame counts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from vidflow.errors import MediaError
from vidflow.media.ffmpeg import ffmpeg_exe
from vidflow.media.probe import count_frames, parse_probe, probe, wav_duration

from .helpers import make_tone

SAMPLE = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'out.mp4':
  Metadata:
    major_brand     : isom
  Duration: 00:01:05.10, start: 0.000000, bitrate: 247 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 1080x1920, 121 kb/s, 30 fps, 30 tbr, 15360 tbn (default)
      handler_name    : VideoHandler
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, mono, fltp, 115 kb/s (default)
Input #1, png_pipe, from 'sprite.png':
  Duration: N/A, bitrate: N/A
  Stream #1:0: Video: png, rgba(pc, gbr/unknown/unknown), 300x360, 25 tbr, 25 tbn
"""


def test_parse_probe_reads_streams_and_duration():
    info = parse_probe(SAMPLE)
    assert info.duration == pytest.approx(65.1)
    v, a, png = info.streams
    assert (v.index, v.type, v.codec, v.width, v.height, v.fps) == (0, "video", "h264", 1080, 1920, 30.0)
    assert (a.index, a.type, a.codec, a.sample_rate, a.channels) == (1, "audio", "aac", 48000, 1)
    assert (png.codec, png.width, png.height, png.fps) == ("png", 300, 360, 25.0)


@pytest.mark.ffmpeg
def test_probe_real_file(tmp_path: Path):
    out = tmp_path / "k.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
         "-i", "testsrc=s=320x240:r=25:d=2", "-f", "lavfi", "-i", "sine=f=440:r=44100:d=2",
         "-ac", "2", "-c:v", "libx264", "-c:a", "aac", str(out)],
        check=True,
    )
    info = probe(out)
    assert info.duration == pytest.approx(2.0, abs=0.05)
    (v,), (a,) = info.of_type("video"), info.of_type("audio")
    assert (v.codec, v.width, v.height, v.fps) == ("h264", 320, 240, 25.0)
    assert (a.codec, a.sample_rate, a.channels) == ("aac", 44100, 2)
    assert count_frames(out) == 50


@pytest.mark.ffmpeg
def test_probe_missing_file_is_media_error(tmp_path: Path):
    with pytest.raises(MediaError, match="cannot probe"):
        probe(tmp_path / "missing.mp4")


def test_wav_duration_is_exact(tmp_path: Path):
    assert wav_duration(make_tone(tmp_path / "t.wav", 1.2345)) == round(1.2345 * 22050) / 22050
    (tmp_path / "bad.wav").write_bytes(b"not a wav")
    with pytest.raises(MediaError):
        wav_duration(tmp_path / "bad.wav")
