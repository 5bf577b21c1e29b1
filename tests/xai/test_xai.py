"""The xAI plugin: Grok image models through xAI's OpenAI-like API, what xAI refuses refused first."""

from __future__ import annotations

from typing import Any

import pytest

import imagegen
from imagegen.testing import ProviderConformanceTests
from tests.fakes.xai_fake import MODERATED_WORD, FakeXAI

from .conftest import API_KEY


def kwargs(fake: FakeXAI) -> dict[str, Any]:
    return {"api_key": API_KEY, "api_base": fake.api_base}


class TestXAIConformance(ProviderConformanceTests):
    model = "xai/grok-imagine-image"
    plugin_module = "imagegen_xai"
    max_n = 3
    valid_size = None  # xAI takes aspect_ratio and resolution instead
    unsupported_param = ("style", "vivid")
    returns_urls = True

    @pytest.fixture
    def upstream(self, fake_xai: FakeXAI) -> FakeXAI:
        return fake_xai

    @pytest.fixture
    def call_kwargs(self, upstream: FakeXAI) -> dict[str, Any]:
        return kwargs(upstream)


def test_size_is_refused_before_any_request_pointing_at_aspect_ratio(fake_xai: FakeXAI) -> None:
    with pytest.raises(imagegen.UnsupportedParamsError, match="aspect_ratio"):
        imagegen.image_generation("otter", model="xai/grok-imagine-image", size="1024x1024", **kwargs(fake_xai))
    assert fake_xai.requests == []


def test_size_is_dropped_with_a_warning_under_drop_params(fake_xai: FakeXAI) -> None:
    response = imagegen.image_generation(
        "otter", model="xai/grok-imagine-image", size="1024x1024", drop_params=True, **kwargs(fake_xai)
    )
    assert any("size" in warning for warning in response.warnings)
    assert "size" not in fake_xai.requests[0].json()


def test_native_parameters_reach_xai(fake_xai: FakeXAI) -> None:
    imagegen.image_generation(
        "otter", model="xai/grok-imagine-image-2.0", aspect_ratio="16:9", resolution="2k", quality="low",
        response_format="b64_json", **kwargs(fake_xai),
    )  # fmt: skip
    assert fake_xai.requests[0].json() == {
        "model": "grok-imagine-image-2.0", "prompt": "otter", "aspect_ratio": "16:9", "resolution": "2k",
        "quality": "low", "response_format": "b64_json",
    }  # fmt: skip


def test_quality_is_refused_on_models_that_ignore_it(fake_xai: FakeXAI) -> None:
    with pytest.raises(imagegen.UnsupportedParamsError, match="quality"):
        imagegen.image_generation("otter", model="xai/grok-imagine-image", quality="high", **kwargs(fake_xai))


def test_the_grok_2_image_alias_is_sent_as_the_model_xai_accepts(fake_xai: FakeXAI) -> None:
    response = imagegen.image_generation("otter", model="xai/grok-2-image", **kwargs(fake_xai))
    assert fake_xai.requests[0].json()["model"] == "grok-2-image-1212"
    assert response.cost == pytest.approx(0.07)


def test_results_keep_xais_mime_type_and_revised_prompt(fake_xai: FakeXAI) -> None:
    image = imagegen.image_generation("otter", model="xai/grok-imagine-image", **kwargs(fake_xai)).data[0]
    assert image.model_extra == {"mime_type": "image/jpeg"}
    assert image.revised_prompt == "A photo of otter"


def test_moderation_is_a_content_policy_error(fake_xai: FakeXAI) -> None:
    with pytest.raises(imagegen.ContentPolicyViolationError, match="moderation"):
        imagegen.image_generation(f"a {MODERATED_WORD}", model="xai/grok-imagine-image", **kwargs(fake_xai))


@pytest.mark.parametrize(
    ("model", "params", "cost"),
    [
        ("grok-imagine-image", {"n": 2}, 0.04),
        ("grok-imagine-image-quality", {}, 0.05),
        ("grok-imagine-image-2.0", {}, 0.06),
        ("grok-imagine-image-2.0", {"resolution": "2k"}, 0.08),
        ("grok-imagine-image-2.0", {"resolution": "2k", "quality": "low"}, 0.06),
    ],
)
def test_list_prices(fake_xai: FakeXAI, model: str, params: dict[str, Any], cost: float) -> None:
    response = imagegen.image_generation("otter", model=f"xai/{model}", **params, **kwargs(fake_xai))
    assert response.cost == pytest.approx(cost)


def test_a_missing_key_names_the_variable() -> None:
    with pytest.raises(imagegen.AuthenticationError, match="XAI_API_KEY"):
        imagegen.image_generation("otter", model="xai/grok-imagine-image")


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_api_base_works_with_and_without_its_v1(fake_xai: FakeXAI, suffix: str) -> None:
    response = imagegen.image_generation(
        "otter", model="xai/grok-imagine-image", api_key=API_KEY, api_base=fake_xai.url + suffix
    )
    assert response.data[0].url
    assert fake_xai.requests[0].path == "/v1/images/generations"
