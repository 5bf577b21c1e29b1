"""OpenAI-shaped answers pass through the proxy as the upstream sent them: whole when small, streamed when large."""

from __future__ import annotations

import base64
import gc
import json
import os
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from imagegen import pricing
from imagegen.types import ImageResponse, Usage
from imagegen_proxy.relay import SMALL_BODY_BYTES, Answer, ImagesScan, StreamedBody
from imagegen_proxy.streams import CLIENT_GONE, ChargedBody
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import (
    MASTER_KEY,
    STARTUP_TIMEOUT,
    UPSTREAM_KEY,
    ProxyLauncher,
    RunningProxy,
    openai_deployment,
    recorded,
)

LARGE_IMAGE = os.urandom(2 * SMALL_BODY_BYTES)  # its base64 is well over the small-body limit (and a held head)
USAGE = {"input_tokens": 10, "input_tokens_details": {"image_tokens": 0, "text_tokens": 10}, "output_tokens": 272}


@pytest.fixture(scope="module")
def large_upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(UPSTREAM_KEY,), image=LARGE_IMAGE) as fake:
        yield fake


@pytest.fixture(scope="module")
def proxy(large_upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    launcher = ProxyLauncher(tmp_path_factory.mktemp("proxy"))
    config = {
        "model_list": [
            openai_deployment("gpt-image-1", large_upstream),
            openai_deployment("token-priced", large_upstream, model="gpt-image-1"),
            openai_deployment("dall-e-2", large_upstream),  # 10 images per upstream call: no fan-out
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    yield launcher(config)
    launcher.close()


def post(proxy: RunningProxy, body: dict[str, Any]) -> httpx.Response:
    return proxy.post_generation(body, api_key=MASTER_KEY)


def token_cost(usage: dict[str, Any]) -> float | None:
    return pricing.cost_of("openai", "gpt-image-1", {}, ImageResponse.model_validate({"data": [{}], "usage": usage}))


def test_a_large_answer_is_streamed_through_unchanged(proxy: RunningProxy) -> None:
    response = post(proxy, {"model": "gpt-image-1", "prompt": "otter"})

    assert response.status_code == 200
    body = response.json()
    assert base64.b64decode(body["data"][0]["b64_json"]) == LARGE_IMAGE
    assert body["usage"]["output_tokens"] == 272
    assert response.headers["x-imagegen-deployment"] == "gpt-image-1#1"
    assert response.headers["content-length"] == str(len(response.content))


def test_a_streamed_answer_priced_per_image_carries_its_cost_header_and_is_recorded(proxy: RunningProxy) -> None:
    response = post(proxy, {"model": "dall-e-2", "prompt": "otter", "n": 2, "response_format": "b64_json"})

    assert float(response.headers["x-imagegen-response-cost"]) == pytest.approx(2 * 0.02)  # known before the body
    row = recorded(proxy, "dall-e-2")
    assert row["images"] == 2
    assert row["status"] == 200
    assert row["spend"] == pytest.approx(2 * 0.02)  # dall-e-2 at 1024x1024, per image


def test_a_streamed_answer_is_priced_from_the_usage_at_its_end_and_has_no_cost_header(proxy: RunningProxy) -> None:
    response = post(proxy, {"model": "token-priced", "prompt": "otter"})

    assert "x-imagegen-response-cost" not in response.headers  # known only after the last byte
    assert recorded(proxy, "token-priced")["spend"] == pytest.approx(token_cost(USAGE))


def test_a_small_answer_is_the_upstreams_body_byte_for_byte(
    start_proxy: ProxyLauncher, fake_openai: FakeOpenAI
) -> None:
    proxy = start_proxy({"model_list": [openai_deployment("dall-e-3", fake_openai)]})

    response = proxy.post_generation({"model": "dall-e-3", "prompt": "otter", "response_format": "url"}, api_key=None)

    upstream_body = fake_openai.images_response("dall-e-3", 1, {"response_format": "url", "prompt": "otter"})
    assert response.json()["data"] == upstream_body["data"]
    assert response.json()["data"][0].get("b64_json", "absent") == "absent"  # no fields added, none re-encoded
    assert float(response.headers["x-imagegen-response-cost"]) == pytest.approx(0.04)


# -- a client leaving mid-stream is charged all the same ------------------------------------------------


class HeldOpenAI:
    """An OpenAI upstream whose large answer stops after `HEAD_BYTES` until `release()`, then ends or breaks off.

    The proxy starts streaming the head to its client, which can leave before the `usage` at the end.
    """

    HEAD_BYTES = SMALL_BODY_BYTES + 40_000

    def __init__(self, n: int, break_off: bool = False) -> None:
        image = {"b64_json": base64.b64encode(LARGE_IMAGE).decode(), "revised_prompt": "an otter"}
        self.body = images_body([image] * n)
        self.break_off = break_off
        self.requests: list[dict[str, Any]] = []
        self._released = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                fake.requests.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                if self.path != "/v1/images/generations" or self.headers["authorization"] != f"Bearer {UPSTREAM_KEY}":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(fake.body)))
                self.end_headers()
                self.wfile.write(fake.body[: fake.HEAD_BYTES])
                fake._released.wait(STARTUP_TIMEOUT)
                if fake.break_off:
                    self.close_connection = True  # the body's end never comes
                    return
                self.wfile.write(fake.body[fake.HEAD_BYTES :])

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def api_base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def release(self) -> None:
        self._released.set()

    def __enter__(self) -> HeldOpenAI:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


def leave_mid_stream(proxy: RunningProxy, upstream: HeldOpenAI, body: dict[str, Any]) -> None:
    """Read the first bytes of the answer, hang up, then let the upstream go on."""
    with proxy.http(MASTER_KEY) as client, client.stream("POST", "/v1/images/generations", json=body) as response:
        assert response.status_code == 200
        next(response.iter_raw())
    # A request after the hang-up: once answered, the proxy's loop has seen the first connection close.
    assert httpx.get(f"{proxy.url}/health/liveliness").status_code == 200
    upstream.release()


def held_proxy(start_proxy: ProxyLauncher, upstream: HeldOpenAI) -> RunningProxy:
    deployment = {"model_name": "held", "litellm_params": {"model": "openai/gpt-image-1", "api_base": upstream.api_base,
                                                           "api_key": UPSTREAM_KEY}}  # fmt: skip
    return start_proxy({"model_list": [deployment], "general_settings": {"master_key": MASTER_KEY}})


def test_a_client_leaving_before_the_usage_is_charged_from_the_usage_read_after_it_left(
    start_proxy: ProxyLauncher,
) -> None:
    with HeldOpenAI(n=2) as upstream:
        proxy = held_proxy(start_proxy, upstream)

        leave_mid_stream(proxy, upstream, {"model": "held", "prompt": "otter", "n": 2})
        row = recorded(proxy, "held")

    assert row["status"] == 499  # what the client got
    assert row["images"] == 2
    assert row["spend"] == pytest.approx(token_cost(USAGE))


def test_an_answer_whose_end_never_comes_is_charged_the_images_asked_for_at_the_per_image_price(
    start_proxy: ProxyLauncher,
) -> None:
    with HeldOpenAI(n=2, break_off=True) as upstream:
        proxy = held_proxy(start_proxy, upstream)

        leave_mid_stream(proxy, upstream, {"model": "held", "prompt": "otter", "n": 2, "quality": "low",
                                           "size": "1024x1024"})  # fmt: skip
        row = recorded(proxy, "held")

    assert row["images"] == 2  # asked for; only the first was seen
    assert row["spend"] == pytest.approx(2 * 0.011)  # gpt-image-1, low, 1024x1024


def test_an_estimate_without_a_quality_charges_the_highest_quality(start_proxy: ProxyLauncher) -> None:
    with HeldOpenAI(n=1, break_off=True) as upstream:
        proxy = held_proxy(start_proxy, upstream)

        leave_mid_stream(proxy, upstream, {"model": "held", "prompt": "otter", "size": "1024x1024"})
        row = recorded(proxy, "held")

    assert row["spend"] == pytest.approx(0.167)  # gpt-image-1, high, 1024x1024: a budget is never under-charged


# -- counting images while the body streams by -------------------------------------------------------


def images_body(images: list[dict[str, Any]], usage: dict[str, Any] | None = USAGE) -> bytes:
    return json.dumps({"created": 1, "data": images, "usage": usage}, separators=(",", ":")).encode()


def scanned(body: bytes, chunk_size: int) -> ImagesScan:
    scan = ImagesScan()
    for start in range(0, len(body), chunk_size):
        scan.feed(body[start : start + chunk_size])
    return scan


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 7, 11, 64, 1 << 20])
def test_images_are_counted_whatever_the_chunk_boundaries(chunk_size: int) -> None:
    body = images_body([{"b64_json": "QUJD" * 10, "revised_prompt": "an otter"} for _ in range(3)])

    scan = scanned(body, chunk_size)

    assert scan.images == 3
    assert scan.usage() is not None
    assert scan.usage().output_tokens == 272  # type: ignore[union-attr]


