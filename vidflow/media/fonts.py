"""The fonts captions are drawn with: :mod:`vidflow.fonts`, re-exported for the media layer.

The font chain lives one layer down so that ``image.procedural`` (a provider, which may not
import ``media``) draws its title cards with the same fonts.
"""

from __future__ import annotations

from ..fonts import (
    FONT_FAMILY,
    FontChain,
    FontFace,
    cjk_file,
    default_chain,
    folder_fonts,
    fonts_digest,
    fonts_dir,
    ignorable,
    is_emoji,
    reset_fonts,
)

__all__ = [
    "FONT_FAMILY",
    "FontChain",
    "FontFace",
    "cjk_file",
    "default_chain",
    "folder_fonts",
    "fonts_digest",
    "fonts_dir",
    "ignorable",
    "is_emoji",
    "reset_fonts",
]
