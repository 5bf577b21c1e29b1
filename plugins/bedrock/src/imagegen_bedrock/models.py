"""Bedrock's image models, what each accepts, and how OpenAI's parameters map onto them.

Limits and enums are those of AWS's model parameter reference (Stability SDXL, SD3/SD3.5/Stable Image,
the Stability image services, Titan Image Generator v1/v2, Nova Canvas). Every mapping table of the
plugin lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from imagegen.params import aspect_ratio_for, parse_size, reject
from imagegen.provider import (
    ANY,
    Allowed,
    GenerationRequest,
    IntRange,
    ModelSpec,
    NumberRange,
    OperationSpec,
    ProviderInfo,
)

SDXL = "stability-sdxl"
STABILITY = "stability"  # SD3 Large, SD3.5 Large, Stable Image Core and Ultra: one request shape
STABILITY_SERVICE = "stability-service"  # the Stability image services: edit only, the model id is the operation
TITAN = "titan"
NOVA = "nova"

# Bedrock always answers in base64; asking for it is harmless, so it is accepted and not sent.
_BASE64_ONLY: Allowed = frozenset({"b64_json"})

SDXL_SIZES = frozenset(
    {"1024x1024", "1152x896", "1216x832", "1344x768", "1536x640", "640x1536", "768x1344", "832x1216", "896x1152"}
)
SDXL_SAMPLERS = frozenset(
    {
        "DDIM", "DDPM", "K_DPMPP_2M", "K_DPMPP_2S_ANCESTRAL", "K_DPM_2", "K_DPM_2_ANCESTRAL", "K_EULER",
        "K_EULER_ANCESTRAL", "K_HEUN", "K_LMS",
    }
)  # fmt: skip
SDXL_STYLE_PRESETS = frozenset(
    {
        "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance", "fantasy-art",
        "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk", "origami", "photographic",
        "pixel-art", "tile-texture",
    }
)  # fmt: skip
SDXL_CLIP_GUIDANCE_PRESETS = frozenset({"FAST_BLUE", "FAST_GREEN", "NONE", "SIMPLE", "SLOW", "SLOWER", "SLOWEST"})

STABILITY_ASPECT_RATIOS = ("1:1", "16:9", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
# Stability's own pixel sizes for each ratio (OpenAI's standard sizes are the core's `aspect_ratio_for`'s).
STABILITY_SIZE_RATIOS = {
    "1344x768": "16:9",
    "768x1344": "9:16",
    "1536x640": "21:9",
    "640x1536": "9:21",
    "1216x832": "3:2",
    "832x1216": "2:3",
    "1088x896": "5:4",
    "896x1088": "4:5",
}

TITAN_SIZES = frozenset(
    {
        "1024x1024", "768x768", "512x512", "768x1152", "384x576", "1152x768", "576x384", "768x1280", "384x640",
        "1280x768", "640x384", "896x1152", "448x576", "1152x896", "576x448", "768x1408", "384x704", "1408x768",
        "704x384", "640x1408", "320x704", "1408x640", "704x320", "1152x640", "1173x640",
    }
)  # fmt: skip

NOVA_MIN_SIDE, NOVA_MAX_SIDE, NOVA_MAX_PIXELS = 320, 4096, 4_194_304
QUALITY = {"standard": "standard", "premium": "premium", "hd": "premium", "high": "premium", "medium": "standard",
           "low": "standard", "auto": None}  # fmt: skip
"""OpenAI `quality` → Titan/Nova `quality` (None: leave the model's default)."""
NOVA_STYLES = (
    "3D_ANIMATED_FAMILY_FILM", "DESIGN_SKETCH", "FLAT_VECTOR_ILLUSTRATION", "GRAPHIC_NOVEL_ILLUSTRATION",
    "MAXIMALISM", "MIDCENTURY_RETRO", "PHOTOREALISM", "SOFT_DIGITAL_PAINTING",
)  # fmt: skip
STYLE_TO_NOVA = {"natural": "PHOTOREALISM", **{style: style for style in NOVA_STYLES}}
"""OpenAI `style` (or a Nova style by name) → Nova `style`; DALL·E's `vivid` has no counterpart."""

AMAZON_NATIVE_NAMES = {
    "negative_prompt": "negativeText",
    "cfg_scale": "cfgScale",
    "task_type": "taskType",
    "mask_prompt": "maskPrompt",
    "outpainting_mode": "outPaintingMode",
    "similarity_strength": "similarityStrength",
}
"""Titan/Nova take these under their own names; both spellings are accepted."""

# Titan/Nova edit task types (`task_type`), each with the field holding its parameters.
INPAINTING, OUTPAINTING, IMAGE_VARIATION, BACKGROUND_REMOVAL = (
    "INPAINTING", "OUTPAINTING", "IMAGE_VARIATION", "BACKGROUND_REMOVAL",
)  # fmt: skip
TASK_FIELDS = {
    INPAINTING: "inPaintingParams",
    OUTPAINTING: "outPaintingParams",
    IMAGE_VARIATION: "imageVariationParams",
    BACKGROUND_REMOVAL: "backgroundRemovalParams",
}
TITAN_MAX_SIDE = 1408
AMAZON_INPUT_FORMATS = frozenset({"png", "jpeg"})
IMAGE_TO_IMAGE_STRENGTH = 0.7
"""SD3/SD3.5 image-to-image needs a `strength`; without one, AWS's sample value is sent."""

_SDXL_PARAMS: dict[str, Allowed] = {
    "n": IntRange(1, 10),
    "size": SDXL_SIZES,
    "response_format": _BASE64_ONLY,
    "negative_prompt": ANY,
    "cfg_scale": NumberRange(0.0, 35.0),
    "steps": IntRange(10, 50),
    "seed": IntRange(0, 4294967295),
    "sampler": SDXL_SAMPLERS,
    "style_preset": SDXL_STYLE_PRESETS,
    "clip_guidance_preset": SDXL_CLIP_GUIDANCE_PRESETS,
}
_STABILITY_PARAMS: dict[str, Allowed] = {
    "n": IntRange(1, 10),
    "size": ANY,  # mapped to the nearest aspect ratio
    "response_format": _BASE64_ONLY,
    "aspect_ratio": frozenset(STABILITY_ASPECT_RATIOS),
    "negative_prompt": ANY,
    "seed": IntRange(0, 4294967294),
    "output_format": frozenset({"jpeg", "png"}),
}
# SD3 and SD3.5 Large also document `mode`; image generation is text-to-image, and an edit is their
# image-to-image mode (Stable Image Core and Ultra have neither).
_SD3_PARAMS: dict[str, Allowed] = {**_STABILITY_PARAMS, "mode": frozenset({"text-to-image"})}
_STABILITY_INPUT_FORMATS = frozenset({"png", "jpeg", "webp"})
_IMAGE_TO_IMAGE = OperationSpec(
    {
        **{k: v for k, v in _STABILITY_PARAMS.items() if k not in ("size", "aspect_ratio")},
        "strength": NumberRange(0.0, 1.0),
    },
    formats=_STABILITY_INPUT_FORMATS,
)


def _amazon_params(seed_max: int) -> dict[str, Allowed]:
    return {
        "n": IntRange(1, 5),
        "quality": frozenset(QUALITY),
        "response_format": _BASE64_ONLY,
        **_both_spellings(negative_prompt=ANY, cfg_scale=NumberRange(1.1, 10.0)),
        "seed": IntRange(0, seed_max),
    }


def _both_spellings(**allowed: Allowed) -> dict[str, Allowed]:
    return {spelling: values for name, values in allowed.items() for spelling in (name, AMAZON_NATIVE_NAMES[name])}


def _amazon_inputs(
    seed_max: int, size: Allowed, tasks: tuple[str, ...], max_side: int | None
) -> tuple[OperationSpec, OperationSpec]:
    """Titan's or Nova's edit (any task type) and variation (IMAGE_VARIATION with no prompt)."""
    variation = {
        **_amazon_params(seed_max),
        "size": size,  # IMAGE_VARIATION only: inpainting and outpainting keep the input's size
        **_both_spellings(similarity_strength=NumberRange(0.2, 1.0)),
    }
    edit = {
        **variation,
        **_both_spellings(
            task_type=frozenset(tasks), mask_prompt=ANY, outpainting_mode=frozenset({"DEFAULT", "PRECISE"})
        ),
    }
    return (
        OperationSpec(
            edit, max_images=5, mask=True, prompt="optional", formats=AMAZON_INPUT_FORMATS, max_side=max_side
        ),
        OperationSpec(variation, max_images=5, prompt="none", formats=AMAZON_INPUT_FORMATS, max_side=max_side),
    )


def _sdxl(name: str, *aliases: str) -> ModelSpec:
    return ModelSpec(name, _SDXL_PARAMS, max_images_per_call=1, aliases=aliases, family=SDXL, max_prompt_chars=2000)


def _stability(
    name: str, params: dict[str, Allowed] = _STABILITY_PARAMS, edit: OperationSpec | None = None
) -> ModelSpec:
    return ModelSpec(name, params, max_images_per_call=1, family=STABILITY, max_prompt_chars=10000, edit=edit)


_TITAN_TASKS = (INPAINTING, OUTPAINTING, IMAGE_VARIATION)  # v2 and Nova add BACKGROUND_REMOVAL


def _titan(name: str, *aliases: str, tasks: tuple[str, ...] = _TITAN_TASKS) -> ModelSpec:
    params = {**_amazon_params(2147483646), "size": TITAN_SIZES}
    edit, variation = _amazon_inputs(2147483646, TITAN_SIZES, tasks, TITAN_MAX_SIDE)
    return ModelSpec(name, params, aliases=aliases, family=TITAN, max_prompt_chars=512, edit=edit, variation=variation)


def _nova(name: str) -> ModelSpec:
    # Any WIDTHxHEIGHT within Nova's limits, checked in `nova_size_problem`.
    params = {**_amazon_params(858993459), "size": ANY, "style": frozenset(STYLE_TO_NOVA)}
    edit, variation = _amazon_inputs(858993459, ANY, (*_TITAN_TASKS, BACKGROUND_REMOVAL), NOVA_MAX_SIDE)
    return ModelSpec(name, params, family=NOVA, max_prompt_chars=1024, edit=edit, variation=variation)


@dataclass(frozen=True)
class PixelLimits:
    """What an input image's dimensions must be, beyond the checks the core makes (`max_side`)."""

    min_side: int = 64
    max_side: int | None = None
    min_pixels: int = 0
    max_pixels: int | None = 9_437_184
    max_ratio: float | None = 2.5

    def problem(self, width: int, height: int) -> str | None:
        """Why an image of WIDTHxHEIGHT is refused, or None."""
        if min(width, height) < self.min_side or (self.max_side and max(width, height) > self.max_side):
            return f"each side must be {self.min_side} pixels or more" + (
                f" and {self.max_side} or less" if self.max_side else ""
            )
        if width * height < self.min_pixels or (self.max_pixels and width * height > self.max_pixels):
            return f"it must have from {self.min_pixels} to {self.max_pixels} pixels in all"
        if self.max_ratio and max(width, height) / min(width, height) > self.max_ratio:
            return f"its aspect ratio must be between 1:{self.max_ratio} and {self.max_ratio}:1"
        return None


@dataclass(frozen=True)
class Service:
    """One Stability image service: the body fields it takes besides its parameters.

    `image_fields`: the body fields of the input images, in order. `takes_prompt`: it has a `prompt`
    field (a prompt given to one that has none is ignored with a warning). `needs`: native parameters it
    cannot do without; `needs_one_of`: at least one of these must be non-zero.
    """

    limits: PixelLimits = PixelLimits()
    image_fields: tuple[str, ...] = ("image",)
    takes_prompt: bool = True
    needs: tuple[str, ...] = ()
    needs_one_of: tuple[str, ...] = ()


_SERVICE_COMMON: dict[str, Allowed] = {
    "n": IntRange(1, 10),  # one image per call: the core fans n out
    "response_format": _BASE64_ONLY,
    "seed": IntRange(0, 4294967294),
    "output_format": frozenset({"jpeg", "png", "webp"}),
}
_NEGATIVE: dict[str, Allowed] = {"negative_prompt": ANY}
_STYLE: dict[str, Allowed] = {"style_preset": SDXL_STYLE_PRESETS}  # the same 17 presets
_GROW_MASK: dict[str, Allowed] = {"grow_mask": IntRange(0, 20)}
_CONTROL: dict[str, Allowed] = {**_NEGATIVE, **_STYLE, "control_strength": NumberRange(0.0, 1.0)}
_OUTPAINT_SIDE = IntRange(0, 2000)


def _takes(
    params: dict[str, Allowed],
    *,
    mask: bool = False,
    prompt: Literal["required", "optional"] = "required",
    max_images: int = 1,
) -> OperationSpec:
    """A Stability service's edit: its parameters besides the common ones, and its inputs."""
    params = {**_SERVICE_COMMON, **params}
    return OperationSpec(params, max_images=max_images, mask=mask, prompt=prompt, formats=_STABILITY_INPUT_FORMATS)


# A prompt is "optional" on services that take none: OpenAI's edit form always sends one, so it is ignored.
SERVICES: dict[str, tuple[Service, OperationSpec]] = {
    "stability.stable-image-inpaint-v1:0": (Service(), _takes({**_NEGATIVE, **_STYLE, **_GROW_MASK}, mask=True)),
    "stability.stable-image-erase-object-v1:0": (
        Service(takes_prompt=False), _takes(_GROW_MASK, mask=True, prompt="optional"),
    ),
    "stability.stable-image-search-replace-v1:0": (
        Service(needs=("search_prompt",)), _takes({**_NEGATIVE, **_STYLE, **_GROW_MASK, "search_prompt": ANY}),
    ),
    "stability.stable-image-search-recolor-v1:0": (
        Service(needs=("select_prompt",)), _takes({**_NEGATIVE, **_STYLE, **_GROW_MASK, "select_prompt": ANY}),
    ),
    "stability.stable-image-remove-background-v1:0": (Service(takes_prompt=False), _takes({}, prompt="optional")),
    "stability.stable-outpaint-v1:0": (
        Service(needs_one_of=("left", "right", "up", "down")),
        _takes(
            {**_STYLE, "creativity": NumberRange(0.1, 1.0), "left": _OUTPAINT_SIDE, "right": _OUTPAINT_SIDE,
             "up": _OUTPAINT_SIDE, "down": _OUTPAINT_SIDE},
            prompt="optional",
        ),
    ),
    "stability.stable-image-control-sketch-v1:0": (Service(), _takes(_CONTROL)),
    "stability.stable-image-control-structure-v1:0": (Service(), _takes(_CONTROL)),
    "stability.stable-image-style-guide-v1:0": (
        Service(),
        _takes({**_NEGATIVE, **_STYLE, "size": ANY, "aspect_ratio": frozenset(STABILITY_ASPECT_RATIOS),
                "fidelity": NumberRange(0.0, 1.0)}),
    ),
    "stability.stable-style-transfer-v1:0": (
        Service(image_fields=("init_image", "style_image")),
        _takes(
            {**_NEGATIVE, "composition_fidelity": NumberRange(0.0, 1.0), "style_strength": NumberRange(0.0, 1.0),
             "change_strength": NumberRange(0.1, 1.0)},
            prompt="optional",
            max_images=2,
        ),
    ),
    "stability.stable-creative-upscale-v1:0": (
        Service(PixelLimits(min_pixels=4096, max_pixels=1_048_576, max_ratio=None)),
        _takes({**_NEGATIVE, **_STYLE, "creativity": NumberRange(0.1, 0.5)}),
    ),
    "stability.stable-conservative-upscale-v1:0": (
        Service(), _takes({**_NEGATIVE, "creativity": NumberRange(0.1, 0.5)}),
    ),
    "stability.stable-fast-upscale-v1:0": (
        Service(PixelLimits(min_side=32, max_side=1536, min_pixels=1024, max_pixels=1_048_576, max_ratio=None),
                takes_prompt=False),
        _takes({}, prompt="optional"),
    ),
}  # fmt: skip
"""The Stability image services (invoked through their `us.` inference profiles), from AWS's reference."""
IMAGE_TO_IMAGE_LIMITS = PixelLimits(max_pixels=None, max_ratio=None)
"""SD3/SD3.5 image-to-image: each side at least 64 pixels."""


def _service(name: str, edit: OperationSpec) -> ModelSpec:
    return ModelSpec(
        name, {}, max_images_per_call=1, family=STABILITY_SERVICE, max_prompt_chars=10000, generation=False, edit=edit
    )


MODELS: tuple[ModelSpec, ...] = (
    _sdxl("stability.stable-diffusion-xl-v1", "stability.stable-diffusion-xl-v1:0"),
    _sdxl("stability.stable-diffusion-xl-v0"),
    _stability("stability.sd3-large-v1:0", _SD3_PARAMS, _IMAGE_TO_IMAGE),
    _stability("stability.sd3-5-large-v1:0", _SD3_PARAMS, _IMAGE_TO_IMAGE),
    _stability("stability.stable-image-core-v1:0"),
    _stability("stability.stable-image-core-v1:1"),
    _stability("stability.stable-image-ultra-v1:0"),
    _stability("stability.stable-image-ultra-v1:1"),
    _titan("amazon.titan-image-generator-v1", "amazon.titan-image-generator-v1:0"),
    _titan("amazon.titan-image-generator-v2:0", tasks=(*_TITAN_TASKS, BACKGROUND_REMOVAL)),
    _nova("amazon.nova-canvas-v1:0"),
    *(_service(name, edit) for name, (_, edit) in SERVICES.items()),
)

INFERENCE_PROFILE_PREFIXES = ("us.", "us-gov.", "eu.", "apac.", "jp.", "au.", "ca.", "global.")


def base_model_id(model_id: str) -> str:
    """The foundation model behind a model id, inference-profile id (`us.…`) or ARN.

    `arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-canvas-v1:0` and
    `us.amazon.nova-canvas-v1:0` are both `amazon.nova-canvas-v1:0`.
    """
    model_id = unquote(model_id)  # an ARN may arrive already URL-encoded
    if model_id.startswith("arn:"):
        model_id = model_id.rpartition("/")[2]
    for prefix in INFERENCE_PROFILE_PREFIXES:
        if model_id.startswith(prefix):
            return model_id[len(prefix) :]
    return model_id


def invocation_id(model_id: str) -> str:
    """The id to invoke `model_id` with: a Stability image service only runs through its `us.` profile."""
    return f"us.{model_id}" if model_id in SERVICES else model_id


@dataclass(frozen=True)
class BedrockInfo(ProviderInfo):
    """Finds a model's spec by its foundation model, whatever form its id takes."""

    def model(self, name: str) -> ModelSpec | None:
        return super().model(base_model_id(name))


def stability_aspect_ratio(request: GenerationRequest, size: str) -> str:
    """The SD3/Stable Image `aspect_ratio` for an OpenAI `size` (the nearest one, with a warning, if inexact)."""
    return STABILITY_SIZE_RATIOS.get(size) or aspect_ratio_for(request, size, STABILITY_ASPECT_RATIOS)


def nova_size_problem(width: int, height: int) -> str | None:
    """Why Nova Canvas would refuse WIDTHxHEIGHT, or None if it accepts it."""
    if not (NOVA_MIN_SIDE <= width <= NOVA_MAX_SIDE and NOVA_MIN_SIDE <= height <= NOVA_MAX_SIDE):
        return f"each side must be from {NOVA_MIN_SIDE} to {NOVA_MAX_SIDE} pixels"
    if width % 16 or height % 16:
        return "width and height must both be divisible by 16"
    if not 1 / 4 <= width / height <= 4:
        return "the aspect ratio must be between 1:4 and 4:1"
    if width * height > NOVA_MAX_PIXELS:
        return f"the image may have at most {NOVA_MAX_PIXELS} pixels (e.g. 2048x2048)"
    return None


def nova_dimensions(request: GenerationRequest, size: str) -> tuple[int, int] | None:
    """`(width, height)` for a Nova `size`, or None when it was rejected under `drop_params`."""
    try:
        width, height = parse_size(size)
        problem = nova_size_problem(width, height)
    except ValueError as exc:
        problem = str(exc)
    if problem:
        reject(request, "size", size, None, reason=f"size {size!r} is not accepted by Nova Canvas: {problem}")
        return None
    return width, height
