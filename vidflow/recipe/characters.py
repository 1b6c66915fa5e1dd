"""Character profiles: ``characters/<name>.yaml`` plus two sprites. Adding one is a file drop.

::

    name: Nova
    colour: "#FFB000"          # karaoke colour of the words this character speaks
    side: left                 # left | right | center: where the sprite prefers to stand
    persona: curious host      # optional, given to text providers writing a dialogue
    voices: {espeak: en-us+f3, openai: nova, elevenlabs: 21m00Tcm4TlvDq8ikWAM}
    sprites: {telling: nova/telling.png, hearing: nova/hearing.png}   # PNG with alpha
    catchphrases: ["Ooh, tell me more!"]

Sprite paths are relative to the YAML file. Without ``sprites:`` the character is a
**narrator**: it has a voice and a colour, its lines are captioned, it is never drawn. Every
problem (missing sprite, bad colour, sprite without alpha, unknown key) is reported with
file:line at load time.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import Problem, RecipeError, shown_path
from .files import read_user_file
from .yamlloc import read_yaml_file

__all__ = ["Character", "CharacterProfile", "find_characters", "load_character"]

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_PNG = b"\x89PNG\r\n\x1a\n"
#: The largest sprite side in pixels: bounds the memory its check and its drawing take.
MAX_SPRITE_SIDE = 4096
#: The largest sprite file (a 4096x4096 RGBA PNG stored without compression is 64 MiB).
MAX_SPRITE_BYTES = 64 << 20


class Sprites(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    telling: str
    hearing: str


class VoiceSpec(BaseModel):
    """A voice with vendor settings: ``elevenlabs: {id: ..., settings: {stability: 0.4}, seed: 7}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    settings: dict[str, Any] = {}
    seed: int | None = None


class CharacterProfile(BaseModel):
    """The YAML file's schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=60)
    colour: str
    side: Literal["left", "right", "center"] = "left"
    persona: str = ""
    voices: dict[str, str | VoiceSpec] = {}
    sprites: Sprites | None = None
    catchphrases: list[str] = []

    @field_validator("colour")
    @classmethod
    def _colour(cls, v: str) -> str:
        if not _COLOUR.match(v):
            raise ValueError(f"colour {v!r} is not #RRGGBB; write it like \"#FFB000\" (quoted, or YAML reads # as a comment)")
        return v.upper()


@dataclass(frozen=True)
class Character:
    """A loaded character: the profile, its file, and its sprites by path and digest (all None
    for a narrator). ``sprite_size`` is the telling sprite's (width, height) in pixels."""

    id: str
    profile: CharacterProfile
    file: str
    telling: str | None
    hearing: str | None
    telling_digest: str | None = field(default=None, repr=False)
    hearing_digest: str | None = field(default=None, repr=False)
    voices_at: str = ""  # file:line:col of `voices:` (or of the file's start), for messages
    name_at: str = ""  # file:line:col of `name:`, for messages
    sprite_size: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def narrator(self) -> bool:
        """A narrator has no sprites: it speaks and is captioned, but is never drawn."""
        return self.telling is None

    def _voice(self, voice_key: str) -> str | VoiceSpec | None:
        voices = self.profile.voices
        return voices.get(voice_key) or voices.get(f"speech.{voice_key}")

    def voice_for(self, voice_key: str) -> str | None:
        """This character's voice id for a speech vendor (``espeak``, ``openai``, ...)."""
        v = self._voice(voice_key)
        return v.id if isinstance(v, VoiceSpec) else v

    def voice_params(self, voice_key: str) -> dict[str, Any]:
        """Vendor settings that go with that voice (``voice_settings``, ``seed``), if any."""
        v = self._voice(voice_key)
        if not isinstance(v, VoiceSpec):
            return {}
        out: dict[str, Any] = {}
        if v.settings:
            out["voice_settings"] = dict(v.settings)
        if v.seed is not None:
            out["seed"] = v.seed
        return out

    def template_view(self) -> dict:
        """What templates see as a character (never file paths)."""
        p = self.profile
        return {
            "id": self.id,
            "name": p.name,
            "colour": p.colour,
            "side": p.side,
            "narrator": self.narrator,
            "persona": p.persona,
            "catchphrases": list(p.catchphrases),
        }


