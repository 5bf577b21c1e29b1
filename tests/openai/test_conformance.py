"""The OpenAI plugin passes the standard conformance suite, for a GPT image model and a DALL·E model."""

from __future__ import annotations

from typing import Any

import pytest

from imagegen.testing import ProviderConformanceTests
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import API_KEY


class OpenAIConformance(ProviderConformanceTests):
    plugin_module = "imagegen_openai"
    heavy_modules = ("openai",)

    @pytest.fixture
    def upstream(self, fake_openai: FakeOpenAI) -> FakeOpenAI:
        return fake_openai

    @pytest.fixture
    def call_kwargs(self, upstream: FakeOpenAI) -> dict[str, Any]:
        return {"api_base": upstream.api_base, "api_key": API_KEY}


class TestGptImage1(OpenAIConformance):
    model = "openai/gpt-image-1"
    max_n = 3
    unsupported_param = ("style", "vivid")
    edit_model = "openai/gpt-image-1"
    streams_natively = True


class TestDallE2(OpenAIConformance):
    model = "openai/dall-e-2"
    max_n = 2
    valid_size = "512x512"
    unsupported_param = ("background", "transparent")
    edit_model = "openai/dall-e-2"
    variation_model = "openai/dall-e-2"
    returns_urls = True


class TestDallE3(OpenAIConformance):
    model = "openai/dall-e-3"
    unsupported_param = ("background", "transparent")
    edit_model = None  # DALL·E 3 cannot edit: refused naming the models that can
    returns_urls = True
