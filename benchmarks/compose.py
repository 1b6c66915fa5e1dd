"""vidflow's compose of a 6-scene video against one hand-written ffmpeg command, and the cost of
a fully cached quickstart rerun.

Printed side by side in one run, both sides with a compose step's defaults (motion on stills,
the speaker's bob, ``words`` captions unless ``--subtitles`` says otherwise, the bundled music
bed, -14 LUFS):

* vidflow compose: exactly what the engine does -- ``render_segment`` per scene (at most
  ``os.cpu_count()`` at once, like the engine's CPU semaphore) beside the soundtrack
  (``build_soundtrack``: the bundled ``gentle`` bed looped, faded and ducked under every line,
  normalised to -14 LUFS / -1 dBTP, stereo 48 kHz), then the mux, then the QA measurement.
* baseline: ONE hand-written ffmpeg command (every filter written out here, nothing from
  vidflow's graph builders) encoding the same stills (each decoded once, fitted, set in motion
  by ``zoompan`` with the same zoom/pan end points), the sprites in the same layout boxes (same
  enable windows, the speaker bobbing in the same phase), the same captions (vidflow's
  per-scene ASS merged into one file, frame-exact), the same padded voice, the same bed with
  the same fades and ducking envelope, ``loudnorm`` (one pass, -14 LUFS, -1 dBTP) and the same
  codec settings, in one pass.
* medians of wall seconds, CPU seconds (own process + ffmpeg children) and CPU seconds per
  output second, and the ratios vidflow/baseline; the goal is a ratio of 1.10 or better. The
  QA measurement has no counterpart in the baseline: the ratio is printed without it (the same
  work) and with it (what a run costs).
* the quickstart recipe run twice in a fresh project: first run vs fully cached rerun.

Both sides run in the same process, alternating order. Speed is measured, not asserted: the
script fails (exit 1) only if the two sides do not make the same video: frame count and
duration equal, every frame at least ``MIN_PSNR`` dB apart in PSNR (frames paired by number),
both within 1 LU of the loudness target.

Usage: python benchmarks/compose.py [--reps 3] [--subtitles MODE] [--no-check] [--no-quickstart] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vidflow.capabilities.compose import ComposeStep, video_settings  # noqa: E402
from vidflow.capabilities.compose_audio import audio_mix  # noqa: E402
from vidflow.media.audio import bundled_music  # noqa: E402
from vidflow.media.compose import (  # noqa: E402
    CharacterLook,
    LineClip,
    SceneTimeline,
    VideoSettings,
    build_soundtrack,
    mux,
    render_segment,
    scene_timeline,
)
from vidflow.fonts import default_chain  # noqa: E402
from vidflow.media.layout import fit_art, motion_window  # noqa: E402
from vidflow.media.qa import measure as qa_measure  # noqa: E402
from vidflow.media.subtitles import frame_layout, karaoke_ass  # noqa: E402
from vidflow.media.timeline import CARD_KEEP, round_half_up  # noqa: E402
from vidflow.providers.base import SpeechRequest  # noqa: E402
from vidflow.providers.image_procedural import render_card  # noqa: E402
from vidflow.providers.speech_espeak import EspeakSpeech  # noqa: E402
from vidflow.recipe.characters import load_character  # noqa: E402

GOAL = 1.10
#: Every frame of the two outputs must be at least this close (PSNR, dB). Two x264 encodes of
#: the same frames differ by encoder noise only (measured: lowest frame 44.7 dB with words
#: captions, 40.6 dB with karaoke). Drawing something differently falls well below it
#: (measured by perturbing the baseline): a sprite 2 px off 32.6 dB, one caption event missing
#: 30.9 dB, the bob in the video's phase instead of the scene's 26.1 dB, every frame one step
#: late 15.7 dB at a cut and ~33 dB in motion.
MIN_PSNR = 35.0
soundtrack_wall: list[float] = []  # seconds of each build_soundtrack, in its CPU slot
STEP = ComposeStep(compose="vertical")  # a compose step with every default, as a recipe gets it
MIX = audio_mix(STEP)  # -14 LUFS, -1 dBTP, bed 12 LU under the voice, 12 dB duck
MUSIC = bundled_music("gentle")
SCENES = [  # (card prompt, caption, first line, second line): two speakers per scene
    ("a blue sky over a calm sea", "Why is the sky blue?",
     "So why is the sky blue and not green?",
     "Sunlight is a mix of every colour of the rainbow."),
    ("air molecules scattering light", "Scattering",
     "Wait, really? Every single colour at once?",
     "Tiny air molecules scatter short blue waves much more strongly."),
    ("a red sunset over the hills", "Sunsets",
     "Then why are sunsets orange and red?",
     "At sunset the light crosses far more air, so the blue is lost."),
    ("a honeybee on a yellow flower", "Nectar",
     "Ooh, tell me more about bees and honey!",
     "Bees sip sweet nectar from flowers and carry it home."),
    ("a golden honeycomb close up", "The hive",
     "What happens to the nectar inside the hive?",
     "Worker bees fan it with their wings until the water evaporates."),
    ("a jar of honey on a kitchen table", "Honey",
     "Okay, that blew my mind. Science is wild!",
     "And a single jar holds the work of thousands of bees."),
]


# --------------------------------------------------------------------------- inputs


async def make_inputs(d: Path, s: VideoSettings):
    """Stills, espeak lines and the cast; returns (cast, [(still, [LineClip])] per scene)."""
    chars = [load_character(n, REPO / "characters" / f"{n}.yaml") for n in ("nova", "pip")]
    cast = [CharacterLook(c.name, c.profile.colour, c.profile.side, c.telling, c.hearing) for c in chars]
    voices = [c.voice_for("espeak") for c in chars]  # en-us+f3 / en-gb+m3
    tts = EspeakSpeech()
    scenes = []
    for j, (prompt, caption, *texts) in enumerate(SCENES):
        still = d / f"scene{j}.png"
        still.write_bytes(render_card(prompt, caption=caption, width=s.width, height=s.height))
        clips = []
        for k, text in enumerate(texts):
            r = await tts.synthesize(SpeechRequest(text, voices[k]))
            wav = d / f"scene{j}_line{k}.wav"
            wav.write_bytes(r.audio)
            clips.append(LineClip(chars[k].name, text, str(wav), r.duration, tuple(r.words)))
        scenes.append((still, clips))
    return cast, scenes


# --------------------------------------------------------------------------- vidflow side


async def vidflow_compose(scenes, cast, s: VideoSettings, out: Path, work: Path, phases: dict) -> float:
    """What the engine does: segments (x264 threads = cores / parallel segments) and the
    soundtrack concurrently under a CPU semaphore, then the mux (both streams copied), then QA.

    ``phases`` gets (wall s, CPU s) of the segments+soundtrack phase, of the mux and of QA.
    """
    cpu = asyncio.Semaphore(os.cpu_count() or 2)

    async def segment(j: int, still: Path, clips: list[LineClip]) -> SceneTimeline:
        async with cpu:
            return await render_segment(still, clips, cast, s, work / f"seg{j}.mp4", work / f"seg{j}", scene=j)

    async def audio() -> float:
        timelines = [scene_timeline([c.duration for c in cl], s) for _, cl in scenes]
        async with cpu:
            t0 = time.perf_counter()  # wall only: CPU here would count the segments' too
            track = await build_soundtrack([(tl, cl) for tl, (_, cl) in zip(timelines, scenes)], s, MIX, work / "audio.m4a", work / "audio", music=MUSIC)
            soundtrack_wall.append(time.perf_counter() - t0)
        return track.duration

    c0, t0 = _cpu(), time.perf_counter()
    *tls, duration = await asyncio.gather(*(segment(j, st, cl) for j, (st, cl) in enumerate(scenes)), audio())
    c1, t1 = _cpu(), time.perf_counter()
    async with cpu:
        duration = await mux([work / f"seg{j}.mp4" for j in range(len(scenes))], work / "audio.m4a", duration, s, out, work)
    c2, t2 = _cpu(), time.perf_counter()
    async with cpu:
        await qa_measure(out, min_stretch=s.pause + 0.5)
    phases.setdefault("segments", []).append((t1 - t0, c1 - c0))
    phases.setdefault("assemble", []).append((t2 - t1, c2 - c1))
    phases.setdefault("qa", []).append((time.perf_counter() - t2, _cpu() - c2))
    return duration


# --------------------------------------------------------------------------- baseline


def _frames_within(a: float, b: float, fps: int) -> tuple[int, int]:
    """First and last frame k with a <= k/fps <= b (the doubles ffmpeg compares in between())."""
    lo = max(0, math.ceil(a * fps) - 1)
    while lo / fps < a:
        lo += 1
    hi = math.floor(b * fps) + 1
    while hi / fps > b:
        hi -= 1
    return lo, hi


def _ms(frame: int, fps: int) -> int:
    """The time (ms) libass is asked to render a frame at: ffmpeg's ``pts * av_q2d(tb) * 1000``,
    truncated (1/fps time base, as in a segment and after the baseline's ``settb``)."""
    return int(frame * (1 / fps) * 1000)


def _pick_cs(after_ms: int, upto_ms: int, target_ms: float) -> int:
    """The centisecond time in (after_ms, upto_ms] (ms) nearest to target_ms."""
    choices = range(after_ms // 10 + 1, upto_ms // 10 + 1)
    assert choices, (after_ms, upto_ms)
    return min(choices, key=lambda cs: abs(cs * 10 - target_ms))


def _ass_ms(t: str) -> int:
    h, m, sec = t.split(":")
    return (int(h) * 3600 + int(m) * 60) * 1000 + round(float(sec) * 1000)


def _cs_time(cs: int) -> str:
    h, rest = divmod(cs, 360_000)
    m, rest = divmod(rest, 6_000)
    return f"{h}:{m:02d}:{rest // 100:02d}.{rest % 100:02d}"


_DIALOGUE = re.compile(r"^Dialogue: (\d+),([^,]*),([^,]*),(.*)$", re.M)


def whole_ass(scene_scripts: list[str], tls: list[SceneTimeline], offsets: list[int], fps: int) -> str:
    """The scenes' ASS scripts merged into one for the whole video, as one would by hand: the
    header (styles) once, every event moved by its scene's start.

    A scene start is rarely a whole centisecond, so each event's shifted times are chosen to
    cover exactly the frames that its scene's own script shows it on. libass shows an event at
    ``now`` (ms) when ``start <= now < end``; a frame's ``now`` is floor(exact ms) or 1 ms less
    (float truncation), and the times chosen work for either. Of those, the nearest to the
    exact shifted time is taken, so karaoke ``\\k`` words (timed from the event start) change
    on the same frames as far as centiseconds allow.
    """
    head = scene_scripts[0][: scene_scripts[0].index("[Events]")]
    assert all(t.startswith(head) for t in scene_scripts), "scenes with different styles"
    fmt = next(ln for ln in scene_scripts[0].splitlines() if ln.startswith("Format: Layer"))
    exact = lambda g: g * 1000 // fps  # noqa: E731  floor of the exact ms of global frame g
    events = []
    for text, tl, off in zip(scene_scripts, tls, offsets):
        shift = off * 1000 / fps
        for m in _DIALOGUE.finditer(text):
            a_ms, b_ms = _ass_ms(m[2]), _ass_ms(m[3])
            shown = [k for k in range(tl.frames) if a_ms <= _ms(k, fps) < b_ms]
            if not shown:
                continue  # never on screen in its scene
            g0, g1 = off + shown[0], off + shown[-1]
            start = 0 if g0 == 0 else _pick_cs(exact(g0 - 1), exact(g0) - 1, a_ms + shift)
            end = _pick_cs(exact(g1), exact(g1 + 1) - 1, b_ms + shift)
            events.append(f"Dialogue: {m[1]},{_cs_time(start)},{_cs_time(end)},{m[4]}")
    return head + "[Events]\n" + fmt + "\n" + "\n".join(events) + "\n"


def _esc(path: Path) -> str:
    """A path as a filter option value: escaped for the option parser, then the graph parser."""
    return re.sub(r"([\\'\[\],;])", r"\\\1", re.sub(r"([\\':])", r"\\\1", str(path)))


def baseline_argv(ffmpeg: str, scenes, cast, s: VideoSettings, out: Path, work: Path) -> tuple[list[str], int]:
    """One hand-written ffmpeg command for the whole video; returns (argv, expected frames).

    Written out here filter by filter (nothing from vidflow's graph builders): positions and
    motion end points are read from vidflow's layout rules, the subtitles are vidflow's own
    per-scene ASS merged into one file, so both sides draw the same picture.
    """
    fps, w, h = s.fps, s.width, s.height
    tb = repr(1 / fps)  # av_q2d(1/fps): the double a 1/fps time base turns frame numbers into t with
    tls = [scene_timeline([c.duration for c in clips], s) for _, clips in scenes]
    offsets = [sum(t.frames for t in tls[:j]) for j in range(len(tls))]
    total = sum(t.frames for t in tls)
    lay = frame_layout(cast, s)

    # One ASS for the whole video (see whole_ass), libass given only the font it draws with.
    ass = work / "whole.ass"
    ass.write_text(whole_ass([karaoke_ass(clips, cast, s, tl, lay=lay) for (_, clips), tl in zip(scenes, tls)],
                             tls, offsets, fps), encoding="utf-8")
    fonts = default_chain().make_fontsdir(work / "fonts", [default_chain().primary])

    # Each character's "telling" windows, in global time, covering exactly the frames a segment
    # enables with between(t, start, end) (3 decimals) -- bounds put half-way between frames.
    speaking: dict[str, list[str]] = {c.name: [] for c in cast}
    for (_, clips), tl, off in zip(scenes, tls, offsets):
        for c, st, en in zip(clips, tl.starts, tl.ends):
            lo, hi = _frames_within(float(f"{st:.3f}"), float(f"{en:.3f}"), fps)
            if lo <= hi:
                speaking[c.speaker].append(f"between(t,{(off + lo - 0.5) / fps:.4f},{(off + hi + 0.5) / fps:.4f})")

    inputs: list[str] = []
    graph: list[str] = []
    # Stills: each decoded once, fitted (the cards are frame-sized: cover, no crop), then zoompan
    # makes the scene's frames, the window moving linearly from the whole frame to where
    # vidflow's motion rule ends it (zoom in by s.zoom, drift by s.pan; direction per scene).
    for j, ((still, _), tl) in enumerate(zip(scenes, tls)):
        inputs += ["-i", str(still)]
        fit = fit_art(*_png_size(still), w, h, CARD_KEEP)
        (sw, sh), (cx, cy) = fit.size, fit.offset
        end = motion_window(w, h, fit.keep, s.zoom, s.pan, j)
        n = max(1, tl.frames - 1)
        graph.append(
            f"[{j}:v]scale={sw}:{sh},crop={w}:{h}:{cx}:{cy},format=yuv420p,"
            f"zoompan=z='{w}/({w}-on/{n}*{w - end.w})':x='on/{n}*{end.x}':y='on/{n}*{end.y}'"
            f":d={tl.frames}:s={w}x{h}:fps={fps}[b{j}]"
        )
    graph.append("".join(f"[b{j}]" for j in range(len(scenes))) + f"concat=n={len(scenes)}:v=1:a=0,settb=1/{fps},setpts=N[bg]")

    # Sprites in their layout boxes: the speaker's "telling" sprite bobs by s.bob of its height,
    # abs(sin(2 pi t)) of the time since its scene began (the frame number less the scene's
    # first, times the time base, as a segment's own t is).
    scene_first = "+".join(f"gte(round(t*{fps}),{off})*{off - prev}" for off, prev in zip(offsets[1:], offsets))
    scene_t = f"(round(t*{fps})-({scene_first or 0}))*{tb}"
    last, n_in = "bg", len(scenes)
    for look in cast:
        box = lay.placed(look.name).box
        spans = "+".join(speaking[look.name])
        poses = [(True, spans), (False, f"not({spans})")] if spans else [(False, "")]
        for telling, enable in poses:
            inputs += ["-i", look.telling if telling else look.hearing]
            if telling:
                fit_sprite, x, y = f"scale={box.w}:{box.h}", str(box.x), f"{box.bottom}-h"
                if s.bob > 0:
                    y += f"-{max(1, round_half_up(s.bob * box.h))}*abs(sin(2*PI*{scene_t}))"
            else:
                fit_sprite, x, y = f"scale={box.w}:{box.h}:force_original_aspect_ratio=decrease", f"{box.x}+({box.w}-w)/2", f"{box.bottom}-h"
            when = f":enable='{enable}'" if enable else ""
            graph.append(f"[{n_in}:v]{fit_sprite},format=yuva420p,loop=loop=-1:size=1,settb=1/{fps},setpts=N[s{n_in}]")
            graph.append(f"[{last}][s{n_in}]overlay=x='{x}':y='{y}'{when}[v{n_in}]")
            last, n_in = f"v{n_in}", n_in + 1
    graph.append(f"[{last}]ass=filename={_esc(ass)}:fontsdir={_esc(fonts)},format=yuv420p[vout]")

    # Audio: every line resampled, padded with silence / trimmed to its slot, concatenated; the
    # bed looped to the video's length, faded, ducked around every line (the same envelope:
    # down `duck` dB during a line, linear ramps `attack` before and `release` after, evaluated
    # every 10 ms), mixed under the voice at a fixed level and the sum normalised by loudnorm in
    # its one-pass mode (a single command cannot measure first).
    labels = []
    for (_, clips), tl in zip(scenes, tls):
        for c, n in zip(clips, tl.slot_samples):
            inputs += ["-i", c.audio_path]
            graph.append(
                f"[{n_in}:a]aresample={s.audio_rate},aformat=sample_fmts=s16:channel_layouts=mono,"
                f"apad=whole_len={n},atrim=end_sample={n}[a{n_in}]"
            )
            labels.append(f"[a{n_in}]")
            n_in += 1
    graph.append("".join(labels) + f"concat=n={len(labels)}:v=0:a=1,pan=stereo|c0=c0|c1=c0[voice]")
    samples = total * s.samples_per_frame
    seconds = samples / s.audio_rate
    spans = [(off / fps + st, off / fps + en) for tl, off in zip(tls, offsets) for st, en in zip(tl.starts, tl.ends)]
    ramps = "+".join(f"clip((t-{a - MIX.attack:.4f})/{MIX.attack:g},0,1)*clip(({b + MIX.release:.4f}-t)/{MIX.release:g},0,1)" for a, b in spans)
    duck = f"pow(10,-{MIX.duck / 20:.4f}*min(1,{ramps}))"
    fade_in, fade_out = min(MIX.fade_in, seconds / 4), min(MIX.fade_out, seconds / 4)
    inputs += ["-stream_loop", "-1", "-i", str(MUSIC)]
    graph.append(
        f"[{n_in}:a]aresample={s.audio_rate},aformat=sample_fmts=fltp:channel_layouts=stereo,atrim=end_sample={samples},"
        f"afade=t=in:d={fade_in:.3f},afade=t=out:st={seconds - fade_out:.4f}:d={fade_out:.3f},volume=-20dB,"  # a fixed bed level, as a hand-written command has
        f"asetnsamples=n=480:p=0,volume=eval=frame:volume='{duck}'[bed]"
    )
    graph.append(
        f"[voice][bed]amix=inputs=2:duration=first:normalize=0,"
        f"loudnorm=I={MIX.loudness}:TP={MIX.true_peak}:LRA=11,aresample={s.audio_rate}[aout]"
    )

    argv = [
        ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
        *inputs,
        "-filter_complex", ";".join(graph),
        "-map", "[vout]", "-map", "[aout]",
        "-frames:v", str(total), "-r", str(fps),
        "-c:v", "libx264", "-preset", s.preset, "-crf", str(s.crf), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-aac_coder", "fast", "-b:a", s.audio_bitrate, "-ar", str(s.audio_rate), "-ac", "2",
        "-movflags", "+faststart",
        str(out),
    ]
    return argv, total


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


# --------------------------------------------------------------------------- measuring


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measure(fn) -> tuple[float, float]:
    """(wall s, CPU s of this process and its waited-for children) of ``fn()``."""
    c0, t0 = _cpu(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, _cpu() - c0


def media_facts(ffmpeg: str, path: Path, fps: int) -> dict:
    """Decoded video frames, container duration and decoded audio samples of ``path``."""
    r = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0", "-f", "null", "-",
         "-map", "0:a:0", "-f", "s16le", "-ac", "1", "pipe:1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True,
    )
    err = r.stderr.decode("utf-8", "replace")
    frames = [int(m) for m in re.findall(r"frame=\s*(\d+)", err)]
    dur = re.search(r"Duration:\s*(\d+):(\d+):([\d.]+)", err)
    return {
        "frames": frames[-1] if frames else -1,
        "duration": int(dur[1]) * 3600 + int(dur[2]) * 60 + float(dur[3]) if dur else -1.0,
        "audio_samples": len(r.stdout) // 2,
        "size_mb": path.stat().st_size / 1e6,
    }


def psnr(ffmpeg: str, a: Path, b: Path, stats: Path) -> tuple[str, list[tuple[int, float]]]:
    """ffmpeg's PSNR summary of video b against video a and every frame's PSNR (0-based frame
    number, dB; ``inf`` for identical frames). Frames are paired by number (``setpts=N``), not
    by timestamp: the two files' time bases differ, and pairing by time can match a frame
    with its neighbour."""
    r = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-i", str(a), "-i", str(b),
         "-lavfi", f"[0:v]setpts=N[a];[1:v]setpts=N[b];[a][b]psnr=stats_file={_esc(stats)}", "-f", "null", "-"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True,
    )
    m = re.search(r"PSNR (y:.*)", r.stderr.decode("utf-8", "replace"))
    frames = []
    for line in stats.read_text().splitlines():
        n, avg = re.search(r"n:(\d+)", line), re.search(r"psnr_avg:([\d.]+|inf)", line)
        if n and avg:
            frames.append((int(n[1]) - 1, float(avg[1])))
    return (m[1].strip() if m else "?"), frames


def quickstart(d: Path) -> tuple[float, float]:
    """Wall seconds of the quickstart in a fresh project: first run, then fully cached rerun."""
    shutil.rmtree(d, ignore_errors=True)
    (d / "recipes").mkdir(parents=True)
    shutil.copy(REPO / "recipes" / "quickstart.yaml", d / "recipes" / "quickstart.yaml")
    shutil.copytree(REPO / "characters", d / "characters")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDFLOW_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    argv = [sys.executable, "-m", "vidflow", "run", "recipes/quickstart.yaml", "--plain",
            "--cache", str(d / "cache"), "--runs-dir", str(d / "runs"), "--out-dir", str(d)]
    times = []
    for extra in ([], ["--new-run"]):  # the rerun is a new run served by the cache (not the first run reported)
        t0 = time.perf_counter()
        r = subprocess.run([*argv, *extra], cwd=d, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            sys.exit(f"quickstart failed (exit {r.returncode}):\n{r.stdout.decode()[-3000:]}")
    last = r.stdout.decode().strip().splitlines()[-1]
    if " 0 nodes ran" not in last:
        print(f"  note: the rerun was not fully cached: {last}")
    return times[0], times[1]


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each side, alternating (default 3)")
    ap.add_argument("--no-check", action="store_true", help="skip the PSNR comparison of the two outputs")
    ap.add_argument("--no-quickstart", action="store_true", help="skip the quickstart first-run/rerun ratio")
    ap.add_argument("--keep", metavar="DIR", help="keep inputs and outputs in DIR (default: a temp dir, removed)")
    ap.add_argument("--subtitles", default="words", choices=("words", "karaoke", "plain", "none"), help="caption style on both sides (default: words)")
    args = ap.parse_args()
    if args.reps < 1:
        ap.error("--reps must be >= 1")

    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    ncpu = os.cpu_count() or 2
    # the compose step's defaults (motion on stills, the speaker's bob, the caption size of the
    # style), x264 threads as the engine sets them with one segment per CPU slot
    s = video_settings(STEP.model_copy(update={"subtitles": args.subtitles}), parallel=ncpu)
    root = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="vidflow-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        inputs = root / "inputs"
        inputs.mkdir(exist_ok=True)
        t0 = time.perf_counter()
        cast, scenes = asyncio.run(make_inputs(inputs, s))
        t_inputs = time.perf_counter() - t0
        subprocess.run([ffmpeg, "-version"], stdout=subprocess.DEVNULL, check=True)  # page the binary in

        results: dict[str, list[tuple[float, float]]] = {"vidflow": [], "baseline": []}
        outs: dict[str, Path] = {}
        phases: dict[str, list[tuple[float, float]]] = {}
        expected = None

        def run_vidflow(i: int) -> None:
            work = root / f"vidflow{i}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            outs["vidflow"] = work / "video.mp4"
            asyncio.run(vidflow_compose(scenes, cast, s, outs["vidflow"], work, phases))

        def run_baseline(i: int) -> None:
            nonlocal expected
            work = root / f"baseline{i}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            outs["baseline"] = work / "video.mp4"
            argv, expected = baseline_argv(ffmpeg, scenes, cast, s, outs["baseline"], work)
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if r.returncode != 0:
                sys.exit(f"baseline ffmpeg failed ({r.returncode}):\n{r.stderr.decode()[-3000:]}")

        sides = {"vidflow": run_vidflow, "baseline": run_baseline}
        order_log = []
        for i in range(args.reps):
            order = ["vidflow", "baseline"] if i % 2 == 0 else ["baseline", "vidflow"]
            for name in order:
                wall, cpu = measure(lambda: sides[name](i))
                results[name].append((wall, cpu))
                order_log.append(f"{name} {wall:.2f}s/{cpu:.2f}cpu")

        facts = {k: media_facts(ffmpeg, p, s.fps) for k, p in outs.items()}
        out_s = facts["vidflow"]["frames"] / s.fps
        n_lines = sum(len(c) for _, c in scenes)
        print(f"vidflow compose vs one hand-written ffmpeg command: {len(scenes)} scenes, {n_lines} espeak lines, "
              f"{s.width}x{s.height} @ {s.fps} fps, libx264 {s.preset} crf {s.crf}, aac {s.audio_bitrate}, "
              f"{s.subtitles} subtitles, music bed ducked, loudness -14 LUFS / -1 dBTP stereo")
        print(f"  {ncpu} CPUs, {args.reps} reps per side (alternating order), medians; inputs made in {t_inputs:.1f}s")
        for k in ("vidflow", "baseline"):
            f = facts[k]
            print(f"  output {k:<9} {f['frames']} frames, {f['frames'] / s.fps:.3f} s of video, container "
                  f"{f['duration']:.2f} s, {f['audio_samples']} audio samples ({f['audio_samples'] / s.audio_rate:.3f} s), "
                  f"{f['size_mb']:.2f} MB")
        problems = []
        if not facts["vidflow"]["frames"] == facts["baseline"]["frames"] == expected:
            problems.append(f"frames differ: vidflow {facts['vidflow']['frames']}, baseline {facts['baseline']['frames']}, expected {expected}")
        if abs(facts["vidflow"]["duration"] - facts["baseline"]["duration"]) > 0.02:
            problems.append(f"durations differ: vidflow {facts['vidflow']['duration']} s, baseline {facts['baseline']['duration']} s")
        if not args.no_check:
            summary, per_frame = psnr(ffmpeg, outs["vidflow"], outs["baseline"], root / "psnr.txt")
            low = [(n, db) for n, db in per_frame if db < MIN_PSNR]
            worst = min(per_frame, key=lambda f: f[1])
            print(f"  baseline vs vidflow PSNR (every frame, paired by number): {summary}")
            print(f"  lowest frame PSNR: {worst[1]:.1f} dB (frame {worst[0]}); frames under {MIN_PSNR:g} dB: "
                  f"{len(low)} of {len(per_frame)}" + (": " + ", ".join(f"{n} ({db:.1f} dB)" for n, db in low[:8]) if low else ""))
            if len(per_frame) != facts["vidflow"]["frames"]:
                problems.append(f"PSNR compared {len(per_frame)} frames of {facts['vidflow']['frames']}")
            if low:
                problems.append(f"{len(low)} frames under {MIN_PSNR:g} dB: the two sides do not draw the same video")
            for k in ("vidflow", "baseline"):
                q = asyncio.run(qa_measure(outs[k], min_stretch=s.pause + 0.5))
                print(f"  {k:<9} loudness {q.loudness:.1f} LUFS, true peak {q.true_peak:.1f} dBTP, {q.channels} channels")
                if abs(q.loudness - MIX.loudness) > 1:
                    problems.append(f"{k}: loudness {q.loudness:.1f} LUFS is not within 1 LU of {MIX.loudness:g}")
        print(f"  runs in order: {', '.join(order_log)}")
        print()
        med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
               for k, v in (*results.items(), *phases.items())}
        print(f"  {'':<24}{'wall s':>8}{'CPU s':>8}{'CPU s / output s':>18}")
        work_only = [(w - qw, c - qc) for (w, c), (qw, qc) in zip(results["vidflow"], phases["qa"])]
        med["vidflow (same work)"] = (statistics.median(w for w, _ in work_only), statistics.median(c for _, c in work_only))
        rows = (("vidflow", "vidflow compose + QA"), ("segments", f"  {len(scenes)} segments + track"),
                ("assemble", "  mux"), ("qa", "  QA measurement"),
                ("vidflow (same work)", "vidflow without QA"), ("baseline", "hand-written ffmpeg"))
        for k, label in rows:
            w, c = med[k]
            print(f"  {label:<24}{w:8.2f}{c:8.2f}{c / out_s:18.3f}")
        print(f"  (the soundtrack, beside the segments: {statistics.median(soundtrack_wall):.2f} s wall in its CPU slot)")
        rw = med["vidflow (same work)"][0] / med["baseline"][0]
        rc = med["vidflow (same work)"][1] / med["baseline"][1]
        print(f"  {'ratio (same work)':<24}{rw:8.2f}{rc:8.2f}{rc:18.2f}")
        rwq, rcq = med["vidflow"][0] / med["baseline"][0], med["vidflow"][1] / med["baseline"][1]
        print(f"  {'ratio (with QA)':<24}{rwq:8.2f}{rcq:8.2f}{rcq:18.2f}")
        # each rep's two runs are back to back: their ratio sees the same load on a shared machine
        pw = statistics.median(v[0] / b[0] for v, b in zip(work_only, results["baseline"]))
        pc = statistics.median(v[1] / b[1] for v, b in zip(work_only, results["baseline"]))
        print(f"  {'ratio per rep (median)':<24}{pw:8.2f}{pc:8.2f}{pc:18.2f}   (same work; each rep's pair ran back to back)")
        verdict = lambda r: "met" if r <= GOAL else "NOT met"  # noqa: E731
        print(f"goal: ratio <= {GOAL:.2f}: wall {verdict(rw)} ({rw:.2f}), CPU {verdict(rc)} ({rc:.2f})")
        print(f"ratio {rw:.2f}")
        if problems:
            sys.exit("check FAILED: " + "; ".join(problems))
        if not args.no_check:
            print(f"check passed: same frames ({expected}), same duration, every frame >= {MIN_PSNR:g} dB PSNR, both at {MIX.loudness:g} LUFS +- 1 LU")

        if not args.no_quickstart:
            print()
            first, rerun = quickstart(root / "quickstart")
            print("quickstart (recipes/quickstart.yaml, fresh project, `python -m vidflow run --plain`):")
            print(f"  first run       {first:7.2f} s")
            print(f"  cached rerun    {rerun:7.2f} s")
            print(f"  ratio rerun/first: {rerun / first:.3f}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
