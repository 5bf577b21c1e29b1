"""LiteLLM's `api_type` on Azure: `azure` signs in with the API key only, `azure_ad` with Entra ID only."""

from __future__ import annotations

import pytest

import imagegen
from tests.fakes.azure_fake import FakeAzureOpenAI

from .conftest import API_KEY, ENTRA_TOKEN
from .test_auth import generate


def test_api_type_azure_ad_signs_in_with_entra_even_with_a_key_in_the_environment(
    fake_azure: FakeAzureOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_API_KEY", API_KEY)
    monkeypatch.setenv("AZURE_AD_TOKEN", ENTRA_TOKEN)
    generate(fake_azure, api_type="azure_ad")
    headers = fake_azure.requests[0].headers
    assert headers["authorization"] == f"Bearer {ENTRA_TOKEN}"
    assert "api-key" not in headers


def test_api_type_azure_ad_ignores_an_api_key_passed_to_the_call(fake_azure: FakeAzureOpenAI) -> None:
    generate(fake_azure, api_type="azure_ad", api_key=API_KEY, azure_ad_token=ENTRA_TOKEN)
    assert "api-key" not in fake_azure.requests[0].headers


def test_api_type_azure_sends_the_api_key(fake_azure: FakeAzureOpenAI) -> None:
    response = generate(fake_azure, api_type="azure", api_key=API_KEY, azure_ad_token=ENTRA_TOKEN)
    headers = fake_azure.requests[0].headers
    assert headers["api-key"] == API_KEY
    assert "authorization" not in headers
    assert response.warnings == []


def test_api_type_azure_without_a_key_names_the_setting(fake_azure: FakeAzureOpenAI) -> None:
    with pytest.raises(imagegen.AuthenticationError, match="AZURE_API_KEY"):
        generate(fake_azure, api_type="azure", azure_ad_token=ENTRA_TOKEN)
    assert fake_azure.requests == []


def test_an_unknown_api_type_is_ignored_with_a_warning(fake_azure: FakeAzureOpenAI) -> None:
    response = generate(fake_azure, api_type="openai", api_key=API_KEY)
    assert fake_azure.requests[0].headers["api-key"] == API_KEY
    assert any("api_type='openai'" in warning for warning in response.warnings)
