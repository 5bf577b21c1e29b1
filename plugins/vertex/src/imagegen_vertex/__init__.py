"""The Google Vertex AI provider (`vertex_ai/`): Imagen through `:predict`, Gemini through `:generateContent`."""

from __future__ import annotations

import re
from typing import Any

import httpx

from imagegen import hookimpl
from imagegen.exceptions import AuthenticationError, BadRequestError, ImageGenError
from imagegen.provider import GenerationRequest, ProviderInfo, ProviderRequest
from imagegen.types import ImageResponse

from . import auth, errors, gemini, imagen
from .models import IMAGEN, MODELS

DEFAULT_LOCATION = "us-central1"
# Both end up in the URL (the location in the host name): refuse anything that could redirect the token.
_LOCATION = re.compile(r"[a-z][a-z0-9-]*")
_PROJECT = re.compile(r"[a-z0-9][a-z0-9.:-]*")

INFO = ProviderInfo(
    name="Google Vertex AI",
    models=MODELS,
    settings=frozenset({"vertex_ai_project", "vertex_ai_location", "vertex_credentials"}),
    secret_settings=frozenset({"vertex_credentials"}),
)


@hookimpl
def provider_info() -> ProviderInfo:
    return INFO


@hookimpl
def map_params(request: GenerationRequest) -> dict[str, Any]:
    if _is_imagen(request):
        return imagen.predict_body(request)
    return gemini.generate_content_body(request)


@hookimpl
def build_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    settings = request.settings
    credentials = auth.credentials_for(settings.get("vertex_credentials"))
    project = settings.get("vertex_ai_project", "VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT")
    if project is None:
        # Reads the key file (or runs ADC discovery) once per credentials; later calls hit the cache.
        with auth.auth_errors(request.provider, request.model, credentials.secrets):
            project = credentials.project_id()
    if project is None:
        raise AuthenticationError(
            "no Google Cloud project for Vertex AI: pass vertex_ai_project=..., set VERTEXAI_PROJECT "
            "(or GOOGLE_CLOUD_PROJECT), or use credentials that name a project",
            provider=request.provider,
            model=request.model,
        )
    location = settings.get(
        "vertex_ai_location", "VERTEXAI_LOCATION", "GOOGLE_CLOUD_LOCATION", default=DEFAULT_LOCATION
    )
    _check_url_part(request, "vertex_ai_project", project, _PROJECT)
    _check_url_part(request, "vertex_ai_location", location, _LOCATION)
    base = settings.get("api_base") or _default_base(location)
    method = "predict" if _is_imagen(request) else "generateContent"
    url = (
        f"{base.rstrip('/')}/v1/projects/{project}/locations/{location}"
        f"/publishers/google/models/{request.model}:{method}"
    )
    return ProviderRequest(
        url=url,
        json=body,
        auth=auth.BearerTokenAuth(credentials, request.provider, request.model),
        secrets=[*settings.secrets(), *credentials.secrets],
    )


@hookimpl
def parse_response(request: GenerationRequest, response: httpx.Response) -> ImageResponse:
    if _is_imagen(request):
        return imagen.parse_predict_response(request, response)
    return gemini.parse_generate_content_response(request, response)


@hookimpl
def parse_error(request: GenerationRequest, response: httpx.Response) -> ImageGenError | None:
    return errors.error_from_response(request, response)


def _is_imagen(request: GenerationRequest) -> bool:
    return request.spec is not None and request.spec.family == IMAGEN


def _default_base(location: str) -> str:
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def _check_url_part(request: GenerationRequest, setting: str, value: Any, pattern: re.Pattern[str]) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise BadRequestError(
            f"{setting}={value!r} is not a valid Google Cloud {setting.rpartition('_')[2]} "
            "(lowercase letters, digits and dashes, e.g. 'my-project' / 'us-central1')",
            provider=request.provider,
            model=request.model,
            param=setting,
        )
