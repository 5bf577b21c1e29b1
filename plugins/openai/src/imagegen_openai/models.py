"""OpenAI's image models and what each accepts, as OpenAI's API reference states it.

Generation (`/images/generations`), edits (`/images/edits`, multipart) and variations
(`/images/variations`, dall-e-2 only) accept different parameters, so each has its own table.
"""

from __future__ import annotations

from imagegen.provider import ANY, Allowed, IntRange, ModelSpec, OperationSpec

MB = 1024 * 1024

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


# The multipart edit form has no `moderation`; `input_fidelity` only where the model takes it (OpenAI
# answers gpt-image-1-mini and gpt-image-2 with an error for it).
_GPT_IMAGE_EDIT_PARAMS = {k: v for k, v in _GPT_IMAGE_PARAMS.items() if k != "moderation"}
_INPUT_FIDELITY: dict[str, Allowed] = {"input_fidelity": frozenset({"high", "low"})}


def _gpt_image(
    name: str, sizes: frozenset[str] | None = _GPT_IMAGE_SIZES, *, input_fidelity: bool = False
) -> ModelSpec:
    edit_params = {**_GPT_IMAGE_EDIT_PARAMS, "size": sizes, **(_INPUT_FIDELITY if input_fidelity else {})}
    return ModelSpec(
        name,
        {**_GPT_IMAGE_PARAMS, "size": sizes},
        family="gpt-image",
        max_prompt_chars=32000,
        # "each image … less than 50MB"; the mask "less than 4MB" (OpenAI's createImageEdit).
        edit=OperationSpec(edit_params, max_images=16, mask=True, max_bytes=50 * MB, max_mask_bytes=4 * MB),
        streams=True,
    )


_DALL_E_2_SIZES = frozenset({"256x256", "512x512", "1024x1024"})
_DALL_E_2_INPUT_PARAMS: dict[str, Allowed] = {
    "n": IntRange(1, 10),
    "size": _DALL_E_2_SIZES,
    "response_format": frozenset({"url", "b64_json"}),
    "user": ANY,
}


def _dall_e_2_input(params: dict[str, Allowed], *, mask: bool = False, prompt: bool = True) -> OperationSpec:
    """dall-e-2 edits and varies one square PNG under 4 MB."""
    return OperationSpec(
        params,
        mask=mask,
        prompt="required" if prompt else "none",
        formats=frozenset({"png"}),
        max_bytes=4 * MB,
        square=True,
    )


MODELS: tuple[ModelSpec, ...] = (
    _gpt_image("gpt-image-1", input_fidelity=True),
    _gpt_image("gpt-image-1-mini"),
    _gpt_image("gpt-image-1.5", input_fidelity=True),
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
            **_DALL_E_2_INPUT_PARAMS,
            "quality": frozenset({"auto", "standard"}),
        },
        family="dall-e",
        max_prompt_chars=1000,
        edit=_dall_e_2_input({**_DALL_E_2_INPUT_PARAMS, "quality": frozenset({"auto", "standard"})}, mask=True),
        variation=_dall_e_2_input(_DALL_E_2_INPUT_PARAMS, prompt=False),
    ),
)

GPT_IMAGE_2_MAX_PIXELS = 3840 * 2160
COMPRESSED_FORMATS = frozenset({"jpeg", "webp"})
"""The output formats `output_compression` applies to ("only supported … with the webp or jpeg output formats")."""
TRANSPARENT_FORMATS = frozenset({"png", "webp"})
"""The output formats a transparent background needs ("… set the output format to png or webp")."""


def gpt_image_2_size_problem(width: int, height: int) -> str | None:
    """Why gpt-image-2 would refuse WIDTHxHEIGHT, or None if it accepts it."""
    if width % 16 or height % 16:
        return "width and height must both be divisible by 16"
    if not 1 / 3 <= width / height <= 3:
        return "the aspect ratio must be between 1:3 and 3:1"
    if width * height > GPT_IMAGE_2_MAX_PIXELS or max(width, height) > 3840:
        return "the largest supported size is 3840x2160"
    return None
