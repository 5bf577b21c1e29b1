"""Uploaded images: a multipart form read as it arrives, within limits, large images spooled to disk.

The form is parsed incrementally (python-multipart, which Starlette uses): a text field is kept in
memory (all of them together at most `MAX_FIELD_BYTES`), an image part up to `SPOOL_BYTES` too, and a
larger one is written to a file as its bytes arrive, so a request holds about one network chunk of
any image however large. Past a limit (`UploadLimits`: per image, images per request, the whole body,
read through a `BodyLimit` as every route's is) the request is answered 413 at once and its connection
closed, before the rest of the body is read; a client that leaves mid-upload gets a 400 `client_gone`
(nothing is sent upstream, nothing charged). The spooled files are `ImageInput(path=...)`s: the upstream
request streams them from disk on every attempt, and they are deleted when the request ends (`Spool`),
whatever happens. Writing and deleting them happens on
worker threads, a megabyte at a time, while the event loop serves other requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from imagegen.exceptions import ImageGenError
from imagegen.images import ImageInput, load_image

from .client_limits import MB, BodyLimit, too_large
from .errors import ProxyError

SPOOL_BYTES = 1 * MB
"""An uploaded image larger than this is written to disk as it arrives rather than held in memory."""
MAX_FIELD_BYTES = 1 * MB
"""The text fields of a form together (a prompt is at most 32,000 characters)."""
MAX_TEXT_FIELDS = 100
IMAGE_FIELDS = frozenset({"image", "image[]"})
MASK_FIELDS = frozenset({"mask", "mask[]"})
DATA_URL_MAX_CHARS = 20 * MB
"""OpenAI's limit on one `image_url` of a JSON edit (`ImageRefParam.image_url`, maxLength 20971520)."""


@dataclass(frozen=True)
class UploadLimits:
    """What one request may upload (general_settings `max_image_size_mb`, `max_images_per_request`,
    `max_request_size_mb`); OpenAI's own limits by default: images under 50 MB, 16 per request."""

    max_image_bytes: int = 50 * MB
    """Each input image, and the mask."""
    max_images: int = 16
    """Input images per request (the mask not counted)."""
    max_request_bytes: int | None = None
    """The whole request body; None: as much as `max_images` images and a mask of `max_image_bytes`, and the
    text fields."""

    @property
    def request_bytes(self) -> int:
        if self.max_request_bytes is not None:
            return self.max_request_bytes
        return (self.max_images + 1) * self.max_image_bytes + MAX_FIELD_BYTES

    @property
    def json_body_bytes(self) -> int:
        """A JSON edit's body: read whole, so OpenAI's 20 MiB per data: URL bounds it as well."""
        return min(self.request_bytes, (self.max_images + 1) * DATA_URL_MAX_CHARS + MAX_FIELD_BYTES)

    @classmethod
    def from_settings(cls, general_settings: Mapping[str, Any]) -> UploadLimits:
        """The limits `general_settings` sets (the config checks the values at start)."""
        image_mb = general_settings.get("max_image_size_mb")
        request_mb = general_settings.get("max_request_size_mb")
        return cls(
            max_image_bytes=int(image_mb * MB) if image_mb is not None else cls.max_image_bytes,
            max_images=int(general_settings.get("max_images_per_request") or cls.max_images),
            max_request_bytes=int(request_mb * MB) if request_mb is not None else None,
        )


def _malformed(message: str) -> ProxyError:
    return ProxyError(400, message, code="invalid_multipart")


def _mb(size: int) -> str:
    return f"{size / MB:g} MB"


class Spool:
    """The files one request's uploads were spooled to, all deleted when it ends (`with Spool(...)`)."""

    def __init__(self, directory: str) -> None:
        self._directory = directory
        self._paths: list[str] = []

    def create(self) -> tuple[int, str]:
        """A new file open for writing (its descriptor), and its path."""
        os.makedirs(self._directory, exist_ok=True)  # recreated should a cleaner have removed it
        descriptor, path = tempfile.mkstemp(prefix="upload-", dir=self._directory)
        self._paths.append(path)
        return descriptor, path

    async def __aenter__(self) -> Spool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        # An upstream still sending a file holds it open: on POSIX it reads on, unaffected. Deleting a large
        # file can take milliseconds: on a worker thread, which finishes it even if this task is cancelled.
        paths, self._paths = self._paths, []
        if paths:
            await asyncio.to_thread(_delete, paths)


def _delete(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


class SpoolDirectory:
    """The folder one server process spools uploads to (made on first use, removed at shutdown)."""

    def __init__(self) -> None:
        self._path: str | None = None

    def spool(self) -> Spool:
        if self._path is None:
            self._path = tempfile.mkdtemp(prefix="imagegen-proxy-uploads-")
        return Spool(self._path)

    def remove(self) -> None:
        if self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)
            self._path = None


