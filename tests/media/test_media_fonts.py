"""libass with no system fonts at all, and paths that need filtergraph escaping."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageChops

from vidflow.media import compose
from vidflow.media.compose import VideoSettings, assemble, render_segment
from vidflow.media.ffmpeg import filter_escape, run_ffmpeg
from vidflow.fonts import FONT_FAMILY, default_chain, fonts_dir
from vidflow.media.probe import count_frames, probe
from vidflow.media.subtitles import karaoke_ass

from .helpers import (
    NOVA,
    count_close,
    extract_frame,
    hex_rgb,
    line,
    make_cast,
    make_still,
    make_tone,
    pixels,
)

pytestmark = pytest.mark.ffmpeg

SMALL = VideoSettings(width=270, height=480, font_size=144)  # 36 px text at 480 px high


def band_box(s: VideoSettings) -> tuple[int, int, int, int]:
    return (0, round(s.height * 0.50), s.width, round(s.height * 0.67))


def changed(a, b, box) -> int:
    diff = ImageChops.difference(a.crop(box), b.crop(box)).convert("L")
    return sum(1 for p in pixels(diff) if p > 40)


@pytest.fixture
def no_system_fonts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    conf = tmp_path / "empty-fonts.conf"
    conf.write_text('<?xml version="1.0"?><fontconfig></fontconfig>\n')
    monkeypatch.setenv("FONTCONFIG_FILE", str(conf))
    return conf


def test_fonts_dir_holds_only_font_files():
    files = list(fonts_dir().iterdir())  # libass tries to load every file in it
    assert files and all(f.suffix in (".ttf", ".otf", ".ttc") for f in files)
    assert FONT_FAMILY == "Noto Sans" == default_chain().primary.family


async def test_libass_without_fontsdir_draws_nothing_when_no_system_fonts(
    tmp_path: Path, no_system_fonts: Path
):
    """The trap itself, and proof that run_ffmpeg passes the environment through."""
    s = SMALL
    ass = tmp_path / "t.ass"
    wav = make_tone(tmp_path / "a.wav", 1.0)
    cast = make_cast(tmp_path)
    ass.write_text(karaoke_ass([line("Nova", "Hello there friend", wav, 1.0)], cast, s))
    outs = {}
    for name, extra in [("bare", ""), ("fontsdir", f":fontsdir={filter_escape(str(fonts_dir()))}")]:
        outs[name] = tmp_path / f"{name}.png"
        await run_ffmpeg([
            "-f", "lavfi", "-i", f"color=c=gray:s={s.width}x{s.height}:d=1",
            "-vf", f"ass=filename={filter_escape(str(ass))}{extra}", "-ss", "0.5",
            "-frames:v", "1", str(outs[name]),
        ])
    bare, with_fonts = (Image.open(outs[n]).convert("RGB") for n in ("bare", "fontsdir"))
    grey = bare.getpixel((2, 2))
    assert all(p == grey for p in pixels(bare)), "libass found a font: env not passed through?"
    assert count_close(with_fonts, band_box(s), hex_rgb(NOVA)) > 100


async def test_segment_renders_text_with_no_system_fonts(tmp_path: Path, no_system_fonts: Path):
    cast = make_cast(tmp_path)
    still = make_still(tmp_path / "still.png")
    wav = make_tone(tmp_path / "a.wav", 1.5)
    lines = [line("Nova", "Look at the sky", wav, 1.5)]
    frames = {}
    for mode in ("karaoke", "none"):
        s = VideoSettings(width=270, height=480, font_size=144, subtitles=mode)
        seg = tmp_path / f"{mode}.mp4"
        await render_segment(still, lines, cast, s, seg, tmp_path / "work")
        frames[mode] = extract_frame(seg, 1.2, tmp_path / f"{mode}.png")
    box = band_box(SMALL)
    assert changed(frames["karaoke"], frames["none"], box) > 800
    assert count_close(frames["karaoke"], box, hex_rgb(NOVA)) > 100
    assert count_close(frames["none"], box, hex_rgb(NOVA)) == 0


async def test_paths_with_quotes_colons_and_brackets(tmp_path: Path, monkeypatch):
    """The ASS path goes through both filtergraph parsers; the audio graph goes to a file."""
    monkeypatch.setattr(compose, "GRAPH_INLINE_MAX", 0)
    weird = tmp_path / "it's a: [weird], dir; ok\\"
    weird.mkdir()
    cast = make_cast(weird)
    still = make_still(weird / "still's.png")
    wav = make_tone(weird / "a b'.wav", 0.8)
    lines = [line("Nova", "Quotes {and} braces\\N stay text", wav, 0.8)]
    s = SMALL
    tl1 = await render_segment(still, lines, cast, s, weird / "seg 1.mp4", weird / "work")
    tl2 = await render_segment(still, [], cast, s, weird / "seg 2.mp4", weird / "work")
    dur = await assemble(
        [weird / "seg 1.mp4", weird / "seg 2.mp4"], [(tl1, lines), (tl2, [])], s,
        weird / "out'.mp4", weird / "work",
    )
    assert list((weird / "work").glob("*.fgraph"))  # the audio graph went through a file
    assert count_frames(weird / "out'.mp4") == tl1.frames + tl2.frames == 34
    assert dur == 34 / 30
    assert probe(weird / "out'.mp4").of_type("audio")
    im = extract_frame(weird / "seg 1.mp4", 0.7, weird / "f.png")
    assert count_close(im, band_box(s), hex_rgb(NOVA)) > 100
