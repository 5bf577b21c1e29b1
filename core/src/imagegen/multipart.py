"""A `multipart/form-data` body built from text fields and `ImageInput`s, streamed without copies.

Each image is sent from the bytes or the file it already lives in (a file-backed image is read piece by
piece), and the body can be iterated again from the start: every retry of a request re-sends it whole.
Its length is known up front, so it goes with a `Content-Length` rather than chunked.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import httpx

from .images import ImageInput


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _quoted(name: str) -> str:
    # As browsers escape a field or file name inside the quoted header parameter (WHATWG's form encoding).
    return name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartForm(httpx.SyncByteStream, httpx.AsyncByteStream):
    """The body of a multipart request: `fields` (a list value repeats its field) then `files`."""

    def __init__(self, fields: Mapping[str, Any], files: Sequence[tuple[str, ImageInput]]) -> None:
        self.boundary = os.urandom(16).hex()
        dash = f"--{self.boundary}\r\n"
        # (head, image or None): the text parts are rendered once; images are read when sent.
        self._parts: list[tuple[bytes, ImageInput | None]] = []
        for name, value in fields.items():
            for item in value if isinstance(value, list | tuple) else (value,):
                if item is None:
                    continue
                head = f'{dash}Content-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n{_text(item)}\r\n'
                self._parts.append((head.encode(), None))
        for name, image in files:
            head = (
                f'{dash}Content-Disposition: form-data; name="{_quoted(name)}"; filename="{_quoted(image.filename)}"'
                f"\r\nContent-Type: {image.media_type}\r\n\r\n"
            )
            self._parts.append((head.encode(), image))
        self._end = f"--{self.boundary}--\r\n".encode()
        self.length = len(self._end) + sum(
            len(head) + (image.size + 2 if image is not None else 0) for head, image in self._parts
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"content-type": f"multipart/form-data; boundary={self.boundary}", "content-length": str(self.length)}

    def __iter__(self) -> Iterator[bytes]:
        for head, image in self._parts:
            yield head
            if image is not None:
                yield from image.chunks()
                yield b"\r\n"
        yield self._end

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # A file-backed image is read in 64 KiB pieces: short reads, from the page cache as a rule.
        for chunk in self:
            yield chunk
