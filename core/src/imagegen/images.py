"""Input images of an edit or a variation: read once, typed by their own bytes, never copied needlessly.

An `ImageInput` holds an image's bytes, or the path of a file holding them (a large upload the proxy
spooled to disk), with its type sniffed from those bytes (PNG, JPEG, WEBP) and its dimensions read
from the header. Every attempt of a call reads it again from the start, so a retry re-sends the same
upload. Its type is sniffed from its first 64 KiB (a JPEG whose frame header sits further, behind
large metadata, is found by hopping over its segments' headers, never by reading it whole). `load_image`
turns what a caller passes (bytes, a path, a file object, a `data:` URL, an `http(s)://` URL) into one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import re
import struct
import time
from collections.abc import Callable, Iterator
from typing import IO, Any, TypeVar, Union

from .exceptions import BadRequestError, brief

T = TypeVar("T")

SNIFF_BYTES = 64 * 1024
CHUNK_BYTES = 64 * 1024
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
"""The largest image the SDK downloads (an input given as a URL, a result given as a URL)."""
DOWNLOAD_TIMEOUT = 60.0
"""Seconds for a whole download (an SDK call's input image: at most what the call has left)."""
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}

ImageSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", IO[bytes], "ImageInput"]
"""What a caller may pass as an image: bytes, a path, a binary file object, a `data:` URL, an
`http(s)://` URL (SDK only), or an `ImageInput`."""


class ImageInput:
    """One input image. Its repr shows its type, size and name: never its bytes."""

    __slots__ = ("_b64", "_data", "_derived", "filename", "format", "has_alpha", "height", "path", "size", "width")

    def __init__(
        self,
        data: bytes | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        filename: str | None = None,
        name: str = "image",
    ) -> None:
        """From `data`, or from the file at `path` (read when sent); raises BadRequestError (naming the
        input `name`) for anything but a PNG, JPEG or WEBP image."""
        if (data is None) == (path is None):
            raise ValueError("give an ImageInput either data or a path")
        self._data = data
        self.path = os.fspath(path) if path is not None else None
        self._b64: str | None = None
        self._derived: dict[str, Any] = {}
        if data is not None:
            self.size = len(data)
            head = data[:SNIFF_BYTES]
        else:
            assert self.path is not None
            self.size = os.path.getsize(self.path)
            with open(self.path, "rb") as file:
                head = file.read(SNIFF_BYTES)
        found = sniff(head)
        if found is None and head.startswith(JPEG_START) and len(head) < self.size:
            found = self._jpeg_behind_head()  # its frame header sits behind large metadata
        if found is None:
            kind = "an empty file" if not self.size else f"not a PNG, JPEG or WEBP image ({_describe(head)})"
            raise BadRequestError(f"`{name}` is {kind}; send a PNG, JPEG or WEBP image", param=name)
        self.format, self.width, self.height, self.has_alpha = found
        base = os.path.basename(self.path) if self.path and filename is None else filename
        self.filename = base or f"{name.partition('[')[0]}.{'jpg' if self.format == 'jpeg' else self.format}"

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    def read(self) -> bytes:
        """The whole image (from memory, or read from its file)."""
        if self._data is not None:
            return self._data
        assert self.path is not None
        with open(self.path, "rb") as file:
            return file.read()

    def chunks(self) -> Iterator[bytes]:
        """The image in chunks: a file-backed image is read piece by piece, never held whole."""
        if self._data is not None:
            yield self._data
            return
        assert self.path is not None
        with open(self.path, "rb") as file:  # a handle per reader: concurrent sends never share a position
            while chunk := file.read(CHUNK_BYTES):
                yield chunk

    def b64(self) -> str:
        """The image in base64 (for JSON bodies), encoded once however many requests send it."""
        if self._b64 is None:
            self._b64 = base64.b64encode(self.read()).decode("ascii")
        return self._b64

    def data_url(self) -> str:
        """The image as a `data:` URL, for providers that take input images as URLs."""
        return f"data:{self.media_type};base64,{self.b64()}"

    def derived(self, kind: str, make: Callable[[], T]) -> T:
        """What `make` derives from the image (a converted mask), made once per input: every retry and
        every fanned-out request of a call reuses it."""
        if kind not in self._derived:
            self._derived[kind] = make()
        value: T = self._derived[kind]
        return value

    def _jpeg_behind_head(self) -> tuple[str, int, int, bool] | None:
        if self._data is not None:
            data = self._data
            return _jpeg_walk(lambda at, size: data[at : at + size])
        assert self.path is not None
        with open(self.path, "rb") as file:

            def read_at(at: int, size: int) -> bytes:
                file.seek(at)
                return file.read(size)

            return _jpeg_walk(read_at)

    def __repr__(self) -> str:
        return f"<ImageInput {self.format} {self.width}x{self.height} {self.size} bytes {self.filename!r}>"


