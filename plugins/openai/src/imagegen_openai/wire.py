"""OpenAI's Images API wire format, shared with every OpenAI-shaped provider (Azure, compatible servers)."""

from __future__ import annotations

from typing import Any

import httpx

from imagegen.params import parse_size, reject
from imagegen.provider import GenerationRequest
from imagegen.types import ImageResponse

from .models import gpt_image_2_size_problem


def request_body(request: GenerationRequest, *, include_model: bool = True) -> dict[str, Any]:
    """The JSON body of `POST /images/generations` for a checked request."""
    params = request.params
    family = request.spec.family if request.spec else ""
    if family == "gpt-image":
        params = {k: v for k, v in params.items() if k != "response_format"}  # always base64; not accepted
        size = params.get("size")
        if request.spec is not None and request.spec.params.get("size") is None and size not in (None, "auto"):
            _check_free_size(request, params)
    body = {"prompt": request.prompt, **params}
    if include_model:
        body = {"model": request.model, **body}
    return body


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
