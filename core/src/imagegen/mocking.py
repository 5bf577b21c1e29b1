"""`mock_response`: a call answered without any request, for an application's own tests (as in LiteLLM).

The call is routed and checked as usual (an unsupported parameter still raises), then answered with:

- `True`: a real PNG (one solid colour) at the requested `size` (1024x1024 without one), `n` times;
- bytes: that image, `n` times; a `str` URL (`https://…`, `data:…`): that URL, `n` times (LiteLLM's);
- an `ImageResponse`: that response;
- an exception (an instance or a class), or the name of one (`"imagegen.RateLimitError"`,
  `"litellm.RateLimitError"`): raised as the call's error, without retries (other exceptions become an
  `InternalServerError` with their `status_code`, as LiteLLM's `MockException`).

Nothing is spent, so a mocked call costs 0.0. For images that show the prompt, latency and random
failures, use the `imagegen-mock` provider (`model="mock/…"`).
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

from . import exceptions
from .exceptions import BadRequestError, ImageGenError, brief, error_class_for_status
from .params import parse_size
from .png import png_image
from .types import Image, ImageResponse

if TYPE_CHECKING:
    from .calls import PreparedCall

DEFAULT_SIZE = (1024, 1024)
MAX_SIDE = 4096
_ERROR_NAME = re.compile(r"^(?:imagegen|litellm)\.(\w+)$")
_LITELLM_ONLY = {"APIError": exceptions.InternalServerError, "MockException": exceptions.InternalServerError,
                 "ContextWindowExceededError": exceptions.BadRequestError}  # fmt: skip
_COLOR = (128, 128, 128, 255)


def check(value: Any) -> None:
    """Raise BadRequestError (before anything else happens) for a `mock_response` that cannot be served."""
    if isinstance(value, str) and (match := _ERROR_NAME.match(value)):
        _named_error(match.group(1))
        return
    if isinstance(value, bool | str | bytes | ImageResponse | BaseException):
        if value is not False:
            return
    elif isinstance(value, type) and issubclass(value, BaseException):
        return
    raise BadRequestError(
        f"mock_response={brief(value)} cannot be served: pass True, image bytes, a URL, an ImageResponse, an "
        "exception (or its name, e.g. 'imagegen.RateLimitError')",
        param="mock_response",
    )


def respond(call: PreparedCall) -> ImageResponse:
    """The mocked answer of `call`, or its mocked error raised."""
    value = call.mock_response
    request = call.request
    provider, model = call.provider.prefix, request.model
    if isinstance(value, str) and (match := _ERROR_NAME.match(value)):
        name = match.group(1)
        raise _named_error(name)(f"mock_response: a simulated {name}", provider=provider, model=model)
    if isinstance(value, type) and issubclass(value, BaseException):
        value = value(f"mock_response: a simulated {value.__name__}") if issubclass(value, ImageGenError) else value()
    if isinstance(value, ImageGenError):
        value.provider, value.model = value.provider or provider, value.model or model
        raise value
    if isinstance(value, BaseException):
        status = getattr(value, "status_code", None)
        error = error_class_for_status(status if isinstance(status, int) and status >= 400 else 500)
        message = f"mock_response: {type(value).__name__}: {value}"
        raise error(message, status_code=status, provider=provider, model=model) from value
    if isinstance(value, ImageResponse):
        return value.model_copy()
    n = request.params.get("n", 1)
    if isinstance(value, str):
        return ImageResponse(data=[Image(url=value) for _ in range(n)])
    data = value if isinstance(value, bytes) else png_image(*_size(request.params.get("size")), _COLOR)
    encoded = base64.b64encode(data).decode("ascii")
    return ImageResponse(data=[Image(b64_json=encoded) for _ in range(n)])


def _named_error(name: str) -> type[ImageGenError]:
    found = getattr(exceptions, name, None) or _LITELLM_ONLY.get(name)
    if isinstance(found, type) and issubclass(found, ImageGenError):
        return found
    raise BadRequestError(
        f"mock_response names an unknown error {brief(name)}; use one of imagegen.exceptions "
        "(RateLimitError, InternalServerError, Timeout, …)",
        param="mock_response",
    )


def _size(size: Any) -> tuple[int, int]:
    try:
        width, height = parse_size(size) if isinstance(size, str) else DEFAULT_SIZE
    except ValueError:  # "auto"
        width, height = DEFAULT_SIZE
    return min(max(width, 1), MAX_SIDE), min(max(height, 1), MAX_SIDE)
