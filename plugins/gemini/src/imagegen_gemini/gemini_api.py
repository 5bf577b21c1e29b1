"""What only the Gemini API does: its URL, its key header, what it refuses that Vertex AI takes, its hints.

    POST {api_base}/v1beta/models/{model}:generateContent   (Gemini image models)
    POST {api_base}/v1beta/models/{model}:predict           (Imagen, deprecated)
    x-goog-api-key: $GEMINI_API_KEY

The key goes in the header only, never in the URL (`?key=`): a URL ends up in logs.
"""

from __future__ import annotations

from typing import Any

from imagegen.auth import required_api_key
from imagegen.params import reject
from imagegen.provider import GenerationRequest, ProviderRequest

from .generate_content import generate_content_body
from .image_models import aspect_ratios_of
from .models import GEMINI_VERTEX_ONLY, IMAGEN, IMAGEN_VERTEX_ONLY, MAX_REQUEST_BYTES
from .predict import predict_body

SERVICE = "The Gemini API"
DEFAULT_API_BASE = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"
API_KEY_ENV = ("GEMINI_API_KEY",)
API_BASE_ENV = ("GEMINI_API_BASE",)
API_KEY_HEADER = "x-goog-api-key"
IMAGEN_SHUT_DOWN = (
    "Google has shut Imagen down on the Gemini API: use gemini/gemini-2.5-flash-image (or another Gemini "
    "image model), or Imagen on Vertex AI (vertex_ai/…)"
)
HINTS = {
    "API_KEY_INVALID": "check api_key or GEMINI_API_KEY: a key from Google AI Studio (aistudio.google.com/apikey)",
    "PERMISSION_DENIED": "check that the key's project has the Generative Language API enabled and may use the model",
    "RESOURCE_EXHAUSTED": "the key's Gemini API rate limit or quota is used up; retry later or raise the tier",
}


def error_hints(request: GenerationRequest) -> dict[str, str]:
    """The fixes to name in an error: a missing Imagen model most likely means Google shut it down."""
    return {**HINTS, "NOT_FOUND": IMAGEN_SHUT_DOWN} if is_imagen(request) else HINTS


def is_imagen(request: GenerationRequest) -> bool:
    return request.spec is not None and request.spec.family == IMAGEN


def request_body(request: GenerationRequest) -> dict[str, Any]:
    """The body of a checked request, after refusing what Google takes on Vertex AI only."""
    if is_imagen(request):
        _refuse_vertex_only(request, IMAGEN_VERTEX_ONLY, f"Imagen on Vertex AI (vertex_ai/{request.model}) takes it")
        return predict_body(request)
    _refuse_vertex_only(request, GEMINI_VERTEX_ONLY, "Google takes output and person options on Vertex AI only")
    _check_request_size(request)
    assert request.spec is not None  # the plugin serves only the models it lists
    return generate_content_body(request, aspect_ratios_of(request.spec.name))


def _refuse_vertex_only(request: GenerationRequest, names: tuple[str, ...], where: str) -> None:
    for name in names:
        if name in request.params:
            reason = f"`{name}` is not supported by the Gemini API ({where})"
            reject(request, name, request.params[name], None, reason=reason)


def _check_request_size(request: GenerationRequest) -> None:
    """Refuse inline images the Gemini API would refuse as too large a request (base64 adds a third)."""
    inline = sum(image.size for image in request.images) * 4 // 3
    if inline > MAX_REQUEST_BYTES:
        raise request.refused(
            f"the input images come to {inline / 2**20:.1f} MB in base64; the Gemini API takes at most "
            f"{MAX_REQUEST_BYTES // 2**20} MB per request: send fewer or smaller images",
            param="image",
        )


def http_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    """The request to the model's method, the key in its header."""
    api_key = required_api_key(request, "Gemini API", *API_KEY_ENV)
    api_base = str(request.settings.get("api_base", *API_BASE_ENV, default=DEFAULT_API_BASE)).rstrip("/")
    version = request.settings.get("api_version", default=DEFAULT_API_VERSION)
    if not api_base.endswith(f"/{version}"):  # a base given with its version (…/v1beta) is taken as it is
        api_base = f"{api_base}/{version}"
    method = "predict" if is_imagen(request) else "generateContent"
    return ProviderRequest(
        url=f"{api_base}/models/{request.model}:{method}",
        json=body,
        headers={API_KEY_HEADER: api_key},
        secrets=[api_key],
    )
