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
from vidflow.media.ffmpeg import Previous
from vidflow.media.layout import Box, fit_art, motion_window
from vidflow.media.subtitles import frame_layout
from vidflow.media.timeline import CharacterLook, LineClip, VideoSettings, Visual, scene_timeline

CAST = [
    CharacterLook("Nova", "#FFD400", "left", "nt.png", "nh.png", (480, 600)),
    CharacterLook("Pip", "#33CCFF", "right", "pt.png", "ph.png", (480, 600)),
    CharacterLook("Zed", "#00FF00", "right", "zt.png", "zh.png", (480, 600)),  # silent in this scene
]
LINES = [
    LineClip("Nova", "Hi there.", "a.wav", 1.0, ()),
    LineClip("Pip", "Hello!", "b.wav", 0.5, ()),
    LineClip("Nova", "Bye.", "c.wav", 0.8, ()),
]
SMALL = VideoSettings(width=270, height=480)
BG = Visual("bg.png", "still", 270, 480)


def build(s: VideoSettings = SMALL, ass: str | None = "/w/seg.ass", **kw) -> list[str]:
    tl = scene_timeline([ln.duration for ln in LINES], s)
    lay = frame_layout(CAST, s)
    visual = kw.pop("visual", Visual("bg.png", "still", s.width, s.height))
    return segment_argv(visual, LINES, CAST, s, tl, lay, "seg.mp4", ass_path=ass, fonts_dir="/f", **kw)


def graph_of(argv: list[str]) -> str:
    return argv[argv.index("-filter_complex") + 1]


