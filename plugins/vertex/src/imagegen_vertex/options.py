"""The OpenAI and native parameters of a checked request, in the terms both Vertex wire formats share."""

from __future__ import annotations

from typing import Any

from imagegen.params import OPENAI_PARAMS, aspect_ratio_for, camel_case, native_params
from imagegen.provider import GenerationRequest

from .models import ASPECT_RATIOS, ONLY_SQUARE, QUALITY_IMAGE_SIZES, SIZED_QUALITY

# OpenAI's own parameters that Vertex spells differently (mapped by each wire format).
MAPPED_OPENAI_PARAMS = (*OPENAI_PARAMS, "output_format", "output_compression")


def aspect_ratio(request: GenerationRequest) -> str | None:
    """Vertex's `aspectRatio` for the OpenAI `size`; None for no size (or `auto`): the model's default."""
    size = request.params.get("size")
    if size is None or size == "auto":
        return None
    assert request.spec is not None
    ratios = ("1:1",) if request.spec.name in ONLY_SQUARE else ASPECT_RATIOS[request.spec.family]
    ratio = aspect_ratio_for(request, size, ratios)
    return ratio if "size" in request.params else None  # None: dropped under drop_params


def image_size(request: GenerationRequest) -> str | None:
    """The resolution (`1K`/`2K`) for the OpenAI `quality` on models that have one; else None.

    Models without a resolution setting accept `quality` only as `auto`/`standard`, which change nothing.
    """
    assert request.spec is not None
    if request.spec.params.get("quality") != SIZED_QUALITY:
        return None
    return QUALITY_IMAGE_SIZES.get(request.params.get("quality", "auto"))


def native(request: GenerationRequest) -> dict[str, Any]:
    """The native parameters, camelCased as Vertex spells them."""
    return {camel_case(name): value for name, value in native_params(request.params, MAPPED_OPENAI_PARAMS).items()}
