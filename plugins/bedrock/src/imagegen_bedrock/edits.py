"""The InvokeModel bodies of edits and variations: Titan/Nova task types, the Stability image services,
and SD3/SD3.5 image-to-image.

Titan and Nova pick their task from `task_type` (INPAINTING, OUTPAINTING, IMAGE_VARIATION,
BACKGROUND_REMOVAL); without one, an edit with a mask or a `mask_prompt` is INPAINTING and any other
edit IMAGE_VARIATION (as the Vercel AI SDK maps them). A variation is IMAGE_VARIATION without text.
"""

from __future__ import annotations

from typing import Any

from imagegen.params import reject, reject_mask
from imagegen.provider import VARIATION, GenerationRequest

from .inputs import has_transparent_pixels, mask_b64
from .models import (
    AMAZON_NATIVE_NAMES,
    BACKGROUND_REMOVAL,
    IMAGE_TO_IMAGE_LIMITS,
    IMAGE_TO_IMAGE_STRENGTH,
    IMAGE_VARIATION,
    INPAINTING,
    NOVA,
    OUTPAINTING,
    SERVICES,
    TASK_FIELDS,
    PixelLimits,
    stability_aspect_ratio,
)
from .wire import amazon_config, amazon_native, text_fields

# What each task takes beyond the input images, by Bedrock's parameter names.
_TASK_PARAMS = {
    INPAINTING: {"taskType", "maskPrompt", "negativeText", "cfgScale", "seed", "quality", "n", "response_format"},
    OUTPAINTING: {"taskType", "maskPrompt", "outPaintingMode", "negativeText", "cfgScale", "seed", "quality", "n",
                  "response_format"},
    IMAGE_VARIATION: {"taskType", "similarityStrength", "negativeText", "cfgScale", "seed", "quality", "n", "size",
                      "response_format"},
    BACKGROUND_REMOVAL: {"taskType", "n", "response_format"},  # n: 1 only
}  # fmt: skip
_ONE_IMAGE_TASKS = (INPAINTING, OUTPAINTING, BACKGROUND_REMOVAL)


def task_type(request: GenerationRequest) -> str:
    """The Titan/Nova task of an edit or a variation."""
    if request.operation == VARIATION:
        return IMAGE_VARIATION
    native = amazon_native(request.params)
    if "taskType" in native:
        return str(native["taskType"])
    return INPAINTING if request.mask is not None or "maskPrompt" in native else IMAGE_VARIATION


def amazon_edit_body(request: GenerationRequest, family: str) -> dict[str, Any]:
    """A Titan or Nova INPAINTING, OUTPAINTING, IMAGE_VARIATION or BACKGROUND_REMOVAL body."""
    task = task_type(request)
    for name, value in list(request.params.items()):
        if AMAZON_NATIVE_NAMES.get(name, name) not in _TASK_PARAMS[task]:
            reject(request, name, value, None, reason=f"`{name}` does not apply to {task} on {request.model}")
    if task == BACKGROUND_REMOVAL and request.params.get("n", 1) != 1:
        reject(request, "n", request.params["n"], None, reason="BACKGROUND_REMOVAL makes one image: pass n=1")
    if task == OUTPAINTING and not request.prompt:
        raise request.refused("OUTPAINTING needs a prompt describing what to paint around", param="prompt")
    if request.mask is not None and task not in (INPAINTING, OUTPAINTING):
        reject_mask(request, f"{task} takes no mask: pass task_type=INPAINTING or OUTPAINTING to edit a masked area")
    images = request.images
    if task in _ONE_IMAGE_TASKS and len(images) > 1:
        raise request.refused(f"{task} edits one image; {len(images)} were given", param="image")
    if family == NOVA:
        for image in images:
            if has_transparent_pixels(image):
                raise request.refused(
                    f"{image.filename} has transparent pixels, which Nova Canvas refuses: flatten it onto a "
                    "background, and mark the area to edit with a separate `mask`",
                    param="image",
                )
    native = amazon_native(request.params)
    if task == BACKGROUND_REMOVAL:  # and no imageGenerationConfig: Bedrock refuses one here
        if request.prompt:
            request.warnings.append("ignored the prompt: BACKGROUND_REMOVAL takes none")
        _record_output_size(request)
        return {"taskType": task, TASK_FIELDS[task]: {"image": images[0].b64()}}
    fields = text_fields(request.prompt, native)
    if task == IMAGE_VARIATION:
        fields["images"] = [image.b64() for image in images]
        fields.update((name, native[name]) for name in ("similarityStrength",) if name in native)
    else:
        fields["image"] = images[0].b64()
        fields.update(_mask_fields(request, task, native))
    if task == OUTPAINTING:
        fields.update((name, native[name]) for name in ("outPaintingMode",) if name in native)
    config = amazon_config(request, family, native)
    if task != IMAGE_VARIATION:
        _record_output_size(request)  # after the config: in- and outpainting send no width and height
    return {"taskType": task, TASK_FIELDS[task]: fields, "imageGenerationConfig": config}


