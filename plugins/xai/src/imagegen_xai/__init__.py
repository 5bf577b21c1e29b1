"""The xAI provider (`xai/`): Grok image models through xAI's OpenAI-like `POST /v1/images/generations`.

`Authorization: Bearer $XAI_API_KEY`; `api_base` may name a regional host (`https://us-east-1.api.x.ai`).
What xAI does not take (`size`, `style`, `quality` but on grok-imagine-image-2.0) is refused before any
request, or dropped with `drop_params`; its answers are OpenAI's `ImagesResponse` plus `mime_type`.
"""

from __future__ import annotations

from typing import Any

import httpx

from imagegen import hookimpl
from imagegen.exceptions import AuthenticationError, ContentPolicyViolationError, ImageGenError
from imagegen.params import reject
from imagegen.provider import GenerationRequest, ProviderInfo, ProviderRequest
from imagegen.transport import error_from_response
from imagegen.types import ImageResponse

from .models import MODELS

DEFAULT_API_BASE = "https://api.x.ai"
API_VERSION_PATH = "/v1"
API_KEY_ENV = "XAI_API_KEY"
# Words of xAI's refusals of a prompt or an image by its moderation.
_MODERATION_WORDS = ("moderation", "content policy", "safety", "violat")

INFO = ProviderInfo(name="xAI", models=MODELS, pass_through_unknown_models=True)


@hookimpl
def provider_info() -> ProviderInfo:
    return INFO


@hookimpl
def map_params(request: GenerationRequest) -> dict[str, Any]:
    if "size" in request.params:
        reject(
            request, "size", request.params["size"], None,
            reason="xAI takes no `size`: pass aspect_ratio (e.g. '16:9') and resolution ('1k' or '2k') instead",
        )  # fmt: skip
    model = request.spec.name if request.spec else request.model  # an alias goes as the model it stands for
    return {"model": model, "prompt": request.prompt, **request.params}


@hookimpl
def build_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    api_key = request.settings.get("api_key", API_KEY_ENV)
    if not api_key:
        raise AuthenticationError(
            f"no xAI API key: pass api_key=... or set the {API_KEY_ENV} environment variable",
            provider=request.provider,
            model=request.model,
        )
    return ProviderRequest(
        url=f"{_versioned_base(request)}/images/generations",
        json=body,
        headers={"authorization": f"Bearer {api_key}"},
        secrets=[api_key],
    )


def _versioned_base(request: GenerationRequest) -> str:
    """The API base with its `/v1`: a host given with or without it (`https://us-east-1.api.x.ai`) works."""
    api_base = str(request.settings.get("api_base", default=DEFAULT_API_BASE)).rstrip("/")
    return api_base if api_base.endswith(API_VERSION_PATH) else api_base + API_VERSION_PATH


@hookimpl
def parse_response(request: GenerationRequest, response: httpx.Response) -> ImageResponse:
    parsed = ImageResponse.model_validate_json(response.content)
    if not parsed.data:
        raise ContentPolicyViolationError(
            "xAI returned no image (its moderation blocks a prompt this way)",
            provider=request.provider,
            model=request.model,
            body=parsed.model_dump(exclude={"data"}),
        )
    return parsed


@hookimpl
def parse_error(request: GenerationRequest, response: httpx.Response) -> ImageGenError | None:
    error = error_from_response(
        response, provider=request.provider, model=request.model, secrets=request.settings.secrets()
    )
    if response.status_code == 400 and any(word in error.message.lower() for word in _MODERATION_WORDS):
        return ContentPolicyViolationError(
            error.message, provider=request.provider, model=request.model, status_code=400, body=error.body
        )
    return error
