"""Credentials: api-key header, Entra ID tokens, a token provider asked on every request,
DefaultAzureCredential through the `identity` extra, and a clear error when there are none."""

from __future__ import annotations

import re
import sys
import threading
import time
import types
from typing import Any, ClassVar

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


class StubCredential:
    """A stand-in for an azure-identity credential (not installed here): records how it was made and used."""

    made: ClassVar[list[tuple[str, tuple[Any, ...], dict[str, Any]]]]
    scopes: ClassVar[list[str]]
    threads: ClassVar[list[int]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.made.append((type(self).__name__, args, kwargs))

    def get_token(self, *scopes: str) -> Any:
        self.scopes.extend(scopes)
        self.threads.append(threading.get_ident())
        return types.SimpleNamespace(token=ENTRA_TOKEN, expires_on=int(time.time()) + 3600)


@pytest.fixture
def stub_azure_identity(monkeypatch: pytest.MonkeyPatch) -> type[StubCredential]:
    """azure.identity with stub credentials, the fixture's value recording their use."""
    module = types.ModuleType("azure.identity")
    for name in ("DefaultAzureCredential", "ClientSecretCredential", "UsernamePasswordCredential"):
        setattr(module, name, type(name, (StubCredential,), {}))
    monkeypatch.setitem(sys.modules, "azure.identity", module)
    for record in ("made", "scopes", "threads"):
        monkeypatch.setattr(StubCredential, record, [], raising=False)
    return StubCredential


def test_without_credentials_default_azure_credential_signs_in_for_cognitive_services(
    fake_azure: FakeAzureOpenAI, stub_azure_identity: type[StubCredential]
) -> None:
    generate(fake_azure)
    assert [made[0] for made in stub_azure_identity.made] == ["DefaultAzureCredential"]
    assert stub_azure_identity.scopes == ["https://cognitiveservices.azure.com/.default"]
    assert bearer(fake_azure.requests[0]) == ENTRA_TOKEN


# Signing in as a service principal or a user, with LiteLLM's settings

SERVICE_PRINCIPAL = {"tenant_id": "tenant-1", "client_id": "app-1", "client_secret": "sp-secret-7f3a"}
USER = {"client_id": "app-1", "azure_username": "otter@example.com", "azure_password": "user-password-9c2e"}


@pytest.mark.parametrize("deployment", ["dall-e-3", "my-unnamed-deployment"])
def test_a_service_principal_signs_in_with_client_secret_credential_and_its_settings_stay_out_of_the_body(
    fake_azure: FakeAzureOpenAI, stub_azure_identity: type[StubCredential], deployment: str
) -> None:
    fake_azure.deployments.setdefault(deployment, "dall-e-3")  # a name that does not say the model: unvalidated
    imagegen.image_generation(
        "otter", model=f"azure/{deployment}", api_base=fake_azure.url, api_version=API_VERSION, **SERVICE_PRINCIPAL
    )
    assert ("ClientSecretCredential", ("tenant-1", "app-1", "sp-secret-7f3a"), {}) in stub_azure_identity.made
    assert stub_azure_identity.scopes == ["https://cognitiveservices.azure.com/.default"]
    request = fake_azure.requests[0]
    assert bearer(request) == ENTRA_TOKEN
    assert not set(request.json()) & {*SERVICE_PRINCIPAL, *USER}


def test_a_user_signs_in_with_username_password_credential(
    fake_azure: FakeAzureOpenAI, stub_azure_identity: type[StubCredential]
) -> None:
    generate(fake_azure, **USER)
    assert (
        "UsernamePasswordCredential", ("app-1", "otter@example.com", "user-password-9c2e"), {}
    ) in stub_azure_identity.made  # fmt: skip
    assert not set(fake_azure.requests[0].json()) & {*SERVICE_PRINCIPAL, *USER}


def test_sign_in_settings_without_azure_identity_name_the_extra_to_install(
    fake_azure: FakeAzureOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # azure-identity not installed
    with pytest.raises(imagegen.AuthenticationError, match=re.escape("pip install imagegen-azure[identity]")) as caught:
        generate(fake_azure, **SERVICE_PRINCIPAL)
    assert "sp-secret-7f3a" not in repr(caught.value)
    assert fake_azure.requests == []


def test_incomplete_sign_in_settings_say_which_are_needed(
    fake_azure: FakeAzureOpenAI, stub_azure_identity: type[StubCredential]
) -> None:
    with pytest.raises(imagegen.AuthenticationError, match="tenant_id, client_id and client_secret"):
        generate(fake_azure, client_id="app-1", client_secret="sp-secret-7f3a")
    assert fake_azure.requests == []


def test_a_client_secret_quoted_by_a_failing_sign_in_never_shows_in_the_error(
    fake_azure: FakeAzureOpenAI, stub_azure_identity: type[StubCredential], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: StubCredential, *scopes: str) -> Any:
        raise RuntimeError(f"AADSTS7000215: Invalid client secret provided: {SERVICE_PRINCIPAL['client_secret']}")

    monkeypatch.setattr(StubCredential, "get_token", refuse)
    with pytest.raises(imagegen.AuthenticationError, match="AADSTS7000215") as caught:
        generate(fake_azure, **SERVICE_PRINCIPAL)
    assert SERVICE_PRINCIPAL["client_secret"] not in str(caught.value) + repr(caught.value)


@pytest.mark.anyio
async def test_a_cached_entra_token_is_reused_and_fetched_off_the_event_loop(
    fake_azure: FakeAzureOpenAI, stub_azure_identity: type[StubCredential]
) -> None:
    kwargs = {"api_base": fake_azure.url, "api_version": API_VERSION, **SERVICE_PRINCIPAL, "client_id": "app-cached"}
    for _ in range(2):
        await imagegen.aimage_generation("otter", model="azure/dall-e-3", **kwargs)
    assert len(stub_azure_identity.threads) == 1  # the second call used the cached token
    assert stub_azure_identity.threads != [threading.get_ident()]
