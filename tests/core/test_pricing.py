"""Every response carries its cost in USD, from the list prices in the core or a deployment's own."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

import imagegen
from imagegen import pricing
from imagegen.exceptions import PluginError
from imagegen.plugins import registry
from imagegen.testing import TINY_PNG_B64, FakeRequest, FakeResponse, FakeUpstream
from imagegen.types import Image, ImageResponse, Usage
from tests.fakes.openai_fake import FakeOpenAI

API_KEY = "sk-test-key-1234"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(API_KEY,)) as fake:
        yield fake


class SelfHostedServer(FakeUpstream):
    """An OpenAI-compatible server (xinference, vLLM…) serving a model no price table knows."""

    def handle(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(200, {"created": 0, "data": [{"b64_json": TINY_PNG_B64}]})

    def error(self, kind: str) -> FakeResponse:
        return FakeResponse(500, {"error": {"message": kind}})


@pytest.fixture(autouse=True)
def _forget_warnings() -> None:
    pricing._warned.clear()


def images(n: int, usage: Usage | None = None) -> ImageResponse:
    return ImageResponse(data=[Image(b64_json="AAAA") for _ in range(n)], usage=usage)


def cost(provider: str, model: str, params: dict[str, Any], response: ImageResponse, **kwargs: Any) -> float | None:
    return pricing.cost_of(provider, model, params, response, **kwargs)


# --- through the SDK, against the fake OpenAI -------------------------------------------------------


def test_dall_e_3_response_costs_its_quality_and_size_price(fake_openai: FakeOpenAI) -> None:
    response = imagegen.image_generation(
        "otter", model="dall-e-3", quality="hd", size="1792x1024", api_key=API_KEY, api_base=fake_openai.api_base
    )
    assert response.cost == pytest.approx(0.12)


def test_gpt_image_response_is_priced_per_token_from_its_usage(fake_openai: FakeOpenAI) -> None:
    response = imagegen.image_generation("otter", model="gpt-image-1", api_key=API_KEY, api_base=fake_openai.api_base)
    # The fake reports 10 text input tokens and 272 image output tokens.
    assert response.cost == pytest.approx(10 * 5e-06 + 272 * 4e-05)


def test_fanned_out_response_costs_every_image(fake_openai: FakeOpenAI) -> None:
    response = imagegen.image_generation(
        "otter", model="dall-e-2", n=3, size="256x256", api_key=API_KEY, api_base=fake_openai.api_base
    )
    assert response.cost == pytest.approx(3 * 0.016)


@pytest.mark.anyio
async def test_async_response_carries_its_cost(fake_openai: FakeOpenAI) -> None:
    response = await imagegen.aimage_generation(
        "otter", model="dall-e-3", api_key=API_KEY, api_base=fake_openai.api_base
    )
    assert response.cost == pytest.approx(0.04)


def test_unpriced_model_costs_none_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    with SelfHostedServer() as server, caplog.at_level(logging.WARNING, logger="imagegen"):
        for _ in range(2):
            response = imagegen.image_generation("otter", model="openai/my-local-model", api_base=server.url)
            assert response.cost is None
    warnings = [r for r in caplog.records if "no price" in r.getMessage()]
    assert len(warnings) == 1
    assert "openai/my-local-model" in warnings[0].getMessage()


# --- the price rules ---------------------------------------------------------------------------------


def test_image_input_tokens_are_priced_apart_from_text_tokens() -> None:
    usage = Usage(
        input_tokens=300,
        output_tokens=1000,
        total_tokens=1300,
        input_tokens_details={"text_tokens": 100, "image_tokens": 200},
    )
    assert cost("openai", "gpt-image-1", {}, images(1, usage)) == pytest.approx(
        100 * 5e-06 + 200 * 1e-05 + 1000 * 4e-05
    )


def test_text_output_tokens_use_the_text_output_price_where_one_is_listed() -> None:
    usage = Usage(input_tokens=10, output_tokens=1100, total_tokens=1110, output_tokens_details={"text_tokens": 100})
    assert cost("openai", "gpt-image-1.5", {}, images(1, usage)) == pytest.approx(
        10 * 5e-06 + 1000 * 3.2e-05 + 100 * 1e-05
    )


def test_gpt_image_without_usage_falls_back_to_the_per_image_price() -> None:
    assert cost("openai", "gpt-image-1", {"quality": "high", "size": "1536x1024"}, images(2)) == pytest.approx(0.5)


def test_titan_small_standard_images_cost_less_than_large_premium_ones() -> None:
    assert cost("bedrock", "amazon.titan-image-generator-v1", {"size": "512x512"}, images(1)) == pytest.approx(0.008)
    assert cost(
        "bedrock", "amazon.titan-image-generator-v2:0", {"quality": "premium", "width": 1024, "height": 1024}, images(1)
    ) == pytest.approx(0.012)


def test_sdxl_costs_double_past_fifty_steps() -> None:
    assert cost("bedrock", "stability.stable-diffusion-xl-v1", {}, images(1)) == pytest.approx(0.04)
    assert cost("bedrock", "stability.stable-diffusion-xl-v1", {"steps": 80}, images(1)) == pytest.approx(0.08)


def test_vertex_imagen_is_priced_per_image() -> None:
    assert cost("vertex_ai", "imagen-4.0-ultra-generate-001", {}, images(4)) == pytest.approx(0.24)


def test_azure_deployment_costs_its_base_model_price() -> None:
    assert cost("azure", "prod-images", {"quality": "hd"}, images(1), base_model="dall-e-3") == pytest.approx(0.08)


def test_deployment_model_info_price_replaces_the_list_price() -> None:
    model_info = {"output_cost_per_image": 0.5}
    assert cost("openai", "dall-e-3", {}, images(2), model_info=model_info) == pytest.approx(1.0)


def test_deployment_model_info_token_prices_replace_the_list_price() -> None:
    usage = Usage(input_tokens=10, output_tokens=100, total_tokens=110)
    model_info = {"input_cost_per_token": 1e-06, "output_cost_per_image_token": 1e-05}
    assert cost("openai", "gpt-image-1", {}, images(1, usage), model_info=model_info) == pytest.approx(
        10 * 1e-06 + 100 * 1e-05
    )


def test_model_info_base_model_selects_the_price() -> None:
    assert cost("azure", "prod", {}, images(1), model_info={"base_model": "dall-e-2"}) == pytest.approx(0.02)


def test_per_token_model_without_usage_or_image_price_costs_none() -> None:
    assert cost("openai", "gpt-image-2", {}, images(1)) is None


# --- per megapixel, styles, and costs the provider reports --------------------------------------------


def megapixel_price(**rule: Any) -> pricing.ModelPrice:
    return pricing.ModelPrice.from_table({"per_megapixel": rule, "defaults": {"size": "1024x1024"}})


def test_a_megapixel_price_scales_with_the_size_asked_for() -> None:
    price = megapixel_price(usd=0.02)
    assert price.cost(images(1), {"size": "2000x1000"}) == pytest.approx(0.04)
    assert price.cost(images(2), {"width": 1000, "height": 500}) == pytest.approx(0.02)


def test_a_megapixel_price_uses_its_default_size_when_none_is_asked_for() -> None:
    assert megapixel_price(usd=0.02).cost(images(1), {}) == pytest.approx(0.02 * 1.048576)


def test_the_first_megapixel_may_cost_more_than_each_further_one() -> None:
    price = megapixel_price(usd=0.015, first=0.03)
    assert price.cost(images(1), {"size": "1000x1000"}) == pytest.approx(0.03)
    assert price.cost(images(1), {"size": "2000x1000"}) == pytest.approx(0.045)
    assert price.cost(images(1), {"size": "500x500"}) == pytest.approx(0.03)


def test_whole_megapixels_are_billed_when_rounding_up() -> None:
    price = megapixel_price(usd=0.025, pixels=1024 * 1024, round_up=True)
    assert price.cost(images(1), {"size": "1024x768"}) == pytest.approx(0.025)
    assert price.cost(images(1), {"size": "1536x1024"}) == pytest.approx(0.05)


def test_each_image_is_priced_by_its_own_reported_size() -> None:
    response = ImageResponse(data=[Image(url="u", width=2000, height=1000), Image(url="u", width=1000, height=1000)])
    assert megapixel_price(usd=0.01).cost(response, {"size": "500x500"}) == pytest.approx(0.03)


def test_a_style_rule_covers_the_styles_substyles() -> None:
    price = pricing.ModelPrice.from_table(
        {"per_image": [{"style": ["vector_illustration"], "usd": 0.08}, {"usd": 0.04}]}
    )
    assert price.cost(images(1), {"style": "vector_illustration/line_art"}) == pytest.approx(0.08)
    assert price.cost(images(1), {"style": "vector_illustration"}) == pytest.approx(0.08)
    assert price.cost(images(1), {"style": "realistic_image"}) == pytest.approx(0.04)
    assert price.cost(images(1), {}) == pytest.approx(0.04)


def test_a_cost_the_provider_reports_is_preferred_to_the_list_price() -> None:
    response = images(1)
    response.reported_cost = 0.0307
    assert cost("openai", "dall-e-3", {"quality": "hd"}, response) == pytest.approx(0.0307)


def test_a_deployments_own_price_wins_over_a_reported_cost() -> None:
    response = images(2)
    response.reported_cost = 0.0307
    assert cost("openai", "dall-e-3", {}, response, model_info={"output_cost_per_image": 0.5}) == pytest.approx(1.0)


def test_merged_responses_report_the_sum_of_their_costs_only_when_each_reported_one() -> None:
    first, second, third = images(1), images(1), images(1)
    first.reported_cost, second.reported_cost = 0.01, 0.02
    assert ImageResponse.merge([first, second]).reported_cost == pytest.approx(0.03)
    assert ImageResponse.merge([first, third]).reported_cost is None


def test_a_reported_cost_is_never_serialised() -> None:
    response = images(1)
    response.reported_cost = 0.01
    assert "reported_cost" not in response.model_dump_json()


# --- coverage of the price table ---------------------------------------------------------------------


# The providers this repository ships; a third-party plugin brings its own prices (model_info).
FIRST_PARTY = {
    "imagegen-openai",
    "imagegen-azure",
    "imagegen-bedrock",
    "imagegen-vertex",
    "imagegen-gemini",
    "imagegen-bfl",
    "imagegen-fal",
    "imagegen-xai",
    "imagegen-stability",
}


def _installed_models() -> list[tuple[str, str]]:
    models = []
    for prefix, entry in sorted(registry.entries().items()):
        if entry.distribution not in FIRST_PARTY:
            continue
        try:
            provider = registry.provider(prefix)
        except PluginError:
            continue
        models.extend((prefix, spec.name) for spec in provider.info.models)
    return models


@pytest.mark.parametrize(("provider", "model"), _installed_models())
def test_every_model_our_plugins_declare_has_a_list_price(provider: str, model: str) -> None:
    assert pricing.price_of(provider, model) is not None, f"add {provider}/{model} to core/src/imagegen/prices.json"


def test_every_price_rule_has_a_positive_usd_amount() -> None:
    table = pricing._price_table()
    for provider, models in table.items():
        if provider.startswith("_") or provider in ("aliases", "mock"):  # imagegen-mock is free by design
            continue
        for name in models:
            price = pricing.price_of(provider, name)
            assert price is not None
            assert price.per_token or price.per_image or price.per_megapixel, f"{provider}/{name} has no price"
            assert all(rule.usd > 0 for rule in price.per_image)
            assert price.per_megapixel is None or price.per_megapixel.usd > 0
            assert all(amount > 0 for amount in price.per_token.values())


def test_the_mock_provider_costs_zero_not_none() -> None:
    price = pricing.price_of("mock", "any-name", base_model="mock-image-1")
    assert price is not None
    assert price.cost(ImageResponse(data=[Image(b64_json="aGk=")] * 3), {"size": "64x64"}) == 0.0
