"""The core's wire tools: multipart bodies, Server-Sent Events framing, mask conversion."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from imagegen import masks
from imagegen.images import ImageInput
from imagegen.multipart import MultipartForm
from imagegen.sse import ServerSentEvent, SSEDecoder
from imagegen.testing import FakeRequest, png_image


def parsed(form: MultipartForm, body: bytes) -> FakeRequest:
    return FakeRequest("POST", "/", {}, {k: v for k, v in form.headers.items()}, body)


def test_a_multipart_form_carries_fields_repeated_lists_and_files(tmp_path: Path) -> None:
    path = tmp_path / "b.png"
    path.write_bytes(png_image(3, 3))
    image, on_disk = ImageInput(png_image(2, 2)), ImageInput(path=path)
    form = MultipartForm({"prompt": 'a "quoted"\nhat', "n": 2, "stream": True, "tags": ["x", "y"], "none": None},
                         [("image[]", image), ("image[]", on_disk)])  # fmt: skip
    body = b"".join(form)
    assert len(body) == form.length == int(form.headers["content-length"])
    fields, files = parsed(form, body).form()
    assert fields == {"prompt": ['a "quoted"\nhat'], "n": ["2"], "stream": ["true"], "tags": ["x", "y"]}
    assert [(f.filename, f.content_type, f.data) for f in files["image[]"]] == [
        ("image.png", "image/png", image.read()),
        ("b.png", "image/png", path.read_bytes()),
    ]


def test_a_multipart_form_is_sent_whole_again_on_every_iteration() -> None:
    form = MultipartForm({"prompt": "otter"}, [("image", ImageInput(png_image(2, 2)))])
    assert b"".join(form) == b"".join(form)


@pytest.mark.anyio
async def test_a_multipart_form_streams_on_the_async_path_too() -> None:
    form = MultipartForm({"prompt": "otter"}, [("image", ImageInput(png_image(2, 2)))])
    assert b"".join([chunk async for chunk in form]) == b"".join(form)


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def test_events_are_split_on_blank_lines_with_their_names_and_data() -> None:
    stream = b'event: image_generation.partial_image\ndata: {"a": 1}\n\n: keep-alive\n\ndata: x\ndata: y\nid: 7\n\n'
    assert decode(stream) == [
        ServerSentEvent("image_generation.partial_image", '{"a": 1}'),
        ServerSentEvent("message", "x\ny", "7"),
    ]


def test_an_event_cut_anywhere_across_chunks_is_reassembled() -> None:
    stream = b"event: e\r\ndata: " + b"A" * 1000 + b"\r\n\r\n"
    whole = decode(stream)
    for cut in (1, 9, 10, 15, 500, len(stream) - 3, len(stream) - 2, len(stream) - 1):
        assert decode(stream[:cut], stream[cut:]) == whole
    assert decode(*[stream[i : i + 1] for i in range(len(stream))]) == whole


def test_bare_carriage_returns_end_lines_too() -> None:
    assert decode(b"data: a\r\rdata: b\r\r") == [ServerSentEvent(data="a"), ServerSentEvent(data="b")]


def test_an_unfinished_event_is_not_dispatched() -> None:
    assert decode(b"data: partial") == []


def pixels(png: bytes, y: int) -> list[object]:
    picture = Image.open(io.BytesIO(png))
    return [picture.getpixel((x, y)) for x in range(picture.width)]


MASK = ImageInput(png_image(6, 4, transparent_box=(1, 1, 3, 3)))


def test_white_edits_marks_the_transparent_area_white_on_black() -> None:
    assert pixels(masks.white_edits(MASK), 1) == [0, 255, 255, 0, 0, 0]
    assert pixels(masks.white_edits(MASK), 0) == [0] * 6


def test_black_edits_marks_the_transparent_area_pure_black_on_pure_white_rgb() -> None:
    white, black = (255, 255, 255), (0, 0, 0)
    assert pixels(masks.black_edits(MASK), 2) == [white, black, black, white, white, white]
    assert pixels(masks.black_edits(MASK), 3) == [white] * 6
