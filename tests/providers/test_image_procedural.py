"""image.procedural: scene cards, the placeholder card, and the example characters' sprites."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import pytest
import yaml
from PIL import Image, ImageChops, ImageStat
from pydantic import ValidationError

from vidflow.errors import BadRequestError
from vidflow.providers.base import ImageRequest, ImageResult
from vidflow.providers.image_procedural import ProceduralImage, render_card, render_placeholder

CHARACTERS = Path(__file__).resolve().parents[2] / "characters"
PROMPT = "Why octopuses have three hearts and blue blood"


def decode(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    assert im.format == "PNG"
    im.load()
    return im


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0..255."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / len(a.getbands())


def changed_fraction(a: Image.Image, b: Image.Image) -> float:
    """Share of pixels that differ in any channel."""
    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v else 0)
    return ImageStat.Stat(diff).mean[0] / 255


# --------------------------------------------------------------------------- render_card


@pytest.mark.parametrize("size", [(1080, 1920), (1024, 1536)])
def test_card_is_an_rgb_png_of_the_requested_size(size: tuple[int, int]) -> None:
    im = decode(render_card(PROMPT, width=size[0], height=size[1]))
    assert im.size == size
    assert im.mode == "RGB"


def test_card_default_size_is_vertical_1080x1920() -> None:
    assert decode(render_card(PROMPT)).size == (1080, 1920)


@pytest.mark.parametrize("style", ["bold", "soft"])
def test_card_is_deterministic(style: Literal["bold", "soft"]) -> None:
    first = render_card(PROMPT, caption="Three hearts!", seed=42, style=style)
    assert first == render_card(PROMPT, caption="Three hearts!", seed=42, style=style)


def test_different_prompts_give_visibly_different_cards() -> None:
    prompts = ["A cat exploring Mars", "The history of the pencil", "How volcanoes form",
               "Honey never spoils"]
    cards = [render_card(p) for p in prompts]
    assert len(set(cards)) == len(cards)
    images = [decode(c) for c in cards]
    for i, a in enumerate(images):
        for b in images[i + 1:]:
            assert mean_abs_diff(a, b) > 8


def test_different_seed_gives_a_different_card() -> None:
    a, b = render_card(PROMPT, seed=1), render_card(PROMPT, seed=2)
    assert a != b
    assert mean_abs_diff(decode(a), decode(b)) > 8
    assert render_card(PROMPT, seed=None) != render_card(PROMPT, seed=0)


def test_styles_differ() -> None:
    assert render_card(PROMPT, style="bold") != render_card(PROMPT, style="soft")


def test_caption_is_drawn_in_the_upper_third_and_leaves_the_lower_half_alone() -> None:
    w, h = 1080, 1920
    plain = decode(render_card(PROMPT, seed=3))
    captioned = decode(render_card(PROMPT, seed=3, caption="Octopus blood is blue"))
    upper = (0, 0, w, h // 3)
    assert changed_fraction(plain.crop(upper), captioned.crop(upper)) > 0.02
    # The lower half is reserved for sprites and subtitles: not one pixel changes there.
    lower = (0, h // 2, w, h)
    assert ImageChops.difference(plain.crop(lower), captioned.crop(lower)).getbbox() is None
    # Whatever changes (plate, its shadow, the text) sits around the 10%..35% band.
    box = ImageChops.difference(plain, captioned).getbbox()
    assert box is not None
    assert box[1] >= 0.05 * h and box[3] <= 0.40 * h


def test_a_long_caption_still_fits_the_band() -> None:
    h = 1920
    long_caption = " ".join(["Supercalifragilisticexpialidocious"] + ["word"] * 60)
    plain = decode(render_card(PROMPT, seed=5))
    captioned = decode(render_card(PROMPT, seed=5, caption=long_caption))
    box = ImageChops.difference(plain, captioned).getbbox()
    assert box is not None and box[3] <= 0.40 * h


def white_pixels(im: Image.Image) -> int:
    """Pixels of pure white: the title's ink (shapes are translucent, so never pure white)."""
    r, g, b = im.convert("RGB").split()
    darkest = ImageChops.darker(r, ImageChops.darker(g, b))
    return darkest.point(lambda v: 255 if v == 255 else 0).histogram()[255]


