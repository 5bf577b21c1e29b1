"""Parameters as Google's image APIs take them, shared by the Gemini API and Vertex AI plugins.

Native parameters are accepted under both spellings (`person_generation` and `personGeneration`) and sent
camelCased; OpenAI's `size` becomes the nearest aspect ratio, its `quality` a resolution on models that have one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from imagegen.params import OPENAI_PARAMS, aspect_ratio_for, camel_case, native_params
from imagegen.provider import Allowed, GenerationRequest

# OpenAI's own parameters that Google spells differently (mapped by each wire format).
MAPPED_OPENAI_PARAMS = (*OPENAI_PARAMS, "output_format", "output_compression")

# OpenAI's `quality` on models with a resolution setting; "auto" leaves the model's default.
QUALITY_IMAGE_SIZES = {"standard": "1K", "hd": "2K"}
BASIC_QUALITY = frozenset({"auto", "standard"})
SIZED_QUALITY = frozenset({"auto", *QUALITY_IMAGE_SIZES})


class _Booleans(frozenset[bool]):
    """`True` or `False` only (a plain set would also take 1 and 0, which Google rejects)."""

    def __contains__(self, value: object) -> bool:
        return isinstance(value, bool)


BOOLEANS = _Booleans({True, False})


def native(**allowed: Allowed) -> dict[str, Allowed]:
    """Native parameters under their snake_case and camelCase names, for a `ModelSpec`."""
    return {spelling: values for name, values in allowed.items() for spelling in {name, camel_case(name)}}


def native_fields(request: GenerationRequest, skip: Collection[str] = MAPPED_OPENAI_PARAMS) -> dict[str, Any]:
    """The request's native parameters, camelCased as Google spells them."""
    return {camel_case(name): value for name, value in native_params(request.params, skip).items()}


def aspect_ratio(request: GenerationRequest, ratios: Iterable[str]) -> str | None:
    """The `aspectRatio` for the OpenAI `size`; None for no size (or `auto`): the model's default."""
    size = request.params.get("size")
    if size is None or size == "auto":
        return None
    ratio = aspect_ratio_for(request, size, ratios)
    return ratio if "size" in request.params else None  # None: dropped under drop_params


def image_size(request: GenerationRequest) -> str | None:
    """The resolution (`1K`/`2K`) for the OpenAI `quality` on models that have one; else None.

    Models without a resolution setting accept `quality` only as `auto`/`standard`, which change nothing.
    """
    assert request.spec is not None
    if request.spec.params_for(request.operation).get("quality") != SIZED_QUALITY:
        return None
    return QUALITY_IMAGE_SIZES.get(request.params.get("quality", "auto"))
