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

from imagegen.provider import ANY, Allowed, ModelSpec

from . import predict
from .image_models import GEMINI_2_5_FLASH_IMAGE, GEMINI_3_1_FLASH_IMAGE, GEMINI_3_PRO_IMAGE
from .params import SIZED_QUALITY, native

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

MAX_REQUEST_BYTES = 20 * 1024 * 1024
"""The largest request the Gemini API takes with inline images ("Request payload size exceeds the limit")."""


def _refused(*names: str) -> dict[str, Allowed]:
    return dict.fromkeys(names, ANY)


def _imagen(name: str, extra: Mapping[str, Allowed] | None = None) -> ModelSpec:
    params = {**predict.COMMON_PARAMS, "size": ANY, **(extra or {}), **_refused(*IMAGEN_VERTEX_ONLY)}
    return ModelSpec(name, params, family=IMAGEN)


_SIZED_IMAGEN = {"quality": SIZED_QUALITY, **native(sample_image_size=frozenset({"1K", "2K"}))}

MODELS: tuple[ModelSpec, ...] = (
    *(
        model.spec(refused=_refused(*GEMINI_VERTEX_ONLY))
        for model in (GEMINI_2_5_FLASH_IMAGE, GEMINI_3_PRO_IMAGE, GEMINI_3_1_FLASH_IMAGE)
    ),
    # Deprecated: shut down on the Gemini API per Google's Imagen page; kept for keys that still reach it.
    _imagen("imagen-4.0-generate-001", _SIZED_IMAGEN),
    _imagen("imagen-4.0-ultra-generate-001", _SIZED_IMAGEN),
    _imagen("imagen-4.0-fast-generate-001"),
)
