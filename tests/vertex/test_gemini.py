"""Gemini image models through `:generateContent`: one image per call, text kept as revised_prompt."""

from __future__ import annotations

from typing import Any

import pytest

import imagegen
from imagegen.exceptions import ContentPolicyViolationError, UnsupportedParamsError
from tests.fakes.vertex_fake import FakeVertex

from .conftest import LOCATION, PROJECT


def generate(kwargs: dict[str, Any], model: str = "gemini-2.5-flash-image", **params: Any) -> imagegen.ImageResponse:
    return imagegen.image_generation("A nano banana dish", model=f"vertex_ai/{model}", **kwargs, **params)


def sent(vertex: FakeVertex) -> dict[str, Any]:
    body: dict[str, Any] = vertex.requests[-1].json()
    return body


def test_calls_generate_content_asking_for_text_and_image(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    generate(vertex_kwargs)

    assert vertex.requests[-1].path == (
        f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/gemini-2.5-flash-image:generateContent"
    )
    assert sent(vertex) == {
        "contents": [{"role": "user", "parts": [{"text": "A nano banana dish"}]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]},
    }


def test_the_models_text_becomes_the_revised_prompt(vertex_kwargs: dict[str, Any]) -> None:
    response = generate(vertex_kwargs)

    assert response.data[0].revised_prompt == "Here is the image: A nano banana dish"
    assert response.data[0].model_extra == {"mimeType": "image/png"}


def test_token_usage_is_reported_split_into_text_and_image_tokens(vertex_kwargs: dict[str, Any]) -> None:
    usage = generate(vertex_kwargs).usage

    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (7, 1300, 1307)
    assert usage.input_tokens_details == {"text_tokens": 7, "image_tokens": 0}
    assert usage.model_extra == {"output_tokens_details": {"text_tokens": 10, "image_tokens": 1290}}


# Vertex list prices per token (cloud.google.com/vertex-ai/generative-ai/pricing): input, text output, image output.
GEMINI_25_FLASH_IMAGE = (0.30e-6, 2.50e-6, 30e-6)
GEMINI_3_PRO_IMAGE = (2e-6, 12e-6, 120e-6)


def test_text_output_tokens_are_priced_as_text_not_as_image(vertex_kwargs: dict[str, Any]) -> None:
    response = generate(vertex_kwargs)  # 7 prompt tokens; 1290 image and 10 text tokens out

    text_input, text_output, image_output = GEMINI_25_FLASH_IMAGE
    assert response.cost == pytest.approx(7 * text_input + 10 * text_output + 1290 * image_output)


def test_thinking_tokens_are_priced_as_text_output(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    vertex.thoughts_tokens = 200

    response = generate(vertex_kwargs, model="gemini-3-pro-image-preview")

    text_input, text_output, image_output = GEMINI_3_PRO_IMAGE
    assert response.cost == pytest.approx(7 * text_input + (10 + 200) * text_output + 1290 * image_output)


def test_n_fans_out_into_one_call_per_image_and_sums_usage(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    response = generate(vertex_kwargs, n=3)

    assert len(response.data) == 3
    assert len(vertex.requests) == 3
    assert response.usage is not None
    assert response.usage.total_tokens == 3 * 1307


def test_size_is_sent_as_image_config_aspect_ratio(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    generate(vertex_kwargs, size="1792x1024")

    assert sent(vertex)["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9"}


def test_a_model_without_aspect_ratios_rejects_size(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="size"):
        generate(vertex_kwargs, model="gemini-2.0-flash-preview-image-generation", size="1024x1024")
    assert vertex.requests == []


def test_gemini_3_pro_takes_quality_and_image_size(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    generate(vertex_kwargs, model="gemini-3-pro-image-preview", size="1024x1536", quality="hd")
    assert sent(vertex)["generationConfig"]["imageConfig"] == {"aspectRatio": "2:3", "imageSize": "2K"}

    generate(vertex_kwargs, model="gemini-3-pro-image-preview", image_size="4K", temperature=0.5)
    assert sent(vertex)["generationConfig"] == {
        "responseModalities": ["TEXT", "IMAGE"],
        "temperature": 0.5,
        "imageConfig": {"imageSize": "4K"},
    }


def test_a_blocked_prompt_raises_content_policy_with_the_reason(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    vertex.block_prompt = "SAFETY"

    with pytest.raises(ContentPolicyViolationError, match="SAFETY"):
        generate(vertex_kwargs)


def test_a_filtered_image_raises_content_policy_with_the_finish_reason(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    vertex.filter_images = 1

    with pytest.raises(ContentPolicyViolationError, match="IMAGE_SAFETY"):
        generate(vertex_kwargs)


@pytest.mark.anyio
async def test_generates_concurrently_on_the_async_path(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    response = await imagegen.aimage_generation(
        "A nano banana dish", model="vertex_ai/gemini-2.5-flash-image", n=2, **vertex_kwargs
    )

    assert len(response.data) == 2
    assert len(vertex.requests) == 2
