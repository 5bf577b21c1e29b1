"""One mask convention, converted per provider.

imagegen takes masks as OpenAI does: a PNG the size of the (first) image whose fully transparent
pixels (alpha 0) mark the area to edit. Providers want other conventions: white = edit on black
(Stability, Vertex Imagen), black = edit on white (Amazon Titan, Nova Canvas). These convert, with
Pillow, imported on first use (`pip install pillow`, which plugins that convert masks depend on).
Each conversion is made once per mask (`ImageInput.derived`): a call's retries and fanned-out requests
reuse it. An async caller runs the conversions off the event loop (`imagegen.calls.aprepare`).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from .images import ImageInput

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

EDIT, KEEP = 255, 0


def edit_area(mask: ImageInput) -> PILImage:
    """The mask as a black-and-white picture: white (255) where the image is to be edited (a copy of
    the one made for this mask: yours to change)."""
    return mask.derived("edit_area", lambda: _edit_area(mask)).copy()


def _edit_area(mask: ImageInput) -> PILImage:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - the plugins that call this depend on Pillow
        raise ImportError("converting a mask needs Pillow: pip install pillow") from None
    with Image.open(io.BytesIO(mask.read())) as opened:
        alpha = opened.convert("RGBA").getchannel("A")
    return alpha.point(lambda value: EDIT if value == 0 else KEEP)


def white_edits(mask: ImageInput) -> bytes:
    """A PNG (grayscale) with white where the image is to be edited, black elsewhere."""
    return mask.derived("white_edits", lambda: _png(edit_area(mask)))


def black_edits(mask: ImageInput) -> bytes:
    """A PNG (RGB, only pure black and pure white) with black where the image is to be edited."""

    def convert() -> bytes:
        inverted = edit_area(mask).point(lambda value: KEEP if value == EDIT else EDIT)
        return _png(inverted.convert("RGB"))

    return mask.derived("black_edits", convert)


def _png(picture: PILImage) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
