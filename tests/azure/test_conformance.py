"""The Azure plugin passes the standard conformance suite: dall-e-3 and gpt-image-1 deployments,
with an API key on the deployments URL and with an Entra ID token provider on the v1 surface."""

from __future__ import annotations

from typing import Any

import pytest

from imagegen.testing import ProviderConformanceTests
from tests.fakes.azure_fake import FakeAzureOpenAI

from .conftest import ENTRA_TOKEN


class AzureConformance(ProviderConformanceTests):
    plugin_module = "imagegen_azure"
    heavy_modules = ("azure.identity", "azure.core", "openai")

    @pytest.fixture
    def upstream(self, fake_azure: FakeAzureOpenAI) -> FakeAzureOpenAI:
        return fake_azure

    @pytest.fixture
    def call_kwargs(self, azure_kwargs: dict[str, Any]) -> dict[str, Any]:
        return azure_kwargs


class TestDallE3Deployment(AzureConformance):
    model = "azure/dall-e-3"
    unsupported_param = ("background", "transparent")


class TestGptImage1Deployment(AzureConformance):
    model = "azure/gpt-image-1"
    max_n = 3
    unsupported_param = ("style", "vivid")
    edit_model = "azure/gpt-image-1"
    edit_mask = True
    streams_natively = True


class TestGptImage1OnTheV1SurfaceWithAnEntraTokenProvider(AzureConformance):
    model = "azure/gpt-image-1"
    max_n = 2
    unsupported_param = ("quality", "hd")
    edit_model = "azure/gpt-image-1"
    edit_mask = True
    streams_natively = True
    secret_settings = ()  # the token comes from the provider (its masking is tested in test_auth.py)

    @pytest.fixture
    def call_kwargs(self, upstream: FakeAzureOpenAI) -> dict[str, Any]:
        return {"api_base": upstream.url, "api_version": "v1", "azure_ad_token_provider": lambda: ENTRA_TOKEN}
