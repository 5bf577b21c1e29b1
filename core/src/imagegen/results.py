"""Results given as URLs: downloaded into base64 when the caller asked for `response_format="b64_json"`.

A provider that answers with URLs (often signed, expiring within minutes) cannot be asked for base64,
so the core downloads the images within the call's deadline, size-limited and without any credential
(a URL the provider hands out is fetched as anyone on the internet would). A download that fails loses
nothing: the image keeps its URL, the response a warning saying why, and the call its cost (the image was
made and paid for).
"""

from __future__ import annotations

import asyncio
import base64

from .calls import PreparedCall
from .images import DownloadError, adownload, download
from .types import Image, ImageResponse


def _to_fetch(call: PreparedCall, response: ImageResponse, always: bool) -> list[Image]:
    wanted = always or call.request.params.get("response_format") == "b64_json"
    return [image for image in response.data if wanted and image.b64_json is None and image.url]


def _fetched(image: Image, data: bytes) -> None:
    image.b64_json = base64.b64encode(data).decode("ascii")
    image.url = image.expires_at = None


def _failed(response: ImageResponse, exc: DownloadError) -> None:
    response.warnings.append(f"an image could not be downloaded ({exc}); it is returned as its URL")


def _time_left(call: PreparedCall) -> float:
    return max(call.remaining(), 0.001)  # the call's one deadline: a download past it fails (the URL is kept)


def download_urls(call: PreparedCall, response: ImageResponse, *, always: bool = False) -> None:
    """Replace URL results by their images in base64 when asked for (or `always`, for a stream's events);
    an image whose download fails keeps its URL, with a warning."""
    for image in _to_fetch(call, response, always):
        assert image.url is not None
        try:
            _fetched(image, download(image.url, timeout=_time_left(call)))
        except DownloadError as exc:
            _failed(response, exc)


async def adownload_urls(call: PreparedCall, response: ImageResponse, *, always: bool = False) -> None:
    """The async twin of `download_urls`: the images are downloaded concurrently."""
    images = _to_fetch(call, response, always)

    async def fetch(image: Image) -> None:
        assert image.url is not None
        try:
            _fetched(image, await adownload(image.url, timeout=_time_left(call)))
        except DownloadError as exc:
            _failed(response, exc)

    await asyncio.gather(*(fetch(image) for image in images))
