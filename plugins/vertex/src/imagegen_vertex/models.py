"""Vertex AI's image models and what each accepts, per Google's Imagen and Gemini API references.

Native parameters are listed under both spellings (`negative_prompt` and `negativePrompt`): either
may be given, and both are sent in camelCase. `family` picks the wire format: `imagen` models are
called with `:predict`, `gemini` models with `:generateContent`. Edits: `imagen-3.0-capability-001`
(reference images, edit modes, user or automatic masks), `imagegeneration@006` (Imagen 2's `editConfig`)
and the Gemini image models (input images as parts, no mask).
"""

from __future__ import annotations

from collections.abc import Mapping

from imagegen.provider import ANY, Allowed, IntRange, ModelSpec, NumberRange, OperationSpec
from imagegen_gemini import predict
from imagegen_gemini.image_models import (
    GEMINI_2_0_FLASH_IMAGE,
    GEMINI_2_5_FLASH_IMAGE,
    GEMINI_3_PRO_IMAGE,
    IMAGE_MODELS,
)
from imagegen_gemini.params import BASIC_QUALITY, BOOLEANS, SIZED_QUALITY, native

IMAGEN = "imagen"

UINT32 = IntRange(0, 2**32 - 1)
MB = 1024 * 1024

# imagen-3.0-capability-001's edit modes and automatic masks (a user's mask is MASK_MODE_USER_PROVIDED).
EDIT_MODE_DEFAULT = "EDIT_MODE_DEFAULT"  # mask-free: the prompt describes the whole edited image
INPAINT_INSERTION, INPAINT_REMOVAL = "EDIT_MODE_INPAINT_INSERTION", "EDIT_MODE_INPAINT_REMOVAL"
EDIT_MODES = (EDIT_MODE_DEFAULT, INPAINT_INSERTION, INPAINT_REMOVAL, "EDIT_MODE_OUTPAINT", "EDIT_MODE_BGSWAP")
MASK_MODE_SEMANTIC = "MASK_MODE_SEMANTIC"
AUTO_MASK_MODES = ("MASK_MODE_BACKGROUND", "MASK_MODE_FOREGROUND", MASK_MODE_SEMANTIC)
# imagegeneration@006 (Imagen 2) spells them its own way, and has no mask-free edit.
LEGACY_EDIT_MODES = ("inpainting-insert", "inpainting-remove", "outpainting", "product-image")
LEGACY_MASK_MODES = ("background", "foreground", "semantic")
IMAGEN_INPUT_FORMATS = frozenset({"png", "jpeg"})
IMAGEN_MAX_BYTES = 10 * MB  # "Maximum image size uploaded or sent in a request"


# What every Imagen model takes, generating or editing: what both Google APIs take, and what only Vertex does.
_IMAGEN_COMMON: dict[str, Allowed] = {**predict.COMMON_PARAMS, **native(seed=UINT32, add_watermark=BOOLEANS)}


def _imagen(name: str, *extras: Mapping[str, Allowed], edit: OperationSpec | None = None) -> ModelSpec:
    return ModelSpec(
        name,
        {
            **_IMAGEN_COMMON,
            "size": ANY,  # any WIDTHxHEIGHT, mapped to the nearest aspect ratio
            "quality": BASIC_QUALITY,
            **{name: allowed for extra in extras for name, allowed in extra.items()},
        },
        family=IMAGEN,
        edit=edit,
    )


# Older Imagen versions take a negative prompt and a guidance scale; imagen-3.0-generate-002 and
# later drop both and add LLM prompt rewriting (`enhance_prompt`) instead.
_LEGACY = native(negative_prompt=ANY, guidance_scale=ANY)
_REWRITING = native(enhance_prompt=BOOLEANS)
_SIZED = {"quality": SIZED_QUALITY, **native(sample_image_size=frozenset({"1K", "2K"}))}


def _imagen_edit(modes: Mapping[str, Allowed]) -> OperationSpec:
    """An Imagen edit: one image, a mask (or an automatic one), the prompt optional (a removal needs none)."""
    params: dict[str, Allowed] = {
        **_IMAGEN_COMMON,
        **native(
            negative_prompt=ANY,
            guidance_scale=ANY,
            mask_classes=ANY,  # a list of up to five class ids, checked with the mask mode
            mask_dilation=NumberRange(0.0, 1.0),
        ),
        **modes,
    }
    return OperationSpec(params, mask=True, prompt="optional", formats=IMAGEN_INPUT_FORMATS, max_bytes=IMAGEN_MAX_BYTES)


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
    _imagen(
        "imagegeneration@006",
        _LEGACY,
        edit=_imagen_edit(native(edit_mode=frozenset(LEGACY_EDIT_MODES), mask_mode=frozenset(LEGACY_MASK_MODES))),
    ),
    _imagen("imagen-3.0-generate-001", _LEGACY),
    _imagen("imagen-3.0-fast-generate-001", _LEGACY),
    _imagen("imagen-3.0-generate-002", _REWRITING),
    _imagen("imagen-4.0-generate-001", _REWRITING, _SIZED),
    _imagen("imagen-4.0-ultra-generate-001", _REWRITING, _SIZED),
    _imagen("imagen-4.0-fast-generate-001", _REWRITING),
    *(model.spec() for model in (GEMINI_2_0_FLASH_IMAGE, GEMINI_2_5_FLASH_IMAGE, GEMINI_3_PRO_IMAGE)),
    ModelSpec(
        "imagen-3.0-capability-001",
        {},
        family=IMAGEN,
        generation=False,  # editing and customization only
        edit=_imagen_edit(
            native(edit_mode=frozenset(EDIT_MODES), mask_mode=frozenset(AUTO_MASK_MODES), base_steps=ANY)
        ),
    ),
)
LEGACY_EDITORS = frozenset({"imagegeneration@006"})
"""Imagen models that edit with Imagen 2's request shape (`image`, `mask`, `editConfig`)."""

ONLY_SQUARE = frozenset({"imagegeneration@002"})
"""Models that make square images only: any size maps to 1:1 (with a warning when it is not square)."""

GLOBAL_ONLY = frozenset(
    name for model in IMAGE_MODELS.values() if model.global_only for name in (model.name, *model.aliases)
)
"""Models Vertex AI serves only in the `global` location (Gemini 3 Pro Image's model card: "global only")."""
