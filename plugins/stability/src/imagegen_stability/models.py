"""Stability AI's v2beta services and what each accepts (Stability's ComfyUI nodes, the API reference;
/work/shared/reference/more-providers.md §3).

Every service makes one image per call (the core fans `n` out) and answers base64 JSON. The generate
services are models (`stable-image-ultra`, `stable-image-core`, `sd3.5-large`, …; Ultra and SD3 also edit:
image-to-image with `strength`); each edit, control and upscale service is an edit-only model named after
its path (`inpaint`, `search-and-replace`, `control-sketch`, `upscale-creative`, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from imagegen.provider import ANY, Allowed, IntRange, ModelSpec, NumberRange, OperationSpec

ASPECT_RATIOS = ("1:1", "16:9", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
# Stability's own pixel sizes for each ratio (Ultra / SD3), besides OpenAI's standard sizes.
SIZE_RATIOS = {"1344x768": "16:9", "768x1344": "9:16", "1536x640": "21:9", "640x1536": "9:21", "1216x832": "3:2",
               "832x1216": "2:3", "1088x896": "5:4", "896x1088": "4:5"}  # fmt: skip
STYLE_PRESETS = frozenset(
    {"3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance", "fantasy-art",
     "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk", "origami", "photographic",
     "pixel-art", "tile-texture"}
)  # fmt: skip
SEED = IntRange(0, 4294967294)
UNIT = NumberRange(0, 1)  # strength, control_strength, fidelity
OUTPAINT_CREATIVITY = NumberRange(0.1, 1)
UPSCALE_CREATIVITY = NumberRange(0.1, 0.5)  # the conservative and creative upscalers
PNG_JPEG = frozenset({"png", "jpeg"})
PNG_JPEG_WEBP = frozenset({"png", "jpeg", "webp"})
PNG_WEBP = frozenset({"png", "webp"})  # remove-background: formats with transparency
FAST_UPSCALE_MAX_SIDE = 1536
FAST_UPSCALE_PIXELS = (1024, 1024 * 1024)
"""The fast upscaler's input: 32 to 1,536 pixels a side, 1,024 to 1,048,576 pixels in all (it makes 4x)."""

_COMMON: dict[str, Allowed] = {"n": IntRange(1, 10), "response_format": frozenset({"b64_json"}), "seed": SEED}


@dataclass(frozen=True)
class Service:
    """Where a model is served: its path under /v2beta/stable-image (an answer with an `id` is a job)."""

    path: str
    sd3_model: str | None = None  # the `model` field of /generate/sd3


def _generate(
    name: str,
    path: str,
    formats: frozenset[str],
    extra: dict[str, Allowed] | None = None,
    *,
    sd3_model: str | None = None,
) -> tuple[ModelSpec, Service]:
    params = {**_COMMON, "size": ANY, "aspect_ratio": frozenset(ASPECT_RATIOS), "negative_prompt": ANY,
              "output_format": formats, **(extra or {})}  # fmt: skip
    image_to_image = {**_COMMON, "negative_prompt": ANY, "output_format": formats, "strength": UNIT}
    edit = None if path == "generate/core" else OperationSpec(image_to_image)  # Core has no image-to-image
    spec = ModelSpec(name, params, max_images_per_call=1, family="generate", max_prompt_chars=10000, edit=edit)
    return spec, Service(path, sd3_model)


def _service(
    name: str,
    path: str,
    params: Mapping[str, Allowed],
    *,
    mask: bool = False,
    prompt: Literal["required", "optional", "none"] = "required",
    seed: bool = True,
    max_side: int | None = None,
) -> tuple[ModelSpec, Service]:
    common = _COMMON if seed else {k: v for k, v in _COMMON.items() if k != "seed"}
    edit = OperationSpec(
        {**common, "output_format": PNG_JPEG_WEBP, **params}, mask=mask, prompt=prompt, max_side=max_side
    )
    spec = ModelSpec(name, {}, max_images_per_call=1, family="service", generation=False, edit=edit)
    return spec, Service(path)


SD3_MODELS = (
    "sd3.5-large",
    "sd3.5-large-turbo",
    "sd3.5-medium",
    "sd3.5-flash",
    "sd3-large",
    "sd3-large-turbo",
    "sd3-medium",
)
_SD3: dict[str, Allowed] = {
    "cfg_scale": NumberRange(1, 10),
    "mode": frozenset({"text-to-image"}),
}
_GROW_MASK = {"grow_mask": IntRange(0, 20)}
_SIDES = {side: IntRange(0, 512) for side in ("left", "right", "up", "down")}

_TABLE = (
    _generate("stable-image-ultra", "generate/ultra", PNG_JPEG),
    _generate("stable-image-core", "generate/core", PNG_JPEG_WEBP, {"style_preset": STYLE_PRESETS}),
    *(_generate(name, "generate/sd3", PNG_JPEG, _SD3, sd3_model=name) for name in SD3_MODELS),
    _service("inpaint", "edit/inpaint", {"negative_prompt": ANY, **_GROW_MASK}, mask=True),
    _service("erase", "edit/erase", _GROW_MASK, mask=True, prompt="none"),
    _service(
        "search-and-replace", "edit/search-and-replace", {"search_prompt": ANY, "negative_prompt": ANY, **_GROW_MASK}
    ),
    _service(
        "search-and-recolor", "edit/search-and-recolor", {"select_prompt": ANY, "negative_prompt": ANY, **_GROW_MASK}
    ),
    _service("outpaint", "edit/outpaint", {**_SIDES, "creativity": OUTPAINT_CREATIVITY}, prompt="optional"),
    # Only the image and its output format: no seed, and no JPEG (the answer is transparent).
    _service("remove-background", "edit/remove-background", {"output_format": PNG_WEBP}, prompt="none", seed=False),
    _service("control-sketch", "control/sketch", {"control_strength": UNIT, "negative_prompt": ANY}),
    _service("control-structure", "control/structure", {"control_strength": UNIT, "negative_prompt": ANY}),
    _service(
        "control-style",
        "control/style",
        {"fidelity": UNIT, "aspect_ratio": frozenset(ASPECT_RATIOS), "negative_prompt": ANY},
    ),
    _service("upscale-fast", "upscale/fast", {}, prompt="none", seed=False, max_side=FAST_UPSCALE_MAX_SIDE),
    _service(
        "upscale-conservative", "upscale/conservative", {"negative_prompt": ANY, "creativity": UPSCALE_CREATIVITY}
    ),
    _service("upscale-creative", "upscale/creative", {"negative_prompt": ANY, "creativity": UPSCALE_CREATIVITY}),
)

MODELS: tuple[ModelSpec, ...] = tuple(spec for spec, _ in _TABLE)
SERVICES: dict[str, Service] = {spec.name: service for spec, service in _TABLE}
REQUIRED_FIELDS = {"search-and-replace": "search_prompt", "search-and-recolor": "select_prompt"}
"""Services that need a native field besides the prompt (what to find in the image)."""
