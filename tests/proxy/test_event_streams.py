"""`stream: true` through the proxy: OpenAI's image events, relayed as they arrive, charged when they end."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from imagegen import pricing
from imagegen.testing import TINY_PNG, FakeResponse, png_image
from imagegen.types import ImageResponse
from imagegen_proxy.events import EventFramer, summarize
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import MASTER_KEY, UPSTREAM_KEY, RunningProxy, openai_deployment, recorded, serving

IMAGE = png_image(64, 64)
EVENT_DELAY = 0.2  # between the fake's events: long enough that buffering would show, short enough for a test
USAGE = {"input_tokens": 10, "input_tokens_details": {"image_tokens": 0, "text_tokens": 10}, "output_tokens": 272,
         "total_tokens": 282}  # fmt: skip


class TimedOpenAI(FakeOpenAI):
    """Notes when it finished sending each stream (its last event written and flushed); `cut_next_after`
    makes the next stream end after that many events, without its completed one."""

    def __init__(self) -> None:
        super().__init__(api_keys=(UPSTREAM_KEY,))
        self.finished_at: list[float] = []
        self.cut_next_after: int | None = None

    def streamed(self, operation: str, n: int, body: dict[str, Any]) -> FakeResponse:
        response = super().streamed(operation, n, body)
        events = response.body
        cut, self.cut_next_after = self.cut_next_after, None

        def timed() -> Iterator[bytes]:
            for index, event in enumerate(events):
                if index == cut:
                    return
                yield event
            self.finished_at.append(time.monotonic())

        response.body = timed()
        return response


@pytest.fixture(scope="module")
def upstream() -> Iterator[TimedOpenAI]:
    with TimedOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def proxy(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    config = {
        "model_list": [
            openai_deployment("gpt-image-1", upstream),
            openai_deployment("dall-e-3", upstream),
            openai_deployment("dall-e-2", upstream),
            openai_deployment("charged", upstream, model="gpt-image-1"),
            openai_deployment("disconnect", upstream, model="gpt-image-1"),
            openai_deployment("mid-stream-error", upstream, model="gpt-image-1"),
            openai_deployment("cut-off", upstream, model="gpt-image-1"),
            openai_deployment("falls-back", upstream, model="gpt-image-1"),
            openai_deployment("fallback", upstream, model="gpt-image-1"),
        ],
        "router_settings": {"num_retries": 0, "allowed_fails": 1000, "fallbacks": [{"falls-back": ["fallback"]}]},
        "general_settings": {"master_key": MASTER_KEY},
    }
    with serving(tmp_path_factory.mktemp("proxy"), config) as proxy:
        yield proxy


@pytest.fixture(autouse=True)
def _fresh_upstream(upstream: FakeOpenAI) -> Iterator[None]:
    upstream.requests.clear()
    upstream.event_delay = 0.0
    yield
    upstream.event_delay = 0.0
    upstream.cut_next_after = None


def token_cost(output_tokens: int) -> float | None:
    usage = {**USAGE, "output_tokens": output_tokens, "total_tokens": 10 + output_tokens}
    return pricing.cost_of("openai", "gpt-image-1", {}, ImageResponse.model_validate({"data": [{}], "usage": usage}))


# -- the openai SDK reads the proxy's streams unchanged -------------------------------------------------


def test_openai_sdk_streams_a_generation_partial_images_first(proxy: RunningProxy) -> None:
    stream = proxy.openai().images.generate(model="gpt-image-1", prompt="otter", stream=True, partial_images=2)

    events = list(stream)

    assert [event.type for event in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert [event.partial_image_index for event in events[:2]] == [0, 1]  # type: ignore[union-attr]
    assert base64.b64decode(events[-1].b64_json) == TINY_PNG
    assert events[-1].usage.output_tokens == 272  # type: ignore[union-attr]


def test_openai_sdk_streams_a_multipart_edit(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    stream = proxy.openai().images.edit(
        model="gpt-image-1", image=("a.png", IMAGE), prompt="hat", stream=True, partial_images=1
    )

    assert [event.type for event in stream] == ["image_edit.partial_image", "image_edit.completed"]
    assert upstream.uploads[-1][0]["stream"] == ["true"]


def test_a_json_edit_streams(proxy: RunningProxy) -> None:
    body = {"model": "gpt-image-1", "prompt": "hat", "stream": True,
            "images": [{"image_url": "data:image/png;base64," + base64.b64encode(IMAGE).decode()}]}  # fmt: skip
    with proxy.http() as client, client.stream("POST", "/v1/images/edits", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()

    assert "event: image_edit.completed\n" in text


def test_the_upstreams_events_are_relayed_byte_for_byte(proxy: RunningProxy) -> None:
    with (
        proxy.http() as client,
        client.stream(
            "POST", "/v1/images/generations", json={"model": "gpt-image-1", "prompt": "otter", "stream": True}
        ) as response,
    ):
        text = response.read().decode()

    event, data = text.split("\n")[:2]
    assert event == "event: image_generation.completed"
    assert data.startswith(
        'data: {"type": "image_generation.completed", "b64_json": '
    )  # the fake's spacing: not re-encoded
    assert "content-length" not in response.headers
    assert response.headers["cache-control"] == "no-cache"


def test_each_event_reaches_the_client_before_the_upstream_has_finished(
    proxy: RunningProxy, upstream: TimedOpenAI
) -> None:
    upstream.event_delay = EVENT_DELAY
    arrived = []

    for _ in proxy.openai().images.generate(model="gpt-image-1", prompt="otter", stream=True, partial_images=2):
        arrived.append(time.monotonic())

    assert len(arrived) == 3
    assert arrived[0] < arrived[1] < upstream.finished_at[-1]  # not held back until the stream ended


def test_a_model_that_does_not_stream_sends_one_completed_event_per_image(proxy: RunningProxy) -> None:
    with proxy.http() as client, client.stream(
        "POST", "/v1/images/generations", json={"model": "dall-e-3", "prompt": "otter", "stream": True,
                                                 "response_format": "url"},
    ) as response:  # fmt: skip
        cost = response.headers.get("x-imagegen-response-cost")
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]

    assert [event["type"] for event in events] == ["image_generation.completed"]
    assert base64.b64decode(events[0]["b64_json"]) == TINY_PNG  # the URL result, downloaded
    assert float(cost or 0) == pytest.approx(0.04)  # known before the first event: the answer is whole


# -- errors ------------------------------------------------------------------------------------------------


def test_an_error_before_the_stream_is_an_ordinary_error_response(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    upstream.fail_next("rate_limit")

    with pytest.raises(openai.RateLimitError):
        proxy.openai().images.generate(model="gpt-image-1", prompt="otter", stream=True)


def test_an_error_mid_stream_is_an_error_event_the_sdk_raises_and_is_recorded(
    proxy: RunningProxy, upstream: FakeOpenAI
) -> None:
    upstream.fail_next("mid_stream_error")
    stream = proxy.openai().images.generate(model="mid-stream-error", prompt="otter", stream=True, partial_images=1)

    first = next(stream)
    with pytest.raises(openai.APIError, match="The server had an error"):
        next(stream)

    assert first.type == "image_generation.partial_image"
    row = recorded(proxy, "mid-stream-error")
    assert (row["status"], row["images"], row["operation"]) == (502, 0, "generation")


def test_a_stream_ending_before_its_completed_image_ends_with_an_error_event(
    proxy: RunningProxy, upstream: TimedOpenAI
) -> None:
    upstream.cut_next_after = 1
    stream = proxy.openai().images.generate(model="cut-off", prompt="otter", stream=True, partial_images=2)

    assert next(stream).type == "image_generation.partial_image"
    with pytest.raises(openai.APIError, match="ended before the image was completed"):
        next(stream)
    assert recorded(proxy, "cut-off")["status"] == 502


def test_a_stream_failing_before_its_first_event_falls_back(proxy: RunningProxy, upstream: TimedOpenAI) -> None:
    upstream.cut_next_after = 0  # answers 200, then ends without an event

    with (
        proxy.http() as client,
        client.stream(
            "POST", "/v1/images/generations", json={"model": "falls-back", "prompt": "otter", "stream": True}
        ) as response,
    ):
        text = response.read().decode()

    assert response.headers["x-imagegen-deployment"] == "fallback#1"
    assert "event: image_generation.completed" in text
    assert len(upstream.requests) == 2


def test_a_variation_cannot_be_streamed(proxy: RunningProxy) -> None:
    with proxy.http() as client:
        response = client.post(
            "/v1/images/variations", files=[("image", ("a.png", IMAGE))], data={"model": "dall-e-2", "stream": "true"}
        )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "stream"


# -- cost and spend ----------------------------------------------------------------------------------------


def test_a_finished_stream_is_charged_from_its_completed_events_usage(proxy: RunningProxy) -> None:
    stream = proxy.openai().images.generate(model="charged", prompt="otter", stream=True)

    list(stream)

    row = recorded(proxy, "charged")
    assert (row["status"], row["images"], row["operation"]) == (200, 1, "generation")
    assert row["spend"] == pytest.approx(token_cost(272))
    with proxy.http() as client:
        metrics = client.get("/metrics").text
    assert 'imagegen_proxy_time_to_first_event_seconds_count{model_group="charged"} 1.0' in metrics
    assert 'imagegen_proxy_requests_total{model_group="charged",status="200"} 1.0' in metrics  # counted once


def test_a_client_leaving_mid_stream_is_charged_for_what_the_upstream_made(
    proxy: RunningProxy, upstream: TimedOpenAI
) -> None:
    upstream.event_delay = EVENT_DELAY
    with proxy.openai().images.generate(model="disconnect", prompt="otter", stream=True, partial_images=2) as stream:
        assert next(stream).type == "image_generation.partial_image"
    # The client is gone; the proxy reads on to the completed event and its usage.

    row = recorded(proxy, "disconnect")

    assert (row["status"], row["images"]) == (499, 1)
    assert row["spend"] == pytest.approx(token_cost(272))


# -- framing ---------------------------------------------------------------------------------------------


STREAM = (
    b'event: image_generation.partial_image\ndata: {"type":"image_generation.partial_image","b64_json":"QUJD"}\n\n'
    b": keep-alive\n\n"
    b'event: image_generation.completed\r\ndata: {"type":"image_generation.completed","b64_json":"QUJD",'
    b'"usage":{"input_tokens":1,"output_tokens":2,"total_tokens":3}}\r\n\r\n'
    b'data: {"error":{"message":"boom","type":"server_error"}}\r\r'
)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 64, len(STREAM)])
def test_events_are_framed_whatever_the_chunk_boundaries(chunk_size: int) -> None:
    framer = EventFramer()
    events = [
        event
        for start in range(0, len(STREAM), chunk_size)
        for event in framer.feed(STREAM[start : start + chunk_size])
    ]

    assert b"".join(b"".join(event) for event in events) == STREAM  # every byte passed on, in order
    summaries = [summarize(event) for event in events]
    kinds = [summary.type for summary in summaries]
    assert kinds == ["image_generation.partial_image", None, "image_generation.completed", "error"]
    assert summaries[2].usage is not None
    assert summaries[2].usage.output_tokens == 2
    assert summaries[3].error == {"error": {"message": "boom", "type": "server_error"}}
    assert not framer.has_partial_event


def test_a_large_event_is_summarized_from_its_edges() -> None:
    image = base64.b64encode(b"\0" * 3_000_000)
    event = (b'event: image_edit.completed\ndata: {"type":"image_edit.completed","b64_json":"' + image
             + b'","usage":' + json.dumps(USAGE).encode() + b"}\n\n")  # fmt: skip
    framer = EventFramer()
    events = [found for start in range(0, len(event), 65536) for found in framer.feed(event[start : start + 65536])]

    [summary] = [summarize(found) for found in events]

    assert summary.completed
    assert summary.usage is not None
    assert summary.usage.output_tokens == 272


def test_an_event_without_its_blank_line_is_pending() -> None:
    framer = EventFramer()

    assert framer.feed(b'data: {"type":"image_generation.partial_image"}\n') == []
    assert framer.has_partial_event
