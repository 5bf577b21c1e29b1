"""The Gemini API's image models and what each accepts (ai.google.dev; /work/shared/reference/more-providers.md §1,
provider-edit-apis.md §4).

`family` picks the wire format: `gemini` models are called with `:generateContent` (one image per call,
edits with input images, no mask), `imagen` models with `:predict`. Imagen is deprecated: Google says it is
shut down on the Gemini API; the path stays for keys that still have access.

What Google accepts only on Vertex AI is listed here too, so that `map_params` refuses it naming the reason
instead of the core's generic "not supported": the Gemini API rejects `outputMimeType`, `personGeneration`,
… in `imageConfig`, and Imagen's `negativePrompt`, `seed`, `addWatermark` and `enhancePrompt`.
"""

from __future__ import annotations

from collections.abc import Mapping

from imagegen.provider import ANY, Allowed, ModelSpec, OperationSpec

from . import generate_content, predict
from .params import SIZED_QUALITY, native

GEMINI = "gemini"
IMAGEN = "imagen"

GEMINI_VERTEX_ONLY = (
    "output_format", "output_compression",
    *native(
        person_generation=ANY, prominent_people=ANY, output_mime_type=ANY, output_compression_quality=ANY,
        image_output_options=ANY,
    ),
)  # fmt: skip
"""Gemini parameters Google takes in `imageConfig` on Vertex AI only (the Gemini API answers 400)."""
IMAGEN_VERTEX_ONLY = tuple(native(negative_prompt=ANY, seed=ANY, add_watermark=ANY, enhance_prompt=ANY))
"""Imagen parameters Google's SDK refuses on the Gemini API ("… parameter is not supported in Gemini API")."""

# Gemini 3.1 Flash Image adds four extreme ratios and a 512-pixel size (second-hand: TanStack AI, Puter).
FLASH_31_ASPECT_RATIOS = (*generate_content.ASPECT_RATIOS, "1:4", "4:1", "1:8", "8:1")
ASPECT_RATIOS_BY_MODEL: Mapping[str, tuple[str, ...]] = {"gemini-3.1-flash-image-preview": FLASH_31_ASPECT_RATIOS}
"""The aspect ratios `size` maps to, for the models that differ from Gemini's usual ten."""

MAX_REQUEST_BYTES = 20 * 1024 * 1024
"""The largest request the Gemini API takes with inline images ("Request payload size exceeds the limit")."""


def _refused(*names: str) -> dict[str, Allowed]:
    return dict.fromkeys(names, ANY)


def _gemini(
    name: str,
    extra: Mapping[str, Allowed] | None = None,
    *,
    aliases: tuple[str, ...] = (),
    max_input_images: int,
) -> ModelSpec:
    params = {
        **generate_content.COMMON_PARAMS,
        "size": ANY,  # any WIDTHxHEIGHT, mapped to the nearest aspect ratio
        **(extra or {}),
        **_refused(*GEMINI_VERTEX_ONLY),
    }
    # An edit sends the images as parts of the prompt; there is no mask (the core refuses one).
    edit = OperationSpec(params, max_images=max_input_images, max_bytes=generate_content.MAX_INPUT_BYTES)
    return ModelSpec(name, params, max_images_per_call=1, aliases=aliases, family=GEMINI, edit=edit)


def _imagen(name: str, extra: Mapping[str, Allowed] | None = None) -> ModelSpec:
    params = {**predict.COMMON_PARAMS, "size": ANY, **(extra or {}), **_refused(*IMAGEN_VERTEX_ONLY)}
    return ModelSpec(name, params, family=IMAGEN)


_SIZED_IMAGEN = {"quality": SIZED_QUALITY, **native(sample_image_size=frozenset({"1K", "2K"}))}

MODELS: tuple[ModelSpec, ...] = (
    # "Works best with up to 3 images as input" (ai.google.dev); Vertex's model card: at most 3.
    _gemini("gemini-2.5-flash-image", aliases=("gemini-2.5-flash-image-preview",), max_input_images=3),
    _gemini(
        "gemini-3-pro-image-preview",
        {"quality": SIZED_QUALITY, **native(image_size=frozenset({"1K", "2K", "4K"}))},
        aliases=("gemini-3-pro-image",),
        max_input_images=14,
    ),
    _gemini(
        "gemini-3.1-flash-image-preview",
        {"quality": SIZED_QUALITY, **native(image_size=frozenset({"512", "1K", "2K", "4K"}))},
        aliases=("gemini-3.1-flash-image",),
        max_input_images=14,
    ),
    # Deprecated: shut down on the Gemini API per Google's Imagen page; kept for keys that still reach it.
    _imagen("imagen-4.0-generate-001", _SIZED_IMAGEN),
    _imagen("imagen-4.0-ultra-generate-001", _SIZED_IMAGEN),
    _imagen("imagen-4.0-fast-generate-001"),
)
