"""Credentials: api-key header, Entra ID tokens, a token provider asked on every request,
DefaultAzureCredential through the `identity` extra, and a clear error when there are none."""

from __future__ import annotations

import sys
import threading
import types
from typing import Any

import pytest

import imagegen
from imagegen.testing import FakeRequest, FakeResponse
from tests.fakes.azure_fake import FakeAzureOpenAI

from .conftest import API_KEY, API_VERSION, ENTRA_TOKEN


def generate(fake: FakeAzureOpenAI, **kwargs: Any) -> imagegen.ImageResponse:
    return imagegen.image_generation(
        "otter", model="azure/dall-e-3", api_base=fake.url, api_version=API_VERSION, **kwargs
    )


def test_the_api_key_is_sent_as_the_api_key_header(fake_azure: FakeAzureOpenAI) -> None:
    generate(fake_azure, api_key=API_KEY)
    headers = fake_azure.requests[0].headers
    assert headers["api-key"] == API_KEY
    assert "authorization" not in headers


def test_an_entra_token_is_sent_as_a_bearer_token(fake_azure: FakeAzureOpenAI) -> None:
    generate(fake_azure, azure_ad_token=ENTRA_TOKEN)
    headers = fake_azure.requests[0].headers
    assert headers["authorization"] == f"Bearer {ENTRA_TOKEN}"
    assert "api-key" not in headers


