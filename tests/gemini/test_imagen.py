"""Imagen on the Gemini API (deprecated: Google says it is shut down there): `:predict` for keys that still
reach it, without what only Vertex AI takes, and a clear way out once Google answers that the model is gone."""

from __future__ import annotations

from typing import Any

import pytest

import imagegen
from imagegen.exceptions import ContentPolicyViolationError, NotFoundError, UnsupportedParamsError
from tests.fakes.gemini_fake import FakeGemini


def generate(kwargs: dict[str, Any], model: str = "imagen-4.0-generate-001", **params: Any) -> imagegen.ImageResponse:
    return imagegen.image_generation("Robot holding a red skateboard", model=f"gemini/{model}", **kwargs, **params)


def test_a_predict_call_with_googles_parameter_names(fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]) -> None:
    response = generate(
        gemini_kwargs, n=2, size="1792x1024", quality="hd", output_format="jpeg", output_compression=90,
        person_generation="allow_adult", safety_filter_level="block_only_high",
    )  # fmt: skip

    assert fake_gemini.requests[0].path == "/v1beta/models/imagen-4.0-generate-001:predict"
    assert fake_gemini.requests[0].json() == {
        "instances": [{"prompt": "Robot holding a red skateboard"}],
        "parameters": {
            "sampleCount": 2,
            "aspectRatio": "16:9",
            "sampleImageSize": "2K",
            "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 90},
            "personGeneration": "allow_adult",
            "safetySetting": "block_only_high",  # google-genai's safety_filter_level, as the wire names it
            "includeRaiReason": True,
        },
    }
    assert len(response.data) == 2
    assert response.cost == pytest.approx(0.08)


@pytest.mark.parametrize(
    ("name", "value"), [("seed", 1), ("negative_prompt", "cars"), ("addWatermark", False), ("enhance_prompt", False)]
)
def test_what_only_vertex_takes_is_refused_pointing_at_vertex(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any], name: str, value: Any
) -> None:
    with pytest.raises(UnsupportedParamsError, match=r"vertex_ai/imagen-4\.0-generate-001"):
        generate(gemini_kwargs, **{name: value})
    assert fake_gemini.requests == []


def test_fast_takes_no_resolution(fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="quality"):
        generate(gemini_kwargs, model="imagen-4.0-fast-generate-001", quality="hd")
    assert fake_gemini.requests == []


def test_filtered_images_are_dropped_with_googles_reason(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]
) -> None:
    fake_gemini.filter_images = 1

    response = generate(gemini_kwargs, n=2)

    assert len(response.data) == 1
    assert "removed by The Gemini API's safety filters" in response.warnings[0]
    assert response.cost == pytest.approx(0.04)  # filtered images are not charged


def test_all_images_filtered_is_a_content_policy_error(fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]) -> None:
    fake_gemini.filter_images = 4

    with pytest.raises(ContentPolicyViolationError, match="safety filter"):
        generate(gemini_kwargs, n=2)


def test_once_google_has_shut_imagen_down_the_error_names_the_way_out(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]
) -> None:
    fake_gemini.imagen_served = False

    with pytest.raises(NotFoundError, match=r"gemini/gemini-2\.5-flash-image.*vertex_ai/"):
        generate(gemini_kwargs)


def test_imagen_enums_reach_the_gemini_api_lowercase_whatever_their_case(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]
) -> None:
    generate(gemini_kwargs, person_generation="ALLOW_ADULT", safety_setting="BLOCK_ONLY_HIGH")
    parameters = fake_gemini.requests[0].json()["parameters"]
    assert (parameters["personGeneration"], parameters["safetySetting"]) == ("allow_adult", "block_only_high")
