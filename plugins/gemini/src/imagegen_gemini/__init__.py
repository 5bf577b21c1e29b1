"""The Google Gemini API provider (`gemini/`): Gemini image models through `:generateContent`, with an API key.

`x-goog-api-key: $GEMINI_API_KEY` on `generativelanguage.googleapis.com/v1beta`. Each call makes one image
(`n` fans out); edits send the input images inline, without a mask. Cost comes from the answer's
`usageMetadata`. Imagen (`:predict`) is deprecated: Google says it is shut down on the Gemini API, and the
path stays for keys that still reach it. The wire formats are shared with the Vertex AI plugin.
"""

from __future__ import annotations

from typing import Any

import httpx

from imagegen import hookimpl
from imagegen.exceptions import ImageGenError
from imagegen.provider import GenerationRequest, ProviderInfo, ProviderRequest
from imagegen.types import ImageResponse

from . import gemini_api
from .errors import google_error
from .generate_content import parse_generate_content_response
from .models import MODELS
from .predict import parse_predict_response

# Vertex AI serves the same models: a bare name goes there when imagegen-vertex is installed (as LiteLLM does).
INFO = ProviderInfo(name="Google Gemini API", models=MODELS, defer_bare_names=True)


@hookimpl
def provider_info() -> ProviderInfo:
    return INFO


@hookimpl
def map_params(request: GenerationRequest) -> dict[str, Any]:
    return gemini_api.request_body(request)


@hookimpl
def build_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    return gemini_api.http_request(request, body)


@hookimpl
def parse_response(request: GenerationRequest, response: httpx.Response) -> ImageResponse:
    if gemini_api.is_imagen(request):
        return parse_predict_response(request, response, gemini_api.SERVICE)
    return parse_generate_content_response(request, response, gemini_api.SERVICE)


@hookimpl
def parse_error(request: GenerationRequest, response: httpx.Response) -> ImageGenError | None:
    return google_error(request, response, gemini_api.error_hints(request))
