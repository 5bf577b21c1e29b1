"""The Azure OpenAI provider: image generation and edits on Azure deployments (`azure/<deployment name>`).

The wire format and parameter rules are OpenAI's (from imagegen-openai), streams included; Azure adds
the URL shapes, its credentials (API key or Microsoft Entra ID) and its content-filter errors.
"""

from __future__ import annotations

from typing import Any

import httpx

from imagegen import hookimpl
from imagegen.exceptions import ImageGenError, UnsupportedParamsError
from imagegen.params import check_resolved
from imagegen.provider import GENERATION, VARIATION, GenerationRequest, ProviderInfo, ProviderRequest
from imagegen.sse import ServerSentEvent
from imagegen.types import ImageResponse, ImageStreamEvent
from imagegen_openai import wire

from .auth import IDENTITY_SETTINGS, credentials
from .endpoint import endpoint
from .errors import azure_error
from .models import MODELS, base_model_spec, spec_from_deployment_name

INFO = ProviderInfo(
    name="Azure OpenAI",
    settings=frozenset({"azure_ad_token", "azure_ad_token_provider", "base_model", "api_type", *IDENTITY_SETTINGS}),
    secret_settings=frozenset({"azure_ad_token", "client_secret", "azure_password"}),
    # Deployment names are the user's; which model one serves is resolved per call in `map_params`.
    pass_through_unknown_models=True,
    openai_shaped_responses=True,
)


@hookimpl
def provider_info() -> ProviderInfo:
    return INFO


@hookimpl
def map_params(request: GenerationRequest) -> dict[str, Any]:
    # `base_model` is a per-call setting, so the deployment's spec is chosen (and checked) here.
    base_model = request.settings.get("base_model")
    request.spec = base_model_spec(request, base_model) if base_model else spec_from_deployment_name(request.model)
    if request.operation == VARIATION and request.spec is None:  # a known model is refused by check_resolved
        raise UnsupportedParamsError(
            "model",
            value=request.model,
            provider=request.provider,
            model=request.model,
            reason="Azure OpenAI makes no variations (it has no images/variations route); use openai/dall-e-2",
            droppable=False,
        )
    check_resolved(request, able=MODELS)  # e.g. a DALL·E 3 deployment cannot edit: said before sending
    return wire.request_body(request, include_model=endpoint(request).v1)


@hookimpl
def build_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    target = endpoint(request)
    creds = credentials(request)
    if request.operation == GENERATION:
        body_fields: dict[str, Any] = {"json": body}
    else:
        body_fields = {"form": body, "files": wire.files(request)}
    return ProviderRequest(
        url=target.url,
        headers=creds.headers,
        auth=creds.auth,
        secrets=creds.secrets,
        event_stream=bool(body.get("stream")),
        **body_fields,
    )


@hookimpl
def parse_response(request: GenerationRequest, response: httpx.Response) -> ImageResponse:
    return wire.parse_images_response(response)  # content_filter_results / prompt_filter_results stay on each Image


@hookimpl
def parse_event(request: GenerationRequest, event: ServerSentEvent) -> ImageStreamEvent | None:
    return wire.parse_event(request, event)


@hookimpl
def parse_error(request: GenerationRequest, response: httpx.Response) -> ImageGenError | None:
    return azure_error(request, response)
