"""imagegen's standard conformance suite, run against the fake Acme API."""

from __future__ import annotations

from typing import Any

import pytest

from imagegen.testing import FakeUpstream, ProviderConformanceTests


class TestAcmeConformance(ProviderConformanceTests):
    model = "acme/acme-image-1"
    plugin_module = "imagegen_acme"
    max_n = 4
    valid_size = "512x512"
    unsupported_param = ("style", "vivid")
    edit_model = "acme/acme-image-1"

    @pytest.fixture
    def upstream(self, fake_acme: FakeUpstream) -> FakeUpstream:
        return fake_acme

    @pytest.fixture
    def call_kwargs(self, upstream: FakeUpstream) -> dict[str, Any]:
        return {"api_base": upstream.url, "api_key": "test-key-not-a-secret"}