def test_without_a_caption_a_title_from_the_prompt_is_drawn() -> None:
    h = 1920
    im = decode(render_card(PROMPT, seed=9))
    assert white_pixels(im.crop((0, round(0.10 * h), 1080, round(0.35 * h)))) > 2000
    assert white_pixels(im.crop((0, h // 2, 1080, h))) == 0
    # No prompt and no caption: nothing to write, so no text at all.
    assert white_pixels(decode(render_card("", seed=9))) == 0


@pytest.mark.parametrize("prompt", ["A cat exploring Mars", "Black holes", "x"])
def test_card_is_not_flat(prompt: str) -> None:
    im = decode(render_card(prompt))
    assert ImageStat.Stat(im.convert("L")).stddev[0] > 12
    colours = im.getcolors(maxcolors=1 << 24)
    assert colours is not None and len(colours) > 1000


def test_card_rejects_absurd_sizes() -> None:
    with pytest.raises(ValueError):
        render_card(PROMPT, width=0, height=1920)


# --------------------------------------------------------------------------- placeholder


def test_placeholder_size_and_determinism() -> None:
    data = render_placeholder("A cat exploring Mars")
    im = decode(data)
    assert im.size == (1080, 1920) and im.mode == "RGB"
    assert decode(render_placeholder(width=720, height=1280)).size == (720, 1280)
    assert data == render_placeholder("A cat exploring Mars")


def test_placeholder_shows_its_caption_and_differs_from_a_card() -> None:
    with_caption = decode(render_placeholder("A cat exploring Mars"))
    without = decode(render_placeholder(""))
    assert changed_fraction(with_caption, without) > 0.001
    card = decode(render_card("A cat exploring Mars"))
    assert mean_abs_diff(with_caption, card) > 8
    # A neutral grey card: no channel strays far from the others.
    r, g, b = ImageStat.Stat(without).mean
    assert max(r, g, b) - min(r, g, b) < 12


# --------------------------------------------------------------------------- provider


async def test_generate_image_returns_png_of_the_requested_size() -> None:
    provider = ProceduralImage()
    result = await provider.generate_image(ImageRequest(prompt="Tardigrades", width=720,
                                                        height=1280, seed=4, caption="Tiny!"))
    assert isinstance(result, ImageResult)
    assert (result.width, result.height) == (720, 1280)
    assert result.media_type == "image/png" and result.extension == "png"
    assert result.cost_usd == 0
    assert decode(result.data).size == (720, 1280)
    assert result.data == render_card("Tardigrades", caption="Tiny!", seed=4, width=720,
                                      height=1280)


async def test_generate_image_uses_the_style_option() -> None:
    soft = ProceduralImage(ProceduralImage.Options(style="soft"))
    result = await soft.generate_image(ImageRequest(prompt="Tardigrades"))
    assert result.data == render_card("Tardigrades", style="soft")


async def test_generate_image_bad_size_is_a_bad_request() -> None:
    with pytest.raises(BadRequestError):
        await ProceduralImage().generate_image(ImageRequest(prompt="x", width=-5))


def test_provider_metadata_and_options() -> None:
    assert ProceduralImage.kind == "image.procedural"
    assert ProceduralImage.capability == "image"
    assert ProceduralImage.paid is False
    assert ProceduralImage().identity()["options"] == {"style": "bold"}
    with pytest.raises(ValidationError):
        ProceduralImage.Options(style="loud")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ProceduralImage.Options(colour="red")  # type: ignore[call-arg]


# --------------------------------------------------------------------------- sprites


def character(name: str) -> dict:
    return yaml.safe_load((CHARACTERS / f"{name}.yaml").read_text())


def sprite(name: str, pose: str) -> Image.Image:
    im = Image.open(CHARACTERS / character(name)["sprites"][pose])
    im.load()
    return im


@pytest.mark.parametrize("name", ["nova", "pip"])
@pytest.mark.parametrize("pose", ["telling", "hearing"])
def test_sprite_is_rgba_with_real_alpha(name: str, pose: str) -> None:
    im = sprite(name, pose)
    assert im.mode == "RGBA" and im.size == (480, 600)
    alpha = im.getchannel("A")
    w, h = im.size
    for corner in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)]:
        assert alpha.getpixel(corner) == 0
    for box in [(0, 0, 40, 40), (w - 40, 0, w, 40), (0, h - 40, 40, h), (w - 40, h - 40, w, h)]:
        assert alpha.crop(box).getextrema() == (0, 0)
    centre = alpha.crop((w // 2 - 40, h // 2 - 40, w // 2 + 40, h // 2 + 40))
    assert centre.getextrema() == (255, 255)


@pytest.mark.parametrize("name", ["nova", "pip"])
def test_telling_and_hearing_differ(name: str) -> None:
    assert changed_fraction(sprite(name, "telling"), sprite(name, "hearing")) > 0.02


@pytest.mark.parametrize("name", ["nova", "pip"])
@pytest.mark.parametrize("pose", ["telling", "hearing"])
def test_sprite_main_colour_is_the_declared_colour(name: str, pose: str) -> None:
    code = character(name)["colour"]
    target = tuple(int(code[i:i + 2], 16) for i in (1, 3, 5))
    colours = sprite(name, pose).getcolors(maxcolors=480 * 600)
    assert colours is not None
    opaque = near = 0
    for count, pixel in colours:
        assert isinstance(pixel, tuple)
        r, g, b, a = pixel
        if a == 255:
            opaque += count
            if (r - target[0]) ** 2 + (g - target[1]) ** 2 + (b - target[2]) ** 2 <= 40**2:
                near += count
    assert opaque > 0.2 * 480 * 600  # a real figure, not a speck
    assert near / opaque > 0.3


def test_the_two_characters_do_not_share_a_colour() -> None:
    assert character("nova")["colour"] != character("pip")["colour"]
    assert {character("nova")["side"], character("pip")["side"]} == {"left", "right"}
