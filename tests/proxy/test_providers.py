"""Every provider through the proxy: the OpenAI SDK → imagegen serve → each provider's fake upstream."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator

import pytest

from imagegen.testing import TINY_PNG
from tests.fakes.azure_fake import FakeAzureOpenAI
from tests.fakes.bedrock_fake import REGION, FakeBedrock
from tests.fakes.bfl_fake import API_KEY as BFL_KEY
from tests.fakes.bfl_fake import FakeBFL
from tests.fakes.fal_fake import API_KEY as FAL_KEY
from tests.fakes.fal_fake import FakeFal
from tests.fakes.gemini_fake import API_KEY as GEMINI_KEY
from tests.fakes.gemini_fake import FakeGemini
from tests.fakes.vertex_fake import FakeGoogleOAuth, FakeVertex

from .conftest import MASTER_KEY, ProxyLauncher

AZURE_KEY = "azure-test-key-" + secrets.token_hex(8)
ACCESS_KEY = "AKIA" + secrets.token_hex(8).upper()
SECRET_KEY = secrets.token_urlsafe(30)
PROJECT = "adroit-crow-413218"
LOCATION = "us-central1"


@pytest.fixture
def fake_azure() -> Iterator[FakeAzureOpenAI]:
    with FakeAzureOpenAI(api_keys=(AZURE_KEY,)) as fake:
        yield fake


def test_azure_through_the_proxy_with_the_seed_config(start_proxy: ProxyLauncher, fake_azure: FakeAzureOpenAI) -> None:
    config = f"""
model_list:
  - model_name: gpt-image-1 ### RECEIVED MODEL NAME ###
    litellm_params: # all params accepted by litellm.image_generation()
      model: azure/gpt-image-1 ### MODEL NAME sent to `litellm.image_generation()` ###
      api_base: {fake_azure.url}
      api_key: "os.environ/AZURE_API_KEY_EU" # does os.getenv("AZURE_API_KEY_EU")
      api_version: 2025-04-01-preview
general_settings:
  master_key: {MASTER_KEY}
"""
    proxy = start_proxy(config, env={"AZURE_API_KEY_EU": AZURE_KEY})

    result = proxy.openai().images.generate(model="gpt-image-1", prompt="A cute baby sea otter", n=1, size="1024x1024")

    assert base64.b64decode(result.data[0].b64_json or "") == TINY_PNG
    sent = fake_azure.requests[0]
    assert sent.path == "/openai/deployments/gpt-image-1/images/generations"
    assert sent.headers["api-key"] == AZURE_KEY


def test_an_azure_deployment_name_with_model_info_base_model(
    start_proxy: ProxyLauncher, fake_azure: FakeAzureOpenAI
) -> None:
    proxy = start_proxy(
        {
            "model_list": [
                {
                    "model_name": "house-style",
                    "litellm_params": {"model": "azure/images-prod", "api_base": fake_azure.url, "api_key": AZURE_KEY,
                                       "api_version": "2025-04-01-preview"},
                    "model_info": {"base_model": "dall-e-3"},
                }
            ],
            "general_settings": {"master_key": MASTER_KEY},
        }
    )  # fmt: skip

    result = proxy.openai().images.generate(model="house-style", prompt="otter", style="natural")

    assert result.data
    assert "unchecked" not in proxy.logs()  # base_model made it a known image model
    assert fake_azure.requests[0].json()["style"] == "natural"


def test_bedrock_through_the_proxy_signs_with_sigv4(start_proxy: ProxyLauncher) -> None:
    with FakeBedrock(credentials={ACCESS_KEY: (SECRET_KEY, None)}) as fake:
        proxy = start_proxy(
            {
                "model_list": [
                    {
                        "model_name": "nova",
                        "litellm_params": {
                            "model": "bedrock/amazon.nova-canvas-v1:0", "api_base": fake.url,
                            "aws_access_key_id": "os.environ/MY_AWS_KEY_ID",
                            "aws_secret_access_key": "os.environ/MY_AWS_SECRET", "aws_region_name": REGION,
                        },
                    }
                ],
                "general_settings": {"master_key": MASTER_KEY},
            },
            env={"MY_AWS_KEY_ID": ACCESS_KEY, "MY_AWS_SECRET": SECRET_KEY},
        )  # fmt: skip

        result = proxy.openai().images.generate(model="nova", prompt="otter", size="1024x1024")

        assert base64.b64decode(result.data[0].b64_json or "") == TINY_PNG
        assert fake.requests[0].headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
        assert SECRET_KEY not in proxy.logs()


def test_vertex_through_the_proxy_exchanges_a_service_account_jwt(start_proxy: ProxyLauncher) -> None:
    with FakeGoogleOAuth() as oauth, FakeVertex(oauth.is_valid, PROJECT, LOCATION) as vertex:
        key = oauth.new_key()
        proxy = start_proxy(
            {
                "model_list": [
                    {
                        "model_name": "imagen",
                        "litellm_params": {
                            "model": "vertex_ai/imagen-3.0-generate-002", "api_base": vertex.url,
                            "vertex_credentials": "os.environ/MY_VERTEX_KEY", "vertex_ai_project": PROJECT,
                            "vertex_ai_location": LOCATION,
                        },
                    }
                ],
                "general_settings": {"master_key": MASTER_KEY},
            },
            env={"MY_VERTEX_KEY": key.json},
        )  # fmt: skip

        first = proxy.openai().images.generate(model="imagen", prompt="An olympic size swimming pool", n=2)
        proxy.openai().images.generate(model="imagen", prompt="An olympic size swimming pool")

        assert len(first.data) == 2
        assert base64.b64decode(first.data[0].b64_json or "") == TINY_PNG
        assert len(oauth.requests) == 1  # the token is cached across requests
        assert key.info["private_key"] not in proxy.logs()


def test_gemini_through_the_proxy_sends_the_key_in_its_header_only(start_proxy: ProxyLauncher) -> None:
    with FakeGemini() as fake:
        config = f"""
