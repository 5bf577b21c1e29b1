"""Imagen through `:predict`: the request Vertex receives and how its answers are read."""

from __future__ import annotations

from typing import Any

import pytest

import imagegen
from imagegen.exceptions import ContentPolicyViolationError, PermissionDeniedError, UnsupportedParamsError
from tests.fakes.vertex_fake import FakeVertex

from .conftest import LOCATION, PROJECT


def generate(kwargs: dict[str, Any], model: str = "imagen-3.0-generate-002", **params: Any) -> imagegen.ImageResponse:
    return imagegen.image_generation("An olympic size swimming pool", model=f"vertex_ai/{model}", **kwargs, **params)


def sent(vertex: FakeVertex) -> dict[str, Any]:
    body: dict[str, Any] = vertex.requests[-1].json()
    return body


def test_the_seed_example_calls_predict_for_the_project_and_location(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    response = generate(vertex_kwargs, model="imagegeneration@006")

    assert len(response.data) == 1
    request = vertex.requests[-1]
    assert request.path == (
        f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/imagegeneration@006:predict"
    )
    assert request.headers["authorization"].startswith("Bearer ya29.")
    assert sent(vertex) == {
        "instances": [{"prompt": "An olympic size swimming pool"}],
        "parameters": {"sampleCount": 1, "includeRaiReason": True},
    }


def test_n_is_sent_as_sample_count(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    response = generate(vertex_kwargs, n=3)

    assert len(response.data) == 3
    assert sent(vertex)["parameters"]["sampleCount"] == 3


def test_n_above_the_model_limit_is_rejected_before_any_request(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(UnsupportedParamsError, match="from 1 to 4"):
        generate(vertex_kwargs, n=5)
    assert vertex.requests == []


@pytest.mark.parametrize(
    ("size", "ratio"), [("1024x1024", "1:1"), ("1792x1024", "16:9"), ("1024x1792", "9:16"), ("768x1024", "3:4")]
)
def test_size_is_sent_as_its_aspect_ratio(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any], size: str, ratio: str
) -> None:
    response = generate(vertex_kwargs, size=size)

    assert sent(vertex)["parameters"]["aspectRatio"] == ratio
    assert response.warnings == []


def test_a_size_without_an_exact_ratio_gets_the_nearest_with_a_warning(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    response = generate(vertex_kwargs, size="1536x1024")

    assert sent(vertex)["parameters"]["aspectRatio"] == "4:3"
    assert any("1536x1024" in warning and "4:3" in warning for warning in response.warnings)


def test_native_parameters_in_snake_or_camel_case_are_sent_in_camel_case(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    generate(
        vertex_kwargs,
        model="imagegeneration@006",
        negative_prompt="people",
        personGeneration="dont_allow",
        safety_setting="block_only_high",
        add_watermark=False,
        seed=42,
        language="en",
    )

    assert sent(vertex)["parameters"] == {
        "sampleCount": 1,
        "negativePrompt": "people",
        "personGeneration": "DONT_ALLOW",  # Vertex's spelling, whatever the caller's
        "safetySetting": "BLOCK_ONLY_HIGH",
        "addWatermark": False,
        "seed": 42,
        "language": "en",
        "includeRaiReason": True,
    }


def test_imagen_enums_in_either_case_reach_vertex_uppercase(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    generate(vertex_kwargs, person_generation="ALLOW_ADULT", safety_filter_level="block_medium_and_above")
    parameters = sent(vertex)["parameters"]
    assert (parameters["personGeneration"], parameters["safetySetting"]) == ("ALLOW_ADULT", "BLOCK_MEDIUM_AND_ABOVE")


def test_an_imagen_edit_sends_vertexs_enum_spelling(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    from imagegen import image_edit
    from imagegen.testing import png_image

    image_edit(png_image(32, 32), "a hat", model="vertex_ai/imagen-3.0-capability-001", mask_mode="MASK_MODE_BACKGROUND",
               person_generation="allow_all", safety_setting="block_none", **vertex_kwargs)  # fmt: skip
    body = sent(vertex)
    assert (body["parameters"]["personGeneration"], body["parameters"]["safetySetting"]) == ("ALLOW_ALL", "BLOCK_NONE")
    assert body["instances"][0]["referenceImages"][1]["maskImageConfig"]["maskMode"] == "MASK_MODE_BACKGROUND"


def test_the_fake_refuses_lowercase_enums_as_vertex_spells_them_uppercase(vertex: FakeVertex) -> None:
    from tests.fakes.gemini_fake import InvalidArgument, check_parameters
    from tests.fakes.vertex_fake import IMAGEN_RULES

    with pytest.raises(InvalidArgument, match="personGeneration"):
        check_parameters({"personGeneration": "allow_adult"}, IMAGEN_RULES["imagen-3.0-generate-002"])


def test_a_bad_enum_value_is_rejected_naming_the_allowed_ones(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(UnsupportedParamsError, match="allow_adult"):
        generate(vertex_kwargs, person_generation="everyone")
    assert vertex.requests == []


def test_negative_prompt_is_rejected_on_models_that_dropped_it(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(UnsupportedParamsError, match="negative_prompt"):
        generate(vertex_kwargs, model="imagen-4.0-fast-generate-001", negative_prompt="people")
    assert vertex.requests == []


def test_seed_without_turning_the_watermark_off_is_rejected_with_the_fix(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(UnsupportedParamsError, match="add_watermark=False"):
        generate(vertex_kwargs, seed=7)
    assert vertex.requests == []


def test_seed_without_the_watermark_off_is_dropped_under_drop_params(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    response = generate(vertex_kwargs, seed=7, drop_params=True)

    assert "seed" not in sent(vertex)["parameters"]
    assert any("seed" in warning for warning in response.warnings)


def test_output_format_and_compression_are_sent_as_output_options(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    response = generate(vertex_kwargs, output_format="jpeg", output_compression=80)

    assert sent(vertex)["parameters"]["outputOptions"] == {"mimeType": "image/jpeg", "compressionQuality": 80}
    assert response.data[0].model_extra == {"mimeType": "image/jpeg"}


def test_output_compression_without_jpeg_is_rejected(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="output_format='jpeg'"):
        generate(vertex_kwargs, output_compression=80)


def test_hd_quality_asks_imagen_4_for_2k_images(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    generate(vertex_kwargs, model="imagen-4.0-ultra-generate-001", quality="hd")

    assert sent(vertex)["parameters"]["sampleImageSize"] == "2K"


def test_hd_quality_is_rejected_where_the_model_has_one_resolution(vertex_kwargs: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="quality"):
        generate(vertex_kwargs, model="imagen-4.0-fast-generate-001", quality="hd")


def test_the_rewritten_prompt_is_returned_as_revised_prompt(vertex_kwargs: dict[str, Any]) -> None:
    response = generate(vertex_kwargs, model="imagen-4.0-generate-001")

    assert (
        response.data[0].revised_prompt
        == "A photorealistic image of An olympic size swimming pool, natural light, high detail"
    )


def test_imagen_3_001_serves_a_call(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    response = generate(vertex_kwargs, model="imagen-3.0-generate-001", n=2, negative_prompt="cars", size="1792x1024")

    assert len(response.data) == 2
    assert sent(vertex)["parameters"]["aspectRatio"] == "16:9"


def test_a_filtered_image_is_dropped_with_a_warning(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    vertex.filter_images = 1

    response = generate(vertex_kwargs, n=3)

    assert len(response.data) == 2
    assert any("safety filter" in warning and "56562880" in warning for warning in response.warnings)


def test_every_image_filtered_raises_content_policy_with_googles_reason(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    vertex.filter_images = 2

    with pytest.raises(ContentPolicyViolationError, match="Support codes: 56562880"):
        generate(vertex_kwargs, n=2)


def test_every_image_filtered_without_a_reason_still_raises_content_policy(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    vertex.filter_images = 1

    with pytest.raises(ContentPolicyViolationError, match="filtered"):
        generate(vertex_kwargs, include_rai_reason=False)


def test_a_refused_prompt_raises_content_policy(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    vertex.fail_next("content_policy")

    with pytest.raises(ContentPolicyViolationError, match="Responsible AI") as caught:
        generate(vertex_kwargs, num_retries=0)
    assert caught.value.status_code == 400


def test_permission_denied_says_what_to_check(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    vertex.fail_next("permission")

    with pytest.raises(PermissionDeniedError, match=r"roles/aiplatform\.user") as caught:
        generate(vertex_kwargs, num_retries=0)
    assert caught.value.code == "PERMISSION_DENIED"


def test_a_model_vertex_does_not_list_is_rejected_before_any_request(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(imagegen.BadRequestError, match=r"imagen-3\.0-generate-002"):
        generate(vertex_kwargs, model="imagen-9")
    assert vertex.requests == []
