"""Edits on the Gemini API: the input images as `inlineData` parts after the prompt, no mask, Google's limits."""

from __future__ import annotations

import base64
import io
import os
from typing import Any

import pytest
from PIL import Image

import imagegen
from imagegen.exceptions import BadRequestError, UnsupportedParamsError
from imagegen.testing import png_image
from tests.fakes.gemini_fake import FakeGemini

MODEL = "gemini/gemini-2.5-flash-image"


def jpeg_image(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


def noise_png(megabytes: int) -> bytes:
    """A PNG of random pixels, which does not compress: about `megabytes` MB."""
    side = int((megabytes * 1024 * 1024 / 3) ** 0.5)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def test_the_images_follow_the_prompt_as_inline_data_in_order(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]
) -> None:
    first, second = png_image(64, 64), jpeg_image(32, 48)

    imagegen.image_edit([first, second], "Put the cat on the sofa", model=MODEL, **gemini_kwargs)

    (part_text, part_first, part_second) = fake_gemini.requests[0].json()["contents"][0]["parts"]
    assert part_text == {"text": "Put the cat on the sofa"}
    assert part_first == {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(first).decode()}}
    assert part_second == {"inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(second).decode()}}


def test_a_mask_is_refused_before_any_request(fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]) -> None:
    mask = png_image(64, 64, transparent_box=(0, 0, 32, 32))

    with pytest.raises(UnsupportedParamsError, match="mask"):
        imagegen.image_edit(png_image(64, 64), "a hat", model=MODEL, mask=mask, **gemini_kwargs)
    assert fake_gemini.requests == []


def test_a_mask_is_dropped_with_a_warning_under_drop_params(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]
) -> None:
    mask = png_image(64, 64, transparent_box=(0, 0, 32, 32))

    response = imagegen.image_edit(
        png_image(64, 64), "a hat", model=MODEL, mask=mask, drop_params=True, **gemini_kwargs
    )

    assert any("mask" in warning for warning in response.warnings)
    assert len(fake_gemini.requests[0].json()["contents"][0]["parts"]) == 2


def test_gemini_2_5_flash_takes_three_images_and_3_pro_fourteen(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]
) -> None:
    images = [png_image(16, 16)] * 14
    with pytest.raises(BadRequestError, match="at most 3"):
        imagegen.image_edit(images[:4], "a collage", model=MODEL, **gemini_kwargs)
    assert fake_gemini.requests == []

    response = imagegen.image_edit(images, "a collage", model="gemini/gemini-3-pro-image-preview", **gemini_kwargs)

    assert len(response.data) == 1
    assert len(fake_gemini.requests[0].json()["contents"][0]["parts"]) == 15


def test_input_images_are_priced_as_image_input_tokens(gemini_kwargs: dict[str, Any]) -> None:
    response = imagegen.image_edit([png_image(16, 16)] * 2, "a collage", model=MODEL, **gemini_kwargs)

    assert response.usage is not None
    assert response.usage.input_tokens_details == {"text_tokens": 7, "image_tokens": 2 * 258}
    assert response.cost == pytest.approx((7 + 2 * 258) * 0.30e-6 + 10 * 2.50e-6 + 1290 * 30e-6)


def test_images_past_googles_request_size_are_refused_before_any_request(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]
) -> None:
    image = noise_png(6)  # three of them: 18 MB, 24 MB in base64, over the Gemini API's 20 MB

    with pytest.raises(BadRequestError, match="at most 20 MB per request"):
        imagegen.image_edit([image] * 3, "a collage", model=MODEL, **gemini_kwargs)
    assert fake_gemini.requests == []
