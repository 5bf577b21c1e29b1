"""Real test images without Pillow: PNGs of any size, solid or with a transparent box (a mask), or noise."""

from __future__ import annotations

import zlib
from random import Random

from ..png import encode_png, png_image

__all__ = ["noise_png", "png_image"]


def noise_png(width: int, height: int, seed: int = 0) -> bytes:
    """An RGB PNG of random pixels, stored uncompressed: about `width * height * 3` bytes, as large as a
    photo of that size (for tests and benchmarks of large uploads)."""
    random = Random(seed)
    rows = b"".join(b"\x00" + random.randbytes(width * 3) for _ in range(height))
    return encode_png(width, height, 2, zlib.compress(rows, 0))  # RGB
