"""OpenAI's image models and what each accepts, as OpenAI's API reference states it."""

from __future__ import annotations

from imagegen.provider import ANY, Allowed, IntRange, ModelSpec

_GPT_IMAGE_SIZES = frozenset({"auto", "1024x1024", "1536x1024", "1024x1536"})
_GPT_IMAGE_PARAMS: dict[str, Allowed] = {
    "n": IntRange(1, 10),
    "quality": frozenset({"auto", "low", "medium", "high"}),
    # GPT image models always answer in base64; asking for it is harmless, so it is accepted and not sent.
    "response_format": frozenset({"b64_json"}),
    "user": ANY,
    "background": frozenset({"auto", "transparent", "opaque"}),
    "moderation": frozenset({"auto", "low"}),
    "output_format": frozenset({"png", "jpeg", "webp"}),
    "output_compression": IntRange(0, 100),
}


def _gpt_image(name: str, sizes: frozenset[str] | None = _GPT_IMAGE_SIZES) -> ModelSpec:
    return ModelSpec(name, {**_GPT_IMAGE_PARAMS, "size": sizes}, family="gpt-image", max_prompt_chars=32000)


MODELS: tuple[ModelSpec, ...] = (
    _gpt_image("gpt-image-1"),
    _gpt_image("gpt-image-1-mini"),
    _gpt_image("gpt-image-1.5"),
    # gpt-image-2 takes any WIDTHxHEIGHT within limits, checked in `check_gpt_image_2_size`.
    _gpt_image("gpt-image-2", sizes=None),
    _gpt_image("gpt-image-2-2026-04-21", sizes=None),
    ModelSpec(
        "dall-e-3",
        {
            "n": IntRange(1, 1),
            "size": frozenset({"1024x1024", "1792x1024", "1024x1792"}),
            "quality": frozenset({"auto", "standard", "hd"}),
            "style": frozenset({"vivid", "natural"}),
            "response_format": frozenset({"url", "b64_json"}),
            "user": ANY,
        },
        family="dall-e",
        max_prompt_chars=4000,
    ),
    ModelSpec(
        "dall-e-2",
        {
            "n": IntRange(1, 10),
            "size": frozenset({"256x256", "512x512", "1024x1024"}),
            "quality": frozenset({"auto", "standard"}),
            "response_format": frozenset({"url", "b64_json"}),
            "user": ANY,
        },
        family="dall-e",
        max_prompt_chars=1000,
    ),
)

GPT_IMAGE_2_MAX_PIXELS = 3840 * 2160


def gpt_image_2_size_problem(width: int, height: int) -> str | None:
    """Why gpt-image-2 would refuse WIDTHxHEIGHT, or None if it accepts it."""
    if width % 16 or height % 16:
        return "width and height must both be divisible by 16"
    if not 1 / 3 <= width / height <= 3:
        return "the aspect ratio must be between 1:3 and 3:1"
    if width * height > GPT_IMAGE_2_MAX_PIXELS or max(width, height) > 3840:
        return "the largest supported size is 3840x2160"
    return None
