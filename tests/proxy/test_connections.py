"""The proxy's upstream pool (aiohttp under httpx's API): the core's sends, retries and errors work unchanged."""

from __future__ import annotations

import base64
import json
import os
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import imagegen
from imagegen import transport
from imagegen.provider import ProviderRequest
from imagegen.testing import FakeResponse
from imagegen_proxy.connections import AiohttpTransport
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import UPSTREAM_KEY, ProxyLauncher, openai_deployment

API_KEY = "sk-upstream-test-key-1234"
IMAGE = os.urandom(300_000)

pytestmark = pytest.mark.anyio


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(API_KEY,), image=IMAGE) as fake:
        yield fake


@pytest.fixture
async def aiohttp_pool() -> AsyncIterator[None]:
    client = transport.use_async_transport(AiohttpTransport())
    yield
    await client.aclose()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_generation_is_sent_through_the_pool(aiohttp_pool: None, upstream: FakeOpenAI) -> None:
    response = await imagegen.aimage_generation(
        "otter", model="openai/gpt-image-1", api_base=upstream.api_base, api_key=API_KEY
    )

    assert response.data[0].image_bytes() == IMAGE
    sent = upstream.requests[0]
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.json() == {"model": "gpt-image-1", "prompt": "otter"}


async def test_a_streamed_response_arrives_in_chunks_and_reads_whole(aiohttp_pool: None, upstream: FakeOpenAI) -> None:
    request = ProviderRequest(
        url=f"{upstream.api_base}/images/generations",
        json={"model": "gpt-image-1", "prompt": "otter"},
        headers={"authorization": f"Bearer {API_KEY}"},
    )
    response = await transport.asend(request, timeout=10, num_retries=0, provider="openai", model="m", stream=True)
    try:
        chunks = [chunk async for chunk in response.aiter_bytes()]
    finally:
        await response.aclose()

    assert len(chunks) > 1
    assert base64.b64decode(json.loads(b"".join(chunks))["data"][0]["b64_json"]) == IMAGE


async def test_a_rate_limited_request_is_retried(aiohttp_pool: None, upstream: FakeOpenAI) -> None:
    upstream.fail_next("rate_limit")

    response = await imagegen.aimage_generation(
        "otter", model="openai/gpt-image-1", api_base=upstream.api_base, api_key=API_KEY, num_retries=1
    )

    assert len(response.data) == 1
    assert len(upstream.requests) == 2


async def test_an_upstream_error_is_mapped_as_usual(aiohttp_pool: None, upstream: FakeOpenAI) -> None:
    upstream.fail_next("content_policy")

    with pytest.raises(imagegen.ContentPolicyViolationError):
        await imagegen.aimage_generation(
            "otter", model="openai/gpt-image-1", api_base=upstream.api_base, api_key=API_KEY, num_retries=0
        )


async def test_an_unreachable_upstream_is_a_connection_error(aiohttp_pool: None) -> None:
    with pytest.raises(imagegen.APIConnectionError, match="ConnectError"):
        await imagegen.aimage_generation(
            "otter", model="openai/gpt-image-1", api_base=f"http://127.0.0.1:{closed_port()}/v1", api_key=API_KEY,
            num_retries=0,
        )  # fmt: skip


async def test_an_upstream_that_never_answers_is_a_timeout(aiohttp_pool: None, silent_port: int) -> None:
    with pytest.raises(imagegen.Timeout):
        await imagegen.aimage_generation(
            "otter", model="openai/gpt-image-1", api_base=f"http://127.0.0.1:{silent_port}/v1", api_key=API_KEY,
            num_retries=0, timeout=0.2,
        )  # fmt: skip


class CookieSettingOpenAI(FakeOpenAI):
    """An upstream setting a cookie on every answer (a load balancer's affinity cookie, say)."""

    def generate(self, body: dict[str, Any]) -> FakeResponse:
        response = super().generate(body)
        response.headers["set-cookie"] = "session=first-caller; Path=/"
        return response


def test_an_upstream_cookie_never_rides_on_a_later_request(start_proxy: ProxyLauncher) -> None:
    with CookieSettingOpenAI(api_keys=(UPSTREAM_KEY,)) as upstream:
        proxy = start_proxy({"model_list": [openai_deployment("dall-e-2", upstream)]})

        statuses = [proxy.post_generation({"model": "dall-e-2", "prompt": "otter"}, api_key=None).status_code
                    for _ in range(2)]  # fmt: skip

    assert statuses == [200, 200]
    assert [request.headers.get("cookie") for request in upstream.requests] == [None, None]