@dataclass
class Form:
    """A parsed multipart form: its text fields (each name once, in order) and its files, in order."""

    fields: dict[str, str] = field(default_factory=dict)
    images: list[ImageInput] = field(default_factory=list)
    mask: ImageInput | None = None


async def read_form(request: Request, limits: UploadLimits, spool: Spool) -> Form:
    """The request's `multipart/form-data` body: `image` / `image[]` parts (repeatable), one `mask`
    (or `mask[]`), text fields. Raises ProxyError: 413 past a limit, 400 for a malformed form, a text
    where a file belongs, an unexpected file, a repeated field, or a part that is not a PNG, JPEG or WEBP."""
    body = BodyLimit(limits.request_bytes, "general_settings.max_request_size_mb")
    _, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if not boundary:
        raise _malformed("The multipart/form-data Content-Type has no boundary.")
    reader = _FormReader(limits, spool)
    parser = MultipartParser(boundary, reader.callbacks())
    try:
        async for chunk in body.chunks(request):
            parser.write(chunk)
            if reader.to_write:
                await asyncio.to_thread(reader.write)  # copying megabytes to a file: not on the event loop
        parser.finalize()
    except FormParserError as exc:
        raise _malformed(f"The multipart/form-data body is malformed: {exc}") from None
    finally:
        reader.close()
    if not reader.ended:
        raise _malformed("The multipart/form-data body ends before its closing boundary.")
    return reader.form


class _Part:
    """The part being read: its name, and its bytes in memory or in a spooled file."""

    def __init__(self, name: str, filename: str | None, input_name: str) -> None:
        self.name = name
        self.filename = filename
        self.input_name = input_name  # how errors name it: `image`, `image[2]`, `mask`
        self.size = 0
        self.chunks: list[memoryview] = []  # views of the received chunks (immutable bytes): no copies
        self.pending = 0  # bytes in `chunks`
        self.file: int | None = None  # the spooled file's descriptor
        self.path: str | None = None

    def spool(self, spool: Spool) -> None:
        """From now on the part's bytes go to a file (those received so far first)."""
        self.file, self.path = spool.create()
        self.write()

    def write(self) -> None:
        """Write the pending chunks to the spooled file: one system call for many chunks."""
        assert self.file is not None
        while self.chunks:
            written = os.writev(self.file, self.chunks)
            while written and self.chunks:  # a short write: drop what went, keep the rest
                view = self.chunks[0]
                if written < len(view):
                    self.chunks[0] = view[written:]
                    break
                written -= len(view)
                self.chunks.pop(0)
        self.pending = 0

    def close(self) -> None:
        if self.file is not None:
            os.close(self.file)
            self.file = None


