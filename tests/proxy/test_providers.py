"""Every provider through the proxy: the OpenAI SDK → imagegen serve → each provider's fake upstream."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator

import openai
import pytest

from imagegen.testing import TINY_PNG, png_image
from tests.fakes.azure_fake import FakeAzureOpenAI
from tests.fakes.bedrock_fake import REGION, FakeBedrock
from tests.fakes.bfl_fake import API_KEY as BFL_KEY
from tests.fakes.bfl_fake import FakeBFL
from tests.fakes.fal_fake import API_KEY as FAL_KEY
from tests.fakes.fal_fake import FakeFal
from tests.fakes.gemini_fake import API_KEY as GEMINI_KEY
from tests.fakes.gemini_fake import FakeGemini
from tests.fakes.vertex_fake import FakeGoogleOAuth, FakeVertex

from .conftest import MASTER_KEY, ProxyLauncher, RunningProxy

AZURE_KEY = "azure-test-key-" + secrets.token_hex(8)
ACCESS_KEY = "AKIA" + secrets.token_hex(8).upper()
SECRET_KEY = secrets.token_urlsafe(30)
PROJECT = "adroit-crow-413218"
LOCATION = "us-central1"
IMAGE = png_image(64, 64)


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


@pytest.fixture(scope="module")
def bedrock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeBedrock, RunningProxy]]:
    with FakeBedrock(credentials={ACCESS_KEY: (SECRET_KEY, None)}) as fake:
        launcher = ProxyLauncher(tmp_path_factory.mktemp("proxy-bedrock"))
        config = {
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
        }  # fmt: skip
        yield fake, launcher(config, env={"MY_AWS_KEY_ID": ACCESS_KEY, "MY_AWS_SECRET": SECRET_KEY})
        launcher.close()


def test_bedrock_through_the_proxy_signs_with_sigv4(bedrock: tuple[FakeBedrock, RunningProxy]) -> None:
    fake, proxy = bedrock

    result = proxy.openai().images.generate(model="nova", prompt="otter", size="1024x1024")

    assert base64.b64decode(result.data[0].b64_json or "") == TINY_PNG
    assert fake.requests[-1].headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert SECRET_KEY not in proxy.logs()


def test_bedrock_streams_one_completed_event_through_the_proxy(bedrock: tuple[FakeBedrock, RunningProxy]) -> None:
    _, proxy = bedrock

    events = list(proxy.openai().images.generate(model="nova", prompt="otter", stream=True, partial_images=2))

    assert [event.type for event in events] == ["image_generation.completed"]
    assert base64.b64decode(events[0].b64_json) == TINY_PNG


@pytest.fixture(scope="module")
def vertex(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeGoogleOAuth, str, RunningProxy]]:
    with FakeGoogleOAuth() as oauth, FakeVertex(oauth.is_valid, PROJECT, LOCATION) as fake:
        key = oauth.new_key()
        launcher = ProxyLauncher(tmp_path_factory.mktemp("proxy-vertex"))
        config = {
            "model_list": [
                {
                    "model_name": "imagen",
                    "litellm_params": {
                        "model": "vertex_ai/imagen-3.0-generate-002", "api_base": fake.url,
                        "vertex_credentials": "os.environ/MY_VERTEX_KEY", "vertex_ai_project": PROJECT,
                        "vertex_ai_location": LOCATION,
                    },
                }
            ],
            "general_settings": {"master_key": MASTER_KEY},
        }  # fmt: skip
        yield oauth, key.info["private_key"], launcher(config, env={"MY_VERTEX_KEY": key.json})
        launcher.close()


def test_vertex_through_the_proxy_exchanges_a_service_account_jwt(
    vertex: tuple[FakeGoogleOAuth, str, RunningProxy],
) -> None:
    oauth, private_key, proxy = vertex

    first = proxy.openai().images.generate(model="imagen", prompt="An olympic size swimming pool", n=2)
    proxy.openai().images.generate(model="imagen", prompt="An olympic size swimming pool")

    assert len(first.data) == 2
    assert base64.b64decode(first.data[0].b64_json or "") == TINY_PNG
    assert len(oauth.requests) == 1  # the token is cached across requests
    assert private_key not in proxy.logs()


def test_vertex_streams_one_completed_event_per_image_through_the_proxy(
    vertex: tuple[FakeGoogleOAuth, str, RunningProxy],
) -> None:
    _, _, proxy = vertex

    events = list(proxy.openai().images.generate(model="imagen", prompt="otter", n=2, stream=True))

    assert [event.type for event in events] == ["image_generation.completed"] * 2
    assert events[-1].usage is not None


# -- Azure: edits and streams through its deployment routes, with the AzureOpenAI SDK ---------------------


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeAzureOpenAI, openai.AzureOpenAI]]:
    with FakeAzureOpenAI(api_keys=(AZURE_KEY,)) as fake:
        launcher = ProxyLauncher(tmp_path_factory.mktemp("proxy-azure"))
        deployment = {"model": "azure/gpt-image-1", "api_base": fake.url, "api_key": AZURE_KEY,
                      "api_version": "2025-04-01-preview"}  # fmt: skip
        proxy = launcher({"model_list": [{"model_name": "gpt-image-1", "litellm_params": deployment}],
                          "general_settings": {"master_key": MASTER_KEY}})  # fmt: skip
        yield (
            fake,
            openai.AzureOpenAI(
                azure_endpoint=proxy.url, api_key=MASTER_KEY, api_version="2025-04-01-preview", max_retries=0
            ),
        )
        launcher.close()


@pytest.fixture
def azure_client(azure: tuple[FakeAzureOpenAI, openai.AzureOpenAI]) -> openai.AzureOpenAI:
    fake, client = azure
    fake.requests.clear()
    fake.uploads.clear()
    return client


def test_azure_openai_sdk_edits_through_the_proxy_to_an_azure_deployment(
    azure: tuple[FakeAzureOpenAI, openai.AzureOpenAI], azure_client: openai.AzureOpenAI
) -> None:
    result = azure_client.images.edit(model="gpt-image-1", image=("a.png", IMAGE), prompt="Add a hat")

    fake, _ = azure
    assert base64.b64decode(result.data[0].b64_json or "") == TINY_PNG
    assert fake.requests[0].path == "/openai/deployments/gpt-image-1/images/edits"
    assert fake.uploads[0][1]["image"][0].data == IMAGE


def test_azure_openai_sdk_streams_an_edit_from_an_azure_deployment(azure_client: openai.AzureOpenAI) -> None:
    stream = azure_client.images.edit(
        model="gpt-image-1", image=("a.png", IMAGE), prompt="hat", stream=True, partial_images=2
    )

    assert [event.type for event in stream] == ["image_edit.partial_image"] * 2 + ["image_edit.completed"]


def test_azure_openai_sdk_streams_a_generation_from_an_azure_deployment(
    azure: tuple[FakeAzureOpenAI, openai.AzureOpenAI], azure_client: openai.AzureOpenAI
) -> None:
    stream = azure_client.images.generate(model="gpt-image-1", prompt="otter", stream=True, partial_images=1)

    assert [event.type for event in stream] == ["image_generation.partial_image", "image_generation.completed"]
    assert azure[0].requests[0].json()["stream"] is True


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


def test_bfl_urls_are_downloaded_when_the_client_asks_for_b64_json(start_proxy: ProxyLauncher) -> None:
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
        result = proxy.openai().images.generate(
            model="flux",
            prompt="A cute baby sea otter",
            response_format="b64_json",
            extra_body={"output_format": "png"},
        )
        (image,) = result.data
        assert image.url is None
        assert base64.b64decode(image.b64_json or "").startswith(b"\x89PNG")
        delivery = [r for r in fake.requests if r.path.startswith("/results/")]
        assert len(delivery) == 1
        assert "x-key" not in delivery[0].headers


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
