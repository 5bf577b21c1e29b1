"""OpenAI-shaped answers pass through the proxy as the upstream sent them: whole when small, streamed when large."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from imagegen import pricing
from imagegen.types import ImageResponse
from imagegen_proxy.relay import SMALL_BODY_BYTES, ImagesScan
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import UPSTREAM_KEY, ProxyLauncher, RunningProxy, openai_deployment

LARGE_IMAGE = os.urandom(SMALL_BODY_BYTES)  # its base64 is a third larger than the small-body limit
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
        "general_settings": {"master_key": "sk-master-streaming"},
    }
    yield launcher(config)
    launcher.close()


def post(proxy: RunningProxy, body: dict[str, Any]) -> httpx.Response:
    return proxy.post_generation(body, api_key="sk-master-streaming")


def recorded(proxy: RunningProxy, model_group: str) -> dict[str, Any]:
    """The spend log row of the one request to `model_group` (rows are written in batches, off the response path)."""
    deadline = time.monotonic() + 10
    with proxy.http("sk-master-streaming") as client:
        while True:
            rows = [row for row in client.get("/spend/logs").json() if row["model_group"] == model_group]
            if rows or time.monotonic() > deadline:
                [row] = rows
                return dict(row)
            time.sleep(0.05)


def test_a_large_answer_is_streamed_through_unchanged(proxy: RunningProxy) -> None:
    response = post(proxy, {"model": "gpt-image-1", "prompt": "otter"})

    assert response.status_code == 200
    body = response.json()
    assert base64.b64decode(body["data"][0]["b64_json"]) == LARGE_IMAGE
    assert body["usage"]["output_tokens"] == 272
    assert response.headers["x-imagegen-deployment"] == "gpt-image-1#1"
    assert response.headers["content-length"] == str(len(response.content))


def test_a_streamed_answer_has_no_cost_header_but_its_cost_and_images_are_recorded(proxy: RunningProxy) -> None:
    response = post(proxy, {"model": "dall-e-2", "prompt": "otter", "n": 2, "response_format": "b64_json"})

    assert "x-imagegen-response-cost" not in response.headers
    row = recorded(proxy, "dall-e-2")
    assert row["images"] == 2
    assert row["status"] == 200
    assert row["spend"] == pytest.approx(2 * 0.02)  # dall-e-2 at 1024x1024, per image


def test_a_streamed_answer_is_priced_from_the_usage_at_its_end(proxy: RunningProxy) -> None:
    post(proxy, {"model": "token-priced", "prompt": "otter"})

    priced = ImageResponse.model_validate({"data": [{}], "usage": USAGE})
    assert recorded(proxy, "token-priced")["spend"] == pytest.approx(
        pricing.cost_of("openai", "gpt-image-1", {}, priced)
    )


def test_a_small_answer_is_the_upstreams_body_byte_for_byte(
    start_proxy: ProxyLauncher, fake_openai: FakeOpenAI
) -> None:
    proxy = start_proxy({"model_list": [openai_deployment("dall-e-3", fake_openai)]})

    response = proxy.post_generation({"model": "dall-e-3", "prompt": "otter", "response_format": "url"}, api_key=None)

    upstream_body = fake_openai.images_response("dall-e-3", 1, {"response_format": "url", "prompt": "otter"})
    assert response.json()["data"] == upstream_body["data"]
    assert response.json()["data"][0].get("b64_json", "absent") == "absent"  # no fields added, none re-encoded
    assert float(response.headers["x-imagegen-response-cost"]) == pytest.approx(0.04)


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
