"""fal's image models that imagegen knows, and what each accepts (from each model's page on fal.ai).

Any other model id (`fal-ai/…`, `bria/…`) is passed through unvalidated: fal serves hundreds, each with
its own schema, and most take `prompt`, `image_size`, `num_images` and `seed`.
"""

from __future__ import annotations

from imagegen.provider import ANY, Allowed, IntRange, ModelSpec, OperationSpec

IMAGE_SIZES = frozenset({"square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9"})
"""fal's named sizes (`image_size`); an OpenAI `size` is sent as `{"width", "height"}` instead."""
ASPECT_RATIOS = ("21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21")
SAFETY_TOLERANCES = frozenset({"1", "2", "3", "4", "5", "6"})

_COMMON: dict[str, Allowed] = {
    "n": IntRange(1, 10),
    # Results are URLs on fal's CDN; b64_json is the core's download of them. Accepted, never sent.
    "response_format": frozenset({"url", "b64_json"}),
    "size": ANY,  # WIDTHxHEIGHT, checked in `wire`
    "image_size": IMAGE_SIZES,
    "seed": ANY,
    "sync_mode": frozenset({True, False}),
}
_FLUX: dict[str, Allowed] = {**_COMMON, "output_format": frozenset({"jpeg", "png"})}
_KONTEXT: dict[str, Allowed] = {
    **{k: v for k, v in _FLUX.items() if k not in ("size", "image_size")},
    "size": ANY,  # mapped to the nearest aspect ratio
    "aspect_ratio": frozenset(ASPECT_RATIOS),
    "guidance_scale": ANY,
    "safety_tolerance": SAFETY_TOLERANCES,
    "enhance_prompt": frozenset({True, False}),
}

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "fal-ai/flux/dev",
        {
            **_FLUX,
            "num_inference_steps": IntRange(1, 50),
            "guidance_scale": ANY,
            "enable_safety_checker": frozenset({True, False}),
            "acceleration": frozenset({"none", "regular", "high"}),
        },
        max_images_per_call=4,
        aliases=("fal-ai/flux-1/dev",),
        family="flux",
    ),
    ModelSpec(
        "fal-ai/flux-pro/v1.1",
        {
            **_FLUX,
            "safety_tolerance": SAFETY_TOLERANCES,
            "enhance_prompt": frozenset({True, False}),
            "enable_safety_checker": frozenset({True, False}),
        },
        max_images_per_call=4,
        family="flux",
    ),
    ModelSpec(
        "fal-ai/recraft/v3/text-to-image",
        # Recraft's own `style` (OpenAI's vivid/natural do not exist here): realistic_image, digital_illustration,
        # vector_illustration (priced double), or a substyle such as "vector_illustration/line_art".
        {**_COMMON, "style": ANY, "colors": ANY, "style_id": ANY, "enable_safety_checker": frozenset({True, False})},
        max_images_per_call=1,
        aliases=("fal-ai/recraft/v3", "fal-ai/recraft-v3"),
        family="recraft",
        max_prompt_chars=1000,
    ),
    ModelSpec(
        "fal-ai/flux-pro/kontext",
        {},
        generation=False,  # the text-to-image Kontext is another endpoint (…/kontext/text-to-image)
        edit=OperationSpec(_KONTEXT, max_images=1, max_images_per_call=4),
        family="kontext",
    ),
    ModelSpec(
        "fal-ai/flux-pro/kontext/max",
        {},
        generation=False,
        edit=OperationSpec(_KONTEXT, max_images=1, max_images_per_call=4),
        family="kontext",
    ),
)
