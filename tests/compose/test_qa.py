"""QA of finished videos: figures measured on real files, limits from ``qa:``, failures with figures.

Media level: videos made by ffmpeg with a known black stretch and a known silence are measured
(``media.qa.measure``) and judged (``check``). Run level: a topic whose video comes out silent
(the fake voice), or black (black stills, invisible sprites), fails with the measured figure in
its run report while the other topics publish; a passing video's figures are in its manifest.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

import pytest
from PIL import Image

from tests.engine.util import run_recipe, write
from vidflow.api import load_recipe_file
from vidflow.media.ffmpeg import ffmpeg_exe
from vidflow.media.qa import QALimits, check, measure
from vidflow.providers.base import ImageRequest, ImageResult, Provider
from vidflow.report import run_report

pytestmark = pytest.mark.ffmpeg


def _lavfi_video(out: Path, *, black: tuple[float, float], silence: tuple[float, float], seconds: float = 4.0) -> Path:
    """A 96x160 video: a test pattern except ``black``, a 440 Hz tone except ``silence``.

    veryfast, like compose: B-frames, which QA's decoder skips when nothing refers to them."""
    (b0, b1), (s0, s1) = black, silence
    graph = (
        f"testsrc2=s=96x160:r=25:d={seconds},drawbox=c=black:t=fill:enable='between(t,{b0},{b1})'[v];"
        f"sine=f=440:r=48000:d={seconds},volume=0.3,volume=0:enable='between(t,{s0},{s1})',aformat=channel_layouts=stereo[a]"
    )
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-filter_complex", graph, "-map", "[v]", "-map", "[a]",
                    "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)], check=True)
    return out


def test_black_and_silent_stretches_are_measured_and_fail_with_their_figures(tmp_path):
    video = _lavfi_video(tmp_path / "v.mp4", black=(1.0, 2.5), silence=(2.0, 3.5))
    fig = asyncio.run(measure(video, min_stretch=0.5))
    assert fig.frames == 100 and fig.duration == pytest.approx(4.0)
    assert fig.channels == 2 and fig.sample_rate == 48000
    [black] = fig.black
    assert black.start == pytest.approx(1.0, abs=0.05) and black.duration == pytest.approx(1.5, abs=0.1)
    [silence] = fig.silence
    assert silence.start == pytest.approx(2.0, abs=0.05) and silence.duration == pytest.approx(1.5, abs=0.1)
    assert fig.true_peak is not None and fig.true_peak < 0
    problems = check(fig, QALimits(max_black=1.0, max_silence=1.0, true_peak=-40.0, duration=(5.0, None)))
    text = "; ".join(problems)
    assert len(problems) == 4, problems
    assert f"{black.duration:.2f} s of black" in text and f"{silence.duration:.2f} s of silence" in text
    assert f"true peak {fig.true_peak:.1f} dBTP is above qa.true_peak -40" in text
    assert "duration 4.00 s is outside qa.duration" in text
    # the same figures under looser limits pass
    assert check(fig, QALimits(max_black=2.0, max_silence=2.0, true_peak=0.0)) == []


def test_a_black_tail_runs_to_the_end(tmp_path):
    video = _lavfi_video(tmp_path / "v.mp4", black=(2.6, 9), silence=(9, 9))
    fig = asyncio.run(measure(video, min_stretch=0.5))
    [black] = fig.black
    assert black.start == pytest.approx(2.6, abs=0.05) and black.end == pytest.approx(4.0)
    assert fig.frames == 100 and fig.silence == ()


def test_a_clean_video_has_no_stretches(tmp_path):
    video = _lavfi_video(tmp_path / "v.mp4", black=(9, 9), silence=(9, 9), seconds=2.0)
    fig = asyncio.run(measure(video, min_stretch=0.5))
    assert fig.black == () and fig.silence == () and fig.frozen == ()
    assert fig.loudness is not None and -40 < fig.loudness < -25  # the tone: 0.3 of sine's 1/8 amplitude


# --------------------------------------------------------------------------- in a run


class BlackImage(Provider):
    kind: ClassVar[str] = "image.black"
    capability: ClassVar[str] = "image"

    async def generate_image(self, req: ImageRequest) -> ImageResult:
        buf = io.BytesIO()
        Image.new("RGB", (req.width or 64, req.height or 64), (0, 0, 0)).save(buf, "PNG")
        return ImageResult(data=buf.getvalue(), width=req.width, height=req.height)


