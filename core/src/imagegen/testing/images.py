"""Real test images without Pillow: PNGs of any size, solid or with a transparent box (a mask)."""

from __future__ import annotations

from ..png import png_image

__all__ = ["png_image"]
