"""Google's error body, mapped by the shared Google error mapping, with the fixes that are Vertex AI's own."""

from __future__ import annotations

import httpx

from imagegen.exceptions import ImageGenError
from imagegen.provider import GenerationRequest
from imagegen_gemini.errors import google_error

HINTS = {
    "UNAUTHENTICATED": "check vertex_credentials (or GOOGLE_APPLICATION_CREDENTIALS)",
    "PERMISSION_DENIED": (
        "check that the Vertex AI API is enabled in the project and that the credentials have the "
        "Vertex AI User role (roles/aiplatform.user)"
    ),
    "NOT_FOUND": "check vertex_ai_project, and that the model is offered in vertex_ai_location",
    "RESOURCE_EXHAUSTED": "the project's Vertex AI quota is used up; retry later or request more quota",
}


def error_from_response(request: GenerationRequest, response: httpx.Response) -> ImageGenError | None:
    """The exception for a Google error body; None (the core's default) for any other body."""
    return google_error(request, response, HINTS)
