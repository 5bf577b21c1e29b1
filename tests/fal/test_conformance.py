"""The fal plugin passes the standard conformance suite: queued jobs, results fetched, URL results, edits."""

from __future__ import annotations

from typing import Any

import pytest

from imagegen.testing import ProviderConformanceTests
from tests.fakes.fal_fake import FakeFal


class FalConformance(ProviderConformanceTests):
    plugin_module = "imagegen_fal"
    answers_with_jobs = True
    returns_urls = True
    edit_model = "fal/fal-ai/flux-pro/kontext"

    @pytest.fixture
    def upstream(self, fake_fal: FakeFal) -> FakeFal:
        return fake_fal

    @pytest.fixture
    def call_kwargs(self, fal_kwargs: dict[str, Any]) -> dict[str, Any]:
        return fal_kwargs


class TestFluxDev(FalConformance):
    model = "fal/fal-ai/flux/dev"
    max_n = 6  # 4 per request: fanned out into two jobs
    unsupported_param = ("style", "vivid")


class TestFluxProV11(FalConformance):
    model = "fal/fal-ai/flux-pro/v1.1"
    max_n = 2
    unsupported_param = ("quality", "hd")


class TestRecraftV3(FalConformance):
    model = "fal/fal-ai/recraft/v3"
    max_n = 2
    unsupported_param = ("quality", "hd")