model_list:
  - model_name: nano-banana
    litellm_params:
      model: gemini/gemini-2.5-flash-image
      api_base: {fake.url}
      api_key: "os.environ/MY_GEMINI_KEY"
general_settings:
  master_key: {MASTER_KEY}
"""
        proxy = start_proxy(config, env={"MY_GEMINI_KEY": GEMINI_KEY})

        result = proxy.openai().images.generate(model="nano-banana", prompt="A nano banana dish", n=2, size="1792x1024")

        assert [base64.b64decode(image.b64_json or "") for image in result.data] == [TINY_PNG, TINY_PNG]
        assert result.usage is not None
        assert result.usage.output_tokens == 2 * 1300
        assert {(r.path, r.headers["x-goog-api-key"]) for r in fake.requests} == {
            ("/v1beta/models/gemini-2.5-flash-image:generateContent", GEMINI_KEY)
        }
        assert all(r.query == {} for r in fake.requests)
        assert GEMINI_KEY not in proxy.logs()


def test_bfl_jobs_through_the_proxy_are_one_request_and_one_answer(start_proxy: ProxyLauncher) -> None:
    with FakeBFL() as fake:
        config = f"""
model_list:
  - model_name: flux
    litellm_params:
      model: bfl/flux-2-pro
      api_base: {fake.url}
      api_key: "os.environ/BFL_KEY"
      poll_interval: 0.01
general_settings:
  master_key: {MASTER_KEY}
"""
        proxy = start_proxy(config, env={"BFL_KEY": BFL_KEY})
        result = proxy.openai().images.generate(model="flux", prompt="A cute baby sea otter", n=2, size="1024x1024")
        assert sorted(image.url.split("?")[0] for image in result.data if image.url) == [
            f"{fake.delivery_url}/results/task-{i}/sample.jpeg" for i in (1, 2)
        ]
        assert {r.path for r in fake.requests} == {"/v1/flux-2-pro", "/v1/get_result"}


def test_fal_jobs_through_the_proxy(start_proxy: ProxyLauncher) -> None:
    with FakeFal() as fake:
        config = f"""
model_list:
  - model_name: flux-dev
    litellm_params:
      model: fal/fal-ai/flux/dev
      api_base: {fake.url}
      api_key: "os.environ/FAL_TEST_KEY"
      poll_interval: 0.01
general_settings:
  master_key: {MASTER_KEY}
"""
        proxy = start_proxy(config, env={"FAL_TEST_KEY": FAL_KEY})
        result = proxy.openai().images.generate(model="flux-dev", prompt="A cute baby sea otter", n=2)
        assert len(result.data) == 2
        assert all(image.url and image.url.startswith(fake.cdn_url) for image in result.data)
