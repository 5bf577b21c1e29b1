"""Which OpenAI rules apply to a deployment: `base_model`, else the model its name contains, else none."""

from __future__ import annotations

from typing import Any

import pytest

import imagegen
from imagegen_azure.models import spec_from_deployment_name
from tests.fakes.azure_fake import FakeAzureOpenAI

from .conftest import API_KEY


def generate(deployment: str, azure_kwargs: dict[str, Any], **kwargs: Any) -> imagegen.ImageResponse:
    return imagegen.image_generation("otter", model=f"azure/{deployment}", **azure_kwargs, **kwargs)


@pytest.mark.parametrize(
    ("deployment", "model"),
    [
        ("dall-e-3", "dall-e-3"),
        ("images-dall-e-3-eu", "dall-e-3"),
        ("GPT-Image-1", "gpt-image-1"),
        ("team-gpt-image-1-mini", "gpt-image-1-mini"),  # the longest name wins over gpt-image-1
        ("gpt-image-1.5-prod", "gpt-image-1.5"),  # gpt-image-1 is not a whole word of gpt-image-1.5
        ("gpt-image-2-1", "gpt-image-2"),
        ("images-prod", None),
        ("dalle3", None),
    ],
)
def test_the_model_is_inferred_from_a_deployment_name_containing_it(deployment: str, model: str | None) -> None:
    spec = spec_from_deployment_name(deployment)
    assert (spec.name if spec else None) == model


def test_an_inferred_model_has_its_rules_checked_before_any_request(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(imagegen.UnsupportedParamsError, match="moderation"):
        generate("team-gpt-image-1-mini", azure_kwargs, moderation="high")
    assert fake_azure.requests == []


def test_an_inferred_gpt_image_model_does_not_send_response_format(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]
) -> None:
    response = generate("team-gpt-image-1-mini", azure_kwargs, response_format="b64_json")
    assert "response_format" not in fake_azure.requests[0].json()
    assert response.data[0].b64_json


def test_base_model_selects_the_rules_of_a_deployment_whose_name_does_not_say(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(imagegen.UnsupportedParamsError, match=r"size.*1024x1792"):
        generate("images-prod", azure_kwargs, base_model="dall-e-3", size="512x512")
    assert fake_azure.requests == []


def test_base_model_wins_over_the_deployment_name(fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]) -> None:
    fake_azure.deployments["dall-e-3-renamed"] = "gpt-image-1"
    response = generate("dall-e-3-renamed", azure_kwargs, base_model="gpt-image-1", background="transparent")
    assert fake_azure.requests[0].json() == {"prompt": "otter", "background": "transparent"}
    assert response.data[0].b64_json


@pytest.mark.parametrize("base_model", ["azure/dall-e-3", "openai/dall-e-3"])
def test_base_model_may_carry_a_provider_prefix(azure_kwargs: dict[str, Any], base_model: str) -> None:
    with pytest.raises(imagegen.UnsupportedParamsError):
        generate("images-prod", azure_kwargs, base_model=base_model, n=2)


def test_an_unknown_base_model_is_a_clear_error(fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.BadRequestError, match=r"unknown base_model 'dall-e-4'.*dall-e-3.*Omit base_model"):
        generate("images-prod", azure_kwargs, base_model="dall-e-4")
    assert fake_azure.requests == []


def test_an_unknown_model_gets_the_parameters_unvalidated_and_azure_judges_them(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(imagegen.BadRequestError, match="not supported with this model"):
        generate("images-prod", azure_kwargs, background="transparent")
    assert fake_azure.requests[0].json() == {"prompt": "otter", "background": "transparent"}


def test_drop_params_drops_what_the_inferred_model_rejects(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]
) -> None:
    response = generate("dall-e-3", azure_kwargs, background="transparent", drop_params=True)
    assert "background" not in fake_azure.requests[0].json()
    assert response.warnings == ["dropped `background`: not supported by azure/dall-e-3"]


def test_a_bare_name_is_never_routed_to_azure_by_the_model_it_contains() -> None:
    from imagegen.plugins import registry

    assert registry.provider("azure").model("my-dall-e-3") is None
    with pytest.raises(imagegen.PluginError, match="no installed provider knows"):
        registry.resolve("my-dall-e-3")


def test_a_deployment_named_after_a_model_costs_that_models_price(azure_kwargs: dict[str, Any]) -> None:
    with FakeAzureOpenAI(api_keys=(API_KEY,), deployments={"team-dall-e-3-eastus": "dall-e-3"}) as fake:
        response = imagegen.image_generation(
            "otter", model="azure/team-dall-e-3-eastus", **{**azure_kwargs, "api_base": fake.url}
        )
    assert response.cost == pytest.approx(0.04)  # dall-e-3, standard, 1024x1024
