"""imagegen: one API for image generation and editing across providers.

    import imagegen
    response = imagegen.image_generation("A cute baby sea otter", model="dall-e-3")
    edited = imagegen.image_edit("otter.png", "Add a tiny hat", model="gpt-image-1")

Attributes load on first use, so `import imagegen` stays cheap for every app that imports it.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not typing's: importing typing would take most of this module's import time
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

drop_params: bool = False
"""Set to True to drop unsupported parameters (with a warning) instead of raising, for every call."""
callbacks: list[Any] = []
"""Callbacks told of every call (objects with `on_request` / `on_success` / `on_failure`; docs/callbacks.md)."""
log_prompts: bool = False
"""Set to True to put prompts in the records callbacks receive (`CallRecord.prompt`); off by default."""

_EXPORTS = {
    "image_generation": "api",
    "aimage_generation": "api",
    "image_edit": "api",
    "aimage_edit": "api",
    "image_variation": "api",
    "aimage_variation": "api",
    "ImageResponse": "types",
    "Image": "types",
    "Usage": "types",
    "PartialImageEvent": "types",
    "CompletedImageEvent": "types",
    "ImageStream": "streaming",
    "AsyncImageStream": "streaming",
    "ImageInput": "images",
    "OperationSpec": "provider",
    "Job": "provider",
    "ModelSpec": "provider",
    "ProviderInfo": "provider",
    "IntRange": "provider",
    "NumberRange": "provider",
    "GenerationRequest": "provider",
    "ProviderRequest": "provider",
    "CallRecord": "records",
    "hookimpl": "hookspecs",
    **dict.fromkeys(
        [
            "ImageGenError",
            "BadRequestError",
            "UnsupportedParamsError",
            "ContentPolicyViolationError",
            "AuthenticationError",
            "PermissionDeniedError",
            "NotFoundError",
            "Timeout",
            "RateLimitError",
            "InternalServerError",
            "ServiceUnavailableError",
            "APIConnectionError",
            "PluginError",
        ],
        "exceptions",
    ),
}

__all__ = ["__version__", "callbacks", "drop_params", "log_prompts", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'imagegen' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"imagegen.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # the lazy attributes above, for type checkers (redundant aliases re-export)
    from .api import aimage_edit as aimage_edit
    from .api import aimage_generation as aimage_generation
    from .api import aimage_variation as aimage_variation
    from .api import image_edit as image_edit
    from .api import image_generation as image_generation
    from .api import image_variation as image_variation
    from .exceptions import APIConnectionError as APIConnectionError
    from .exceptions import AuthenticationError as AuthenticationError
    from .exceptions import BadRequestError as BadRequestError
    from .exceptions import ContentPolicyViolationError as ContentPolicyViolationError
    from .exceptions import ImageGenError as ImageGenError
    from .exceptions import InternalServerError as InternalServerError
    from .exceptions import NotFoundError as NotFoundError
    from .exceptions import PermissionDeniedError as PermissionDeniedError
    from .exceptions import PluginError as PluginError
    from .exceptions import RateLimitError as RateLimitError
    from .exceptions import ServiceUnavailableError as ServiceUnavailableError
    from .exceptions import Timeout as Timeout
    from .exceptions import UnsupportedParamsError as UnsupportedParamsError
    from .hookspecs import hookimpl as hookimpl
    from .images import ImageInput as ImageInput
    from .provider import GenerationRequest as GenerationRequest
    from .provider import IntRange as IntRange
    from .provider import Job as Job
    from .provider import ModelSpec as ModelSpec
    from .provider import NumberRange as NumberRange
    from .provider import OperationSpec as OperationSpec
    from .provider import ProviderInfo as ProviderInfo
    from .provider import ProviderRequest as ProviderRequest
    from .records import CallRecord as CallRecord
    from .streaming import AsyncImageStream as AsyncImageStream
    from .streaming import ImageStream as ImageStream
    from .types import CompletedImageEvent as CompletedImageEvent
    from .types import Image as Image
    from .types import ImageResponse as ImageResponse
    from .types import PartialImageEvent as PartialImageEvent
    from .types import Usage as Usage
