"""A provider answering in-process through `ProviderRequest.transport` (an `httpx.MockTransport`):
for testing the core's own-transport contract without any socket."""

from __future__ import annotations

import json
from typing import Any

import httpx

from imagegen import hookimpl
from imagegen.plugins import PluginEntry, _load_provider
from imagegen.provider import ANY, GenerationRequest, ModelSpec, ProviderInfo, ProviderRequest
from imagegen.sse import ServerSentEvent
from imagegen.testing import TINY_PNG_B64
from imagegen.types import CompletedImageEvent, ImageResponse, ImageStreamEvent

PREFIX = "inproc"
received: list[httpx.Request] = []
failures: list[int] = []
"""Statuses to answer with first (one per request), before answering with an image."""


def _answer(request: httpx.Request) -> httpx.Response:
    received.append(request)
    if failures:
        return httpx.Response(failures.pop(0), json={"error": {"message": "try again"}})
    body = json.loads(request.content)
    if body.get("stream"):
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=_EVENTS)
    return httpx.Response(200, json={"created": 1, "data": [{"b64_json": TINY_PNG_B64}] * body.get("n", 1)})


_COMPLETED = {"type": "image_generation.completed", "b64_json": TINY_PNG_B64, "created_at": 1, "size": "auto",
              "quality": "auto", "background": "auto", "output_format": "png"}  # fmt: skip
_EVENTS = f"event: image_generation.completed\ndata: {json.dumps(_COMPLETED)}\n\n".encode()
TRANSPORT = httpx.MockTransport(_answer)


class SyncOnly(httpx.BaseTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return _answer(request)


SYNC_ONLY = SyncOnly()


@hookimpl
def provider_info() -> ProviderInfo:
    streamer = ModelSpec("streamer-1", {"n": ANY}, max_images_per_call=1, streams=True)  # one upstream stream per image
    return ProviderInfo(name="In-process", models=(ModelSpec("local-1", {"n": ANY, "sync_only": ANY}), streamer))


@hookimpl
def map_params(request: GenerationRequest) -> dict[str, Any]:
    return {"prompt": request.prompt, "n": request.params.get("n", 1), "stream": request.stream}


@hookimpl
def build_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    transport = SYNC_ONLY if request.params.get("sync_only") else TRANSPORT
    return ProviderRequest(
        url="http://inproc.invalid/generate", json=body, transport=transport, event_stream=request.stream
    )


@hookimpl
def parse_response(request: GenerationRequest, response: httpx.Response) -> ImageResponse:
    return ImageResponse.model_validate(response.json())


@hookimpl
def parse_event(request: GenerationRequest, event: ServerSentEvent) -> ImageStreamEvent | None:
    return CompletedImageEvent.model_validate_json(event.data)


def install() -> PluginEntry:
    """This module as the `inproc` provider, loaded through the core's own plugin loading."""
    entry = PluginEntry(prefix=PREFIX, module=__name__, distribution="imagegen-inproc", version="0")
    entry.provider = _load_provider(entry)
    return entry
