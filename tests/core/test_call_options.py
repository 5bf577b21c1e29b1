"""The rest of the seed's SDK signature: `custom_llm_provider`, `api_type`, `extra_headers`, `metadata`
and `mock_response`, on every operation, sync and async."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

import imagegen
from imagegen import transport
from imagegen.images import sniff
from imagegen.testing import TINY_PNG, png_image
from tests.fakes.openai_fake import FakeOpenAI

API_KEY = "sk-test-key-1234"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(API_KEY,)) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "INITIAL_BACKOFF", 0.001)


# -- custom_llm_provider ---------------------------------------------------------------------------


# The fake OpenAI knows only OpenAI's models: an OpenAI-compatible server's model is sent, then refused.


def test_custom_llm_provider_routes_a_model_name_no_plugin_declares(fake: FakeOpenAI) -> None:
    with pytest.raises(imagegen.NotFoundError) as caught:
        imagegen.image_generation(
            "otter", model="my-sdxl", custom_llm_provider="openai", api_base=fake.api_base, api_key=API_KEY
        )
    assert (caught.value.provider, caught.value.model) == ("openai", "my-sdxl")
    assert fake.requests[0].json()["model"] == "my-sdxl"


def test_custom_llm_provider_keeps_a_slash_in_the_model_name(fake: FakeOpenAI) -> None:
    with pytest.raises(imagegen.NotFoundError):
        imagegen.image_generation(
            "otter", model="stability/sdxl", custom_llm_provider="openai", api_base=fake.api_base, api_key=API_KEY
        )
    assert fake.requests[0].json()["model"] == "stability/sdxl"


def test_custom_llm_provider_matching_the_prefix_is_the_prefix(fake: FakeOpenAI) -> None:
    response = imagegen.image_generation(
        "otter", model="openai/dall-e-2", custom_llm_provider="openai", api_base=fake.api_base, api_key=API_KEY
    )
    assert response.model == "dall-e-2"


def test_custom_llm_provider_of_an_uninstalled_plugin_says_what_to_install() -> None:
    with pytest.raises(imagegen.PluginError, match="imagegen-nowhere"):
        imagegen.image_generation("otter", model="x", custom_llm_provider="nowhere")


@pytest.mark.anyio
async def test_custom_llm_provider_on_an_async_edit(fake: FakeOpenAI) -> None:
    response = await imagegen.aimage_edit(
        png_image(64, 64), "hat", model="gpt-image-1", custom_llm_provider="openai", api_base=fake.api_base,
        api_key=API_KEY,
    )  # fmt: skip
    assert response.provider == "openai"


# -- api_type ----------------------------------------------------------------------------------------


def test_api_type_where_it_means_nothing_is_ignored_with_a_warning(fake: FakeOpenAI) -> None:
    response = imagegen.image_generation(
        "otter", model="dall-e-2", api_type="azure", api_base=fake.api_base, api_key=API_KEY
    )
    assert response.data
    assert "api_type" not in fake.requests[0].json()
    assert any("api_type" in warning for warning in response.warnings)


# -- extra_headers -----------------------------------------------------------------------------------


def test_extra_headers_are_sent_on_every_attempt(fake: FakeOpenAI) -> None:
    fake.fail_next("rate_limit")
    imagegen.image_generation(
        "otter", model="dall-e-2", api_base=fake.api_base, api_key=API_KEY, extra_headers={"X-Trace": "abc-123"}
    )
    assert [request.headers["x-trace"] for request in fake.requests] == ["abc-123", "abc-123"]


def test_extra_headers_never_replace_the_plugins_credentials(fake: FakeOpenAI) -> None:
    response = imagegen.image_generation(
        "otter", model="dall-e-2", api_base=fake.api_base, api_key=API_KEY,
        extra_headers={"Authorization": "Bearer stolen-0000", "Content-Type": "text/plain"},
    )  # fmt: skip
    sent = fake.requests[0].headers
    assert sent["authorization"] == f"Bearer {API_KEY}"
    assert sent["content-type"] == "application/json"
    assert any("'Authorization'" in warning for warning in response.warnings)
    assert all("stolen" not in warning for warning in response.warnings)


def test_extra_header_values_are_masked_in_errors(fake: FakeOpenAI) -> None:
    fake.fail_next("auth")
    with pytest.raises(imagegen.AuthenticationError) as caught:
        imagegen.image_generation(
            "otter", model="dall-e-2", api_base=fake.api_base, api_key=API_KEY, num_retries=0,
            extra_headers={"X-Gateway-Key": API_KEY + "-gw"},
        )  # fmt: skip
    assert API_KEY not in str(caught.value)


def test_extra_headers_must_be_strings() -> None:
    with pytest.raises(imagegen.BadRequestError, match="extra_headers"):
        imagegen.image_generation("otter", model="dall-e-2", api_key=API_KEY, extra_headers={"X-N": 1})


# -- metadata ----------------------------------------------------------------------------------------


def test_metadata_is_never_sent_upstream(fake: FakeOpenAI) -> None:
    imagegen.image_generation(
        "otter", model="dall-e-2", api_base=fake.api_base, api_key=API_KEY, metadata={"user_tag": "tag-xyz"}
    )
    assert b"tag-xyz" not in fake.requests[0].body
    assert "tag-xyz" not in str(fake.requests[0].headers)


# -- mock_response -----------------------------------------------------------------------------------


def test_mock_response_true_returns_real_pngs_of_the_requested_size_without_any_request() -> None:
    response = imagegen.image_generation("otter", model="dall-e-2", mock_response=True, n=2, size="256x256")
    assert len(response.data) == 2
    assert sniff(response.data[0].image_bytes())[:3] == ("png", 256, 256)  # type: ignore[index]
    assert response.cost == 0.0
    assert (response.provider, response.model) == ("openai", "dall-e-2")


def test_mock_response_needs_no_credentials_nor_network() -> None:
    response = imagegen.image_generation(
        "otter", model="gpt-image-1", mock_response=True, api_base="http://127.0.0.1:9"
    )
    assert response.data[0].b64_json


def test_mock_response_still_checks_the_parameters() -> None:
    with pytest.raises(imagegen.UnsupportedParamsError, match="style"):
        imagegen.image_generation("otter", model="dall-e-2", mock_response=True, style="vivid")


def test_mock_response_url_is_returned_as_litellm_does() -> None:
    response = imagegen.image_generation("otter", model="dall-e-3", mock_response="https://example.com/otter.png")
    assert response.data[0].url == "https://example.com/otter.png"


def test_mock_response_bytes_are_returned_as_the_image() -> None:
    response = imagegen.image_generation("otter", model="dall-e-3", mock_response=TINY_PNG)
    assert base64.b64decode(response.data[0].b64_json or "") == TINY_PNG


def test_mock_response_an_image_response_is_returned() -> None:
    mocked = imagegen.ImageResponse(data=[imagegen.Image(url="https://example.com/a.png", revised_prompt="a")])
    response = imagegen.image_generation("otter", model="dall-e-3", mock_response=mocked)
    assert response.data[0].revised_prompt == "a"


@pytest.mark.parametrize(
    "mocked",
    [
        "litellm.RateLimitError",
        "imagegen.RateLimitError",
        imagegen.RateLimitError,
        imagegen.RateLimitError("slow down", status_code=429),
    ],
    ids=["litellm name", "imagegen name", "class", "instance"],
)
def test_mock_response_raises_a_simulated_error(mocked: object) -> None:
    with pytest.raises(imagegen.RateLimitError) as caught:
        imagegen.image_generation("otter", model="dall-e-3", mock_response=mocked)
    assert caught.value.provider == "openai"


def test_mock_response_any_other_exception_is_an_internal_server_error_with_its_status() -> None:
    class Teapot(Exception):
        status_code = 503

    with pytest.raises(imagegen.ServiceUnavailableError, match="Teapot"):
        imagegen.image_generation("otter", model="dall-e-3", mock_response=Teapot("no tea"))


def test_mock_response_of_an_unknown_error_name_says_so() -> None:
    with pytest.raises(imagegen.BadRequestError, match="unknown error 'NoSuchError'"):
        imagegen.image_generation("otter", model="dall-e-3", mock_response="litellm.NoSuchError")


def test_mock_response_of_an_unusable_value_says_what_to_pass() -> None:
    with pytest.raises(imagegen.BadRequestError, match="pass True, image bytes"):
        imagegen.image_generation("otter", model="dall-e-3", mock_response=42)


@pytest.mark.anyio
async def test_mock_response_on_every_async_operation() -> None:
    image = png_image(64, 64)
    assert (await imagegen.aimage_generation("otter", model="dall-e-3", mock_response=True)).data
    assert (await imagegen.aimage_edit(image, "hat", model="gpt-image-1", mock_response=True)).data
    assert (await imagegen.aimage_variation(image, model="dall-e-2", mock_response=True)).data


def test_mock_response_streams_one_completed_event_per_image() -> None:
    stream = imagegen.image_generation("otter", model="gpt-image-1", mock_response=True, stream=True, size="1024x1024")
    events = list(stream)
    assert [event.type for event in events] == ["image_generation.completed"]
    assert stream.response.cost == 0.0
