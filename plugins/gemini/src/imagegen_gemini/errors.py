"""Google's error body, `{"error": {"code", "message", "status", "details"?}}`, mapped to imagegen's exceptions.

Shared by the Gemini API and Vertex AI plugins; each adds hints naming its own fixes.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from imagegen.transport import MAX_RETRY_AFTER

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
# `ErrorInfo.reason`s that say the credential is at fault, whatever the status (a bad API key is a 400).
AUTHENTICATION_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})
# Imagen refuses a prompt with 400 INVALID_ARGUMENT and a message naming Google's RAI practices.
CONTENT_POLICY_MARKER = "Responsible AI"


def google_error(
    request: GenerationRequest, response: httpx.Response, hints: Mapping[str, str] | None = None
) -> ImageGenError | None:
    """The exception for a Google error body; None (the core's default) for any other body.

    `hints` adds a fix to the message, by `ErrorInfo.reason` or by `status`.
    """
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
    status = str(error.get("status") or "") or None
    reason = _reason(error)
    kwargs: dict[str, Any] = {
        "provider": request.provider,
        "model": request.model,
        "body": body,
        "secrets": request.settings.secrets(),
    }
    if response.status_code == 400 and CONTENT_POLICY_MARKER in message:
        return ContentPolicyViolationError(message, status_code=400, **kwargs)
    hints = hints or {}
    if hint := hints.get(reason or "") or hints.get(status or ""):
        message = f"{message} ({hint})"
    if reason in AUTHENTICATION_REASONS:  # Google answers a bad key with a 400: it is still the key
        return AuthenticationError(message, code=reason, **kwargs)
    error_class = ERROR_CLASSES.get(status or "") or error_class_for_status(response.status_code)
    mapped = error_class(message, status_code=response.status_code, code=reason or status, **kwargs)
    mapped.retry_after = _retry_delay(error)
    return mapped


def _reason(error: dict[str, Any]) -> str | None:
    """The `reason` of the error's `google.rpc.ErrorInfo` detail, if it has one."""
    reason = _detail(error, "google.rpc.ErrorInfo").get("reason")
    return str(reason) if reason else None


def _retry_delay(error: dict[str, Any]) -> float | None:
    """The seconds a `google.rpc.RetryInfo` detail asks to wait (a 429's `"retryDelay": "43s"`, a protobuf
    Duration in JSON); None without one, or when it is not a duration between 0 and MAX_RETRY_AFTER."""
    delay = _detail(error, "google.rpc.RetryInfo").get("retryDelay")
    if not isinstance(delay, str) or not delay.endswith("s"):
        return None
    try:
        seconds = float(delay[:-1])
    except ValueError:
        return None
    return seconds if 0 <= seconds <= MAX_RETRY_AFTER else None


def _detail(error: dict[str, Any], type_name: str) -> dict[str, Any]:
    """The error's detail of `type_name` (`@type` is `type.googleapis.com/<type_name>`), or an empty dict."""
    details = error.get("details")
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith(type_name):
            return detail
    return {}
