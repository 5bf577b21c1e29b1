"""imagegen-mock passes the conformance kit with every capability it has on, over a real socket."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from imagegen.testing import ProviderConformanceTests
from tests.fakes.mock_fake import FakeMock


class TestMock(ProviderConformanceTests):
    model = "mock/mock-image-1"
    plugin_module = "imagegen_mock"
    heavy_modules = ("PIL", "PIL.Image")
    max_n = 4
    valid_size = "64x64"
    unsupported_param = ("style", "cartoon")
    edit_model = "mock/mock-image-1"  # every mock model does every operation
    edit_mask = True
    variation_model = "mock/any-varier"
    streams_natively = True
    returns_urls = False  # base64 unless asked for response_format="url" (data: URLs)
    secret_settings: ClassVar[tuple[str, ...]] = ("api_key",)

    @pytest.fixture
    def upstream(self, fake_mock: FakeMock) -> FakeMock:
        return fake_mock

    @pytest.fixture
    def call_kwargs(self, upstream: FakeMock) -> dict[str, Any]:
        return {"api_base": upstream.api_base, "api_key": "mock-test-key-1234", "size": "64x64"}
