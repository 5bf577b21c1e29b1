"""The OpenAI provider: gpt-image-*, dall-e-3, dall-e-2 and any OpenAI-compatible server (`openai/`).

Generations, edits (gpt-image models, dall-e-2), variations (dall-e-2), and streamed partial images
(gpt-image models).
"""

from __future__ import annotations

from typing import Any

import httpx

from imagegen import hookimpl
from imagegen.exceptions import AuthenticationError
from imagegen.provider import GENERATION, GenerationRequest, ProviderInfo, ProviderRequest
from imagegen.sse import ServerSentEvent
from imagegen.types import ImageResponse, ImageStreamEvent

from . import wire
from .models import MODELS

DEFAULT_API_BASE = "https://api.openai.com/v1"

INFO = ProviderInfo(
    name="OpenAI",
    models=MODELS,
    settings=frozenset({"organization", "project"}),
    pass_through_unknown_models=True,  # on OpenAI-compatible servers (xinference, vLLM…): see map_params
    openai_shaped_responses=True,
)


@hookimpl
def provider_info() -> ProviderInfo:
    return INFO


@hookimpl
def map_params(request: GenerationRequest) -> dict[str, Any]:
    if request.spec is None and _api_base(request) is None:
        # Only a compatible server (named by api_base) serves models OpenAI's rules don't know: a typo like
        # `dall-e3` must not reach api.openai.com unchecked.
        raise request.refused(
            f"unknown OpenAI model {request.model!r}; known: {', '.join(spec.name for spec in MODELS)}. "
            "For an OpenAI-compatible server, pass its api_base (or set OPENAI_BASE_URL)",
            param="model",
            code="model_not_found",
        )
    return wire.request_body(request)


def _api_base(request: GenerationRequest) -> str | None:
    api_base: str | None = request.settings.get("api_base", "OPENAI_BASE_URL", "OPENAI_API_BASE")
    return api_base


@hookimpl
def build_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    settings = request.settings
    api_base = _api_base(request)
    api_key = settings.get("api_key", "OPENAI_API_KEY")
    if api_key is None and api_base is None:
        raise AuthenticationError(
            "no OpenAI API key: pass api_key=... or set the OPENAI_API_KEY environment variable",
            provider=request.provider,
            model=request.model,
        )
    headers = {}
    if api_key:  # a self-hosted OpenAI-compatible server may need none
        headers["authorization"] = f"Bearer {api_key}"
    if organization := settings.get("organization", "OPENAI_ORG_ID"):
        headers["openai-organization"] = organization
    if project := settings.get("project", "OPENAI_PROJECT_ID"):
        headers["openai-project"] = project
    url = f"{(api_base or DEFAULT_API_BASE).rstrip('/')}/{wire.PATHS[request.operation]}"
    secrets = [api_key] if api_key else []
    streamed = body.get("stream") is True
    if request.operation == GENERATION:
        return ProviderRequest(url=url, json=body, headers=headers, secrets=secrets, event_stream=streamed)
    return ProviderRequest(
        url=url, form=body, files=wire.files(request), headers=headers, secrets=secrets, event_stream=streamed
    )


@hookimpl
def parse_response(request: GenerationRequest, response: httpx.Response) -> ImageResponse:
    return wire.parse_images_response(response)


@hookimpl
def parse_event(request: GenerationRequest, event: ServerSentEvent) -> ImageStreamEvent | None:
    return wire.parse_event(request, event)
