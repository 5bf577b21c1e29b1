"""Where a call goes: the deployments URL with its api-version, or the v1 surface; required settings."""

from __future__ import annotations

from typing import Any

import pytest

import imagegen
from tests.fakes.azure_fake import FakeAzureOpenAI

from .conftest import API_KEY, API_VERSION


def generate(model: str = "azure/dall-e-3", **kwargs: Any) -> imagegen.ImageResponse:
    return imagegen.image_generation("otter", model=model, **kwargs)


def test_a_dated_api_version_calls_the_deployments_url(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]
) -> None:
    generate(**azure_kwargs)
    sent = fake_azure.requests[0]
    assert sent.path == "/openai/deployments/dall-e-3/images/generations"
    assert sent.query == {"api-version": [API_VERSION]}


def test_the_body_on_the_deployments_url_carries_no_model(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]
) -> None:
    generate(size="1792x1024", quality="hd", **azure_kwargs)
    assert fake_azure.requests[0].json() == {"prompt": "otter", "size": "1792x1024", "quality": "hd"}


def test_api_version_v1_calls_the_v1_surface_with_the_deployment_as_model(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]
) -> None:
    generate("azure/gpt-image-1", **{**azure_kwargs, "api_version": "v1"})
    sent = fake_azure.requests[0]
    assert (sent.path, sent.query) == ("/openai/v1/images/generations", {})
    assert sent.json() == {"model": "gpt-image-1", "prompt": "otter"}


def test_api_version_preview_calls_the_v1_surface_with_api_version_preview(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]
) -> None:
    response = generate("azure/images-prod", **{**azure_kwargs, "api_version": "preview"})
    sent = fake_azure.requests[0]
    assert (sent.path, sent.query) == ("/openai/v1/images/generations", {"api-version": ["preview"]})
    assert sent.json()["model"] == "images-prod"
    assert response.data[0].url


@pytest.mark.parametrize("suffix", ["/", "/openai", "/openai/", "/openai/v1"])
def test_an_api_base_with_the_openai_path_is_accepted(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any], suffix: str
) -> None:
    generate(**{**azure_kwargs, "api_base": fake_azure.url + suffix})
    assert fake_azure.requests[0].path == "/openai/deployments/dall-e-3/images/generations"


def test_a_missing_api_version_is_an_error_naming_the_setting_and_variable_before_any_request(
    fake_azure: FakeAzureOpenAI,
) -> None:
    with pytest.raises(imagegen.BadRequestError) as caught:
        generate(api_base=fake_azure.url, api_key=API_KEY)
    assert "api_version" in str(caught.value)
    assert "AZURE_API_VERSION" in str(caught.value)
    assert fake_azure.requests == []


def test_a_missing_api_base_is_an_error_naming_the_setting_and_variable(fake_azure: FakeAzureOpenAI) -> None:
    with pytest.raises(imagegen.BadRequestError, match=r"api_base.*AZURE_API_BASE"):
        generate(api_key=API_KEY, api_version=API_VERSION)


def test_settings_come_from_the_environment(fake_azure: FakeAzureOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_API_BASE", fake_azure.url)
    monkeypatch.setenv("AZURE_API_KEY", API_KEY)
    monkeypatch.setenv("AZURE_API_VERSION", "2024-10-21")
    assert generate().data
    assert fake_azure.requests[0].query == {"api-version": ["2024-10-21"]}


def test_the_openai_sdk_environment_variables_are_accepted(
    fake_azure: FakeAzureOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", fake_azure.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    assert generate().data


def test_an_api_version_azure_does_not_support_is_azures_bad_request(azure_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.BadRequestError, match="API version not supported"):
        generate(**{**azure_kwargs, "api_version": "2099-01-01"})


def test_gpt_image_on_an_api_version_before_it_existed_is_azures_bad_request(azure_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.BadRequestError, match="2025-04-01-preview and later"):
        generate("azure/gpt-image-1", **{**azure_kwargs, "api_version": "2024-10-21"})
