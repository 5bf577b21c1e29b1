"""The mapping tables: model ids, size → aspect ratio, Nova's size rule, quality and style."""

from __future__ import annotations

import pytest

from imagegen.exceptions import UnsupportedParamsError
from imagegen.provider import GenerationRequest, Settings
from imagegen_bedrock.models import (
    MODELS,
    QUALITY,
    STYLE_TO_NOVA,
    BedrockInfo,
    base_model_id,
    nova_dimensions,
    nova_size_problem,
    stability_aspect_ratio,
)


def request(drop_params: bool = False) -> GenerationRequest:
    return GenerationRequest(
        prompt="otter", provider="bedrock", model="stability.sd3-5-large-v1:0", spec=None, params={},
        settings=Settings({}), timeout=10, drop_params=drop_params,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("model_id", "base"),
    [
        ("amazon.nova-canvas-v1:0", "amazon.nova-canvas-v1:0"),
        ("us.amazon.nova-canvas-v1:0", "amazon.nova-canvas-v1:0"),
        ("eu.stability.sd3-5-large-v1:0", "stability.sd3-5-large-v1:0"),
        ("apac.amazon.titan-image-generator-v2:0", "amazon.titan-image-generator-v2:0"),
        ("global.stability.stable-image-ultra-v1:1", "stability.stable-image-ultra-v1:1"),
        (
            "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-image-generator-v1",
            "amazon.titan-image-generator-v1",
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-canvas-v1:0",
            "amazon.nova-canvas-v1:0",
        ),
    ],
)
def test_base_model_id_strips_inference_profile_prefixes_and_arns(model_id: str, base: str) -> None:
    assert base_model_id(model_id) == base


def test_provider_info_finds_the_spec_of_a_profile_or_arn() -> None:
    info = BedrockInfo(name="b", models=MODELS)
    spec = info.model("arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.amazon.nova-canvas-v1:0")
    assert spec is not None
    assert spec.name == "amazon.nova-canvas-v1:0"
    assert info.model("amazon.titan-image-generator-v1:0") is info.model("amazon.titan-image-generator-v1")
    assert info.model("amazon.titan-text-express-v1") is None


@pytest.mark.parametrize(
    ("size", "ratio"),
    [("1024x1024", "1:1"), ("1792x1024", "16:9"), ("1024x1792", "9:16"), ("1536x1024", "3:2"), ("1024x1536", "2:3"),
     ("1344x768", "16:9"), ("640x1536", "9:21"), ("896x1088", "4:5")],
)  # fmt: skip
def test_known_sizes_map_to_their_aspect_ratio_without_a_warning(size: str, ratio: str) -> None:
    req = request()
    assert stability_aspect_ratio(req, size) == ratio
    assert req.warnings == []


def test_other_sizes_map_to_the_nearest_aspect_ratio_with_a_warning() -> None:
    req = request()
    assert stability_aspect_ratio(req, "1200x500") == "21:9"
    assert "nearest" in req.warnings[0]


def test_a_malformed_size_is_unsupported() -> None:
    with pytest.raises(UnsupportedParamsError, match="size"):
        stability_aspect_ratio(request(), "huge")


@pytest.mark.parametrize("size", [(1024, 1024), (1280, 720), (2048, 2048), (320, 1280), (4096, 1024)])
def test_nova_accepts_sizes_within_its_limits(size: tuple[int, int]) -> None:
    assert nova_size_problem(*size) is None


@pytest.mark.parametrize(
    ("size", "problem"),
    [((256, 256), "from 320 to 4096"), ((1000, 1000), "divisible by 16"), ((320, 1600), "1:4"),
     ((4096, 4096), "at most"), ((5000, 1024), "from 320 to 4096")],
)  # fmt: skip
def test_nova_refuses_sizes_outside_its_limits(size: tuple[int, int], problem: str) -> None:
    assert problem in (nova_size_problem(*size) or "")


def test_a_refused_nova_size_is_dropped_with_a_warning_under_drop_params() -> None:
    req = request(drop_params=True)
    assert nova_dimensions(req, "100x100") is None
    assert "size" in req.warnings[0]


def test_quality_maps_hd_and_high_to_premium_and_auto_to_the_default() -> None:
    assert QUALITY["hd"] == QUALITY["high"] == QUALITY["premium"] == "premium"
    assert QUALITY["standard"] == QUALITY["low"] == QUALITY["medium"] == "standard"
    assert QUALITY["auto"] is None


def test_style_maps_natural_to_photorealism_and_nova_styles_to_themselves() -> None:
    assert STYLE_TO_NOVA["natural"] == "PHOTOREALISM"
    assert STYLE_TO_NOVA["DESIGN_SKETCH"] == "DESIGN_SKETCH"
    assert "vivid" not in STYLE_TO_NOVA


def test_stability_models_make_one_image_per_call_and_amazon_models_up_to_five() -> None:
    per_call = {spec.name: spec.max_images_per_call for spec in MODELS}
    assert per_call["stability.sd3-5-large-v1:0"] == per_call["stability.stable-diffusion-xl-v1"] == 1
    titan = next(spec for spec in MODELS if spec.name == "amazon.titan-image-generator-v2:0")
    assert titan.max_images_per_call is None
    assert 5 in titan.params["n"]
    assert 6 not in titan.params["n"]
