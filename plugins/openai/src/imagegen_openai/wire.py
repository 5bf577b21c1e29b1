"""OpenAI's Images API wire format, shared with every OpenAI-shaped provider (Azure, compatible servers).

    generation  POST /images/generations   JSON
    edit        POST /images/edits         multipart: image (one) or image[] (several), mask, fields
    variation   POST /images/variations    multipart: image, fields (no prompt)

A streamed answer (`stream: true`, GPT image models) is Server-Sent Events whose `data` is the event's
JSON with its `type`; an `error` object in a `data` line is a failure mid-stream.
"""

from __future__ import annotations

from typing import Any

import httpx

from imagegen import transport
from imagegen.images import ImageInput
from imagegen.params import parse_size, reject
from imagegen.provider import EDIT, GENERATION, VARIATION, GenerationRequest
from imagegen.sse import ServerSentEvent
from imagegen.types import CompletedImageEvent, ImageResponse, ImageStreamEvent, PartialImageEvent

from .models import COMPRESSED_FORMATS, TRANSPARENT_FORMATS, gpt_image_2_size_problem

PATHS = {GENERATION: "images/generations", EDIT: "images/edits", VARIATION: "images/variations"}


def request_body(request: GenerationRequest, *, include_model: bool = True) -> dict[str, Any]:
    """The body's fields for a checked request, whatever its operation (`files` adds an edit's images)."""
    params = request.params
    family = request.spec.family if request.spec else ""
    if family == "gpt-image":
        _check_output_format(request)
        params = {k: v for k, v in params.items() if k != "response_format"}  # always base64; not accepted
        size = params.get("size")
        spec_sizes = request.spec.params_for(request.operation).get("size") if request.spec else None
        if spec_sizes is None and size not in (None, "auto"):
            _check_free_size(request, params)
    body = {"prompt": request.prompt, **params} if request.prompt else dict(params)
    if request.stream and request.spec is not None and request.spec.streams:
        body["stream"] = True
        if request.partial_images is not None:
            body["partial_images"] = request.partial_images
    if include_model:
        body = {"model": request.model, **body}
    return body


def files(request: GenerationRequest) -> list[tuple[str, ImageInput]]:
    """An edit's or a variation's file parts: `image` for one image, `image[]` for several, then `mask`."""
    name = "image" if len(request.images) == 1 else "image[]"
    parts = [(name, image) for image in request.images]
    if request.mask is not None:
        parts.append(("mask", request.mask))
    return parts


def parse_event(request: GenerationRequest, event: ServerSentEvent) -> ImageStreamEvent | None:
    """One event of an OpenAI image stream (its `type` is inside `data`); an `error` object raises."""
    if event.data == "[DONE]" or not event.data:
        return None
    payload = event.json()
    if not isinstance(payload, dict):
        return None
    if "error" in payload:
        raise transport.error_from_body(
            payload, status=None, provider=request.provider, model=request.model, secrets=request.settings.secrets()
        )
    kind = str(payload.get("type", ""))
    if kind.endswith(".partial_image"):
        return PartialImageEvent.model_validate(payload)
    if kind.endswith(".completed"):
        return CompletedImageEvent.model_validate(payload)
    return None


def _check_output_format(request: GenerationRequest) -> None:
    """Refuse (or drop) what OpenAI refuses for the output format asked (PNG when none is): a compression
    level for a lossless format, a transparent background for JPEG."""
    params = request.params
    output_format = params.get("output_format", "png")
    if "output_compression" in params and output_format not in COMPRESSED_FORMATS:
        reason = (
            f"`output_compression` applies to JPEG and WEBP output only, and the output format is {output_format}: "
            "pass output_format='jpeg' or 'webp' with it"
        )
        reject(request, "output_compression", params["output_compression"], None, reason=reason)
    if params.get("background") == "transparent" and output_format not in TRANSPARENT_FORMATS:
        reason = f"a transparent background needs output_format 'png' or 'webp', not {output_format!r}"
        reject(request, "background", "transparent", None, reason=reason)


def _check_free_size(request: GenerationRequest, params: dict[str, Any]) -> None:
    size = params["size"]
    try:
        problem = gpt_image_2_size_problem(*parse_size(size))
    except ValueError as exc:
        problem = str(exc)
    if problem:
        reject(request, "size", size, "auto or WIDTHxHEIGHT", reason=f"size {size!r}: {problem}")
        params.pop("size")  # reached only under drop_params


def parse_images_response(response: httpx.Response) -> ImageResponse:
    """An OpenAI `ImagesResponse` body, parsed once (straight from bytes), extra fields kept."""
    return ImageResponse.model_validate_json(response.content)
