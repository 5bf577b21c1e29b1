"""Black Forest Labs' FLUX models on its API, and what each accepts.

Sources: BFL's skill (`black-forest-labs/skills:skills/bfl-api/references/endpoints.md`) and API reference,
as summarised in the project's provider reference (§4). Each model answers one image per request, so the
core fans `n` out into concurrent jobs.

    FLUX.1 [pro] 1.1       width / height                      text only
    FLUX.1 [pro] 1.1 ultra aspect_ratio, raw                   text only
    FLUX.1 Kontext         aspect_ratio                        text, or edits of up to 4 images
    FLUX.2                 width / height (flex: steps, guidance)  text, or edits of up to 8 images (klein: 4)
"""

from __future__ import annotations

from dataclasses import dataclass

from imagegen.provider import ANY, Allowed, IntRange, ModelSpec, NumberRange, OperationSpec

MAX_PIXELS = 4 * 1024 * 1024
"""The largest output BFL makes: 4 megapixels."""
SIDE_STEP = 16
MIN_SIDE = 64
ASPECT_RATIOS = ("21:9", "16:9", "3:2", "4:3", "1:1", "3:4", "2:3", "9:16", "9:21")
"""The ratios `size` maps to for the models that take an `aspect_ratio` (BFL accepts any between 21:9 and 9:21)."""
WIDEST_RATIO = 21 / 9

_COMMON: dict[str, Allowed] = {
    "n": IntRange(1, 10),
    # Results are URLs; b64_json is the core's download of them. Accepted, never sent.
    "response_format": frozenset({"url", "b64_json"}),
    "seed": ANY,
    "safety_tolerance": IntRange(0, 5),  # "0 strict … 5", BFL's endpoints reference
    "output_format": frozenset({"jpeg", "png"}),
    "prompt_upsampling": frozenset({True, False}),
}
_SIZED: dict[str, Allowed] = {**_COMMON, "size": ANY, "width": ANY, "height": ANY}
"""Models sized in pixels: `size` (WIDTHxHEIGHT) or `width` and `height`, checked in `wire.dimensions`."""
_RATIOED: dict[str, Allowed] = {**_COMMON, "size": ANY, "aspect_ratio": ANY}
"""Models sized by aspect ratio: `size` maps to the nearest ratio, or `aspect_ratio` ("16:9") directly."""


@dataclass(frozen=True)
class Endpoint:
    """Where a model is submitted (BFL's paths are per model, not derived from the name) and how it is sized."""

    path: str
    sized_by: str  # "pixels" (width/height) or "ratio" (aspect_ratio)


def _edits(params: dict[str, Allowed], max_images: int) -> OperationSpec:
    # Input images go as `input_image`, `input_image_2`, …; no mask (FLUX.1 Fill is a separate endpoint).
    return OperationSpec(params, max_images=max_images)


def _flux_2(name: str, max_references: int, extra: dict[str, Allowed] | None = None) -> ModelSpec:
    params = {**_SIZED, **(extra or {})}
    return ModelSpec(name, params, max_images_per_call=1, family="flux-2", edit=_edits(params, max_references))


def _kontext(name: str) -> ModelSpec:
    return ModelSpec(name, _RATIOED, max_images_per_call=1, family="kontext", edit=_edits(_RATIOED, 4))


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("flux-pro-1.1", _SIZED, max_images_per_call=1, family="flux-1"),
    ModelSpec(
        "flux-pro-1.1-ultra", {**_RATIOED, "raw": frozenset({True, False})}, max_images_per_call=1, family="flux-1"
    ),
    _kontext("flux-kontext-pro"),
    _kontext("flux-kontext-max"),
    _flux_2("flux-2-pro", 8),
    _flux_2("flux-2-max", 8),
    _flux_2("flux-2-flex", 8, {"steps": IntRange(1, 50), "guidance": NumberRange(1.5, 10)}),
    _flux_2("flux-2-klein-4b", 4),
    _flux_2("flux-2-klein-9b", 4),
)

ENDPOINTS: dict[str, Endpoint] = {
    "flux-pro-1.1": Endpoint("/v1/flux-pro-1.1", "pixels"),
    "flux-pro-1.1-ultra": Endpoint("/v1/flux-pro-1.1-ultra", "ratio"),
    # BFL's skill also writes `/v1/flux-kontext`; the `-pro` path is the one every client uses.
    "flux-kontext-pro": Endpoint("/v1/flux-kontext-pro", "ratio"),
    "flux-kontext-max": Endpoint("/v1/flux-kontext-max", "ratio"),
    "flux-2-pro": Endpoint("/v1/flux-2-pro", "pixels"),
    "flux-2-max": Endpoint("/v1/flux-2-max", "pixels"),
    "flux-2-flex": Endpoint("/v1/flux-2-flex", "pixels"),
    "flux-2-klein-4b": Endpoint("/v1/flux-2-klein-4b", "pixels"),
    "flux-2-klein-9b": Endpoint("/v1/flux-2-klein-9b", "pixels"),
}

MAX_CONCURRENT_JOBS = 6
"""BFL runs at most 24 active tasks per account, and 6 of FLUX.1 Kontext [max]: one call keeps at most 6 jobs
in flight, whatever the model (the cap is per provider), leaving room for the account's other calls."""


def aspect_ratio_problem(ratio: object) -> str | None:
    """Why BFL would refuse `aspect_ratio`, or None if it accepts it."""
    width, sep, height = str(ratio).partition(":")
    if not (isinstance(ratio, str) and sep and width.isdigit() and height.isdigit() and int(width) and int(height)):
        return "it must look like WIDTH:HEIGHT, e.g. '16:9'"
    if not 1 / WIDEST_RATIO <= int(width) / int(height) <= WIDEST_RATIO:
        return "it must be between 21:9 and 9:21"
    return None


def size_problem(width: int, height: int) -> str | None:
    """Why BFL would refuse WIDTHxHEIGHT, or None if it accepts it."""
    if width % SIDE_STEP or height % SIDE_STEP:
        return f"width and height must be multiples of {SIDE_STEP}"
    if min(width, height) < MIN_SIDE:
        return f"width and height must be at least {MIN_SIDE}"
    if width * height > MAX_PIXELS:
        return "the image may have at most 4 megapixels (e.g. 2048x2048)"
    return None
