"""The Vertex AI plugin passes the standard conformance suite, for Imagen 2, Imagen 4 with Imagen 3's editing model,
and Gemini (which edits without a mask)."""

from __future__ import annotations

from typing import Any

import pytest

from imagegen.testing import ProviderConformanceTests
from tests.fakes.vertex_fake import FakeVertex


class VertexConformance(ProviderConformanceTests):
    plugin_module = "imagegen_vertex"
    heavy_modules = ("google.auth", "google.oauth2", "cryptography", "PIL")
    secret_settings = ("vertex_credentials",)
    unsupported_param = ("style", "vivid")

    @pytest.fixture
    def upstream(self, vertex: FakeVertex) -> FakeVertex:
        return vertex

    @pytest.fixture
    def call_kwargs(self, vertex_kwargs: dict[str, Any]) -> dict[str, Any]:
        return vertex_kwargs


class TestImagegeneration005(VertexConformance):
    model = "vertex_ai/imagegeneration@005"  # Imagen 2 (@006 edits too: test_imagen_edits)
    max_n = 4


class TestImagen4(VertexConformance):
    model = "vertex_ai/imagen-4.0-generate-001"
    edit_model = "vertex_ai/imagen-3.0-capability-001"  # mask-free without a mask, inpainting with one
    max_n = 4
    valid_size = "1792x1024"


class TestGemini25FlashImage(VertexConformance):
    model = "vertex_ai/gemini-2.5-flash-image"
    edit_model = model
    max_n = 3

    @pytest.fixture
    def upstream(self, vertex: FakeVertex) -> FakeVertex:
        vertex.content_policy_as = "gemini"
        return vertex
