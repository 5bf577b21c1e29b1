"""The Acme provider for imagegen: the hooks of `imagegen.hookspecs`, thin.

Replace the wire format below (a simple JSON API, and a multipart one for edits) with your provider's
real one.
"""

from __future__ import annotations

from typing import Any

import httpx

from imagegen import hookimpl
from imagegen.exceptions import AuthenticationError, ContentPolicyViolationError
from imagegen.params import dimensions_for
from imagegen.provider import (
    ANY,
    EDIT,
    GenerationRequest,
    IntRange,
    ModelSpec,
    OperationSpec,
    ProviderInfo,
    ProviderRequest,
)
from imagegen.types import Image, ImageResponse

DEFAULT_API_BASE = "https://api.example.com"
API_KEY_ENV = "ACME_API_KEY"
SIZES = frozenset({"512x512", "1024x1024"})

INFO = ProviderInfo(
    name="Acme",
    models=(
        # Everything a model accepts: the core rejects anything else before any request.
        ModelSpec(
            "acme-image-1",
            {"n": IntRange(1, 4), "size": SIZES, "seed": ANY},
            # It edits up to 4 images (PNG or JPEG under 10 MB each) with an optional mask.
            edit=OperationSpec(
                {"n": IntRange(1, 4), "seed": ANY},
                max_images=4,
                mask=True,
                formats=frozenset({"png", "jpeg"}),
                max_bytes=10 * 1024 * 1024,
            ),
        ),
    ),
)


@hookimpl
def provider_info() -> ProviderInfo:
    return INFO


@hookimpl
def map_params(request: GenerationRequest) -> dict[str, Any]:
    params = request.params  # an edit's images and mask are on the request: build_request sends them
    body: dict[str, Any] = {"prompt": request.prompt, "count": params.get("n", 1)}
    if "size" in params and (dimensions := dimensions_for(request, params["size"], SIZES)):
        body["width"], body["height"] = dimensions
    if "seed" in params:
        body["seed"] = params["seed"]
    return body


@hookimpl
def build_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    api_key = request.settings.get("api_key", API_KEY_ENV)
    if not api_key:
        raise AuthenticationError(
            f"no Acme API key: pass api_key=... or set {API_KEY_ENV}", provider=request.provider, model=request.model
        )
    api_base = request.settings.get("api_base", default=DEFAULT_API_BASE).rstrip("/")
    headers = {"authorization": f"Bearer {api_key}"}
    if request.operation == EDIT:
        # Acme takes masks in OpenAI's convention (transparent = edit), so the mask goes as it is; a
        # provider wanting white = edit would send ImageInput(imagegen.masks.white_edits(request.mask)).
        files = [("image", image) for image in request.images]
        if request.mask is not None:
            files.append(("mask", request.mask))
        url = f"{api_base}/v1/models/{request.model}/edit"
        return ProviderRequest(url=url, form=body, files=files, headers=headers, secrets=[api_key])
    url = f"{api_base}/v1/models/{request.model}/generate"
    return ProviderRequest(url=url, json=body, headers=headers, secrets=[api_key])


@hookimpl
def parse_response(request: GenerationRequest, response: httpx.Response) -> ImageResponse:
    body = response.json()
    images = [Image(b64_json=item["base64"]) for item in body["images"] if not item.get("filtered")]
    if not images:
        raise ContentPolicyViolationError(
            "every image was filtered by Acme's safety system", provider=request.provider, model=request.model
        )
    return ImageResponse(created=body["created"], data=images)
