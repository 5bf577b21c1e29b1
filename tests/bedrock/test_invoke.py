"""Each model family end to end: the exact InvokeModel body sent, the response read, the errors mapped."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from imagegen import aimage_generation, image_generation
from imagegen.exceptions import (
    BadRequestError,
    ContentPolicyViolationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnsupportedParamsError,
)
from imagegen.testing import TINY_PNG
from tests.fakes.bedrock_fake import FakeBedrock, bedrock_error

SDXL = "bedrock/stability.stable-diffusion-xl-v1"
SD35 = "bedrock/stability.sd3-5-large-v1:0"
ULTRA = "bedrock/stability.stable-image-ultra-v1:1"
TITAN_V1 = "bedrock/amazon.titan-image-generator-v1"
TITAN_V2 = "bedrock/amazon.titan-image-generator-v2:0"
NOVA = "bedrock/amazon.nova-canvas-v1:0"


def sent(fake: FakeBedrock) -> list[dict[str, Any]]:
    return [body for _, body in fake.invocations]


# Stability SDXL


def test_sdxl_body_carries_prompts_dimensions_and_native_params(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    response = image_generation(
        "otter", model=SDXL, size="1344x768", negative_prompt="blurry", cfg_scale=9.5, steps=40, seed=7,
        sampler="K_EULER", style_preset="photographic", clip_guidance_preset="FAST_BLUE", **sigv4,
    )  # fmt: skip
    assert sent(fake_bedrock) == [
        {
            "text_prompts": [{"text": "otter", "weight": 1.0}, {"text": "blurry", "weight": -1.0}],
            "width": 1344, "height": 768, "cfg_scale": 9.5, "steps": 40, "seed": 7, "sampler": "K_EULER",
            "style_preset": "photographic", "clip_guidance_preset": "FAST_BLUE",
        }
    ]  # fmt: skip
    assert response.data[0].image_bytes() == TINY_PNG
    assert response.data[0].model_extra == {"seed": 7, "finish_reason": "SUCCESS"}


def test_sdxl_refuses_a_size_outside_its_nine_dimensions_listing_them(sigv4: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError) as caught:
        image_generation("otter", model=SDXL, size="1024x1792", **sigv4)
    assert "1152x896" in str(caught.value)
    assert "1536x640" in str(caught.value)


def test_sdxl_refuses_a_cfg_scale_out_of_range(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match=r"from 0\.0 to 35\.0"):
        image_generation("otter", model=SDXL, cfg_scale=40, **sigv4)
    assert fake_bedrock.requests == []


def test_sdxl_content_filtered_artifact_is_a_content_policy_error(sigv4: dict[str, Any]) -> None:
    with pytest.raises(ContentPolicyViolationError, match="CONTENT_FILTERED"):
        image_generation("FILTERED otter", model=SDXL, **sigv4)


# Stability SD3 / SD3.5 / Stable Image


def test_sd3_body_maps_size_to_aspect_ratio_and_passes_native_params(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    response = image_generation(
        "otter", model=SD35, size="1792x1024", negative_prompt="fog", seed=42, output_format="jpeg",
        response_format="b64_json", **sigv4,
    )  # fmt: skip
    assert sent(fake_bedrock) == [
        {"prompt": "otter", "aspect_ratio": "16:9", "negative_prompt": "fog", "seed": 42, "output_format": "jpeg"}
    ]
    assert response.data[0].model_extra == {"seed": 42}
    assert response.warnings == []


@pytest.mark.parametrize("model", ["bedrock/stability.sd3-large-v1:0", SD35])
def test_sd3_models_take_mode_text_to_image(fake_bedrock: FakeBedrock, sigv4: dict[str, Any], model: str) -> None:
    image_generation("otter", model=model, mode="text-to-image", **sigv4)
    assert sent(fake_bedrock) == [{"prompt": "otter", "mode": "text-to-image"}]


def test_image_to_image_mode_is_refused_as_it_needs_an_input_image(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    with pytest.raises(UnsupportedParamsError, match="text-to-image"):
        image_generation("otter", model=SD35, mode="image-to-image", **sigv4)
    assert fake_bedrock.requests == []


def test_stable_image_models_refuse_mode_as_aws_documents_none(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    with pytest.raises(UnsupportedParamsError, match="mode"):
        image_generation("otter", model=ULTRA, mode="text-to-image", **sigv4)


def test_stable_image_takes_an_explicit_aspect_ratio_over_size(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    response = image_generation("otter", model=ULTRA, size="1024x1024", aspect_ratio="21:9", **sigv4)
    assert sent(fake_bedrock) == [{"prompt": "otter", "aspect_ratio": "21:9"}]
    assert "ignored size" in response.warnings[0]


def test_an_inexact_size_uses_the_nearest_aspect_ratio_with_a_warning(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    response = image_generation("otter", model=SD35, size="1000x700", **sigv4)
    assert sent(fake_bedrock)[0]["aspect_ratio"] == "3:2"
    assert "nearest" in response.warnings[0]


def test_n_on_a_stability_model_fans_out_into_concurrent_single_image_calls(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    response = image_generation("otter", model=SD35, n=4, **sigv4)
    assert len(response.data) == 4
    assert sent(fake_bedrock) == [{"prompt": "otter"}] * 4  # `n` is never sent


def test_fanned_out_calls_with_a_seed_use_consecutive_seeds(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    image_generation("otter", model=SD35, n=3, seed=7, **sigv4)
    assert sorted(body["seed"] for body in sent(fake_bedrock)) == [7, 8, 9]


@pytest.mark.anyio
async def test_n_fans_out_on_the_async_path_too(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    response = await aimage_generation("otter", model=SDXL, n=3, **sigv4)
    assert len(response.data) == 3
    assert len(fake_bedrock.invocations) == 3


def test_a_filter_finish_reason_on_http_200_is_a_content_policy_error(sigv4: dict[str, Any]) -> None:
    with pytest.raises(ContentPolicyViolationError, match="Filter reason: prompt") as caught:
        image_generation("FILTERED otter", model=SD35, **sigv4)
    assert caught.value.filter_results == ["Filter reason: prompt"]


def test_stability_models_refuse_quality(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="quality"):
        image_generation("otter", model=SD35, quality="hd", **sigv4)


def test_a_prompt_over_ten_thousand_characters_is_refused_before_any_request(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    with pytest.raises(BadRequestError, match="at most 10000"):
        image_generation("o" * 10001, model=SD35, **sigv4)
    assert fake_bedrock.requests == []


# Titan Image Generator and Nova Canvas


def test_titan_body_maps_n_size_quality_and_native_params(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    response = image_generation(
        "otter", model=TITAN_V2, n=3, size="1152x640", quality="hd", negative_prompt="rain", cfg_scale=7.5, seed=9,
        **sigv4,
    )  # fmt: skip
    assert sent(fake_bedrock) == [
        {
            "taskType": "TEXT_IMAGE",
            "textToImageParams": {"text": "otter", "negativeText": "rain"},
            "imageGenerationConfig": {
                "numberOfImages": 3, "width": 1152, "height": 640, "quality": "premium", "cfgScale": 7.5, "seed": 9,
            },
        }
    ]  # fmt: skip
    assert len(response.data) == 3


def test_titan_takes_its_native_camel_case_names_too(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    image_generation("otter", model=TITAN_V1, negativeText="rain", cfgScale=2.0, **sigv4)
    body = sent(fake_bedrock)[0]
    assert body["textToImageParams"]["negativeText"] == "rain"
    assert body["imageGenerationConfig"] == {"numberOfImages": 1, "cfgScale": 2.0}


def test_negative_text_is_omitted_when_absent(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    image_generation("otter", model=NOVA, **sigv4)
    assert sent(fake_bedrock)[0]["textToImageParams"] == {"text": "otter"}


def test_titan_refuses_more_than_five_images(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="from 1 to 5"):
        image_generation("otter", model=TITAN_V2, n=6, **sigv4)
    assert fake_bedrock.requests == []


def test_titan_refuses_a_size_it_does_not_offer(sigv4: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="1173x640"):
        image_generation("otter", model=TITAN_V2, size="1792x1024", **sigv4)


def test_titan_refuses_cfg_scale_outside_its_range(sigv4: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match=r"from 1\.1 to 10\.0"):
        image_generation("otter", model=TITAN_V2, cfg_scale=1.0, **sigv4)


def test_nova_maps_style_and_takes_any_size_within_its_limits(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    image_generation("otter", model=NOVA, style="natural", size="1280x720", quality="standard", seed=858993459, **sigv4)
    body = sent(fake_bedrock)[0]
    assert body["textToImageParams"] == {"text": "otter", "style": "PHOTOREALISM"}
    assert body["imageGenerationConfig"] == {
        "numberOfImages": 1, "width": 1280, "height": 720, "quality": "standard", "seed": 858993459,
    }  # fmt: skip


def test_nova_refuses_vivid_style_and_bad_sizes(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="style"):
        image_generation("otter", model=NOVA, style="vivid", **sigv4)
    with pytest.raises(UnsupportedParamsError, match="divisible by 16"):
        image_generation("otter", model=NOVA, size="1000x1000", **sigv4)
    assert fake_bedrock.requests == []


def test_drop_params_drops_what_bedrock_would_reject_with_warnings(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    response = image_generation(
        "otter", model=NOVA, style="vivid", user="u-1", size="1000x1000", drop_params=True, **sigv4
    )
    assert sent(fake_bedrock) == [
        {
            "taskType": "TEXT_IMAGE",
            "textToImageParams": {"text": "otter"},
            "imageGenerationConfig": {"numberOfImages": 1},
        }
    ]
    assert len(response.warnings) == 3


def test_titan_content_filter_refusal_is_a_content_policy_error(sigv4: dict[str, Any]) -> None:
    with pytest.raises(ContentPolicyViolationError, match="content filters") as caught:
        image_generation("FILTERED otter", model=TITAN_V2, **sigv4)
    assert caught.value.code == "ValidationException"


def test_an_error_field_on_http_200_is_a_content_policy_error(sigv4: dict[str, Any]) -> None:
    with pytest.raises(ContentPolicyViolationError, match="blocked"):
        image_generation("FILTERED_OUTPUT otter", model=NOVA, **sigv4)


# Model ids: inference profiles and ARNs


@pytest.mark.parametrize(
    "model_id",
    [
        "us.amazon.nova-canvas-v1:0",
        "global.amazon.nova-canvas-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-canvas-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-canvas-v1:0",
    ],
)
def test_profiles_and_arns_are_sent_url_encoded_in_the_path(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any], model_id: str
) -> None:
    response = image_generation("otter", model=f"bedrock/{model_id}", **sigv4)
    assert fake_bedrock.requests[0].path == f"/model/{quote(model_id, safe='-._~')}/invoke"
    assert fake_bedrock.invocations[0][0] == "amazon.nova-canvas-v1:0"
    assert response.model == model_id


@pytest.mark.parametrize(
    "model_id",
    [
        "us.amazon.nova-canvas-v1:0",
        "eu.amazon.nova-canvas-v1:0",
        "global.amazon.nova-canvas-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-canvas-v1:0",
    ],
)
def test_profiles_and_arns_cost_the_foundation_models_price(sigv4: dict[str, Any], model_id: str) -> None:
    params = {"quality": "premium", "size": "2048x2048"}
    response = image_generation("otter", model=f"bedrock/{model_id}", **params, **sigv4)
    assert response.cost == pytest.approx(0.08)  # Nova Canvas, premium, up to 2048x2048


def test_model_id_invokes_an_application_inference_profile_with_the_model_format(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
    image_generation("otter", model=NOVA, model_id=arn, style="MAXIMALISM", **sigv4)
    assert fake_bedrock.requests[0].path == f"/model/{quote(arn, safe='')}/invoke"
    assert sent(fake_bedrock)[0]["textToImageParams"]["style"] == "MAXIMALISM"


def test_an_unknown_model_names_the_known_ones(sigv4: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError, match=r"amazon\.nova-canvas-v1:0"):
        image_generation("otter", model="bedrock/amazon.titan-text-express-v1", **sigv4)


# Errors


@pytest.mark.parametrize(
    ("kind", "error"),
    [("permission", PermissionDeniedError), ("not_found", NotFoundError), ("bad_request", BadRequestError),
     ("unavailable", ServiceUnavailableError), ("rate_limit", RateLimitError)],
)  # fmt: skip
def test_bedrock_error_types_map_to_imagegen_errors(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any], kind: str, error: type[Exception]
) -> None:
    fake_bedrock.fail_next(kind)
    with pytest.raises(error) as caught:
        image_generation("otter", model=NOVA, num_retries=0, **sigv4)
    assert "Exception: " in str(caught.value)  # the AWS error type leads the provider's message


@pytest.mark.parametrize(
    ("error_type", "status", "error"),
    [("ModelTimeoutException", 408, "Timeout"), ("ModelErrorException", 424, "InternalServerError"),
     ("ModelNotReadyException", 429, "RateLimitError"), ("ServiceQuotaExceededException", 400, "RateLimitError")],
)  # fmt: skip
def test_model_error_types_map_by_x_amzn_error_type(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any], error_type: str, status: int, error: str
) -> None:
    fake_bedrock.handle = lambda request: bedrock_error(status, error_type, "model trouble")  # type: ignore[method-assign]
    with pytest.raises(Exception) as caught:  # noqa: PT011
        image_generation("otter", model=NOVA, num_retries=0, **sigv4)
    assert type(caught.value).__name__ == error
    assert caught.value.code == error_type  # type: ignore[attr-defined]


def test_throttling_is_retried(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    fake_bedrock.fail_next("rate_limit")
    image_generation("otter", model=NOVA, num_retries=1, **sigv4)
    assert len(fake_bedrock.requests) == 2