def _mask_fields(request: GenerationRequest, task: str, native: dict[str, Any]) -> dict[str, Any]:
    """`maskImage` (converted) or `maskPrompt`: exactly one of them, as Titan and Nova require."""
    mask_prompt = native.get("maskPrompt")
    if request.mask is not None and mask_prompt is not None:
        raise request.refused(f"{task} takes either a mask or a mask_prompt, not both", param="mask_prompt")
    if mask_prompt is not None:
        return {"maskPrompt": mask_prompt}
    if request.mask is None:
        raise request.refused(
            f"{task} needs a mask (transparent where to edit) or a mask_prompt naming the area", param="mask"
        )
    # Black is what INPAINTING changes and what OUTPAINTING keeps: the area to edit is black, or white.
    convention = "black_edits" if task == INPAINTING else "white_edits_rgb"
    return {"maskImage": mask_b64(request.mask, convention)}


def _record_output_size(request: GenerationRequest) -> None:
    # The image comes back the size of the input: recorded so the call is priced for that size.
    first = request.images[0]
    request.params["size"] = f"{first.width}x{first.height}"


def _check_pixels(request: GenerationRequest, limits: PixelLimits) -> None:
    names = ["image"] if len(request.images) == 1 else [f"image[{i}]" for i in range(len(request.images))]
    for name, image in zip(names, request.images, strict=True):
        if problem := limits.problem(image.width, image.height):
            raise request.refused(
                f"`{name}` is {image.width}x{image.height}; {request.model} refuses it: {problem}", param="image"
            )


def service_body(request: GenerationRequest) -> dict[str, Any]:
    """A Stability image service's flat body: its image(s), prompt, mask and native parameters."""
    assert request.spec is not None
    service, _ = SERVICES[request.spec.name]
    _check_pixels(request, service.limits)
    params = {k: v for k, v in request.params.items() if k not in ("n", "response_format", "size")}
    missing = [name for name in service.needs if not params.get(name)]
    if missing:
        raise request.refused(f"{request.model} needs `{missing[0]}`", param=missing[0])
    if service.needs_one_of and not any(params.get(name) for name in service.needs_one_of):
        sides = ", ".join(service.needs_one_of)
        raise request.refused(f"{request.model} needs at least one of {sides} above 0 (pixels)", param=sides)
    if len(request.images) != len(service.image_fields):
        raise request.refused(
            f"{request.model} takes {len(service.image_fields)} image(s) ({', '.join(service.image_fields)}); "
            f"{len(request.images)} were given",
            param="image",
        )
    body: dict[str, Any] = {
        field: image.b64() for field, image in zip(service.image_fields, request.images, strict=True)
    }
    if request.prompt and service.takes_prompt:
        body["prompt"] = request.prompt
    elif request.prompt:
        request.warnings.append(f"ignored the prompt: {request.model} takes none")
    if request.mask is not None:
        body["mask"] = mask_b64(request.mask, "white_edits")
    if (size := request.params.get("size")) and "aspect_ratio" not in params:
        body["aspect_ratio"] = stability_aspect_ratio(request, size)
    body.update(params)
    return body


def image_to_image_body(request: GenerationRequest) -> dict[str, Any]:
    """SD3/SD3.5 `mode: image-to-image`: the prompt, the image and how far to move from it (`strength`)."""
    _check_pixels(request, IMAGE_TO_IMAGE_LIMITS)
    params = {k: v for k, v in request.params.items() if k not in ("n", "response_format")}
    return {
        "prompt": request.prompt,
        "mode": "image-to-image",
        "image": request.images[0].b64(),
        "strength": params.pop("strength", IMAGE_TO_IMAGE_STRENGTH),
        **params,
    }
