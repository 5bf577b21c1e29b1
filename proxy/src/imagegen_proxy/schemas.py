"""The shapes of the proxy's own routes (images, models, health, metrics) and their `Operation`s.

OpenAI's `CreateImageRequest` and `ImagesResponse`, as far as the proxy takes and answers them: other
fields pass through to the provider (`size` and `quality` values differ between providers, so they are
plain strings here; each model's own are checked when the request is prepared).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from imagegen.types import ImageResponse

from .openapi import Operation, model_group_schema

ModelGroupName = Annotated[str, WithJsonSchema(model_group_schema("A model group served by this proxy"))]


class ImageGenerationRequest(BaseModel):
    """OpenAI's `CreateImageRequest`; fields a provider takes beyond it pass through."""

    model_config = ConfigDict(extra="allow", title="ImageGenerationRequest")

    prompt: str = Field(min_length=1, description="What to draw")
    model: ModelGroupName | None = Field(None, description="The model group (Azure's route names it in the path)")
    n: int | None = Field(None, ge=1, le=10, description="How many images")
    size: str | None = Field(None, examples=["1024x1024", "auto"])
    quality: str | None = Field(None, examples=["standard", "hd", "low", "medium", "high", "auto"])
    response_format: Literal["url", "b64_json"] | None = None
    style: Literal["vivid", "natural"] | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    moderation: Literal["low", "auto"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: int | None = Field(None, ge=0, le=100)
    user: str | None = Field(None, description="The end user: their budget and rate limit apply, and spend is logged")


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


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


_GENERATION_ERRORS = (400, 404, 413, 429, 502, 503, 504)

GENERATIONS = Operation(
    "Create images (OpenAI's Images API)",
    "images",
    request=ImageGenerationRequest,
    response=ImageResponse,
    errors=_GENERATION_ERRORS,
)
AZURE_GENERATIONS = Operation(
    "Create images (Azure OpenAI's route: the deployment names the model group)",
    "images",
    request=ImageGenerationRequest,
    response=ImageResponse,
    errors=_GENERATION_ERRORS,
    path_params={"deployment": "The model group"},
)
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
