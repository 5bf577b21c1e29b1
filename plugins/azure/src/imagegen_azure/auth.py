"""Azure credentials: an API key, a Microsoft Entra ID token, a token provider, or DefaultAzureCredential.

Credentials passed to the call win over the environment; with none at all, azure-identity's
DefaultAzureCredential (the `imagegen-azure[identity]` extra) signs in, imported only then.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import httpx

from imagegen.exceptions import AuthenticationError
from imagegen.provider import GenerationRequest

ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
API_KEY_ENV = ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY")
AD_TOKEN_ENV = ("AZURE_AD_TOKEN",)

TokenProvider = Callable[[], str | Awaitable[str]]


@dataclass
class Credentials:
    """How one call authenticates: fixed headers, or an `httpx.Auth` that fetches a token per attempt."""

    headers: dict[str, str] = field(default_factory=dict)
    auth: httpx.Auth | None = None
    secrets: list[str] = field(default_factory=list)


class EntraTokenAuth(httpx.Auth):
    """`Authorization: Bearer <token>`, asking the token provider on every attempt so a refreshed token is used.

    The async flow calls the provider on a worker thread (refreshing a token is network I/O); a
    provider that returns an awaitable (an `azure.identity.aio` one) is awaited on the event loop.
    Every token is added to `secrets`, the list errors are masked with.
    """

    def __init__(self, token_provider: TokenProvider, secrets: list[str], *, provider: str, model: str) -> None:
        self._token_provider = token_provider
        self._secrets = secrets
        self._provider = provider
        self._model = model

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._call_provider()
        if inspect.isawaitable(token):
            if inspect.iscoroutine(token):
                token.close()  # never awaited: close it to avoid a "never awaited" warning
            raise self._error("azure_ad_token_provider is async: call aimage_generation, or pass a sync token provider")
        yield self._authorize(request, token)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        import anyio.to_thread

        token = await anyio.to_thread.run_sync(self._call_provider)
        if inspect.isawaitable(token):
            token = await token
        yield self._authorize(request, token)

    def _call_provider(self) -> Any:
        try:
            return self._token_provider()
        except Exception as exc:  # azure-identity raises its own types; the caller wants ours
            raise self._error(f"the Azure AD token provider failed: {type(exc).__name__}: {exc}") from exc

    def _authorize(self, request: httpx.Request, token: object) -> httpx.Request:
        if not isinstance(token, str) or not token:
            raise self._error(f"azure_ad_token_provider must return the token as a str, got {type(token).__name__}")
        self._secrets.append(token)
        request.headers["authorization"] = f"Bearer {token}"
        return request

    def _error(self, message: str) -> AuthenticationError:
        return AuthenticationError(message, provider=self._provider, model=self._model, secrets=self._secrets)


def credentials(request: GenerationRequest) -> Credentials:
    """The credentials of a call: api_key, else azure_ad_token, else azure_ad_token_provider, else Entra sign-in."""
    settings = request.settings
    api_key = settings.get("api_key")
    token = settings.get("azure_ad_token")
    token_provider = settings.get("azure_ad_token_provider")
    if not (api_key or token or token_provider):  # nothing passed to the call: the environment's
        api_key = settings.get("api_key", *API_KEY_ENV)
        token = settings.get("azure_ad_token", *AD_TOKEN_ENV)
    if api_key:
        return Credentials(headers={"api-key": api_key}, secrets=[api_key])
    if token:
        return Credentials(headers={"authorization": f"Bearer {token}"}, secrets=[token])
    if token_provider is None:
        token_provider = _default_credential_token_provider(request)
    elif not callable(token_provider):
        raise AuthenticationError(
            f"azure_ad_token_provider must be a callable returning a token, got {type(token_provider).__name__}",
            provider=request.provider,
            model=request.model,
        )
    secrets: list[str] = []
    auth = EntraTokenAuth(token_provider, secrets, provider=request.provider, model=request.model)
    return Credentials(auth=auth, secrets=secrets)


def _default_credential_token_provider(request: GenerationRequest) -> TokenProvider:
    try:
        from azure.identity import (  # type: ignore[import-not-found, unused-ignore]
            DefaultAzureCredential,
            get_bearer_token_provider,
        )
    except ImportError:
        raise AuthenticationError(
            "no Azure credentials: pass api_key=... (or set AZURE_API_KEY), azure_ad_token=... (or set "
            "AZURE_AD_TOKEN) or azure_ad_token_provider=..., or install `imagegen-azure[identity]` to sign "
            "in with DefaultAzureCredential (managed identity, environment, Azure CLI)",
            provider=request.provider,
            model=request.model,
        ) from None
    return _token_provider(DefaultAzureCredential, get_bearer_token_provider)


@functools.cache
def _token_provider(credential_class: Any, bearer_token_provider: Any) -> TokenProvider:
    # One credential per process: it caches its token and refreshes it shortly before expiry.
    provider: TokenProvider = bearer_token_provider(credential_class(), ENTRA_SCOPE)
    return provider
