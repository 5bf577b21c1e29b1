"""Bedrock's error answers: the class comes from `x-amzn-ErrorType`, the message from `{"message": ...}`."""

from __future__ import annotations

import re

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

ERROR_CLASSES: dict[str, type[ImageGenError]] = {
    "ValidationException": BadRequestError,
    "AccessDeniedException": PermissionDeniedError,
    "UnrecognizedClientException": AuthenticationError,
    "InvalidSignatureException": AuthenticationError,
    "IncompleteSignatureException": AuthenticationError,
    "MissingAuthenticationTokenException": AuthenticationError,
    "ExpiredTokenException": AuthenticationError,
    "ResourceNotFoundException": NotFoundError,
    "ThrottlingException": RateLimitError,
    "ModelNotReadyException": RateLimitError,
    "ServiceQuotaExceededException": RateLimitError,
    "ModelTimeoutException": Timeout,
    "ServiceUnavailableException": ServiceUnavailableError,
    "ModelErrorException": InternalServerError,
    "InternalServerException": InternalServerError,
}
# Titan and Nova refuse a prompt or a result with a ValidationException worded like this.
_CONTENT_FILTER = re.compile(r"content filters?|blocked by our", re.IGNORECASE)


def error_type(response: httpx.Response, body: object) -> str | None:
    """`ValidationException` from `ValidationException:http://internal.amazon.com/coral/…` (or the body)."""
    raw = response.headers.get("x-amzn-errortype")
    if not raw and isinstance(body, dict):
        raw = body.get("__type") or body.get("code")
    if not raw:
        return None
    return str(raw).split(":", 1)[0].rpartition("#")[2]


def error_from_response(request: GenerationRequest, response: httpx.Response) -> ImageGenError:
    try:
        body = response.json()
    except ValueError:
        body = None
    kind = error_type(response, body)
    message = None
    if isinstance(body, dict):
        message = body.get("message") or body.get("Message")
    message = str(message or response.text.strip()[:500] or f"HTTP {response.status_code}")
    cls = ERROR_CLASSES.get(kind or "") or error_class_for_status(response.status_code)
    if cls is BadRequestError and _CONTENT_FILTER.search(message):
        cls = ContentPolicyViolationError
    return cls(
        f"{kind}: {message}" if kind else message,
        provider=request.provider,
        model=request.model,
        code=kind,
        body=body,
        secrets=request.settings.secrets(),
    )
