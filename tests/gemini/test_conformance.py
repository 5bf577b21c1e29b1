"""The Gemini API plugin passes the standard conformance suite: a Gemini image model (edits without a mask,
streams emulated) and Imagen's deprecated `:predict` path."""

from __future__ import annotations

from typing import Any

import pytest

from imagegen.testing import ProviderConformanceTests
from tests.fakes.gemini_fake import FakeGemini


class GeminiConformance(ProviderConformanceTests):
    plugin_module = "imagegen_gemini"
    # The Gemini API takes a key: neither google-auth (Vertex's) nor Google's SDK, nor the Vertex plugin.
    heavy_modules = ("google.auth", "google.genai", "imagegen_vertex", "PIL")
    unsupported_param = ("style", "vivid")

    @pytest.fixture
    def upstream(self, fake_gemini: FakeGemini) -> FakeGemini:
        return fake_gemini

    @pytest.fixture
    def call_kwargs(self, gemini_kwargs: dict[str, Any]) -> dict[str, Any]:
        return gemini_kwargs


class TestGemini25FlashImage(GeminiConformance):
    model = "gemini/gemini-2.5-flash-image"
    edit_model = model
    max_n = 3


class TestImagen4(GeminiConformance):
    model = "gemini/imagen-4.0-generate-001"
    edit_model = "gemini/gemini-3-pro-image-preview"
    max_n = 4
    valid_size = "1792x1024"

    @pytest.fixture
    def upstream(self, fake_gemini: FakeGemini) -> FakeGemini:
        fake_gemini.content_policy_as = "imagen"
        return fake_gemini
