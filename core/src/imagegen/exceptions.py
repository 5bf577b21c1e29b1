"""The one exception tree of imagegen.

    ImageGenError
    ├── BadRequestError                 400
    │   ├── UnsupportedParamsError      (raised before any request)
    │   └── ContentPolicyViolationError
    ├── AuthenticationError             401 (also: a missing credential, before any request)
    ├── PermissionDeniedError           403
    ├── NotFoundError                   404
    ├── Timeout                         408 / the client gave up waiting
    ├── RateLimitError                  429
    ├── InternalServerError             5xx
    │   └── ServiceUnavailableError     503
    ├── APIConnectionError              no HTTP answer at all
    └── PluginError                     a provider plugin is missing, broken or ambiguous

Every error carries the provider's own message, `status_code`, `provider` and `model`, and for an
HTTP answer `retry_after`: the seconds the provider asked to wait before trying again (its
`Retry-After`), when it said. An error of a job the provider was running (submit, then poll) carries
its `job_id`, so the caller can look it up or resume. Messages never contain a credential: callers pass the secrets they
used and they are masked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_MASK = "***"
MAX_MESSAGE_CHARS = 4000
"""An error's message is cut here: a provider that echoes a request (base64 images, a huge prompt) must not
fill logs and error trackers with it."""
SHOWN_VALUE_CHARS = 80


def brief(value: object, limit: int = SHOWN_VALUE_CHARS) -> str:
    """`value`'s repr for a message, at most about `limit` characters: a long string (a prompt, base64 passed
    where a path was expected) is shown by its start and its length, never whole."""
    if isinstance(value, str | bytes) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value)} {'characters' if isinstance(value, str) else 'bytes'})"
    shown = repr(value)
    return shown if len(shown) <= limit else f"{shown[:limit]}… ({len(shown)} characters)"


def _bounded(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return f"{message[:MAX_MESSAGE_CHARS]}… ({len(message) - MAX_MESSAGE_CHARS} more characters)"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret (of 4+ characters) replaced by a mask."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, _MASK)
    return text


class ImageGenError(Exception):
    """Base class of every error imagegen raises."""

    status_code: int | None = None
    openai_type = "api_error"  # the `type` of OpenAI's error body, used by the proxy
    retry_after: float | None = None
    job_id: str | None = None

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        param: str | None = None,
        body: Any = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        secrets = tuple(secrets)
        self.message = _bounded(redact(message, secrets))
        self.provider = provider
        self.model = model
        if status_code is not None:
            self.status_code = status_code
        self.code = code
        self.param = param
        self.body = body
        super().__init__(self.message)

    def mask(self, secrets: Iterable[str | None]) -> ImageGenError:
        """This error with `secrets` masked in its message (for errors built without knowing them all)."""
        self.message = redact(self.message, secrets)
        self.args = (self.message,)
        return self

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        status = f" [{self.status_code}]" if self.status_code else ""
        return f"{where}{status}: {self.message}" if where else f"{self.message}{status}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class BadRequestError(ImageGenError):
    status_code = 400
    openai_type = "invalid_request_error"


class UnsupportedParamsError(BadRequestError):
    """A parameter (or value) the model does not accept. Pass `drop_params=True` to drop it instead (unless
    `droppable` is False: the model itself cannot do what was asked, e.g. an operation it lacks)."""

    def __init__(
        self,
        param: str,
        *,
        value: Any = None,
        allowed: Iterable[Any] | str | None = None,
        provider: str | None = None,
        model: str | None = None,
        reason: str | None = None,
        droppable: bool = True,
    ) -> None:
        if reason is None:
            if isinstance(allowed, str):
                allowed_text = allowed
            elif allowed is not None:
                allowed_text = ", ".join(sorted(map(str, allowed))) or "none"
            else:
                allowed_text = None
            if allowed_text is None:
                reason = f"`{param}` is not supported by this model"
            else:
                reason = f"`{param}`={brief(value)} is not supported; allowed: {allowed_text}"
        hint = " Pass drop_params=True to drop unsupported parameters instead." if droppable else ""
        super().__init__(
            f"{reason}.{hint}",
            provider=provider,
            model=model,
            param=param,
            code="unsupported_parameter",
        )
        self.allowed = allowed


class ContentPolicyViolationError(BadRequestError):
    """The provider's safety system refused the prompt or the result."""

    def __init__(self, message: str, *, filter_results: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("code", "content_policy_violation")
        super().__init__(message, **kwargs)
        self.filter_results = filter_results


class AuthenticationError(ImageGenError):
    status_code = 401
    openai_type = "authentication_error"


class PermissionDeniedError(ImageGenError):
    status_code = 403
    openai_type = "permission_error"


class NotFoundError(ImageGenError):
    status_code = 404
    openai_type = "not_found_error"


class Timeout(ImageGenError):
    status_code = 408
    openai_type = "timeout"


class RateLimitError(ImageGenError):
    status_code = 429
    openai_type = "rate_limit_error"


class InternalServerError(ImageGenError):
    status_code = 500


class ServiceUnavailableError(InternalServerError):
    status_code = 503


class APIConnectionError(ImageGenError):
    """The provider could not be reached (DNS, refused connection, TLS, reset)."""

    openai_type = "api_connection_error"


class PluginError(ImageGenError):
    """A provider plugin is not installed, failed to load, or two plugins claim one prefix."""

    openai_type = "invalid_request_error"


def error_class_for_status(status: int) -> type[ImageGenError]:
    """The exception class for an HTTP error status."""
    if status == 503:
        return ServiceUnavailableError
    if status >= 500:
        return InternalServerError
    return _BY_STATUS.get(status, BadRequestError if 400 <= status < 500 else ImageGenError)


_BY_STATUS: dict[int, type[ImageGenError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: Timeout,
    422: BadRequestError,
    429: RateLimitError,
}

__all__ = [
    "APIConnectionError",
    "AuthenticationError",
    "BadRequestError",
    "ContentPolicyViolationError",
    "ImageGenError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "PluginError",
    "RateLimitError",
    "ServiceUnavailableError",
    "Timeout",
    "UnsupportedParamsError",
    "brief",
    "error_class_for_status",
    "redact",
]