JPEG_START = b"\xff\xd8"


def sniff(head: bytes) -> tuple[str, int, int, bool] | None:
    """`(format, width, height, has_alpha)` from an image's first bytes, or None if they don't tell."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(head)
    if head.startswith(JPEG_START):
        return _jpeg_walk(lambda at, size: head[at : at + size])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(head)
    return None


def _png(head: bytes) -> tuple[str, int, int, bool] | None:
    if len(head) < 33 or head[12:16] != b"IHDR":
        return None
    width, height, _depth, color_type = struct.unpack(">IIBB", head[16:26])
    has_alpha = color_type in (4, 6)
    position = 33  # after IHDR: a tRNS chunk before the image data also makes pixels transparent
    while not has_alpha and position + 8 <= len(head):
        length, kind = struct.unpack(">I4s", head[position : position + 8])
        if kind == b"IDAT":
            break
        has_alpha = kind == b"tRNS"
        position += 12 + length
    return ("png", width, height, has_alpha) if width and height else None


# Start-of-frame markers (the ones holding the dimensions): C0 to CF but DHT (C4), JPG (C8) and DAC (CC).
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_BARE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})  # no length field


def _jpeg_walk(read_at: Callable[[int, int], bytes]) -> tuple[str, int, int, bool] | None:
    """A JPEG's dimensions, from its segments' headers only (`read_at(offset, size)` reads its bytes)."""
    position = 2
    while len(segment := read_at(position, 4)) == 4:
        if segment[0] != 0xFF:
            return None
        marker = segment[1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _JPEG_BARE_MARKERS:
            position += 2
            continue
        if marker in _JPEG_FRAMES:
            dimensions = read_at(position + 5, 4)
            if len(dimensions) < 4:
                return None
            height, width = struct.unpack(">HH", dimensions)
            return ("jpeg", width, height, False) if width and height else None
        (length,) = struct.unpack(">H", segment[2:4])
        position += 2 + length
    return None


def _webp(head: bytes) -> tuple[str, int, int, bool] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return "webp", width & 0x3FFF, height & 0x3FFF, False
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        (bits,) = struct.unpack("<I", head[21:25])
        return "webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    if chunk == b"VP8X" and len(head) >= 30:
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return "webp", width, height, bool(head[20] & 0x10)
    return None


def _describe(head: bytes) -> str:
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "a HEIC image"
    if head.lstrip()[:1] in (b"<", b"{"):
        return "text"
    return f"it starts with {head[:8]!r}"


def load_image(
    source: ImageSource | Any,
    *,
    name: str = "image",
    allow_url: bool = True,
    allow_path: bool = True,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> ImageInput:
    """An `ImageInput` from what a caller passed; raises BadRequestError naming `name` and what to pass.

    A server taking images from its clients passes `allow_url=False, allow_path=False`: then only bytes
    and `data:` URLs are accepted, so no client can make it fetch a URL or read a file.
    """
    if isinstance(source, ImageInput):
        return source
    if isinstance(source, bytes | bytearray | memoryview):
        return ImageInput(bytes(source), name=name)
    if isinstance(source, str) and source.startswith("data:"):
        return ImageInput(_data_url_bytes(source, name), name=name)
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        if not allow_url:
            raise BadRequestError(
                f"`{name}` is a URL; this server never fetches client-supplied URLs: upload the image or send a "
                "data: URL",
                param=name,
            )
        try:
            data = download(source, max_bytes=max_bytes, timeout=timeout)
        except DownloadError as exc:
            raise BadRequestError(f"`{name}`: {exc}", param=name) from None
        return ImageInput(data, filename=_url_filename(source), name=name)
    if isinstance(source, str | os.PathLike):
        if not allow_path:
            raise BadRequestError(f"`{name}` must be an uploaded image or a data: URL", param=name)
        path = os.fspath(source)
        if not _is_file(path):
            hint = (
                "it looks like base64: send it as a data: URL (data:image/png;base64,...)"
                if _BASE64.fullmatch(path[:SNIFF_BYTES]) and len(path) > _LONGEST_PATH
                else "pass image bytes, a path, a binary file object or a data: URL"
            )
            raise BadRequestError(f"`{name}`: no such file {brief(path)}; {hint}", param=name)
        return ImageInput(path=path, name=name)
    if hasattr(source, "read"):
        data = source.read()  # kept as bytes: a retry must re-send it, and the stream is consumed now
        if not isinstance(data, bytes):
            raise BadRequestError(f"`{name}`: open the file in binary mode ('rb')", param=name)
        filename = getattr(source, "name", None)
        return ImageInput(data, filename=os.path.basename(filename) if isinstance(filename, str) else None, name=name)
    raise BadRequestError(
        f"`{name}` must be image bytes, a path, a binary file object or a data: URL, not {type(source).__name__}",
        param=name,
    )


async def aload_image(
    source: ImageSource | Any,
    *,
    name: str = "image",
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> ImageInput:
    """`load_image` for async callers: a URL is downloaded on the event loop, and anything read from a file
    (a path, a file object) or decoded (a data: URL) on a worker thread: the loop is never blocked."""
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        try:
            data = await adownload(source, max_bytes=max_bytes, timeout=timeout)
        except DownloadError as exc:
            raise BadRequestError(f"`{name}`: {exc}", param=name) from None
        return ImageInput(data, filename=_url_filename(source), name=name)
    if isinstance(source, str | os.PathLike) or hasattr(source, "read"):
        return await asyncio.to_thread(load_image, source, name=name, max_bytes=max_bytes)
    return load_image(source, name=name, max_bytes=max_bytes)


_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]+")
_LONGEST_PATH = 4096


def _is_file(path: str) -> bool:
    try:
        return os.path.isfile(path)
    except (OSError, ValueError):  # a name too long for the system, a NUL character
        return False


def decode_base64(text: str) -> bytes:
    """Base64 as senders write it, wrapped in lines (MIME's 76 characters) or not; raises
    binascii.Error for anything else."""
    return base64.b64decode("".join(text.split()), validate=True)  # no whitespace: `text` itself, uncopied


def decode_base64_head(text: str, chars: int = 4096) -> bytes:
    """The first bytes of base64 `text` (enough to sniff an image's header), decoded from its first
    `chars` characters alone, whatever its line wrapping."""
    head = "".join(text[:chars].split())
    return base64.b64decode(head[: len(head) // 4 * 4])


def _data_url_bytes(url: str, name: str) -> bytes:
    header, sep, payload = url.partition(",")
    if not sep or not header.endswith(";base64"):
        raise BadRequestError(f"`{name}`: a data: URL must be base64 (data:image/png;base64,...)", param=name)
    try:
        return decode_base64(payload)
    except (binascii.Error, ValueError):
        raise BadRequestError(f"`{name}`: the data: URL holds invalid base64", param=name) from None


def _url_filename(url: str) -> str | None:
    path = url.split("?", 1)[0].rstrip("/")
    return path.rpartition("/")[2] or None


def shown_url(url: str) -> str:
    """A URL fit for a message: without its query, which often holds a signature."""
    return url.split("?", 1)[0]


class DownloadError(Exception):
    """A download failed; the message names the URL without its query."""


def download(url: str, *, max_bytes: int = MAX_DOWNLOAD_BYTES, timeout: float = DOWNLOAD_TIMEOUT) -> bytes:
    """The body of `url`, read up to `max_bytes` within `timeout` seconds in all, sent with no credentials;
    raises DownloadError."""
    import httpx

    from .transport import sync_client

    body = _Body(url, max_bytes, timeout)
    try:
        with sync_client().stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            body.start(response)
            for chunk in response.iter_bytes():
                body.add(chunk)
    except httpx.HTTPError as exc:
        raise DownloadError(f"could not download {shown_url(url)} ({type(exc).__name__})") from None
    return body.value()


async def adownload(url: str, *, max_bytes: int = MAX_DOWNLOAD_BYTES, timeout: float = DOWNLOAD_TIMEOUT) -> bytes:
    """The async twin of `download`."""
    import httpx

    from .transport import async_client

    body = _Body(url, max_bytes, timeout)
    try:
        async with async_client().stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            body.start(response)
            async for chunk in response.aiter_bytes():
                body.add(chunk)
    except httpx.HTTPError as exc:
        raise DownloadError(f"could not download {shown_url(url)} ({type(exc).__name__})") from None
    return body.value()


class _Body:
    """A downloaded body, refused as soon as it proves larger than the limit or takes longer than `timeout`
    in all (httpx's timeout bounds each read; a server that trickles bytes would never set it off)."""

    def __init__(self, url: str, max_bytes: int, timeout: float) -> None:
        self.url, self.max_bytes, self.timeout = url, max_bytes, timeout
        self.deadline = time.monotonic() + timeout
        self.parts: list[bytes] = []
        self.size = 0

    def start(self, response: Any) -> None:
        if not response.is_success:
            raise DownloadError(f"downloading {shown_url(self.url)} answered HTTP {response.status_code}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            self.too_large()

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            self.too_large()
        if time.monotonic() > self.deadline:
            raise DownloadError(f"downloading {shown_url(self.url)} took longer than {self.timeout:.3g} s")
        self.parts.append(chunk)

    def too_large(self) -> None:
        raise DownloadError(f"{shown_url(self.url)} is larger than {self.max_bytes // (1024 * 1024)} MB")

    def value(self) -> bytes:
        return b"".join(self.parts)
