"""A `multipart/form-data` body built from text fields and `ImageInput`s, streamed without copies.

Each image is sent from the bytes or the file it already lives in (a file-backed image is read piece by
piece), and the body can be iterated again from the start: every retry of a request re-sends it whole.
Its length is known up front, so it goes with a `Content-Length` rather than chunked. `parse_form` reads
one strictly, for whatever receives them (the conformance kit's fakes, the in-process mock provider).
"""

from __future__ import annotations

import email.parser
import email.policy
import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
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


@dataclass
class FormFile:
    """A file part of a multipart body."""

    filename: str
    content_type: str
    data: bytes


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, list[str]], dict[str, list[FormFile]]]:
    """A `multipart/form-data` body as (text fields, files), each by name in the order sent.

    Raises ValueError for a body that is not one (its sender gets a 400).
    """
    if not content_type.startswith("multipart/form-data") or "boundary=" not in content_type:
        raise ValueError(f"expected multipart/form-data with a boundary, got {content_type!r}")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    if not message.is_multipart() or message.defects:
        raise ValueError(f"malformed multipart body: {message.defects or 'no parts'}")
    fields: dict[str, list[str]] = {}
    files: dict[str, list[FormFile]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_content_disposition() != "form-data" or not isinstance(name, str):
            raise ValueError("every part needs Content-Disposition: form-data with a name")
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        filename = part.get_filename()
        if filename is None:
            fields.setdefault(name, []).append(payload.decode())
        else:
            files.setdefault(name, []).append(FormFile(filename, part.get_content_type(), payload))
    return fields, files
