"""BlockingCredentialAuth: blocking credential work never runs on the event loop."""

from __future__ import annotations

import threading

import httpx
import pytest

from imagegen.auth import BlockingCredentialAuth


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
