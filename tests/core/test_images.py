"""Input images: typed by their own bytes, dimensions from their headers, loaded from every kind of source."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

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


def test_a_jpeg_whose_frame_header_sits_behind_large_metadata_is_read_whole(tmp_path: Path) -> None:
    exif = b"Exif\x00\x00" + b"\x00" * 60_000
    data = encoded("JPEG", exif=exif)
    path = tmp_path / "big-exif.jpg"
    path.write_bytes(data + b"\x00" * 70_000)
    image = ImageInput(path=path)
    assert (image.format, image.width, image.height) == ("jpeg", 40, 30)


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


def test_a_missing_path_says_what_may_be_passed() -> None:
    with pytest.raises(BadRequestError, match="no such file"):
        load_image("/nonexistent/otter.png")


class Images(FakeUpstream):
    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.path == "/big.png":
            return FakeResponse(200, png_image(8, 8) + b"\x00" * 5000, {"content-type": "image/png"})
        if request.path == "/otter.png":
            return FakeResponse(200, png_image(8, 8), {"content-type": "image/png"})
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
