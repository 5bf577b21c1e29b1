"""Real PNG images without Pillow: any size, solid or with a transparent box (a mask)."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_image(
    width: int,
    height: int,
    color: tuple[int, int, int, int] = (40, 120, 200, 255),
    *,
    transparent_box: tuple[int, int, int, int] | None = None,
) -> bytes:
    """An RGBA PNG filled with `color`; pixels inside `transparent_box` (left, top, right, bottom,
    exclusive) are fully transparent: as a mask, that box is the area to edit."""
    opaque = bytes(color)
    clear = bytes((0, 0, 0, 0))
    rows = []
    for y in range(height):
        if transparent_box and transparent_box[1] <= y < transparent_box[3]:
            left, right = max(0, transparent_box[0]), min(width, transparent_box[2])
            row = opaque * left + clear * (right - left) + opaque * (width - right)
        else:
            row = opaque * width
        rows.append(b"\x00" + row)
    return encode_png(width, height, 6, zlib.compress(b"".join(rows)))  # RGBA


def encode_png(width: int, height: int, color_type: int, pixels: bytes) -> bytes:
    """A PNG of `pixels` (filtered rows, zlib-compressed), 8 bits per channel of `color_type` (2 RGB, 6 RGBA)."""
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")
