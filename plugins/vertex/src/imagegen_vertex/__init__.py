"""The Google Vertex AI provider (`vertex_ai/`): Imagen through `:predict`, Gemini through `:generateContent`.

Generations; edits on imagen-3.0-capability-001 and imagegeneration@006 (masks and edit modes) and on the
Gemini image models (input images, no mask). Both wire formats are shared with the Gemini API's plugin
(`imagegen_gemini`), which is why this distribution depends on `imagegen-gemini`.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import httpx

from imagegen import hookimpl
from imagegen.exceptions import AuthenticationError, ImageGenError
from imagegen.provider import GENERATION, GenerationRequest, ProviderInfo, ProviderRequest
from imagegen.types import ImageResponse
from imagegen_gemini.generate_content import generate_content_body, parse_generate_content_response
from imagegen_gemini.image_models import aspect_ratios_of
from imagegen_gemini.predict import parse_predict_response

from . import auth, errors, imagen, imagen_edits
from .models import GLOBAL_ONLY, IMAGEN, MODELS

SERVICE = "Vertex AI"

DEFAULT_LOCATION = "us-central1"
GLOBAL = "global"  # served from aiplatform.googleapis.com, without a region in the host name
# Both end up in the URL (the location in the host name): refuse anything that could redirect the token.
_LOCATION = re.compile(r"[a-z][a-z0-9-]*")
_PROJECT = re.compile(r"[a-z0-9][a-z0-9.:-]*")
# Stands in the URL until the auth flow has loaded the credentials and rewrites it with their project.
_PROJECT_OF_THE_CREDENTIALS = "project-of-the-credentials"

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
        return imagen.predict_body(request) if request.operation == GENERATION else imagen_edits.edit_body(request)
    assert request.spec is not None  # the plugin serves only the models it lists
    return generate_content_body(request, aspect_ratios_of(request.spec.name))


@hookimpl
def build_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    settings = request.settings
    credentials = auth.credentials_for(settings.get("vertex_credentials"))
    project = settings.get("vertex_ai_project", "VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT")
    location = _location(request)
    _check_url_part(request, "vertex_ai_location", location, _LOCATION)
    url_for_project = functools.partial(
        _model_url, request, settings.get("api_base") or _default_base(location), location
    )
    deferred: auth.URLForProject | None = None
    if project is None and not credentials.project_known:
        # Only loading the credentials (a key file, ADC discovery) tells the project, and that blocks:
        # `BearerTokenAuth` does it off the event loop and puts the project into the URL.
        deferred = url_for_project
        url = url_for_project(_PROJECT_OF_THE_CREDENTIALS)
    else:
        url = url_for_project(project if project is not None else credentials.project_id())
    return ProviderRequest(
        url=url,
        json=body,
        auth=auth.BearerTokenAuth(credentials, request.provider, request.model, url_for_project=deferred),
        secrets=[*settings.secrets(), *credentials.secrets],
    )


@hookimpl
def parse_response(request: GenerationRequest, response: httpx.Response) -> ImageResponse:
    if _is_imagen(request):
        return parse_predict_response(request, response, SERVICE)
    return parse_generate_content_response(request, response, SERVICE)


@hookimpl
def parse_error(request: GenerationRequest, response: httpx.Response) -> ImageGenError | None:
    return errors.error_from_response(request, response)


def _location(request: GenerationRequest) -> str:
    """Where the model is served: `global` for the models served only there (whatever location is configured,
    with a warning), else the configured location; Imagen is refused in `global`, where Google serves none."""
    configured = request.settings.get("vertex_ai_location", "VERTEXAI_LOCATION", "GOOGLE_CLOUD_LOCATION")
    if (request.spec.name if request.spec else request.model) in GLOBAL_ONLY:
        if configured not in (None, GLOBAL):
            request.warnings.append(
                f"{request.model} is served only in Vertex AI's global location: sent there, not to {configured}"
            )
        return GLOBAL
    location = str(configured or DEFAULT_LOCATION)
    if location == GLOBAL and _is_imagen(request):
        raise request.refused(
            f"Vertex AI serves no Imagen model in the global location: set vertex_ai_location to a region "
            f"(e.g. {DEFAULT_LOCATION}) for {request.model}",
            param="vertex_ai_location",
        )
    return location


def _is_imagen(request: GenerationRequest) -> bool:
    return request.spec is not None and request.spec.family == IMAGEN


def _default_base(location: str) -> str:
    if location == GLOBAL:
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def _model_url(request: GenerationRequest, base: str, location: str, project: str | None) -> str:
    if project is None:
        raise AuthenticationError(
            "no Google Cloud project for Vertex AI: pass vertex_ai_project=..., set VERTEXAI_PROJECT "
            "(or GOOGLE_CLOUD_PROJECT), or use credentials that name a project",
            provider=request.provider,
            model=request.model,
        )
    _check_url_part(request, "vertex_ai_project", project, _PROJECT)
    method = "predict" if _is_imagen(request) else "generateContent"
    return (
        f"{base.rstrip('/')}/v1/projects/{project}/locations/{location}"
        f"/publishers/google/models/{request.model}:{method}"
    )


def _check_url_part(request: GenerationRequest, setting: str, value: Any, pattern: re.Pattern[str]) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise request.refused(
            f"{setting}={value!r} is not a valid Google Cloud {setting.rpartition('_')[2]} "
            "(lowercase letters, digits and dashes, e.g. 'my-project' / 'us-central1')",
            param=setting,
        )