def test_url_images_are_counted_and_a_null_key_beside_them_is_not_counted_twice() -> None:
    body = images_body([{"url": "https://x/1.png", "b64_json": None}, {"url": "https://x/2.png", "b64_json": None}])

    assert scanned(body, 5).images == 2


def test_a_quoted_key_inside_a_prompt_is_not_an_image() -> None:
    body = images_body([{"b64_json": "QUJD", "revised_prompt": 'a sign reading "url": "b64_json":'}])

    assert scanned(body, 4).images == 1


def test_a_body_without_usage_has_none() -> None:
    assert scanned(images_body([{"b64_json": "QUJD"}], usage=None), 3).usage() is None


# -- memory held per request in flight ----------------------------------------------------------------


@pytest.mark.anyio
async def test_a_streamed_answer_lets_go_of_each_chunk_it_has_sent() -> None:
    async def rest() -> AsyncIterator[bytes]:
        yield b"]}"

    head = [b'{"data":[', b'{"b64_json":"QUJD"}']
    answer = Answer(list(head), 0, None, rest=rest())
    chunks = aiter(StreamedBody(None, answer, lambda *_: None))  # type: ignore[arg-type]  # no deployment needed to read

    assert await anext(chunks) == head[0]
    assert await anext(chunks) == head[1]
    assert answer.body == []  # a request in flight holds only the chunk being sent, not every one before it
    assert await anext(chunks) == b"]}"


class ClosedAtOnce(ChargedBody):
    """A body read whole, with nothing to drain, charge or release."""

    def _charge(self, usage: Usage | None) -> tuple[int, float | None]:
        return 1, 0.04

    def _usage(self) -> None:
        return None


@pytest.mark.anyio
async def test_a_closed_body_leaves_no_cycle_through_the_callback_that_records_it() -> None:
    recorded: list[int] = []

    def opened() -> ChargedBody:
        body: ChargedBody | None = None

        def finish(status: int, images: int, cost: float | None, usage: object) -> None:
            recorded.append(status if body is not None else 0)  # the proxy's callbacks hold their body so

        body = ClosedAtOnce(None, finish)
        body._whole = True
        return body

    body = opened()
    await body.close()
    freed = weakref.ref(body)
    gc.disable()  # freed by reference counting alone: thousands in flight cost the collector nothing
    try:
        del body
        assert freed() is None
    finally:
        gc.enable()
    assert recorded == [CLIENT_GONE]