def test_an_entra_token_from_the_environment_is_used(
    fake_azure: FakeAzureOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_AD_TOKEN", ENTRA_TOKEN)
    generate(fake_azure)
    assert fake_azure.requests[0].headers["authorization"] == f"Bearer {ENTRA_TOKEN}"


def test_a_token_passed_to_the_call_wins_over_a_key_in_the_environment(
    fake_azure: FakeAzureOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_API_KEY", "some-other-key")
    generate(fake_azure, azure_ad_token=ENTRA_TOKEN)
    assert "api-key" not in fake_azure.requests[0].headers


def test_a_wrong_key_is_an_authentication_error(fake_azure: FakeAzureOpenAI) -> None:
    with pytest.raises(imagegen.AuthenticationError, match="invalid subscription key"):
        generate(fake_azure, api_key="wrong-key-0000")


class RotatingTokens:
    """A token provider handing out a fresh token on every call, as a refreshing credential does."""

    def __init__(self) -> None:
        self.calls = 0
        self.threads: list[int] = []

    def __call__(self) -> str:
        self.calls += 1
        self.threads.append(threading.get_ident())
        return f"entra-token-{self.calls}"


@pytest.fixture
def rotating() -> RotatingTokens:
    return RotatingTokens()


@pytest.fixture
def fake_with_rotating_tokens(fake_azure: FakeAzureOpenAI) -> FakeAzureOpenAI:
    fake_azure.tokens.update(f"entra-token-{i}" for i in range(1, 5))
    return fake_azure


def bearer(request: FakeRequest) -> str:
    return request.headers["authorization"].removeprefix("Bearer ")


def test_the_token_provider_is_asked_on_every_request(
    fake_with_rotating_tokens: FakeAzureOpenAI, rotating: RotatingTokens
) -> None:
    generate(fake_with_rotating_tokens, azure_ad_token_provider=rotating)
    generate(fake_with_rotating_tokens, azure_ad_token_provider=rotating)
    assert [bearer(r) for r in fake_with_rotating_tokens.requests] == ["entra-token-1", "entra-token-2"]


def test_a_retry_asks_the_token_provider_again(
    fake_with_rotating_tokens: FakeAzureOpenAI, rotating: RotatingTokens
) -> None:
    fake_with_rotating_tokens.fail_next("rate_limit")
    generate(fake_with_rotating_tokens, azure_ad_token_provider=rotating, num_retries=1)
    assert [bearer(r) for r in fake_with_rotating_tokens.requests] == ["entra-token-1", "entra-token-2"]


@pytest.mark.anyio
async def test_the_async_path_calls_the_token_provider_off_the_event_loop(
    fake_with_rotating_tokens: FakeAzureOpenAI, rotating: RotatingTokens
) -> None:
    await imagegen.aimage_generation(
        "otter", model="azure/dall-e-3", api_base=fake_with_rotating_tokens.url, api_version=API_VERSION,
        azure_ad_token_provider=rotating,
    )  # fmt: skip
    assert rotating.threads != [threading.get_ident()]
    assert bearer(fake_with_rotating_tokens.requests[0]) == "entra-token-1"


@pytest.mark.anyio
async def test_an_async_token_provider_is_awaited(fake_azure: FakeAzureOpenAI) -> None:
    async def token_provider() -> str:
        return ENTRA_TOKEN

    response = await imagegen.aimage_generation(
        "otter", model="azure/dall-e-3", api_base=fake_azure.url, api_version=API_VERSION,
        azure_ad_token_provider=token_provider,
    )  # fmt: skip
    assert response.data


def test_an_async_token_provider_on_the_sync_path_is_a_clear_error(fake_azure: FakeAzureOpenAI) -> None:
    async def token_provider() -> str:
        return ENTRA_TOKEN

    with pytest.raises(imagegen.AuthenticationError, match="aimage_generation"):
        generate(fake_azure, azure_ad_token_provider=token_provider)
    assert fake_azure.requests == []


def test_a_failing_token_provider_is_an_authentication_error(fake_azure: FakeAzureOpenAI) -> None:
    def token_provider() -> str:
        raise RuntimeError("the managed identity endpoint is unreachable")

    with pytest.raises(imagegen.AuthenticationError, match="managed identity endpoint is unreachable"):
        generate(fake_azure, azure_ad_token_provider=token_provider)


def test_a_token_provider_that_is_not_callable_is_a_clear_error(fake_azure: FakeAzureOpenAI) -> None:
    with pytest.raises(imagegen.AuthenticationError, match="must be a callable"):
        generate(fake_azure, azure_ad_token_provider=ENTRA_TOKEN)


class EchoingGateway(FakeAzureOpenAI):
    """A gateway in front of Azure that quotes the credential it refused."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__()
        self.status, self.code = status, code

    def handle(self, request: FakeRequest) -> FakeResponse:
        credential = request.headers.get("authorization") or request.headers["api-key"]
        return FakeResponse(self.status, {"error": {"code": self.code, "message": f"refused {credential}"}})


ANSWERS = [(401, "401"), (404, "DeploymentNotFound"), (400, "contentFilter")]


@pytest.mark.parametrize(("status", "code"), ANSWERS)
def test_a_token_from_the_provider_never_shows_in_an_error(status: int, code: str) -> None:
    with EchoingGateway(status, code) as gateway, pytest.raises(imagegen.ImageGenError) as caught:
        generate(gateway, azure_ad_token_provider=lambda: ENTRA_TOKEN)
    assert "refused Bearer ***" in str(caught.value)
    assert ENTRA_TOKEN not in repr(caught.value)


@pytest.mark.parametrize(("status", "code"), ANSWERS)
def test_a_key_from_the_environment_never_shows_in_an_error(
    monkeypatch: pytest.MonkeyPatch, status: int, code: str
) -> None:
    monkeypatch.setenv("AZURE_API_KEY", API_KEY)
    with EchoingGateway(status, code) as gateway, pytest.raises(imagegen.ImageGenError) as caught:
        generate(gateway)
    assert "refused ***" in str(caught.value)
    assert API_KEY not in repr(caught.value)


def test_without_credentials_or_azure_identity_the_error_says_what_to_pass(
    fake_azure: FakeAzureOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # azure-identity not installed
    with pytest.raises(imagegen.AuthenticationError) as caught:
        generate(fake_azure)
    message = str(caught.value)
    for hint in ("api_key", "AZURE_API_KEY", "azure_ad_token", "AZURE_AD_TOKEN", "azure_ad_token_provider"):
        assert hint in message
    assert "imagegen-azure[identity]" in message
    assert fake_azure.requests == []


@pytest.fixture
def stub_azure_identity(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A stand-in for azure-identity (not installed here): records the scopes it is asked for."""
    scopes: list[str] = []

    class DefaultAzureCredential:
        pass

    def get_bearer_token_provider(credential: Any, *requested: str) -> Any:
        assert isinstance(credential, DefaultAzureCredential)
        scopes.extend(requested)
        return lambda: ENTRA_TOKEN

    module = types.ModuleType("azure.identity")
    module.DefaultAzureCredential = DefaultAzureCredential  # type: ignore[attr-defined]
    module.get_bearer_token_provider = get_bearer_token_provider  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.identity", module)
    return scopes


def test_without_credentials_default_azure_credential_signs_in_for_cognitive_services(
    fake_azure: FakeAzureOpenAI, stub_azure_identity: list[str]
) -> None:
    generate(fake_azure)
    assert stub_azure_identity == ["https://cognitiveservices.azure.com/.default"]
    assert bearer(fake_azure.requests[0]) == ENTRA_TOKEN
