"""The proxy's errors, always answered in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`,
plus the request's id (`request_id`, also in the `x-request-id` header) to quote when reporting it."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from starlette.responses import Response

from imagegen.exceptions import APIConnectionError, ImageGenError

from .observability import current_request_id

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ProxyError(Exception):
    """An error the proxy answers with: its HTTP status and OpenAI's error fields.

    `type` defaults from the status (`invalid_request_error` for 400, `authentication_error` for 401, …).
    """

    def __init__(
        self,
        status: int,
        message: str,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or _TYPE_BY_STATUS.get(status, "api_error")
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    @classmethod
    def from_imagegen(cls, error: ImageGenError) -> ProxyError:
        """The answer for a core error: its status (502 when the provider gave none) and fields."""
        status = error.status_code or (502 if isinstance(error, APIConnectionError) else 500)
        # The provider's wait, passed on for the client's own retries (whole seconds, as HTTP has it).
        headers = {"retry-after": str(math.ceil(error.retry_after))} if error.retry_after is not None else None
        return cls(status, error.message, error.openai_type, error.code, error.param, headers)

    def body(self) -> dict[str, dict[str, str | None]]:
        """OpenAI's error object (in an answer's body, or a stream's error event), with the request's id."""
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        if (request_id := current_request_id.get()) is not None:
            error["request_id"] = request_id
        return {"error": error}

    def response(self) -> Response:
        headers = self.headers
        if (request_id := current_request_id.get()) is not None:
            headers = {**headers, "x-request-id": request_id}  # also for errors answered outside the middleware
        body = json.dumps(self.body(), ensure_ascii=False)
        return Response(body, self.status, headers=headers, media_type="application/json")

    def __repr__(self) -> str:
        return f"ProxyError({self.status}, {self.message!r})"