class _FormReader:
    """python-multipart's callbacks: builds the `Form`, enforcing the limits as the bytes arrive."""

    def __init__(self, limits: UploadLimits, spool: Spool) -> None:
        self.limits = limits
        self.spool = spool
        self.form = Form()
        self.ended = False
        self._part: _Part | None = None
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._field_bytes = 0
        self._text_fields = 0
        self.to_write: list[_Part] = []

    def write(self) -> None:
        """Write the parts that have a megabyte or so pending to their spooled files."""
        for part in self.to_write:
            part.write()
        self.to_write.clear()

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self.on_part_begin, "on_part_data": self.on_part_data, "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field, "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end, "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }  # fmt: skip

    def on_part_begin(self) -> None:
        self._disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise _malformed("Every multipart part needs a Content-Disposition name.")
        name = options[b"name"].decode("utf-8", "replace")
        filename = options[b"filename"].decode("utf-8", "replace") if b"filename" in options else None
        if filename is None:
            self._text_fields += 1
            if self._text_fields > MAX_TEXT_FIELDS:
                raise _malformed(f"The form has more than {MAX_TEXT_FIELDS} text fields.")
            if name in IMAGE_FIELDS | MASK_FIELDS:
                raise ProxyError(
                    400, f"`{name}` must be uploaded as a file (multipart file part), not as text.", param=name,
                    code="invalid_type",
                )  # fmt: skip
            self._part = _Part(name, None, name)
            return
        self._part = _Part(name, filename, self._input_name(name))

    def _input_name(self, name: str) -> str:
        form = self.form
        if name in MASK_FIELDS:
            if form.mask is not None:
                raise ProxyError(400, "Only one `mask` may be given.", param="mask", code="invalid_value")
            return "mask"
        if name not in IMAGE_FIELDS:
            raise ProxyError(
                400, f"Unexpected file `{name}`: send the images as `image` (or `image[]`) and the mask as `mask`.",
                param=name, code="unknown_parameter",
            )  # fmt: skip
        if len(form.images) >= self.limits.max_images:
            raise too_large(
                f"More than {self.limits.max_images} images in one request, this proxy's limit "
                "(general_settings.max_images_per_request).",
                "too_many_images",
            )
        return f"image[{len(form.images)}]" if form.images else "image"

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        assert part is not None
        piece = memoryview(data)[start:end]  # not copied: written to the spool, or joined once at the end
        part.size += len(piece)
        if part.filename is None:
            self._field_bytes += len(piece)
            if self._field_bytes > MAX_FIELD_BYTES:
                raise too_large(f"The form's text fields are larger than {_mb(MAX_FIELD_BYTES)}.", "fields_too_large")
            part.chunks.append(piece)
            return
        if part.size > self.limits.max_image_bytes:
            raise too_large(
                f"`{part.input_name}` is larger than {_mb(self.limits.max_image_bytes)}, this proxy's limit per image "
                "(general_settings.max_image_size_mb).",
                "image_too_large",
            )
        part.chunks.append(piece)
        part.pending += len(piece)
        if part.file is None and part.size > SPOOL_BYTES:
            part.spool(self.spool)
        elif part.file is not None and part.pending >= SPOOL_BYTES:
            self.to_write.append(part)  # about a megabyte at a time: few system calls, little held

    def on_part_end(self) -> None:
        part, self._part = self._part, None
        assert part is not None
        if part.filename is None:
            if part.name in self.form.fields:
                raise ProxyError(400, f"`{part.name}` was sent twice.", param=part.name, code="duplicate_parameter")
            try:
                self.form.fields[part.name] = b"".join(part.chunks).decode()
            except UnicodeDecodeError:
                raise ProxyError(400, f"`{part.name}` is not UTF-8 text.", param=part.name) from None
            return
        try:
            if part.file is not None:
                self.write()
                part.write()
                part.close()
                image = ImageInput(path=part.path, filename=part.filename or None, name=part.input_name)
            else:
                image = ImageInput(b"".join(part.chunks), filename=part.filename or None, name=part.input_name)
        except ImageGenError as exc:
            raise ProxyError.from_imagegen(exc) from None
        if part.input_name == "mask":
            self.form.mask = image
        else:
            self.form.images.append(image)

    def on_end(self) -> None:
        self.ended = True

    def close(self) -> None:
        """Close a spooled file left open by a form that broke off (the spool deletes it)."""
        if self._part is not None:
            self._part.close()


def json_images(body: dict[str, Any], limits: UploadLimits) -> tuple[list[ImageInput], ImageInput | None]:
    """A JSON edit's `images` and `mask` (OpenAI's `ImageRefParam`s), taken out of `body`: data: URLs only,
    since this proxy has no Files API (`file_id`) and never fetches a URL a client gives."""
    refs = body.pop("images", None)
    if not isinstance(refs, list) or not refs:
        raise ProxyError(
            400, '`images` is required: a list of {"image_url": "data:image/png;base64,..."}', param="images",
            code="missing_required_parameter",
        )  # fmt: skip
    if len(refs) > limits.max_images:
        raise too_large(
            f"More than {limits.max_images} images in one request, this proxy's limit "
            "(general_settings.max_images_per_request).",
            "too_many_images",
        )
    images = [_json_image(ref, f"images[{index}]", limits) for index, ref in enumerate(refs)]
    mask = body.pop("mask", None)
    return images, _json_image(mask, "mask", limits) if mask is not None else None


def _json_image(ref: Any, name: str, limits: UploadLimits) -> ImageInput:
    if not isinstance(ref, dict) or not (isinstance(ref.get("image_url"), str) ^ ("file_id" in ref)):
        raise ProxyError(
            400, f'`{name}` must be an object with one `image_url`: {{"image_url": "data:image/png;base64,..."}}',
            param=name, code="invalid_value",
        )  # fmt: skip
    if "file_id" in ref:
        raise ProxyError(
            400, f"`{name}.file_id`: this proxy has no Files API; send the image inline as a data: URL "
            "(`image_url`) or upload it as multipart/form-data",
            param=f"{name}.file_id", code="unsupported_parameter",
        )  # fmt: skip
    try:
        image = load_image(ref["image_url"], name=f"{name}.image_url", allow_url=False, allow_path=False)
    except ImageGenError as exc:
        raise ProxyError.from_imagegen(exc) from None
    if image.size > limits.max_image_bytes:
        raise too_large(
            f"`{name}` is larger than {_mb(limits.max_image_bytes)}, this proxy's limit per image "
            "(general_settings.max_image_size_mb).",
            "image_too_large",
        )
    return image
