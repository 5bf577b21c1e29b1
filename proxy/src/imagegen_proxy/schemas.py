"""The shapes of the proxy's own routes (images, models, health, metrics) and their `Operation`s.

OpenAI's `CreateImageRequest`, `CreateImageEditRequest` (multipart) and its JSON form
`EditImageBodyJsonParam`, `CreateImageVariationRequest`, and `ImagesResponse`, as far as the proxy takes
and answers them. They document the routes and type the fields of a multipart form, whose every value
arrives as text (`form_value`). Any other field is a parameter of the model behind the group (`seed`,
`cfg_scale`, …), passed on and checked by the model's rules (`size` and `quality` values differ between
providers, so they are plain strings here).
"""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from imagegen.types import ImageResponse

from .errors import ProxyError
from .openapi import Operation, model_group_schema

ModelGroupName = Annotated[str, WithJsonSchema(model_group_schema("A model group served by this proxy"))]
_STREAM = "Answer with Server-Sent Events: partial images (GPT image models), then each completed image."
_PARTIAL_IMAGES = "Partial images to stream before the final one (0-3), with `stream`."


class _ImageOptions(BaseModel):
    """The fields generations and edits share (any other field is a parameter of the model behind the group)."""

    model_config = ConfigDict(extra="allow")

    model: ModelGroupName | None = Field(None, description="The model group (Azure's route names it in the path)")
    n: int | None = Field(None, ge=1, le=10, description="How many images")
    size: str | None = Field(None, examples=["1024x1024", "auto"])
    quality: str | None = Field(None, examples=["standard", "hd", "low", "medium", "high", "auto"])
    background: Literal["transparent", "opaque", "auto"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: int | None = Field(None, ge=0, le=100)
    user: str | None = Field(None, description="The end user: their budget and rate limit apply, and spend is logged")
    stream: bool | None = Field(None, description=_STREAM)
    partial_images: int | None = Field(None, ge=0, le=3, description=_PARTIAL_IMAGES)


class ImageGenerationRequest(_ImageOptions):
    """OpenAI's `CreateImageRequest` (`POST /v1/images/generations`, JSON)."""

    model_config = ConfigDict(extra="allow", title="ImageGenerationRequest")

    prompt: str = Field(min_length=1, description="What to draw")
    response_format: Literal["url", "b64_json"] | None = None
    style: Literal["vivid", "natural"] | None = None
    moderation: Literal["low", "auto"] | None = None


class ImageRef(BaseModel):
    """OpenAI's `ImageRefParam`: an image given inline as a `data:` URL. This proxy has no Files API and
    never fetches a URL a client gives, so `file_id` and http(s) URLs are refused."""

    image_url: str | None = Field(None, description="data:image/png;base64,…")
    file_id: str | None = None


class ImageEditJsonRequest(_ImageOptions):
    """OpenAI's `EditImageBodyJsonParam` (`POST /v1/images/edits`, JSON)."""

    images: list[ImageRef] = Field(min_length=1)
    prompt: str = Field(min_length=1, description="The edit to make")
    mask: ImageRef | None = None
    moderation: Literal["low", "auto"] | None = None
    input_fidelity: Literal["high", "low"] | None = None


class ImageEditFormRequest(_ImageOptions):
    """OpenAI's `CreateImageEditRequest` (`POST /v1/images/edits`, multipart): the images as `image` (one),
    `image[]` or repeated `image` parts; the mask as `mask`."""

    image: list[bytes] = Field(description="PNG, JPEG or WEBP files (up to 16)")
    prompt: str = Field(min_length=1, description="The edit to make")
    mask: bytes | None = Field(None, description="A PNG the size of the first image; transparent = edit")
    response_format: Literal["url", "b64_json"] | None = None
    input_fidelity: Literal["high", "low"] | None = None


class ImageVariationFormRequest(BaseModel):
    """OpenAI's `CreateImageVariationRequest` (`POST /v1/images/variations`, multipart)."""

    model_config = ConfigDict(extra="allow")

    image: bytes = Field(description="A square PNG (dall-e-2: under 4 MB)")
    model: ModelGroupName | None = None
    n: int | None = Field(None, ge=1, le=10)
    size: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    user: str | None = None


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    operations: list[Literal["generation", "edit", "variation"]] = Field(
        default_factory=list, description="What the model group does"
    )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class Liveliness(BaseModel):
    status: str


class Readiness(BaseModel):
    """Ready or not; the details for the master key only."""

    model_config = ConfigDict(extra="allow")

    status: str
    model_groups: int | None = None
    unconfigured_deployments: list[str] | None = None


_IMAGE_ERRORS = (400, 404, 413, 429, 502, 503, 504)
_DEPLOYMENT = {"deployment": "The model group"}

GENERATIONS = Operation(
    "Create images (OpenAI's Images API)", "images", request=ImageGenerationRequest, response=ImageResponse,
    errors=_IMAGE_ERRORS,
)  # fmt: skip
AZURE_GENERATIONS = Operation(
    "Create images (Azure OpenAI's route: the deployment names the model group)", "images",
    request=ImageGenerationRequest, response=ImageResponse, errors=_IMAGE_ERRORS, path_params=_DEPLOYMENT,
)  # fmt: skip
_EDIT_BODIES: dict[str, type[BaseModel]] = {
    "multipart/form-data": ImageEditFormRequest,
    "application/json": ImageEditJsonRequest,
}
EDITS = Operation(
    "Edit images (OpenAI's Images API): multipart uploads, or JSON with data: URLs", "images",
    bodies=_EDIT_BODIES, response=ImageResponse, errors=_IMAGE_ERRORS,
)  # fmt: skip
AZURE_EDITS = Operation(
    "Edit images (Azure OpenAI's route: the deployment names the model group)", "images",
    bodies=_EDIT_BODIES, response=ImageResponse, errors=_IMAGE_ERRORS, path_params=_DEPLOYMENT,
)  # fmt: skip
_VARIATION_BODIES: dict[str, type[BaseModel]] = {"multipart/form-data": ImageVariationFormRequest}
VARIATIONS = Operation(
    "Make variations of an image (OpenAI's Images API)", "images",
    bodies=_VARIATION_BODIES, response=ImageResponse, errors=_IMAGE_ERRORS,
)  # fmt: skip
AZURE_VARIATIONS = Operation(
    "Make variations of an image (Azure OpenAI's route: the deployment names the model group)", "images",
    bodies=_VARIATION_BODIES, response=ImageResponse, errors=_IMAGE_ERRORS, path_params=_DEPLOYMENT,
)  # fmt: skip
MODELS = Operation("The model groups this key may use", "models", response=ModelList, errors=(503,))
LIVELINESS = Operation("Alive", "health", response=Liveliness, errors=(), authenticated=False)
READINESS = Operation(
    "Ready to serve (details for the master key)", "health", response=Readiness, errors=(), authenticated=False
)
METRICS = Operation(
    "Prometheus metrics (master key only, unless general_settings.public_metrics)",
    "health",
    errors=(),
    media_type="text/plain",
)
OPENAPI = Operation(
    "This document (master key only, unless general_settings.public_openapi)",
    "health",
    errors=(),
)


# -- multipart text fields ----------------------------------------------------------------------------


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
