"""Golden tests of the pure ffmpeg argv / filtergraph builders (no ffmpeg is run)."""

from __future__ import annotations

import pytest

from vidflow.media.ffmpeg import (
    audio_argv,
    mux_argv,
    assemble_filtergraph,
    concat_list,
    filter_escape,
    path_arg,
    segment_argv,
    segment_filtergraph,
)
from vidflow.media.timeline import CharacterLook, LineClip, VideoSettings, scene_timeline

CAST = [
    CharacterLook("Nova", "#FFD400", "left", "nt.png", "nh.png"),
    CharacterLook("Pip", "#33CCFF", "right", "pt.png", "ph.png"),
    CharacterLook("Zed", "#00FF00", "right", "zt.png", "zh.png"),  # silent in this scene
]
LINES = [
    LineClip("Nova", "Hi there.", "a.wav", 1.0, ()),
    LineClip("Pip", "Hello!", "b.wav", 0.5, ()),
    LineClip("Nova", "Bye.", "c.wav", 0.8, ()),
]
SMALL = VideoSettings(width=270, height=480)


def build(s: VideoSettings = SMALL, ass: str | None = "/w/seg.ass") -> list[str]:
    tl = scene_timeline([ln.duration for ln in LINES], s)
    return segment_argv("bg.png", LINES, CAST, s, tl, "seg.mp4", ass_path=ass, fonts_dir="/f")


def test_segment_argv_golden():
    loop = "loop=loop=-1:size=1,settb=1/30,setpts=N"
    graph = ";".join([
        f"[0:v]scale=270:480:force_original_aspect_ratio=increase,crop=270:480,{loop}[bg]",
        f"[1:v]scale=108:-1,{loop}[s1]",
        "[bg][s1]overlay=x=11:y=466-h:enable='between(t,0.000,1.000)+between(t,2.100,2.900)'[v1]",
        f"[2:v]scale=108:-1,{loop}[s2]",
        "[v1][s2]overlay=x=11:y=466-h"
        ":enable='not(between(t,0.000,1.000)+between(t,2.100,2.900))'[v2]",
        f"[3:v]scale=108:-1,{loop}[s3]",
        "[v2][s3]overlay=x=259-w:y=466-h:enable='between(t,1.300,1.800)'[v3]",
        f"[4:v]scale=108:-1,{loop}[s4]",
        "[v3][s4]overlay=x=259-w:y=466-h:enable='not(between(t,1.300,1.800))'[v4]",
        f"[5:v]scale=108:-1,{loop}[s5]",
        "[v4][s5]overlay=x=259-w:y=466-h[v5]",
        "[v5]ass=filename=/w/seg.ass:fontsdir=/f,format=yuv420p[out]",
    ])
    assert build() == [
        "-i", "./bg.png", "-i", "./nt.png", "-i", "./nh.png", "-i", "./pt.png",
        "-i", "./ph.png", "-i", "./zh.png",
        "-filter_complex", graph,
        "-map", "[out]", "-frames:v", "96", "-r", "30",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
        "-an", "-f", "mp4", "./seg.mp4",
    ]


def test_segment_default_size_places_sprites_and_counts_frames():
    argv = build(VideoSettings())
    graph = argv[argv.index("-filter_complex") + 1]
    assert "scale=1080:1920:force_original_aspect_ratio=increase,crop=1080:1920" in graph
    assert "scale=432:-1" in graph  # sprites 40% of the width
    assert "overlay=x=43:y=1862-h" in graph and "overlay=x=1037-w:y=1862-h" in graph
    assert argv[argv.index("-frames:v") + 1] == "96"


def test_segment_without_subtitles_has_no_ass_filter():
    graph = build(ass=None)[build(ass=None).index("-filter_complex") + 1]
    assert "ass=" not in graph and graph.endswith("[v5]format=yuv420p[out]")


def test_zoom_zero_adds_no_filter_and_zoom_uses_one_zoompan():
    plain = build()[build().index("-filter_complex") + 1]
    assert "zoompan" not in plain
    s = VideoSettings(width=270, height=480, zoom=0.1)
    argv = build(s)
    graph = argv[argv.index("-filter_complex") + 1]
    first = graph.split(";")[0]
    assert "zoompan=z='1+0.1*on/95'" in first and ":d=96:s=270x480:fps=30" in first
    assert "loop=" not in first  # zoompan makes all frames from the one decoded still


def test_filter_escape_survives_both_parsers():
    assert filter_escape("/plain/path.ass") == "/plain/path.ass"
    assert filter_escape("/tmp/a b/it's:x,[y];z\\w") == (
        "/tmp/a b/it\\\\\\'s\\\\:x\\,\\[y\\]\\;z\\\\\\\\w"
    )


def test_concat_list_quotes_paths():
    assert concat_list(["/a/b.mp4", "/c/it's.mp4"]) == (
        "ffconcat version 1.0\nfile '/a/b.mp4'\nfile '/c/it'\\''s.mp4'\n"
    )


def test_assemble_filtergraph_golden():
    fmt = "aformat=sample_fmts=s16:channel_layouts=mono"
    pieces = [("a.wav", 100), (None, 1600), ("b.wav", 200)]
    assert assemble_filtergraph(pieces, SMALL) == ";".join([
        f"[0:a]aresample=48000,{fmt},apad=whole_len=100,atrim=end_sample=100[a0]",
        f"anullsrc=r=48000:cl=mono,{fmt},apad=whole_len=1600,atrim=end_sample=1600[a1]",
        f"[1:a]aresample=48000,{fmt},apad=whole_len=200,atrim=end_sample=200[a2]",
        "[a0][a1][a2]concat=n=3:v=0:a=1[aout]",
    ])


@pytest.mark.parametrize("graph_path", [None, "/w/audio.fgraph"])
def test_audio_argv_golden(graph_path):
    pieces = [("a.wav", 100), ("b.wav", 200)]
    graph = assemble_filtergraph(pieces, SMALL)
    argv = audio_argv(pieces, SMALL, "o.m4a", graph=graph, graph_path=graph_path)
    filt = ["-filter_complex", graph] if graph_path is None else ["-/filter_complex", graph_path]
    assert argv == [
        "-i", "./a.wav", "-i", "./b.wav", *filt,
        "-map", "[aout]", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-f", "mp4", "./o.m4a",
    ]
    assert "-shortest" not in argv


def test_mux_argv_golden():
    assert mux_argv("l.txt", "a.m4a", "o.mp4") == [
        "-f", "concat", "-safe", "0", "-i", "./l.txt", "-i", "./a.m4a",
        "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", "./o.mp4",
    ]


def test_path_arg_protects_relative_paths():
    assert path_arg("/abs/a:b.png") == "/abs/a:b.png"
    assert path_arg("a:b.png") == "./a:b.png"  # not protocol "a"
    assert path_arg("-x.png") == "./-x.png"  # not an option


def test_builders_are_deterministic():
    tl = scene_timeline([1.0], SMALL)
    a = segment_filtergraph(LINES[:1], CAST, SMALL, tl, "/w/x.ass", "/f")
    b = segment_filtergraph(LINES[:1], CAST, SMALL, tl, "/w/x.ass", "/f")
    assert a == b