RECIPE = """
vidflow: 1
name: qa
topics: {topics}
characters: [nova, pip]
{extra}
providers:
  writer: {{kind: text.offline}}
  voice: {{kind: {voice}}}
  painter: {{kind: {painter}}}
steps:
  script: {{uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "Say {{{{ topic }}}}"}}
  speech: {{for_each: script.lines, uses: voice, text: "{{{{ item.text }}}}", voice: "{{{{ item.speaker }}}}"}}
  art: {{for_each: script.scenes, uses: painter, prompt: "{{{{ item.image_prompt }}}}"}}
  video: {{compose: vertical, width: 108, height: 192, fps: 15, preset: ultrafast, subtitles: none{qa}}}
  publish: {{to: "out/{{{{ topic | slug }}}}.mp4"}}
"""


def _invisible_cast(project: Path) -> None:
    """nova and pip with fully transparent sprites (so a black still makes a black frame)."""
    chars = project / "characters"
    shutil.rmtree(chars, ignore_errors=True)
    chars.mkdir()
    for name, side in (("nova", "left"), ("pip", "right")):
        Image.new("RGBA", (30, 60), (0, 0, 0, 0)).save(chars / f"{name}.png")
        (chars / f"{name}.yaml").write_text(
            f"name: {name.title()}\ncolour: '#FFB000'\nside: {side}\npersona: x\nvoices: {{espeak: en-us}}\n"
            f"sprites: {{telling: {name}.png, hearing: {name}.png}}\n"
        )


@pytest.fixture
def qa_registry(registry):
    registry.register(BlackImage.kind, BlackImage)
    return registry


def _topic(report: dict, tid: str) -> dict:
    return next(t for t in report["topics"] if t["id"] == tid)


def test_a_silent_video_fails_its_topic_with_the_figures_in_the_report(project, qa_registry):
    recipe = write(project, RECIPE.format(topics='["quiet"]', extra="", voice="speech.fake", painter="image.procedural", qa=""))
    result = run_recipe(recipe, qa_registry, project)
    assert result.exit_code == 1
    topic = _topic(run_report(result, load_recipe_file(recipe, registry=qa_registry)), "quiet")
    assert topic["status"] == "failed" and not (project / "out" / "quiet.mp4").exists()
    [failure] = topic["failed_nodes"]
    assert failure["node"] == "quiet/video.qa"
    msg = failure["message"]
    assert "recipe.yaml" in msg and "steps.video.qa" in msg
    assert "integrated loudness -70.0 LUFS is outside qa.loudness [-16, -12]" in msg
    assert " s of silence (from 0.00 s" in msg and "qa.max_silence 2.3 s" in msg


def test_a_black_video_fails_while_a_good_topic_publishes_with_its_figures(project, qa_registry):
    _invisible_cast(project)
    recipe = write(project, RECIPE.format(topics='["dark"]', extra="", voice="speech.espeak", painter="image.black", qa=""))
    result = run_recipe(recipe, qa_registry, project)
    topic = _topic(run_report(result, load_recipe_file(recipe, registry=qa_registry)), "dark")
    [failure] = topic["failed_nodes"]
    assert failure["node"] == "dark/video.qa"
    assert " s of black (from 0.00 s to " in failure["message"] and "longer than qa.max_black 1 s" in failure["message"]
    assert "loudness" not in failure["message"]  # the sound is fine

    # the same video passes with the check turned off for black; its figures reach manifest and report
    recipe = write(project, RECIPE.format(topics='["dark"]', extra="", voice="speech.espeak", painter="image.black", qa=", qa: {max_black: null}"))
    result = run_recipe(recipe, qa_registry, project)
    assert result.exit_code == 0
    topic = _topic(run_report(result, load_recipe_file(recipe, registry=qa_registry)), "dark")
    import json

    manifest = json.loads((project / "out" / "dark.json").read_text())
    qa = manifest["qa"]
    assert qa["passed"] is True and qa["black"]["longest"] > 1.0
    assert qa["channels"] == 2 and qa["sample_rate"] == 48000 and abs(qa["loudness"] + 14) <= 1.0
    assert topic["qa"]["longest_black"] == qa["black"]["longest"] and topic["qa"]["loudness"] == qa["loudness"]
