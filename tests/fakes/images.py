"""Decoding the base64 images a fake receives (Pillow): to check them as the provider would, and for
tests to read what was sent."""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image


def decode_b64_image(value: object) -> tuple[bytes, Image.Image]:
    """The bytes and the decoded image of a base64 string; ValueError if it holds no image."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    try:
        data = base64.b64decode(value, validate=True)
        image = Image.open(io.BytesIO(data))
        image.load()
    except (binascii.Error, OSError) as exc:
        raise ValueError(str(exc)) from None
    return data, image
