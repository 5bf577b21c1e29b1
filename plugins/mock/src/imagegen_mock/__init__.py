"""The mock provider: real images drawn locally from the prompt, deterministic, offline and free.

`mock/<any name>` generates, edits (over the input, inside the mask), makes variations and streams
partial images, in OpenAI's wire format, answered in-process (`server.MockTransport`): no key, no
network. Settings: `mock_latency_ms` (each request's delay), `mock_fail_rate` (0-1: the share of
requests answered with `mock_fail_status`, 500 by default) for testing retries and fallbacks.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from imagegen import hookimpl
from imagegen.exceptions import BadRequestError
from imagegen.params import check_resolved, parse_size, reject
from imagegen.provider import (
    ANY,
    EDIT,
    GENERATION,
    GenerationRequest,
    IntRange,
    ModelSpec,
    OperationSpec,
    ProviderInfo,
    ProviderRequest,
)
from imagegen.sse import ServerSentEvent
from imagegen.transport import error_from_body
from imagegen.types import CompletedImageEvent, ImageResponse, ImageStreamEvent, PartialImageEvent

from .server import TRANSPORT

IN_PROCESS_BASE = "http://mock.imagegen.invalid/v1"
PATHS = {GENERATION: "images/generations", EDIT: "images/edits", "variation": "images/variations"}
MAX_SIDE = 4096
_COMMON = {
    "n": IntRange(1, 10),
    "size": ANY,  # "auto" or any WIDTHxHEIGHT up to 4096 a side: checked in map_params
    "response_format": {"b64_json", "url"},
    "output_format": {"png", "jpeg", "webp"},
    "output_compression": IntRange(0, 100),
    "seed": IntRange(0, 2**31 - 1),
    "user": ANY,
}
_DRAWN = {**_COMMON, "quality": {"auto", "low", "medium", "high", "standard", "hd"},
          "background": {"auto", "transparent", "opaque"}, "moderation": {"auto", "low"}}  # fmt: skip
MODEL = ModelSpec(
    "mock-image-1",
    {**_DRAWN, "style": {"vivid", "natural"}},
    edit=OperationSpec(_DRAWN, max_images=16, mask=True, max_bytes=50 * 1024 * 1024, max_side=MAX_SIDE),
    variation=OperationSpec(_COMMON, prompt="none", max_bytes=50 * 1024 * 1024, max_side=MAX_SIDE),
    streams=True,
)
"""Every mock model: any name follows this one spec."""
SETTINGS = {"mock_latency_ms": "x-mock-latency-ms", "mock_fail_rate": "x-mock-fail-rate",
            "mock_fail_status": "x-mock-fail-status"}  # fmt: skip
INFO = ProviderInfo(
    name="Mock (local images)",
    models=(MODEL,),
    settings=frozenset(SETTINGS),
    pass_through_unknown_models=True,
    openai_shaped_responses=True,
)


@hookimpl
def provider_info() -> ProviderInfo:
    return INFO


@hookimpl
def map_params(request: GenerationRequest) -> dict[str, Any]:
    request.spec = MODEL  # any model name: the checks and the (zero) price of mock-image-1
    check_resolved(request, able=INFO.models)
    _check_size(request)
    body: dict[str, Any] = {"model": request.model, **request.params}
    if request.prompt:
        body["prompt"] = request.prompt
    if request.stream:
        body["stream"] = True
        body["partial_images"] = request.partial_images or 0
    return body


@hookimpl
def build_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    api_base = request.settings.get("api_base")
    url = f"{(api_base or IN_PROCESS_BASE).rstrip('/')}/{PATHS[request.operation]}"
    headers = {header: _setting(request, name) for name, header in SETTINGS.items() if name in request.settings}
    api_key = request.settings.get("api_key")
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    common: dict[str, Any] = {
        "url": url,
        "headers": headers,
        "secrets": [api_key] if api_key else [],
        "event_stream": bool(body.get("stream")),
        "transport": None if api_base else TRANSPORT,
    }
    if request.operation == GENERATION:
        return ProviderRequest(json=body, **common)
    name = "image" if len(request.images) == 1 else "image[]"
    files = [(name, image) for image in request.images]
    if request.mask is not None:
        files.append(("mask", request.mask))
    return ProviderRequest(form=body, files=files, **common)


@hookimpl
def parse_response(request: GenerationRequest, response: httpx.Response) -> ImageResponse:
    return ImageResponse.model_validate(response.json())


@hookimpl
def parse_event(request: GenerationRequest, event: ServerSentEvent) -> ImageStreamEvent | None:
    payload = json.loads(event.data)
    kind = str(payload.get("type", event.event or ""))
    if "error" in payload:
        raise error_from_body(payload, status=None, provider=request.provider, model=request.model, secrets=[])
    if kind.endswith(".partial_image"):
        return PartialImageEvent.model_validate(payload)
    if kind.endswith(".completed"):
        return CompletedImageEvent.model_validate(payload)
    return None


def _check_size(request: GenerationRequest) -> None:
    size = request.params.get("size")
    if size is None or size == "auto":
        return
    try:
        width, height = parse_size(str(size))
    except ValueError:
        width = height = 0
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        allowed = f"auto, or WIDTHxHEIGHT with each side from 1 to {MAX_SIDE}"
        reject(request, "size", size, None, reason=f"`size`={size!r} is not supported; allowed: {allowed}")


def _setting(request: GenerationRequest, name: str) -> str:
    value = request.settings.get(name)
    valid = {
        "mock_latency_ms": isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 600_000,
        "mock_fail_rate": isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1,
        "mock_fail_status": isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599,
    }[name]
    if not valid:
        allowed = {"mock_latency_ms": "milliseconds, 0 to 600000", "mock_fail_rate": "a share from 0 to 1",
                   "mock_fail_status": "an HTTP error status, 400 to 599"}[name]  # fmt: skip
        raise BadRequestError(f"`{name}`={value!r} is not valid; expected {allowed}", param=name)
    return str(value)
