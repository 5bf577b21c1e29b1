"""BlockingCredentialAuth: blocking credential work never runs on the event loop."""

from __future__ import annotations

import threading

import httpx
import pytest

from imagegen.auth import BlockingCredentialAuth, is_provider_url


class TokenAuth(BlockingCredentialAuth[str]):
    def __init__(self, cached: str | None) -> None:
        self._cached = cached
        self.obtained_on: list[threading.Thread] = []

    def cached(self, request: httpx.Request) -> str | None:
        return self._cached

    def obtain(self, request: httpx.Request) -> str:
        self.obtained_on.append(threading.current_thread())
        return "fresh"

    def apply(self, request: httpx.Request, credential: str) -> None:
        request.headers["authorization"] = f"Bearer {credential}"


async def authorized(auth: TokenAuth) -> httpx.Request:
    flow = auth.async_auth_flow(httpx.Request("POST", "https://example.test"))
    return await flow.__anext__()


@pytest.mark.anyio
async def test_a_cached_credential_is_applied_without_obtaining() -> None:
    auth = TokenAuth(cached="kept")
    assert (await authorized(auth)).headers["authorization"] == "Bearer kept"
    assert auth.obtained_on == []


@pytest.mark.anyio
async def test_obtaining_runs_off_the_event_loop() -> None:
    auth = TokenAuth(cached=None)
    assert (await authorized(auth)).headers["authorization"] == "Bearer fresh"
    assert auth.obtained_on[0] is not threading.current_thread()


def test_the_sync_flow_obtains_on_the_callers_thread() -> None:
    auth = TokenAuth(cached="ignored")
    request = next(auth.sync_auth_flow(httpx.Request("POST", "https://example.test")))
    assert request.headers["authorization"] == "Bearer fresh"
    assert auth.obtained_on == [threading.current_thread()]


# --- which URLs may carry the provider's credentials -------------------------------------------------

BFL_DOMAINS = ("bfl.ai",)


@pytest.mark.parametrize(
    "url",
    ["https://api.bfl.ai/v1/get_result?id=1", "https://gateway.bfl.ai/v1/get_result", "https://bfl.ai/x"],
)
def test_https_urls_on_the_providers_domains_may_carry_credentials(url: str) -> None:
    assert is_provider_url(url, BFL_DOMAINS)


@pytest.mark.parametrize(
    "url",
    [
        "http://gateway.bfl.ai/v1/get_result",  # not over TLS
        "https://evilbfl.ai/v1/get_result",  # a look-alike, not a subdomain
        "https://bfl.ai.evil.example/v1/get_result",
        "https://bfldeliveryprod.blob.core.windows.net/results/x.png",  # the CDN: public, signed URLs
        "not a url",
    ],
)
def test_other_urls_never_carry_credentials(url: str) -> None:
    assert not is_provider_url(url, BFL_DOMAINS)


def test_the_configured_api_base_host_may_carry_credentials_on_any_port_over_its_scheme_or_https() -> None:
    assert is_provider_url("http://127.0.0.1:9001/poll", BFL_DOMAINS, api_base="http://127.0.0.1:8000/v1")
    assert is_provider_url("https://127.0.0.1:9001/poll", BFL_DOMAINS, api_base="http://127.0.0.1:8000/v1")
    assert not is_provider_url("http://localhost:9001/poll", BFL_DOMAINS, api_base="http://127.0.0.1:8000/v1")


@pytest.mark.parametrize(
    "url",
    [
        "http://proxy.example.com/v1/get_result",  # downgraded from the api_base's https: the key in clear text
        "ftp://proxy.example.com/v1/get_result",
        "ws://proxy.example.com/v1/get_result",
        "file://proxy.example.com/etc/passwd",
    ],
)
def test_the_api_base_host_over_another_scheme_never_carries_credentials(url: str) -> None:
    assert not is_provider_url(url, BFL_DOMAINS, api_base="https://proxy.example.com/v1")


@pytest.mark.parametrize("url", ["ftp://api.bfl.ai/x", "wss://api.bfl.ai/x", "HTTPS://api.bfl.ai/x"])
def test_only_https_on_the_providers_domains_carries_credentials(url: str) -> None:
    assert is_provider_url(url, BFL_DOMAINS) is url.lower().startswith("https://")
