"""The request bodies of the image routes, as OpenAI's API reference defines them, in one place.

Each route's body is a pydantic model: the field names and types OpenAI documents (`CreateImageRequest`,
`CreateImageEditRequest` and its JSON form `EditImageBodyJsonParam`, `CreateImageVariationRequest`).
They document the routes (an OpenAPI document takes them from `REQUEST_BODIES`) and type the fields of
a multipart form, whose every value arrives as text (`form_value`). Any other field is a parameter of
the model behind the group (`seed`, `cfg_scale`, …), passed on and checked by the model's rules.
"""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from .errors import ProxyError

_EXTRA = ConfigDict(extra="allow")
_STREAM = "Answer with Server-Sent Events: partial images (GPT image models), then each completed image."
_PARTIAL_IMAGES = "Partial images to stream before the final one (0-3), with `stream`."


class _ImageOptions(BaseModel):
    """The fields generations and edits share (any other field is a parameter of the model behind the group)."""

    model_config = _EXTRA

    model: str
    n: int | None = None
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    output_compression: int | None = None
    user: str | None = None
    stream: bool | None = Field(None, description=_STREAM)
    partial_images: int | None = Field(None, ge=0, le=3, description=_PARTIAL_IMAGES)


class ImageGenerationRequest(_ImageOptions):
    """`POST /v1/images/generations` (application/json), OpenAI's `CreateImageRequest`."""

    prompt: str
    response_format: Literal["url", "b64_json"] | None = None
    style: str | None = None
    moderation: str | None = None


class ImageRef(BaseModel):
    """OpenAI's `ImageRefParam`: an image given inline as a `data:` URL. This proxy has no Files API and
    never fetches a URL a client gives, so `file_id` and http(s) URLs are refused."""

    image_url: str | None = Field(None, description="data:image/png;base64,…")
    file_id: str | None = None


class ImageEditJsonRequest(_ImageOptions):
    """`POST /v1/images/edits` (application/json), OpenAI's `EditImageBodyJsonParam`."""

    images: list[ImageRef] = Field(min_length=1)
    prompt: str
    mask: ImageRef | None = None
    moderation: str | None = None
    input_fidelity: str | None = None


class ImageEditFormRequest(_ImageOptions):
    """`POST /v1/images/edits` (multipart/form-data), OpenAI's `CreateImageEditRequest`: the images as
    `image` (one), `image[]` or repeated `image` parts; the mask as `mask`."""

    image: list[bytes] = Field(description="PNG, JPEG or WEBP files (up to 16)")
    prompt: str
    mask: bytes | None = Field(None, description="A PNG the size of the first image; transparent = edit")
    response_format: Literal["url", "b64_json"] | None = None
    input_fidelity: str | None = None


class ImageVariationFormRequest(BaseModel):
    """`POST /v1/images/variations` (multipart/form-data), OpenAI's `CreateImageVariationRequest`."""

    model_config = _EXTRA

    image: bytes = Field(description="A square PNG (dall-e-2: under 4 MB)")
    model: str
    n: int | None = None
    size: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    user: str | None = None


REQUEST_BODIES: dict[str, dict[str, type[BaseModel]]] = {
    "/v1/images/generations": {"application/json": ImageGenerationRequest},
    "/v1/images/edits": {"multipart/form-data": ImageEditFormRequest, "application/json": ImageEditJsonRequest},
    "/v1/images/variations": {"multipart/form-data": ImageVariationFormRequest},
}
"""Each route's request bodies by media type (the `/images/…` and Azure routes take the same)."""


def _scalar(annotation: Any) -> type | None:
    """The one number or boolean type a field holds (`int | None` → int), else None."""
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (Union, types.UnionType) else ()
    return next((kind for kind in (bool, int, float) if kind is annotation or kind in args), None)


_FORM_MODELS = (ImageEditFormRequest, ImageVariationFormRequest)
_FORM_TYPES = {
    name: kind
    for model in _FORM_MODELS
    for name, info in model.model_fields.items()
    if (kind := _scalar(info.annotation))
}
_TEXT_FIELDS = (
    frozenset(
        name for model in (*_FORM_MODELS, ImageGenerationRequest, ImageEditJsonRequest) for name in model.model_fields
    )
    - _FORM_TYPES.keys()
)
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def form_value(name: str, text: str) -> Any:
    """A multipart text field as the value it stands for, as OpenAI reads its forms: OpenAI's numeric and
    boolean fields parsed by their type (400 when they are not), OpenAI's text fields kept as text, and any
    other field (a provider's parameter: `seed`, `cfg_scale`) a number or boolean when it spells one."""
    kind = _FORM_TYPES.get(name)
    if kind is bool:
        if text not in ("true", "false"):
            raise ProxyError(400, f"`{name}` must be true or false, not {text!r}.", param=name, code="invalid_type")
        return text == "true"
    if kind is not None:
        try:
            return kind(text)
        except ValueError:
            article = "an integer" if kind is int else "a number"
            message = f"`{name}` must be {article}, not {text!r}."
            raise ProxyError(400, message, param=name, code="invalid_type") from None
    if name in _TEXT_FIELDS:
        return text
    if text in ("true", "false") or _NUMBER.fullmatch(text):
        return json.loads(text)
    return text