def find_characters(dirs: list[Path]) -> dict[str, Path]:
    """Every ``<name>.yaml`` in ``dirs`` (first wins), by name."""
    found: dict[str, Path] = {}
    for d in dirs:
        if d.is_dir():
            for f in sorted(d.glob("*.y*ml")):
                if f.suffix in (".yaml", ".yml"):
                    found.setdefault(f.stem, f)
    return found


def load_character(ident: str, path: Path) -> Character:
    """Load and check one character file. Raises RecipeError listing every problem."""
    file = shown_path(path)
    data, locs = read_yaml_file(path, file, what="character")
    if not isinstance(data, dict):
        raise RecipeError(Problem(locs.at(()), "", "a character file must be a mapping (name:, colour:, sprites: ...)"))
    try:
        profile = CharacterProfile.model_validate(data)
    except ValidationError as e:
        from .problems import pydantic_problems

        raise RecipeError(pydantic_problems(e, locs, (), CharacterProfile)) from None
    problems: list[Problem] = []
    sprites: dict[str, tuple[str, str]] = {}
    size = None
    for pose in ("telling", "hearing") if profile.sprites is not None else ():
        rel = getattr(profile.sprites, pose)
        sp = (path.parent / rel).resolve()
        where = locs.at(("sprites", pose))
        missing = f"sprite {rel} not found (looked at {sp}); draw it or fix the path"
        try:  # (a regular file, and no bigger than a sprite can be: a link to /dev/zero was read until memory ran out)
            data_bytes = read_user_file(sp, str(rel), what="sprite", limit=MAX_SPRITE_BYTES, missing=missing)
        except RecipeError as e:
            problems.extend(Problem(where, f"sprites.{pose}", p.message if p.message == missing else f"{rel}: {p.message}") for p in e.problems)
            continue
        if not data_bytes.startswith(_PNG):
            problems.append(Problem(where, f"sprites.{pose}", f"sprite {rel} is not a PNG file"))
            continue
        if not _png_has_alpha(data_bytes):
            problems.append(Problem(where, f"sprites.{pose}", f"sprite {rel} has no alpha channel; save it as RGBA PNG so the scene shows through"))
            continue
        w, h = int.from_bytes(data_bytes[16:20], "big"), int.from_bytes(data_bytes[20:24], "big")
        if not (w and h):
            problems.append(Problem(where, f"sprites.{pose}", f"sprite {rel} has no width or height"))
            continue
        if max(w, h) > MAX_SPRITE_SIDE:
            problems.append(Problem(where, f"sprites.{pose}", f"sprite {rel} is {w}x{h} pixels; the limit is {MAX_SPRITE_SIDE} a side (it is drawn at most 40% of the frame's width): scale it down"))
            continue
        why = _png_unreadable(data_bytes)
        if why:
            problems.append(Problem(where, f"sprites.{pose}", f"sprite {rel} cannot be read as a PNG ({why}); save it again as an RGBA PNG"))
            continue
        if pose == "telling":
            size = (w, h)
        sprites[pose] = (str(sp), hashlib.sha256(data_bytes).hexdigest())
    if problems:
        raise RecipeError(problems)
    none = (None, None)
    return Character(
        id=ident,
        profile=profile,
        file=file,
        telling=sprites.get("telling", none)[0],
        hearing=sprites.get("hearing", none)[0],
        telling_digest=sprites.get("telling", none)[1],
        hearing_digest=sprites.get("hearing", none)[1],
        voices_at=locs.at(("voices",), key=True),
        name_at=locs.at(("name",)),
        sprite_size=size,
    )


def _png_unreadable(data: bytes) -> str | None:
    """Why the PNG does not decode (truncated, a bad chunk, corrupt pixel data), or None. Its
    header alone passes the checks above; ffmpeg would fail on it only when a scene is drawn."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except Exception as e:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError, zlib.error ... for bad files
        return str(e) or type(e).__name__
    return None


def _png_has_alpha(data: bytes) -> bool:
    # IHDR colour type: 4 = grey+alpha, 6 = RGBA; 3 (palette) has alpha only with a tRNS chunk.
    colour_type = data[25] if len(data) > 25 else -1
    if colour_type in (4, 6):
        return True
    return colour_type == 3 and b"tRNS" in data[:4096]
