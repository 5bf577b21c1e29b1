"""Credentials that may block to obtain (a key file, a token exchange, STS), applied to every attempt.

A plugin's `httpx.Auth` subclasses `BlockingCredentialAuth` and says three things: the credential it
can hand out without I/O (`cached`), how to obtain one when it can't (`obtain`, may block), and how
to put it on a request (`apply`). The sync flow obtains on the caller's thread; the async flow never
blocks the event loop: a cached credential is applied on the loop, anything else is obtained on a
worker thread. Every retry runs the flow again, so a signature or token is fresh each time.

`required_api_key` reads a plugin's API key or says how to give one.

A URL taken from a provider's answer (a job's polling URL, a result's URL) may point anywhere:
`is_provider_url` says whether it may carry the provider's credentials, `answered_url_request` builds the
request to it (credentials only then), and `refused_without_credentials` explains the refusal of a URL that
therefore got none.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection, Generator, Mapping
from typing import TYPE_CHECKING, Generic, TypeVar
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from .exceptions import ImageGenError
    from .provider import GenerationRequest, ProviderRequest

Credential = TypeVar("Credential")


class BlockingCredentialAuth(httpx.Auth, Generic[Credential]):
    """An `httpx.Auth` whose credential may take blocking I/O to obtain (see the module docstring)."""

    def cached(self, request: httpx.Request) -> Credential | None:
        """A credential ready without I/O, or None when `obtain` must run."""
        return None

    def obtain(self, request: httpx.Request) -> Credential:
        """Obtain (load, exchange, refresh) a credential; may block. Raise `AuthenticationError` on failure."""
        raise NotImplementedError

    def apply(self, request: httpx.Request, credential: Credential) -> None:
        """Put `credential` on `request` (sign it, add a header, fill in its URL)."""
        raise NotImplementedError

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.apply(request, self.obtain(request))
        yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        credential = self.cached(request)
        if credential is None:
            import anyio.to_thread

            credential = await anyio.to_thread.run_sync(self.obtain, request)
        self.apply(request, credential)
        yield request


def required_api_key(request: GenerationRequest, provider_name: str, *env_names: str) -> str:
    """The call's `api_key`, else the first of `env_names` set; raises AuthenticationError naming both
    when there is none, before anything is sent."""
    from .exceptions import AuthenticationError

    key: str | None = request.settings.get("api_key", *env_names)
    if not key:
        raise AuthenticationError(
            f"no {provider_name} API key: pass api_key=... or set the {env_names[0]} environment variable",
            provider=request.provider,
            model=request.model,
        )
    return key


def is_provider_url(url: str, domains: Collection[str], api_base: str | None = None) -> bool:
    """Whether `url` may carry the provider's credentials: an https URL on one of the provider's documented
    `domains` (or a subdomain of one), or a URL on the host of the `api_base` the caller configured, over
    that api_base's scheme or https (never downgraded to plain http; any port: a provider may poll on
    another port of its own host).

    Anything else (a host an answer named, a CDN, another scheme) is fetched without credentials: a
    long-lived key must never reach a host the provider does not run (vercel/ai VULN-11567), nor travel
    in clear text when the caller chose TLS.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        base = urlsplit(api_base) if api_base is not None else None
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if not host or scheme not in ("http", "https"):
        return False
    if base is not None and host == (base.hostname or "").lower():
        return scheme in ("https", base.scheme.lower())
    return scheme == "https" and any(host == domain or host.endswith(f".{domain}") for domain in domains)


def answered_url_request(
    url: str,
    *,
    method: str = "GET",
    credentials: Mapping[str, str],
    secrets: Collection[str],
    domains: Collection[str],
    api_base: str | None,
    headers: Mapping[str, str] | None = None,
) -> ProviderRequest:
    """A request to a URL taken from a provider's answer (a job's status, result or cancel URL): its
    `headers`, plus the `credentials` headers only when `is_provider_url` allows them."""
    from .provider import ProviderRequest

    trusted = is_provider_url(url, domains, api_base)
    return ProviderRequest(
        url=url,
        method=method,
        headers={**(headers or {}), **(credentials if trusted else {})},
        secrets=list(secrets),
    )


def refused_without_credentials(
    request: GenerationRequest, response: httpx.Response, domains: Collection[str], api_base: str | None
) -> ImageGenError | None:
    """For a 401 or 403 from a URL `is_provider_url` kept credentials from: the default error, saying why
    (a plugin's `parse_error` returns it). None for any other answer."""
    from .transport import error_from_response

    url = response.request.url
    if response.status_code not in (401, 403) or is_provider_url(str(url), domains, api_base):
        return None
    error = error_from_response(
        response, provider=request.provider, model=request.model, secrets=request.settings.secrets()
    )
    error.message += (
        f" ({url.host} is not one of the provider's domains ({', '.join(domains)}) nor the api_base's host, "
        "so imagegen sent it no credentials)"
    )
    return error.mask(())
