"""What OpenAI refuses about output options and inputs, refused first by the plugin and by the strict fake alike."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import imagegen
from imagegen.testing import png_image
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import API_KEY

IMAGE = png_image(32, 32)
MASK = png_image(32, 32, transparent_box=(0, 0, 16, 16))
MB = 1024 * 1024


def kwargs(fake: FakeOpenAI) -> dict[str, Any]:
    return {"api_key": API_KEY, "api_base": fake.api_base}


@pytest.mark.parametrize("output_format", [None, "png"])
def test_output_compression_without_jpeg_or_webp_is_refused_before_any_request(
    fake_openai: FakeOpenAI, output_format: str | None
) -> None:
    params = {"output_compression": 50} | ({"output_format": output_format} if output_format else {})
    with pytest.raises(imagegen.BadRequestError, match=r"output_compression.*output_format='jpeg' or 'webp'"):
        imagegen.image_generation("otter", model="gpt-image-1", **params, **kwargs(fake_openai))
    with pytest.raises(imagegen.BadRequestError, match="output_compression"):
        imagegen.image_edit(IMAGE, "Hat", model="gpt-image-1.5", **params, **kwargs(fake_openai))
    assert fake_openai.requests == []


def test_output_compression_without_jpeg_or_webp_is_dropped_under_drop_params(fake_openai: FakeOpenAI) -> None:
    response = imagegen.image_generation(
        "otter", model="gpt-image-1", output_compression=50, drop_params=True, **kwargs(fake_openai)
    )
    assert "output_compression" not in fake_openai.requests[0].json()
    assert response.warnings == ["dropped `output_compression`: not supported by openai/gpt-image-1"]


@pytest.mark.parametrize("output_format", ["jpeg", "webp"])
def test_output_compression_with_jpeg_or_webp_reaches_openai(fake_openai: FakeOpenAI, output_format: str) -> None:
    imagegen.image_generation(
        "otter", model="gpt-image-1", output_compression=50, output_format=output_format, **kwargs(fake_openai)
    )
    assert fake_openai.requests[0].json()["output_compression"] == 50


def test_a_transparent_background_in_jpeg_is_refused_before_any_request(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(imagegen.BadRequestError, match="transparent background needs output_format 'png' or 'webp'"):
        imagegen.image_generation(
            "otter", model="gpt-image-1", background="transparent", output_format="jpeg", **kwargs(fake_openai)
        )
    assert fake_openai.requests == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"output_compression": 50}, "output_compression"),
        ({"output_compression": 50, "output_format": "png"}, "output_compression"),
        ({"background": "transparent", "output_format": "jpeg"}, "background"),
        ({"model": "gpt-image-2", "size": "1000x1000"}, "size"),
        ({"model": "dall-e-3", "output_format": "png"}, "output_format"),
    ],
)
def test_the_fake_refuses_what_openai_refuses(fake_openai: FakeOpenAI, body: dict[str, Any], param: str) -> None:
    answer = httpx.post(
        f"{fake_openai.api_base}/images/generations",
        json={"model": "gpt-image-1", "prompt": "otter", **body},
        headers={"authorization": f"Bearer {API_KEY}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == param


def test_gpt_image_2_generates_at_a_free_size_and_edits(fake_openai: FakeOpenAI) -> None:
    generated = imagegen.image_generation("otter", model="gpt-image-2", size="1536x864", **kwargs(fake_openai))
    edited = imagegen.image_edit(IMAGE, "Hat", model="gpt-image-2", mask=MASK, **kwargs(fake_openai))
    assert fake_openai.requests[0].json()["size"] == "1536x864"
    assert generated.data[0].b64_json
    assert edited.data[0].b64_json
    assert fake_openai.uploads[-1][0]["model"] == ["gpt-image-2"]


def test_gpt_image_2_takes_no_input_fidelity(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(imagegen.UnsupportedParamsError, match="input_fidelity"):
        imagegen.image_edit(IMAGE, "Hat", model="gpt-image-2", input_fidelity="high", **kwargs(fake_openai))
    assert fake_openai.requests == []


def test_chatgpt_image_latest_is_not_listed_without_a_verified_price() -> None:
    from imagegen.plugins import registry

    assert registry.provider("openai").model("chatgpt-image-latest") is None


def test_a_mask_of_4_mb_or_more_is_refused_naming_the_mask_and_the_limit(fake_openai: FakeOpenAI) -> None:
    large_mask = MASK + b"\x00" * (4 * MB)
    with pytest.raises(
        imagegen.BadRequestError, match=r"`mask` is 4\.0 MB; gpt-image-1 takes masks under 4 MB"
    ) as caught:
        imagegen.image_edit(IMAGE, "Hat", model="gpt-image-1", mask=large_mask, **kwargs(fake_openai))
    assert caught.value.param == "mask"
    assert fake_openai.requests == []