def test_segment_argv_golden():
    loop = "loop=loop=-1:size=1,settb=1/30,setpts=N"
    rgba = f"format=yuva420p,{loop}"  # sprites keep their alpha; each is looped once converted
    lay = frame_layout(CAST, SMALL)
    # three sprites in a row inside the safe area (left 5%, right 14% of 270 px)
    assert [(p.name, p.box) for p in lay.sprites] == [
        ("Nova", Box(15, 338, 66, 82)), ("Pip", Box(165, 338, 66, 82)), ("Zed", Box(90, 338, 66, 82)),
    ]  # Zed prefers the right too, but Pip came first: Zed gets the free middle slot
    graph = ";".join([
        f"[0:v]scale=270:480,setsar=1,crop=270:480:0:0,format=yuv420p,{loop}[bg]",
        f"[1:v]scale=66:82,{rgba}[s1]",
        "[bg][s1]overlay=x='15':y='420-h':enable='between(t,0.000,1.000)+between(t,2.100,2.900)'[v1]",
        f"[2:v]scale=66:82:force_original_aspect_ratio=decrease,{rgba}[s2]",
        "[v1][s2]overlay=x='15+(66-w)/2':y='420-h'"
        ":enable='not(between(t,0.000,1.000)+between(t,2.100,2.900))'[v2]",
        f"[3:v]scale=66:82,{rgba}[s3]",
        "[v2][s3]overlay=x='165':y='420-h':enable='between(t,1.300,1.800)'[v3]",
        f"[4:v]scale=66:82:force_original_aspect_ratio=decrease,{rgba}[s4]",
        "[v3][s4]overlay=x='165+(66-w)/2':y='420-h':enable='not(between(t,1.300,1.800))'[v4]",
        f"[5:v]scale=66:82:force_original_aspect_ratio=decrease,{rgba}[s5]",
        "[v4][s5]overlay=x='90+(66-w)/2':y='420-h'[v5]",
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


def test_segment_default_size_places_sprites_from_the_layout():
    s = VideoSettings()
    argv = build(s)
    graph = graph_of(argv)
    assert "scale=1080:1920,setsar=1,crop=1080:1920:0:0" in graph
    lay = frame_layout(CAST, s)
    for p in lay.sprites:
        assert f"scale={p.box.w}:{p.box.h}" in graph and f"y='{p.box.bottom}-h'" in graph
    assert argv[argv.index("-frames:v") + 1] == "96"


def test_narrators_are_not_drawn():
    cast = [CAST[0], CharacterLook("Voice", "#FFFFFF", None, None, None)]
    lines = [LineClip("Voice", "Meanwhile.", "a.wav", 1.0, ()), LINES[0]]
    tl = scene_timeline([1.0, 1.0], SMALL)
    argv = segment_argv(BG, lines, cast, SMALL, tl, frame_layout(cast, SMALL), "o.mp4", ass_path=None, fonts_dir="/f")
    assert argv.count("-i") == 3  # the still and Nova's two sprites


def test_segment_without_subtitles_has_no_ass_filter():
    graph = graph_of(build(ass=None))
    assert "ass=" not in graph and graph.endswith("[v5]format=yuv420p[out]")


def test_no_motion_loops_the_still_and_motion_uses_one_zoompan():
    assert "zoompan" not in graph_of(build())
    s = VideoSettings(width=270, height=480, zoom=0.1, pan=0.05)
    first = graph_of(build(s)).split(";")[0]
    assert "zoompan=z='270/(270-on/95*24)'" in first and ":d=96:s=270x480:fps=30" in first
    assert "loop=" not in first  # zoompan makes all frames from the one decoded still
    # the motion's end window keeps the caption card (CARD_KEEP) inside the frame
    end = motion_window(270, 480, fit_art(270, 480, 270, 480).keep, 0.1, 0.05, 0)
    assert f"x='on/95*{end.x}':y='on/95*{end.y}'" in first


def test_speaker_bobs_only_while_telling():
    graph = graph_of(build(VideoSettings(width=270, height=480, bob=0.05)))
    telling = [c for c in graph.split(";") if "enable='between" in c]
    hearing = [c for c in graph.split(";") if "overlay" in c and c not in telling]
    assert telling and all("*abs(sin(2*PI*t))" in c for c in telling)
    assert all("sin(" not in c for c in hearing)


def test_landscape_picture_in_portrait_frame_is_contained_over_a_blur():
    argv = build(visual=Visual("wide.png", "still", 1920, 1080))
    first = graph_of(argv).split(";")[:4]
    assert "boxblur" in first[1] and first[3].startswith("[fbg][ffg]overlay=0:164")


def test_clip_is_trimmed_slowed_or_looped():
    long = Visual("c.mp4", "clip", 270, 480, duration=10.0)
    assert long.clip_plan(3.2) == ("trim", 1.0)
    short = Visual("c.mp4", "clip", 270, 480, duration=3.0)
    assert short.clip_plan(3.2)[0] == "slow" and short.clip_plan(3.2)[1] == pytest.approx(3.2 / 3)
    tiny = Visual("c.mp4", "clip", 270, 480, duration=1.0)
    assert tiny.clip_plan(3.2) == ("loop", 1.0)
    assert build(visual=tiny)[:4] == ["-stream_loop", "-1", "-i", "./c.mp4"]
    assert "setpts=1.066667*(PTS-STARTPTS),fps=30" in graph_of(build(visual=short))
    assert build(visual=long)[:2] == ["-i", "./c.mp4"]


def test_crossfade_overlays_the_previous_picture_fading_out():
    prev = Previous(Visual("p.png", "still", 270, 480), scene=0, frames=60)
    argv = build(previous=prev)
    assert argv[:4] == ["-i", "./bg.png", "-i", "./p.png"]
    graph = graph_of(argv)
    assert "fade=t=out:st=0:d=0.400:alpha=1[prev]" in graph
    assert "[bg][prev]overlay=0:0:eof_action=pass[xf]" in graph
    clip_prev = Previous(Visual("p.mp4", "clip", 270, 480, duration=1.0), scene=0, frames=75)
    argv = build(previous=clip_prev)
    # the previous clip looped: its last frame (2.467 s of the scene) is at 0.467 s of the clip
    assert argv[2:6] == ["-ss", "0.467", "-i", "./p.mp4"]


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
    lay = frame_layout(CAST, SMALL)
    a = segment_filtergraph(BG, LINES[:1], CAST, SMALL, tl, lay, "/w/x.ass", "/f")
    b = segment_filtergraph(BG, LINES[:1], CAST, SMALL, tl, lay, "/w/x.ass", "/f")
    assert a == b
