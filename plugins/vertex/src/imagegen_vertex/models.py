"""Vertex AI's image models and what each accepts, per Google's Imagen and Gemini API references.

Native parameters are listed under both spellings (`negative_prompt` and `negativePrompt`): either
may be given, and both are sent in camelCase. `family` picks the wire format: `imagen` models are
called with `:predict`, `gemini` models with `:generateContent`.
"""

from __future__ import annotations

from collections.abc import Mapping

from imagegen.params import camel_case
from imagegen.provider import ANY, Allowed, IntRange, ModelSpec

IMAGEN = "imagen"
GEMINI = "gemini"


class _Booleans(frozenset[bool]):
    """`True` or `False` only (a plain set would also take 1 and 0, which Vertex rejects)."""

    def __contains__(self, value: object) -> bool:
        return isinstance(value, bool)


BOOLEANS = _Booleans({True, False})

IMAGEN_ASPECT_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
GEMINI_ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
ASPECT_RATIOS = {IMAGEN: IMAGEN_ASPECT_RATIOS, GEMINI: GEMINI_ASPECT_RATIOS}

OUTPUT_MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}
# OpenAI's `quality` on models with a resolution setting; "auto" leaves the model's default.
QUALITY_IMAGE_SIZES = {"standard": "1K", "hd": "2K"}
BASIC_QUALITY = frozenset({"auto", "standard"})
SIZED_QUALITY = frozenset({"auto", *QUALITY_IMAGE_SIZES})

PERSON_GENERATION = frozenset({"dont_allow", "allow_adult", "allow_all"})
SAFETY_SETTINGS = frozenset({"block_low_and_above", "block_medium_and_above", "block_only_high", "block_none"})
LANGUAGES = frozenset({"auto", "en", "zh", "zh-CN", "zh-TW", "hi", "ja", "ko", "pt", "es"})
UINT32 = IntRange(0, 2**32 - 1)


def native(**allowed: Allowed) -> dict[str, Allowed]:
    """Native parameters under their snake_case and camelCase names."""
    return {spelling: values for name, values in allowed.items() for spelling in {name, camel_case(name)}}


def _imagen(name: str, *extras: Mapping[str, Allowed]) -> ModelSpec:
    return ModelSpec(
        name,
        {
            "n": IntRange(1, 4),
            "size": ANY,  # any WIDTHxHEIGHT, mapped to the nearest aspect ratio
            "quality": BASIC_QUALITY,
            "response_format": frozenset({"b64_json"}),  # Vertex answers in base64 only
            "output_format": frozenset(OUTPUT_MIME_TYPES),
            "output_compression": IntRange(0, 100),
            **native(
                seed=UINT32,
                add_watermark=BOOLEANS,
                person_generation=PERSON_GENERATION,
                safety_setting=SAFETY_SETTINGS,
                language=LANGUAGES,
                include_rai_reason=BOOLEANS,
                include_safety_attributes=BOOLEANS,
            ),
            **{name: allowed for extra in extras for name, allowed in extra.items()},
        },
        family=IMAGEN,
    )


# Older Imagen versions take a negative prompt and a guidance scale; imagen-3.0-generate-002 and
# later drop both and add LLM prompt rewriting (`enhance_prompt`) instead.
_LEGACY = native(negative_prompt=ANY, guidance_scale=ANY)
_REWRITING = native(enhance_prompt=BOOLEANS)
_SIZED = {"quality": SIZED_QUALITY, **native(sample_image_size=frozenset({"1K", "2K"}))}

_GEMINI_PARAMS: dict[str, Allowed] = {
    "n": IntRange(1, 10),  # one image per generateContent call: the core fans out
    "response_format": frozenset({"b64_json"}),
    "quality": BASIC_QUALITY,
    **native(temperature=ANY, top_p=ANY, seed=IntRange(-(2**31), 2**31 - 1)),
}


def _gemini(
    name: str, extra: Mapping[str, Allowed] | None = None, *, sized: bool = True, aliases: tuple[str, ...] = ()
) -> ModelSpec:
    params = {**_GEMINI_PARAMS, **({"size": ANY} if sized else {}), **(extra or {})}
    return ModelSpec(name, params, max_images_per_call=1, aliases=aliases, family=GEMINI)


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "imagegeneration@002",
        {
            "n": IntRange(1, 8),
            "size": ANY,
            "quality": BASIC_QUALITY,
            "response_format": frozenset({"b64_json"}),
            **native(negative_prompt=ANY, seed=UINT32),
        },
        family=IMAGEN,
    ),
    _imagen("imagegeneration@005", _LEGACY),
    _imagen("imagegeneration@006", _LEGACY),
    _imagen("imagen-3.0-generate-001", _LEGACY),
    _imagen("imagen-3.0-fast-generate-001", _LEGACY),
    _imagen("imagen-3.0-generate-002", _REWRITING),
    _imagen("imagen-4.0-generate-001", _REWRITING, _SIZED),
    _imagen("imagen-4.0-ultra-generate-001", _REWRITING, _SIZED),
    _imagen("imagen-4.0-fast-generate-001", _REWRITING),
    _gemini("gemini-2.0-flash-preview-image-generation", sized=False),  # takes no aspect ratio
    _gemini("gemini-2.5-flash-image", aliases=("gemini-2.5-flash-image-preview",)),
    _gemini(
        "gemini-3-pro-image-preview",
        {"quality": SIZED_QUALITY, **native(image_size=frozenset({"1K", "2K", "4K"}))},
    ),
)

ONLY_SQUARE = frozenset({"imagegeneration@002"})
"""Models that make square images only: any size maps to 1:1 (with a warning when it is not square)."""
