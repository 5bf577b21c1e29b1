"""Azure credentials: an API key, a Microsoft Entra ID token, a token provider, a service principal
or user (LiteLLM's `tenant_id`/`client_id`/`client_secret`, `azure_username`/`azure_password`), or
DefaultAzureCredential.

Credentials passed to the call win over the environment; with none at all, azure-identity's
DefaultAzureCredential signs in. azure-identity (the `imagegen-azure[identity]` extra) is imported
only when one of its credentials is needed.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import httpx

from imagegen.exceptions import AuthenticationError
from imagegen.provider import GenerationRequest

ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
API_KEY_ENV = ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY")
AD_TOKEN_ENV = ("AZURE_AD_TOKEN",)
SERVICE_PRINCIPAL_SETTINGS = ("tenant_id", "client_id", "client_secret")
USER_SETTINGS = ("client_id", "azure_username", "azure_password")
IDENTITY_SETTINGS = frozenset({*SERVICE_PRINCIPAL_SETTINGS, *USER_SETTINGS})
TOKEN_REFRESH_MARGIN = 300.0
"""Seconds before expiry at which a cached Entra token is fetched anew (azure-identity's own margin)."""

TokenProvider = Callable[[], str | Awaitable[str]]


@dataclass
class Credentials:
    """How one call authenticates: fixed headers, or an `httpx.Auth` that fetches a token per attempt."""

    headers: dict[str, str] = field(default_factory=dict)
    auth: httpx.Auth | None = None
    secrets: list[str] = field(default_factory=list)


class CredentialToken:
    """The Entra token of an azure-identity credential, cached until close to its expiry.

    Calling it fetches the token if needed (blocking: a network call); `cached()` never blocks,
    so the async path only goes to a worker thread when a token must be fetched.
    """

    def __init__(self, credential: Any) -> None:
        self._credential = credential
        self._token: Any = None  # azure.core.credentials.AccessToken
        self._lock = threading.Lock()

    def cached(self) -> str | None:
        token = self._token
        if token is None or token.expires_on - time.time() < TOKEN_REFRESH_MARGIN:
            return None
        return str(token.token)

    def __call__(self) -> str:
        with self._lock:  # one fetch at a time, however many calls are waiting for it
            cached = self.cached()
            if cached is not None:
                return cached
            self._token = self._credential.get_token(ENTRA_SCOPE)
            return str(self._token.token)


class EntraTokenAuth(httpx.Auth):
    """`Authorization: Bearer <token>`, asking the token provider on every attempt so a refreshed token is used.

    On the async path an async provider (an `azure.identity.aio` one) is awaited on the event loop;
    a plain callable may block, so it is called on a worker thread, unless it is a `CredentialToken`
    holding a fresh token. Every token is added to `secrets`, the list errors are masked with.
    """

    def __init__(self, token_provider: TokenProvider, secrets: list[str], *, provider: str, model: str) -> None:
        self._token_provider = token_provider
        self._is_async = _is_async_callable(token_provider)
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
        if isinstance(self._token_provider, CredentialToken):
            token: Any = self._token_provider.cached()
        else:
            token = None
        if token is None and self._is_async:
            token = self._call_provider()
        elif token is None:
            import anyio.to_thread

            token = await anyio.to_thread.run_sync(self._call_provider)
        if inspect.isawaitable(token):
            try:
                token = await token
            except Exception as exc:
                raise self._error(f"the Azure AD token provider failed: {type(exc).__name__}: {exc}") from exc
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


def _is_async_callable(function: object) -> bool:
    # A callable object with an `async def __call__` is async too.
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(type(function).__call__)


API_TYPES = ("azure", "azure_ad")


def credentials(request: GenerationRequest) -> Credentials:
    """The credentials of a call: api_key, else azure_ad_token, else azure_ad_token_provider, else a service
    principal or user (tenant_id/client_id/client_secret, azure_username/azure_password), else Entra sign-in.

    LiteLLM's `api_type` narrows the choice: `azure` signs in with the API key only, `azure_ad` with
    Microsoft Entra ID only (an API key, even in the environment, is then not used).
    """
    settings = request.settings
    api_type = settings.get("api_type")
    if api_type is not None and api_type not in API_TYPES:
        request.warnings.append(f"ignored api_type={api_type!r}: Azure's are azure (API key) and azure_ad (Entra ID)")
    elif api_type == "azure":
        return _key_credentials(request)
    api_key = None if api_type == "azure_ad" else settings.get("api_key")
    token = settings.get("azure_ad_token")
    token_provider = settings.get("azure_ad_token_provider")
    signs_in = any(name in settings for name in IDENTITY_SETTINGS)
    if not (api_key or token or token_provider or signs_in):  # nothing passed to the call: the environment's
        api_key = None if api_type == "azure_ad" else settings.get("api_key", *API_KEY_ENV)
        token = settings.get("azure_ad_token", *AD_TOKEN_ENV)
    if api_key:
        return Credentials(headers={"api-key": api_key}, secrets=[api_key])
    if token:
        return Credentials(headers={"authorization": f"Bearer {token}"}, secrets=[token])
    if token_provider is None:
        token_provider = _identity_token(request) if signs_in else _default_credential_token(request)
    elif not callable(token_provider):
        raise AuthenticationError(
            f"azure_ad_token_provider must be a callable returning a token, got {type(token_provider).__name__}",
            provider=request.provider,
            model=request.model,
        )
    secrets = settings.secrets()  # a client_secret or azure_password, then every token fetched
    auth = EntraTokenAuth(token_provider, secrets, provider=request.provider, model=request.model)
    return Credentials(auth=auth, secrets=secrets)


def _key_credentials(request: GenerationRequest) -> Credentials:
    api_key = request.settings.get("api_key", *API_KEY_ENV)
    if not api_key:
        raise AuthenticationError(
            "api_type='azure' signs in with an API key: pass api_key=... or set AZURE_API_KEY "
            "(or use api_type='azure_ad' for Microsoft Entra ID)",
            provider=request.provider,
            model=request.model,
        )
    return Credentials(headers={"api-key": api_key}, secrets=[api_key])


def _identity_token(request: GenerationRequest) -> CredentialToken:
    """A service principal's (ClientSecretCredential) or a user's (UsernamePasswordCredential) token."""
    settings = request.settings
    value = {name: settings.get(name) for name in IDENTITY_SETTINGS}
    if all(value[name] for name in SERVICE_PRINCIPAL_SETTINGS):
        identity = _azure_identity(request, "tenant_id, client_id and client_secret")
        return _credential_token(
            identity.ClientSecretCredential, value["tenant_id"], value["client_id"], value["client_secret"]
        )
    if all(value[name] for name in USER_SETTINGS):
        identity = _azure_identity(request, "azure_username and azure_password")
        tenant = {"tenant_id": value["tenant_id"]} if value["tenant_id"] else {}  # else "organizations"
        return _credential_token(
            identity.UsernamePasswordCredential, value["client_id"], value["azure_username"], value["azure_password"],
            **tenant,
        )  # fmt: skip
    given = ", ".join(sorted(name for name in IDENTITY_SETTINGS if value[name]))
    raise AuthenticationError(
        f"incomplete Azure sign-in settings (got {given}): pass tenant_id, client_id and client_secret for a "
        "service principal, or client_id, azure_username and azure_password for a user",
        provider=request.provider,
        model=request.model,
    )


def _default_credential_token(request: GenerationRequest) -> CredentialToken:
    try:
        from azure.identity import DefaultAzureCredential  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise AuthenticationError(
            "no Azure credentials: pass api_key=... (or set AZURE_API_KEY), azure_ad_token=... (or set "
            "AZURE_AD_TOKEN), azure_ad_token_provider=..., or tenant_id/client_id/client_secret; or "
            "`pip install imagegen-azure[identity]` to sign in with DefaultAzureCredential (managed identity, "
            "environment, Azure CLI)",
            provider=request.provider,
            model=request.model,
        ) from None
    return _credential_token(DefaultAzureCredential)


def _azure_identity(request: GenerationRequest, settings: str) -> Any:
    try:
        return importlib.import_module("azure.identity")
    except ImportError:
        raise AuthenticationError(
            f"signing in to Azure with {settings} needs azure-identity: `pip install imagegen-azure[identity]`",
            provider=request.provider,
            model=request.model,
        ) from None


@functools.lru_cache(maxsize=32)
def _credential_token(credential_class: Any, *args: str, **kwargs: str) -> CredentialToken:
    # One credential per identity: its token is cached and fetched again only close to its expiry.
    return CredentialToken(credential_class(*args, **kwargs))
