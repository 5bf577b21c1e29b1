"""The Stability AI provider (`stability/`): the v2beta REST API, multipart requests, base64 JSON answers.

    POST {api_base}/v2beta/stable-image/{generate/ultra | generate/core | generate/sd3 | edit/… | control/… |
         upscale/…}     multipart/form-data, `Authorization: Bearer`, `Accept: application/json`
    → {"image": "<base64>", "finish_reason": "SUCCESS" | "CONTENT_FILTERED", "seed": …}
    creative upscale → {"id"}, then GET {api_base}/v2beta/results/{id} with `Accept: image/*`: 202 while it
    runs, 200 with the image's bytes (its `finish-reason` and `seed` in headers)

Masks arrive in OpenAI's convention and go as Stability's (white = edit). `CONTENT_FILTERED` (a blurred
image on a 200) and 403 `content_moderation` are `ContentPolicyViolationError`s.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx

from imagegen import hookimpl, masks
from imagegen.exceptions import (
    AuthenticationError,
    ContentPolicyViolationError,
    ImageGenError,
    InternalServerError,
    error_class_for_status,
)
from imagegen.images import ImageInput
from imagegen.params import aspect_ratio_for
from imagegen.provider import EDIT, GenerationRequest, Job, ProviderInfo, ProviderRequest
from imagegen.types import Image, ImageResponse

from .models import ASPECT_RATIOS, FAST_UPSCALE_PIXELS, MODELS, REQUIRED_FIELDS, SERVICES, SIZE_RATIOS

DEFAULT_API_BASE = "https://api.stability.ai"
API_KEY_ENV = ("STABILITY_API_KEY", "SAI_API_KEY")
DEFAULT_POLL_INTERVAL = 10.0  # Stability's own client polls results every 10 s
RESULT_ACCEPT = "image/*"  # what the results endpoint answers: the image's bytes, metadata in headers
_NOT_SENT = frozenset({"n", "size", "response_format"})

INFO = ProviderInfo(name="Stability AI", models=MODELS, settings=frozenset({"poll_interval"}))


@hookimpl
def provider_info() -> ProviderInfo:
    return INFO


@hookimpl
def map_params(request: GenerationRequest) -> dict[str, Any]:
    assert request.spec is not None  # the plugin serves only the models it lists
    name = request.spec.name
    params = request.params
    if (needed := REQUIRED_FIELDS.get(name)) and not params.get(needed):
        raise request.refused(f"{name} needs `{needed}`: what to find in the image", param=needed)
    if name == "outpaint" and not any(params.get(side) for side in ("left", "right", "up", "down")):
        raise request.refused(
            "outpaint needs at least one of left, right, up, down (pixels to add, 1 to 512)", param="left"
        )
    if name == "upscale-fast":
        _check_fast_upscale_input(request)
    body: dict[str, Any] = {"prompt": request.prompt} if request.prompt else {}
    body.update((key, value) for key, value in params.items() if key not in _NOT_SENT)
    service = SERVICES[name]
    if service.sd3_model:
        body["model"] = service.sd3_model
        if request.operation == EDIT:
            body["mode"] = "image-to-image"
            body.setdefault("strength", 0.7)
    if "size" in params and "aspect_ratio" not in body:
        body["aspect_ratio"] = SIZE_RATIOS.get(params["size"]) or aspect_ratio_for(
            request, params["size"], ASPECT_RATIOS
        )
    return body


def _check_fast_upscale_input(request: GenerationRequest) -> None:
    image = request.images[0]
    low, high = FAST_UPSCALE_PIXELS
    if not low <= image.width * image.height <= high or min(image.width, image.height) < 32:
        raise request.refused(
            f"`image` is {image.width}x{image.height}; upscale-fast takes 32 to 1536 pixels a side and "
            f"{low:,} to {high:,} pixels in all (e.g. up to 1024x1024): use upscale-conservative for larger images",
            param="image",
        )


@hookimpl
def build_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    api_key = request.settings.get("api_key", *API_KEY_ENV)
    if not api_key:
        raise AuthenticationError(
            "no Stability API key: pass api_key=... or set the STABILITY_API_KEY environment variable",
            provider=request.provider,
            model=request.model,
        )
    assert request.spec is not None
    files: list[tuple[str, ImageInput]] = [("image", image) for image in request.images]
    if request.mask is not None:
        files.append(("mask", ImageInput(masks.white_edits(request.mask), filename="mask.png", name="mask")))
    return ProviderRequest(
        url=f"{_api_base(request)}/v2beta/stable-image/{SERVICES[request.spec.name].path}",
        form=body,  # multipart even without a file: Stability refuses anything else
        files=files,
        headers=_headers(api_key),
        secrets=[api_key],
    )


def _api_base(request: GenerationRequest) -> str:
    return str(request.settings.get("api_base", default=DEFAULT_API_BASE)).rstrip("/")


def _headers(api_key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {api_key}", "accept": "application/json"}


@hookimpl
def parse_response(request: GenerationRequest, response: httpx.Response) -> ImageResponse | Job:
    body = response.json()
    if "image" not in body and "id" in body:  # an async service: poll its result
        upstream = response.request
        return Job(
            id=str(body["id"]),
            poll=ProviderRequest(
                url=f"{_api_base(request)}/v2beta/results/{body['id']}",
                method="GET",
                headers={"authorization": upstream.headers["authorization"], "accept": RESULT_ACCEPT},
                secrets=[upstream.headers["authorization"].removeprefix("Bearer ")],
            ),
            interval=float(request.settings.get("poll_interval", default=DEFAULT_POLL_INTERVAL)),
        )
    return _image(request, body)


@hookimpl
def parse_poll(request: GenerationRequest, job: Job, response: httpx.Response) -> ImageResponse | Job:
    if response.status_code == 202:  # still running
        return job
    if response.headers.get("content-type", "").startswith("image/"):
        headers = response.headers
        body = {
            "image": base64.b64encode(response.content).decode("ascii"),
            "finish_reason": headers.get("finish-reason"),
        }
        if (seed := headers.get("seed")) is not None:
            body["seed"] = int(seed) if seed.isdigit() else seed
        return _image(request, body)
    return _image(request, response.json())


def _image(request: GenerationRequest, body: dict[str, Any]) -> ImageResponse:
    """The image of an answer, as JSON fields or as the bytes' headers; a filtered one is an error."""
    reason = body.get("finish_reason")
    where = {"provider": request.provider, "model": request.model}
    if reason == "CONTENT_FILTERED":
        raise ContentPolicyViolationError(
            "Stability's content filter blurred the image (finish_reason CONTENT_FILTERED)",
            filter_results=reason,
            status_code=400,
            **where,
        )
    if reason not in (None, "SUCCESS"):
        raise InternalServerError(
            f"Stability could not make the image (finish_reason {reason})", status_code=502, **where
        )
    data = body.get("image") or body.get("result")  # the results endpoint has called it both
    if not isinstance(data, str):
        raise InternalServerError("Stability answered without an image", status_code=502, **where)
    extra = {"seed": body["seed"]} if "seed" in body else {}
    return ImageResponse(created=int(time.time()), data=[Image(b64_json=data, **extra)])


@hookimpl
def parse_error(request: GenerationRequest, response: httpx.Response) -> ImageGenError | None:
    """Stability's `{"id", "name", "errors": [...]}`; 403 `content_moderation` is a content policy refusal."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or "errors" not in body:
        return None
    name = str(body.get("name") or "")
    message = "; ".join(map(str, body.get("errors") or [])) or name or f"HTTP {response.status_code}"
    if name == "payment_required":
        message += " (the Stability account is out of credits)"
    where: dict[str, Any] = {"provider": request.provider, "model": request.model, "status_code": response.status_code,
                             "code": name or None, "body": body}  # fmt: skip
    if name == "content_moderation":
        return ContentPolicyViolationError(message, **where)
    return error_class_for_status(response.status_code)(message, **where)
