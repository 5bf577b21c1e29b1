"""The Bedrock plugin passes the standard conformance suite: SigV4 on Titan v2, SD3.5 and the Stability image
services, a Bedrock API key on Nova; edits and variations on every family that has them."""

from __future__ import annotations

from typing import Any

import pytest

from imagegen.testing import ProviderConformanceTests
from tests.fakes.bedrock_fake import REGION, FakeBedrock

from .conftest import API_KEY


class BedrockConformance(ProviderConformanceTests):
    plugin_module = "imagegen_bedrock"
    heavy_modules = ("boto3", "botocore", "PIL")
    secret_settings = ("aws_secret_access_key",)

    @pytest.fixture
    def upstream(self, fake_bedrock: FakeBedrock) -> FakeBedrock:
        return fake_bedrock

    @pytest.fixture
    def call_kwargs(self, sigv4: dict[str, Any]) -> dict[str, Any]:
        return sigv4


class TestTitanImageGeneratorV2(BedrockConformance):
    model = "bedrock/amazon.titan-image-generator-v2:0"
    edit_model = model  # INPAINTING with a mask, IMAGE_VARIATION without
    variation_model = model
    max_n = 5
    unsupported_param = ("style", "vivid")


class TestStableDiffusion35Large(BedrockConformance):
    model = "bedrock/stability.sd3-5-large-v1:0"
    edit_model = model  # image-to-image
    max_n = 3  # one image per call: fanned out into three concurrent calls
    unsupported_param = ("quality", "hd")


class TestStabilityImageServices(BedrockConformance):
    model = "bedrock/stability.stable-image-core-v1:1"
    edit_model = "bedrock/stability.stable-image-inpaint-v1:0"  # invoked through its us. profile
    max_n = 2
    unsupported_param = ("quality", "hd")


class TestSdxlViaCrossRegionProfile(BedrockConformance):
    model = "bedrock/us.stability.stable-diffusion-xl-v1"
    valid_size = "1344x768"


class TestNovaCanvasWithApiKey(BedrockConformance):
    model = "bedrock/amazon.nova-canvas-v1:0"
    edit_model = model
    variation_model = model
    max_n = 2
    valid_size = "1280x720"
    secret_settings = ("api_key",)

    @pytest.fixture
    def call_kwargs(self, fake_bedrock: FakeBedrock) -> dict[str, Any]:
        return {"api_base": fake_bedrock.url, "api_key": API_KEY, "aws_region_name": REGION}
