"""Input images and masks in the forms Bedrock's models take (Pillow, imported on first use).

imagegen's masks mark the area to edit with fully transparent pixels. Titan and Nova want pure black
and white RGB masks: INPAINTING changes the black area, OUTPAINTING the white one (black is kept).
The Stability services take white = edit. Nova refuses input images with any transparent pixel.
"""

from __future__ import annotations

import base64
import functools
import io
from typing import Literal, cast

from imagegen import masks
from imagegen.images import ImageInput

MaskConvention = Literal["black_edits", "white_edits", "white_edits_rgb"]


@functools.lru_cache(maxsize=1)  # the parts of a fanned-out call share their mask: converted once
def mask_b64(mask: ImageInput, convention: MaskConvention) -> str:
    """The mask converted to `convention`, in base64."""
    if convention == "black_edits":
        png = masks.black_edits(mask)
    elif convention == "white_edits":
        png = masks.white_edits(mask)
    else:  # white = edit, as pure black-and-white RGB (Titan/Nova OUTPAINTING)
        buffer = io.BytesIO()
        masks.edit_area(mask).convert("RGB").save(buffer, format="PNG")
        png = buffer.getvalue()
    return base64.b64encode(png).decode("ascii")


def has_transparent_pixels(image: ImageInput) -> bool:
    """Whether any pixel of the image is not fully opaque (only images with an alpha channel are decoded)."""
    if not image.has_alpha:
        return False
    from PIL import Image

    with Image.open(io.BytesIO(image.read())) as opened:
        low, _ = cast(tuple[int, int], opened.convert("RGBA").getchannel("A").getextrema())
    return bool(low < 255)
