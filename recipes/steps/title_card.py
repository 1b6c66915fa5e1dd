"""A title card drawn offline: a coloured frame with a title (and a subtitle) in the bundled font.

Used as a local step (see docs/recipes.md, "Local steps")::

    title:
      python: "steps.title_card:draw"
      version: 1
      args: {title: "{{ script.title }}", subtitle: "{{ topic }}", size: "540x960"}
      outputs: {image: image/png}

It draws with the ffmpeg of the imageio-ffmpeg wheel (``drawtext`` with vidflow's bundled
Roboto), so it needs no Pillow fonts, no system ffmpeg and no network. The text goes to ffmpeg
through files (``textfile=``), so quotes, colons and backslashes in a title need no escaping.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import textwrap
from pathlib import Path


def _fonts() -> Path:
    from vidflow.fonts import fonts_dir

    return fonts_dir()


def _escape(path: str) -> str:
    # a path inside a filter option: ffmpeg's filter escaping (\ : ' and , ; [ ])
    return "".join("\\" + c if c in "\\:',;[]" else c for c in path)


def draw(title: str, *, outputs: dict, subtitle: str = "", size: str = "1080x1920", background: str = "#1d3557", colour: str = "white", seconds: float = 0) -> dict:
    """Write ``outputs["image"]`` (PNG; or ``outputs["video"]``, an MP4 of ``seconds`` with the
    card held still, when the step declares that output). Returns the card's size."""
    import imageio_ffmpeg

    width, height = (int(x) for x in str(size).lower().split("x"))
    wrap = max(8, int(width / (height * 0.05 * 0.55)))  # characters per line at the title's size
    title_lines = textwrap.wrap(" ".join(str(title).split()), wrap)[:4] or [" "]
    with tempfile.TemporaryDirectory(prefix="title-") as work:  # in the step's own TMPDIR
        return _draw(Path(work), title_lines, str(subtitle), width, height, background, colour, float(seconds), outputs, imageio_ffmpeg.get_ffmpeg_exe())


def _draw(work: Path, title_lines: list, subtitle: str, width: int, height: int, background: str, colour: str, seconds: float, outputs: dict, ffmpeg: str) -> dict:
    title_file, sub_file = work / "title.txt", work / "subtitle.txt"
    title_file.write_text("\n".join(title_lines), encoding="utf-8")
    sub_file.write_text(" ".join(str(subtitle).split())[:80] or " ", encoding="utf-8")
    fonts = _fonts()
    bold, regular = _escape(str(fonts / "Roboto-Bold.ttf")), _escape(str(fonts / "Roboto-Regular.ttf"))
    big, small = max(12, int(height * 0.05)), max(10, int(height * 0.025))
    graph = (
        f"drawtext=fontfile={bold}:textfile={_escape(str(title_file))}:fontcolor={colour}:fontsize={big}"
        f":line_spacing={big // 4}:x=(w-text_w)/2:y=h*0.30-text_h/2,"  # upper third: shorts captions sit mid-frame
        f"drawtext=fontfile={regular}:textfile={_escape(str(sub_file))}:fontcolor={colour}@0.8:fontsize={small}"
        f":x=(w-text_w)/2:y=h*0.30+{big * len(title_lines)}"
    )
    base = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    made = {}
    if "image" in outputs:
        subprocess.run([*base, "-f", "lavfi", "-i", f"color=c={background}:s={width}x{height}", "-vf", graph, "-frames:v", "1", str(outputs["image"])], check=True)
        made["image"] = os.path.basename(outputs["image"])
    if "video" in outputs:
        length = seconds if seconds > 0 else 2.0
        subprocess.run([*base, "-f", "lavfi", "-i", f"color=c={background}:s={width}x{height}:r=25:d={length}", "-vf", graph,
                        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(outputs["video"])], check=True)
        made["video"] = os.path.basename(outputs["video"])
    if not made:
        raise ValueError(f"declare an `image` (image/png) or `video` (video/mp4) output; got {', '.join(outputs) or 'none'}")
    return {"width": width, "height": height, "lines": len(title_lines), "made": made}
