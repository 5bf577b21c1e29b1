"""Google's error body, `{"error": {"code", "message", "status"}}`, mapped to imagegen's exceptions."""

from __future__ import annotations

from typing import Any

import httpx

from imagegen.exceptions import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    ImageGenError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    error_class_for_status,
)
from imagegen.provider import GenerationRequest

# google.rpc.Code names, as Google's REST APIs put them in `error.status`.
ERROR_CLASSES: dict[str, type[ImageGenError]] = {
    "INVALID_ARGUMENT": BadRequestError,
    "FAILED_PRECONDITION": BadRequestError,
    "OUT_OF_RANGE": BadRequestError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": NotFoundError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "DEADLINE_EXCEEDED": Timeout,
    "UNAVAILABLE": ServiceUnavailableError,
    "INTERNAL": InternalServerError,
}
HINTS = {
    "UNAUTHENTICATED": "check vertex_credentials (or GOOGLE_APPLICATION_CREDENTIALS)",
    "PERMISSION_DENIED": (
        "check that the Vertex AI API is enabled in the project and that the credentials have the "
        "Vertex AI User role (roles/aiplatform.user)"
    ),
    "NOT_FOUND": "check vertex_ai_project, and that the model is offered in vertex_ai_location",
    "RESOURCE_EXHAUSTED": "the project's Vertex AI quota is used up; retry later or request more quota",
}
# Imagen refuses a prompt with 400 INVALID_ARGUMENT and a message naming Google's RAI practices.
CONTENT_POLICY_MARKER = "Responsible AI"


def error_from_response(request: GenerationRequest, response: httpx.Response) -> ImageGenError | None:
    """The exception for a Google error body; None (the core's default) for any other body."""
    try:
        body: Any = response.json()
    except ValueError:
        return None
    if isinstance(body, list) and body:  # some Vertex endpoints wrap the error in a list
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    message = str(error.get("message") or f"HTTP {response.status_code}")
    status = error.get("status")
    kwargs: dict[str, Any] = {
        "provider": request.provider,
        "model": request.model,
        "status_code": response.status_code,
        "body": body,
        "secrets": request.settings.secrets(),
    }
    if response.status_code == 400 and CONTENT_POLICY_MARKER in message:
        return ContentPolicyViolationError(message, **kwargs)
    if hint := HINTS.get(str(status)):
        message = f"{message} ({hint})"
    error_class = ERROR_CLASSES.get(str(status)) or error_class_for_status(response.status_code)
    return error_class(message, code=str(status) if status else None, **kwargs)
