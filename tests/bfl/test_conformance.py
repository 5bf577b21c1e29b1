"""The BFL plugin passes the standard conformance suite: jobs polled on another host, URL results, edits."""

from __future__ import annotations

from typing import Any

import pytest

from imagegen.testing import ProviderConformanceTests
from tests.fakes.bfl_fake import FakeBFL


class BFLConformance(ProviderConformanceTests):
    plugin_module = "imagegen_bfl"
    answers_with_jobs = True
    returns_urls = True
    max_n = 3
    unsupported_param = ("style", "vivid")

    @pytest.fixture
    def upstream(self, fake_bfl: FakeBFL) -> FakeBFL:
        return fake_bfl

    @pytest.fixture
    def call_kwargs(self, bfl_kwargs: dict[str, Any]) -> dict[str, Any]:
        return bfl_kwargs


class TestFlux2Pro(BFLConformance):
    model = "bfl/flux-2-pro"
    edit_model = "bfl/flux-2-pro"


class TestKontextPro(BFLConformance):
    model = "bfl/flux-kontext-pro"
    edit_model = "bfl/flux-kontext-pro"


class TestFlux11ProUltra(BFLConformance):
    model = "bfl/flux-pro-1.1-ultra"
    edit_model = "bfl/flux-kontext-max"
    max_n = 2
