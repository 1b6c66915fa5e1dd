"""Helpers for the compose tests: decoded frames as pixel grids, colour masks and boxes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from PIL import Image, ImageChops

from vidflow.media.ffmpeg import ffmpeg_exe


def frames(video: Path, width: int, height: int) -> list[Image.Image]:
    """Every frame of ``video`` as an RGB image (rgb24 decoded by ffmpeg)."""
    raw = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(video),
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout
    n = width * height * 3
    return [Image.frombytes("RGB", (width, height), raw[i:i + n]) for i in range(0, len(raw), n)]


def mask(im: Image.Image, rgb: tuple[int, int, int], tol: int = 90) -> Image.Image:
    """A mode-L mask: 255 where a pixel is within ``tol`` (sum of |channel differences|) of
    ``rgb`` (Pillow's C loops: frames are checked whole, quickly)."""
    r, g, b = ImageChops.difference(im, Image.new("RGB", im.size, rgb)).split()
    total = ImageChops.add(ImageChops.add(r, g), b)  # clips at 255, above any tol used here
    return total.point(lambda v: 255 if v <= tol else 0)


def yellowish(im: Image.Image) -> Image.Image:
    """A mask of the yellow pixels, however dimmed: thin yellow text on a black outline loses
    brightness and chroma in yuv420p but keeps a yellow hue (48-72 degrees), saturated."""
    h, s, v = im.convert("HSV").split()
    hue = h.point(lambda x: 255 if 34 <= x <= 51 else 0)
    sat = s.point(lambda x: 255 if x >= 110 else 0)
    val = v.point(lambda x: 255 if x >= 110 else 0)
    return ImageChops.multiply(ImageChops.multiply(hue, sat), val)


def count(m: Image.Image, box: tuple[int, int, int, int] | None = None) -> int:
    """Set pixels of mask ``m`` (inside ``box``, x0, y0, x1, y1, if given)."""
    return (m.crop(box) if box else m).histogram()[255]


def bbox(m: Image.Image) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1), exclusive ends, of the set pixels of mask ``m``; None when none."""
    return m.getbbox()


def box_of(b) -> tuple[int, int, int, int]:
    """A layout ``Box`` as (x0, y0, x1, y1)."""
    return b.x, b.y, b.right, b.bottom


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def solid_sprite(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (300, 360)) -> Path:
    """An RGBA sprite: a solid block of ``rgb`` filling the picture (alpha 255)."""
    Image.new("RGBA", size, (*rgb, 255)).save(path)
    return path
