"""Input images: typed by their own bytes, dimensions from their headers, loaded from every kind of source."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import imagegen
from imagegen import images as image_inputs
from imagegen import masks
from imagegen.exceptions import BadRequestError
from imagegen.images import ImageInput, load_image, sniff
from imagegen.testing import FakeRequest, FakeResponse, FakeUpstream, png_image


def encoded(format: str, size: tuple[int, int] = (40, 30), mode: str = "RGB", **options: object) -> bytes:
    buffer = io.BytesIO()
    color = (10, 20, 30, 128) if mode == "RGBA" else (10, 20, 30)  # half transparent: the alpha is used
    Image.new(mode, size, color).save(buffer, format=format, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png_image(40, 30), ("png", 40, 30, True)),
        (encoded("PNG"), ("png", 40, 30, False)),
        (encoded("JPEG"), ("jpeg", 40, 30, False)),
        (encoded("JPEG", progressive=True), ("jpeg", 40, 30, False)),
        (encoded("WEBP", lossless=False), ("webp", 40, 30, False)),
        (encoded("WEBP", lossless=True), ("webp", 40, 30, False)),
        (encoded("WEBP", mode="RGBA", lossless=True), ("webp", 40, 30, True)),
    ],
)
def test_the_type_and_dimensions_come_from_the_bytes(data: bytes, expected: tuple[str, int, int, bool]) -> None:
    assert sniff(data) == expected


class CountedReads:
    """`open` for `imagegen.images`, counting the bytes read through it."""

    def __init__(self) -> None:
        self.bytes_read = 0

    def __call__(self, path: Any, mode: str = "r") -> Any:
        file = open(path, mode)  # noqa: SIM115 - closed by the code under test
        original = file.read

        def read(size: int = -1) -> bytes:
            data = original(size)
            self.bytes_read += len(data)
            return data

        file.read = read  # type: ignore[method-assign]
        return file


@pytest.fixture
def counted_reads(monkeypatch: pytest.MonkeyPatch) -> CountedReads:
    counter = CountedReads()
    monkeypatch.setattr(image_inputs, "open", counter, raising=False)
    return counter


def test_a_jpeg_whose_frame_header_sits_behind_large_metadata_is_found_from_its_segment_headers(
    tmp_path: Path, counted_reads: CountedReads
) -> None:
    exif = b"Exif\x00\x00" + b"\x00" * 60_000
    data = encoded("JPEG", exif=exif)
    path = tmp_path / "big-exif.jpg"
    path.write_bytes(data + b"\x00" * 5_000_000)
    image = ImageInput(path=path)
    assert (image.format, image.width, image.height) == ("jpeg", 40, 30)
    assert counted_reads.bytes_read <= image_inputs.SNIFF_BYTES + 1024  # never the whole file
    assert ImageInput(path.read_bytes()).width == 40  # the same from bytes


def test_a_large_image_is_typed_from_its_first_64_kib_only(tmp_path: Path, counted_reads: CountedReads) -> None:
    path = tmp_path / "large.png"
    path.write_bytes(png_image(16, 8) + b"\x00" * 5_000_000)
    image = ImageInput(path=path)
    assert (image.format, image.width, image.height) == ("png", 16, 8)
    assert counted_reads.bytes_read <= image_inputs.SNIFF_BYTES


@pytest.mark.parametrize(
    ("data", "what"),
    [(b"GIF89a" + b"\x00" * 20, "a GIF"), (b"<html>", "text"), (b"", "an empty file")],
)
def test_anything_but_png_jpeg_webp_is_refused_naming_the_input(data: bytes, what: str) -> None:
    with pytest.raises(BadRequestError, match=what) as caught:
        load_image(data, name="image[1]")
    assert caught.value.param == "image[1]"


def test_a_path_is_read_when_sent_and_never_held(tmp_path: Path) -> None:
    path = tmp_path / "otter.png"
    path.write_bytes(png_image(16, 8))
    image = load_image(str(path))
    assert image.path == str(path)
    assert image.filename == "otter.png"
    assert b"".join(image.chunks()) == path.read_bytes()
    assert repr(image) == f"<ImageInput png 16x8 {path.stat().st_size} bytes 'otter.png'>"


def test_a_file_object_is_read_once_into_bytes_so_a_retry_can_resend_it() -> None:
    stream = io.BytesIO(png_image(4, 4))
    image = load_image(stream)
    assert stream.read() == b""  # consumed now
    assert image.read() == png_image(4, 4)


def test_a_text_mode_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(b"x")
    with path.open() as text, pytest.raises(BadRequestError, match="'rb'"):
        load_image(text)


def test_a_data_url_is_decoded_and_a_bad_one_refused() -> None:
    url = "data:image/png;base64," + base64.b64encode(png_image(2, 2)).decode()
    assert load_image(url).width == 2
    with pytest.raises(BadRequestError, match="base64"):
        load_image("data:image/png,rawtext")
    with pytest.raises(BadRequestError, match="invalid base64"):
        load_image("data:image/png;base64,@@@")


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_data_url_wrapped_in_mime_lines_is_decoded(newline: str) -> None:
    wrapped = base64.encodebytes(png_image(64, 64)).decode().replace("\n", newline)
    assert newline in wrapped.strip()
    image = load_image(f"data:image/png;base64,{wrapped}")
    assert (image.format, image.width) == ("png", 64)
    assert image.read() == png_image(64, 64)


def test_a_missing_path_says_what_may_be_passed() -> None:
    with pytest.raises(BadRequestError, match="no such file"):
        load_image("/nonexistent/otter.png")


def test_base64_passed_as_a_path_is_refused_briefly_with_the_fix() -> None:
    text = base64.b64encode(png_image(512, 512) + bytes(200_000)).decode()
    with pytest.raises(BadRequestError) as caught:
        load_image(text)
    message = str(caught.value)
    assert len(message) < 400  # the image data is not in the message
    assert text[200:260] not in message
    assert f"{len(text)} characters" in message
    assert "data: URL" in message


def trickled(data: bytes) -> Iterator[bytes]:
    for byte in data:
        time.sleep(0.1)
        yield bytes([byte])


class Images(FakeUpstream):
    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.path == "/big.png":
            return FakeResponse(200, png_image(8, 8) + b"\x00" * 5000, {"content-type": "image/png"})
        if request.path == "/otter.png":
            return FakeResponse(200, png_image(8, 8), {"content-type": "image/png"})
        if request.path == "/trickle.png":  # a byte every 0.1 s: each read is quick, the whole never ends in time
            return FakeResponse(200, trickled(png_image(8, 8)[:12]), {"content-type": "image/png"})
        return FakeResponse(404, b"gone")


@pytest.fixture
def images() -> Iterator[Images]:
    with Images() as server:
        yield server


def test_an_http_url_is_downloaded_by_the_sdk(images: Images) -> None:
    image = load_image(f"{images.url}/otter.png?sig=secret")
    assert (image.width, image.filename) == (8, "otter.png")


def test_a_download_is_refused_past_the_size_limit_without_showing_its_query(images: Images) -> None:
    with pytest.raises(BadRequestError, match="larger than") as caught:
        load_image(f"{images.url}/big.png?signature=s3cr3t", max_bytes=4096)
    assert "s3cr3t" not in str(caught.value)


def test_a_download_that_trickles_past_its_timeout_is_refused(images: Images) -> None:
    started = time.monotonic()
    with pytest.raises(BadRequestError, match=r"took longer than 0\.3 s"):
        load_image(f"{images.url}/trickle.png", timeout=0.3)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("asynchronous", [False, True])
def test_an_input_url_is_downloaded_within_the_calls_one_timeout(images: Images, asynchronous: bool) -> None:
    url = f"{images.url}/trickle.png"

    def edit() -> object:
        if asynchronous:
            return asyncio.run(imagegen.aimage_edit(url, "a hat", model="gpt-image-1", mock_response=True, timeout=0.3))
        return imagegen.image_edit(url, "a hat", model="gpt-image-1", mock_response=True, timeout=0.3)

    started = time.monotonic()
    with pytest.raises(BadRequestError, match="took longer than"):
        edit()
    assert time.monotonic() - started < 1.0


def test_a_failed_download_names_the_status(images: Images) -> None:
    with pytest.raises(BadRequestError, match="HTTP 404"):
        load_image(f"{images.url}/missing.png")


def test_a_server_taking_client_images_can_refuse_urls_and_paths(tmp_path: Path) -> None:
    with pytest.raises(BadRequestError, match="never fetches"):
        load_image("https://example.com/a.png", allow_url=False)
    with pytest.raises(BadRequestError, match="uploaded image or a data: URL"):
        load_image(str(tmp_path), allow_path=False)


def test_base64_is_encoded_once() -> None:
    image = ImageInput(png_image(2, 2))
    assert image.b64() is image.b64()


def test_a_converted_mask_is_made_once_per_input(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image as PILImage

    opened: list[object] = []
    original = PILImage.open
    monkeypatch.setattr(PILImage, "open", lambda *args, **kwargs: opened.append(args) or original(*args, **kwargs))
    mask = ImageInput(png_image(8, 8, transparent_box=(0, 0, 4, 4)))
    white = masks.white_edits(mask)
    assert masks.white_edits(mask) is white  # a retry, another fanned-out request: the same bytes
    masks.black_edits(mask)
    masks.black_edits(mask)
    assert len(opened) == 1  # decoded once, whatever the conventions asked for
    area = masks.edit_area(mask)
    area.paste(0, (0, 0, 8, 8))  # a caller's copy: the cached conversion is untouched
    assert masks.white_edits(ImageInput(png_image(8, 8, transparent_box=(0, 0, 4, 4)))) == white
