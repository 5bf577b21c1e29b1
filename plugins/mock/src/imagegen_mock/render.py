"""Drawing the mock's images with Pillow: deterministic from the prompt, the seed and the image's index.

A generation is a two-colour gradient with a few shapes and the prompt written on it; an edit draws
that over the input image (only where the mask is transparent, when there is one); a variation turns
the input's colours and mirrors it. Pillow is imported on first use, never when the plugin loads.
"""

from __future__ import annotations

import hashlib
import io
import random
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image as PILImage

FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
MAX_PROMPT_LINES = 8


def _rng(*parts: object) -> random.Random:
    # sha256, not hash(): the same prompt and seed draw the same image in every process
    return random.Random(hashlib.sha256("\0".join(map(str, parts)).encode()).digest())


def _color(rng: random.Random, alpha: int = 255) -> tuple[int, int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256), alpha)


def generated(prompt: str, size: tuple[int, int], *, seed: int, index: int, transparent: bool) -> PILImage.Image:
    """A new image showing `prompt`, the same for the same arguments."""
    from PIL import Image, ImageDraw

    rng = _rng("generation", prompt, seed, index)
    width, height = size
    if transparent:
        image = Image.new("RGBA", size, (0, 0, 0, 0))
    else:
        gradient = Image.linear_gradient("L").resize(size)
        image = Image.composite(Image.new("RGBA", size, _color(rng)), Image.new("RGBA", size, _color(rng)), gradient)
    shapes = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(shapes)
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(max(2, min(width, height) // 10), max(3, min(width, height) // 3))
        box = (x - radius, y - radius, x + radius, y + radius)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=_color(rng, 150))
        else:
            draw.rectangle(box, fill=_color(rng, 150))
    image = Image.alpha_composite(image, shapes)
    return _caption(image, prompt, f"seed {seed} · image {index + 1}")


def edited(
    base: PILImage.Image,
    prompt: str,
    size: tuple[int, int] | None,
    mask: PILImage.Image | None,
    *,
    seed: int,
    index: int,
) -> PILImage.Image:
    """`base` with the prompt drawn over it: only where `mask` is transparent, when one is given."""
    from PIL import Image

    base = base.convert("RGBA")
    if size is not None and base.size != size:
        base = base.resize(size)
    overlay = generated(prompt, base.size, seed=seed, index=index, transparent=False)
    if mask is None:
        tinted = Image.blend(base, overlay, 0.35)
        return _caption(tinted, prompt, f"edit · seed {seed} · image {index + 1}")
    alpha = mask.convert("RGBA").resize(base.size).getchannel("A")
    edit_area = alpha.point(lambda value: 255 - value)  # OpenAI's masks: fully transparent = edit here
    return Image.composite(overlay, base, edit_area)


def varied(base: PILImage.Image, size: tuple[int, int] | None, *, seed: int, index: int) -> PILImage.Image:
    """A variation of `base`: its hues turned and, for every other image, mirrored."""
    from PIL import Image, ImageOps

    rng = _rng("variation", seed, index)
    image = base.convert("RGB")
    if size is not None and image.size != size:
        image = image.resize(size)
    shift = rng.randrange(32, 224)
    hue, saturation, value = image.convert("HSV").split()
    image = Image.merge("HSV", (hue.point(lambda h: (h + shift) % 256), saturation, value)).convert("RGBA")
    if index % 2:
        image = ImageOps.mirror(image)
    return _caption(image, "", f"variation · seed {seed} · image {index + 1}")


def partial(image: PILImage.Image, step: int, steps: int) -> PILImage.Image:
    """The image as step `step` of `steps` partial images shows it: coarse first, finer each time."""
    from PIL import Image

    factor = 2 ** (steps - step + 2)
    small = image.resize((max(1, image.width // factor), max(1, image.height // factor)))
    return small.resize(image.size, Image.Resampling.NEAREST)


def encoded(image: PILImage.Image, output_format: str, compression: int | None) -> bytes:
    """The image in `output_format` (png, jpeg, webp); `compression` 0-100 for jpeg and webp."""
    buffer = io.BytesIO()
    kind = FORMATS[output_format]
    if kind == "JPEG":
        image = image.convert("RGB")
    options = {"quality": 100 - compression} if compression is not None and kind != "PNG" else {}
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def opened(data: bytes) -> PILImage.Image:
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _caption(image: PILImage.Image, prompt: str, footer: str) -> PILImage.Image:
    """`image` with the prompt (wrapped, on a translucent band) and a footer written on it."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = image.size
    font_size = max(10, min(width, height) // 16)
    font = ImageFont.load_default(size=font_size)
    small = ImageFont.load_default(size=max(8, font_size // 2))
    per_line = max(8, int(width * 0.9 / (font_size * 0.55)))
    lines = textwrap.wrap(prompt, per_line)[:MAX_PROMPT_LINES]
    band = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(band)
    line_height = int(font_size * 1.25)
    top = max(0, (height - line_height * len(lines)) // 2)
    if lines:
        draw.rectangle((0, top - line_height // 3, width, top + line_height * len(lines)), fill=(0, 0, 0, 110))
    for number, line in enumerate(lines):
        draw.text((width // 20, top + number * line_height), line, font=font, fill=(255, 255, 255, 255))
    draw.text((width // 40, height - font_size), footer, font=small, fill=(255, 255, 255, 200))
    return Image.alpha_composite(image.convert("RGBA"), band)
