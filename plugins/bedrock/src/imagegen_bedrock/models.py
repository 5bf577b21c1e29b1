"""Bedrock's image models, what each accepts, and how OpenAI's parameters map onto them.

Limits and enums are those of AWS's model parameter reference (Stability SDXL, SD3/SD3.5/Stable Image,
Titan Image Generator v1/v2, Nova Canvas). Every mapping table of the plugin lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from imagegen.params import aspect_ratio_for, parse_size, reject
from imagegen.provider import ANY, Allowed, GenerationRequest, IntRange, ModelSpec, ProviderInfo

SDXL = "stability-sdxl"
STABILITY = "stability"  # SD3 Large, SD3.5 Large, Stable Image Core and Ultra: one request shape
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

CFG_SCALE_RANGES = {SDXL: (0.0, 35.0), TITAN: (1.1, 10.0), NOVA: (1.1, 10.0)}
AMAZON_NATIVE_NAMES = {"negative_prompt": "negativeText", "cfg_scale": "cfgScale"}
"""Titan/Nova take these under their own names; both spellings are accepted."""

_SDXL_PARAMS: dict[str, Allowed] = {
    "n": IntRange(1, 10),
    "size": SDXL_SIZES,
    "response_format": _BASE64_ONLY,
    "negative_prompt": ANY,
    "cfg_scale": ANY,  # a float range, checked in `wire`
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
# SD3 and SD3.5 Large also document `mode` (Stable Image Core and Ultra do not); its other value,
# image-to-image, needs an input image, which image generation does not take.
_SD3_PARAMS: dict[str, Allowed] = {**_STABILITY_PARAMS, "mode": frozenset({"text-to-image"})}


def _amazon_params(seed_max: int) -> dict[str, Allowed]:
    return {
        "n": IntRange(1, 5),
        "quality": frozenset(QUALITY),
        "response_format": _BASE64_ONLY,
        "negative_prompt": ANY,
        "negativeText": ANY,
        "cfg_scale": ANY,  # a float range, checked in `wire`
        "cfgScale": ANY,
        "seed": IntRange(0, seed_max),
    }


def _sdxl(name: str, *aliases: str) -> ModelSpec:
    return ModelSpec(name, _SDXL_PARAMS, max_images_per_call=1, aliases=aliases, family=SDXL, max_prompt_chars=2000)


def _stability(name: str, params: dict[str, Allowed] = _STABILITY_PARAMS) -> ModelSpec:
    return ModelSpec(name, params, max_images_per_call=1, family=STABILITY, max_prompt_chars=10000)


def _titan(name: str, *aliases: str) -> ModelSpec:
    params = {**_amazon_params(2147483646), "size": TITAN_SIZES}
    return ModelSpec(name, params, aliases=aliases, family=TITAN, max_prompt_chars=512)


MODELS: tuple[ModelSpec, ...] = (
    _sdxl("stability.stable-diffusion-xl-v1", "stability.stable-diffusion-xl-v1:0"),
    _sdxl("stability.stable-diffusion-xl-v0"),
    _stability("stability.sd3-large-v1:0", _SD3_PARAMS),
    _stability("stability.sd3-5-large-v1:0", _SD3_PARAMS),
    _stability("stability.stable-image-core-v1:0"),
    _stability("stability.stable-image-core-v1:1"),
    _stability("stability.stable-image-ultra-v1:0"),
    _stability("stability.stable-image-ultra-v1:1"),
    _titan("amazon.titan-image-generator-v1", "amazon.titan-image-generator-v1:0"),
    _titan("amazon.titan-image-generator-v2:0"),
    ModelSpec(
        "amazon.nova-canvas-v1:0",
        # Any WIDTHxHEIGHT within Nova's limits, checked in `nova_size_problem`.
        {**_amazon_params(858993459), "size": ANY, "style": frozenset(STYLE_TO_NOVA)},
        family=NOVA,
        max_prompt_chars=1024,
    ),
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
