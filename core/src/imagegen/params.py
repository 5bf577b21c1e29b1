"""Shared parameter tools: checking a call against a ModelSpec, the drop policy, sizes and aspect ratios.

Every provider uses these, so a size→aspect-ratio table or a `drop_params` rule exists once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from .exceptions import BadRequestError, UnsupportedParamsError
from .images import ImageInput
from .provider import Allowed, GenerationRequest, IntRange, ModelSpec, NumberRange, Operation, OperationSpec

VERBS = {"generation": "generate", "edit": "edit", "variation": "make variations of"}

OPENAI_PARAMS = ("n", "quality", "response_format", "size", "style", "user")


def _describe(allowed: Allowed) -> str | list[str]:
    if isinstance(allowed, IntRange | NumberRange):
        return str(allowed)
    assert allowed is not None
    return sorted(map(str, allowed))


def _accepts(allowed: Allowed, value: Any) -> bool:
    if allowed is None:
        return True
    return value in allowed


def check_operation(
    provider: str, model: str, spec: ModelSpec, operation: Operation, *, able: Iterable[ModelSpec]
) -> None:
    """Raise UnsupportedParamsError if `spec` cannot do `operation`, naming the models of `able` that can.

    The core checks this before any request; a plugin that resolves a model's spec per call (an Azure
    deployment) calls it itself.
    """
    if spec.supports(operation):
        return
    names = [candidate.name for candidate in able if candidate.supports(operation)]
    hint = f"models that can: {', '.join(names)}" if names else f"no {provider} model can"
    raise UnsupportedParamsError(
        "model",
        value=model,
        provider=provider,
        model=model,
        reason=f"{model} cannot {VERBS[operation]} images ({operation} is not one of its operations); {hint}",
        droppable=False,
    )


def check_resolved(request: GenerationRequest, *, able: Iterable[ModelSpec]) -> None:
    """What the core checks before any request, for a plugin that resolves the model's spec per call
    (an Azure deployment, any mock model) and has just set `request.spec`: the operation (naming the
    models of `able` that can), the input images, and the parameters."""
    if request.spec is not None:
        check_operation(request.provider, request.model, request.spec, request.operation, able=able)
    if request.operation != "generation":
        check_images(request)
    check_params(request)


def check_params(request: GenerationRequest) -> None:
    """Check `request.params` against `request.spec` for the request's operation (no spec: nothing is checked).

    An unknown parameter or a value outside the allowed ones raises `UnsupportedParamsError`
    naming the parameter, the model and what is allowed; with `drop_params` it is removed and a
    warning recorded instead.
    """
    spec = request.spec
    if spec is None:
        return
    if spec.max_prompt_chars is not None and len(request.prompt) > spec.max_prompt_chars:
        raise request.refused(
            f"the prompt has {len(request.prompt)} characters; {request.model} takes at most {spec.max_prompt_chars}",
            param="prompt",
        )
    allowed = spec.params_for(request.operation)
    where = request.model if request.operation == "generation" else f"{request.model} {request.operation}s"
    for name, value in list(request.params.items()):
        if name not in allowed:
            reject(request, name, value, None, reason=f"`{name}` is not supported by {where}")
        elif not _accepts(allowed[name], value):
            reject(request, name, value, allowed[name])


def check_images(request: GenerationRequest) -> None:
    """Check an edit's or a variation's input images and mask against the model's limits, before any
    request: the count, the type sniffed from the bytes, the size, squareness, and the mask's dimensions.

    The core checks this before any request; a plugin that resolves a model's spec per call calls it.
    """
    images = request.images
    verb = VERBS[request.operation]
    if not images:
        raise BadRequestError(f"`image` is required: the image(s) to {verb}", param="image")
    spec = request.spec.operation(request.operation) if request.spec else None
    if spec is not None and len(images) > spec.max_images:
        raise request.refused(
            f"{request.model} takes at most {spec.max_images} input image(s) per {request.operation}; "
            f"{len(images)} were given",
            param="image",
        )
    names = ["image"] if len(images) == 1 else [f"image[{i}]" for i in range(len(images))]
    if spec is not None:
        for name, image in zip(names, images, strict=True):
            _check_image(request, spec, name, image)
    mask = request.mask
    if mask is None:
        return
    if spec is not None and not spec.mask:
        reject_mask(request, f"{request.model} takes no mask (describe the area to change in the prompt)")
        return
    if mask.format != "png" or not mask.has_alpha:
        raise request.refused(
            "`mask` must be a PNG with an alpha channel: its fully transparent pixels mark the area to edit",
            param="mask",
        )
    first = images[0]
    if (mask.width, mask.height) != (first.width, first.height):
        raise request.refused(
            f"`mask` is {mask.width}x{mask.height} but `{names[0]}` is {first.width}x{first.height}; "
            "the mask must have the same dimensions as the (first) image",
            param="mask",
        )
    if spec is not None:
        _check_image(request, spec, "mask", mask, formats=False)
        if spec.max_mask_bytes is not None and mask.size >= spec.max_mask_bytes:
            raise request.refused(
                f"`mask` is {mask.size / 2**20:.1f} MB; {request.model} takes masks under "
                f"{spec.max_mask_bytes / 2**20:g} MB",
                param="mask",
                code="image_too_large",
            )


def _check_image(
    request: GenerationRequest, spec: OperationSpec, name: str, image: ImageInput, *, formats: bool = True
) -> None:
    param = name.partition("[")[0]
    if formats and image.format not in spec.formats:
        allowed = ", ".join(sorted(f.upper() for f in spec.formats))
        raise request.refused(
            f"`{name}` is a {image.format.upper()} image; {request.model} takes {allowed}", param=param
        )
    if spec.max_bytes is not None and image.size >= spec.max_bytes:
        raise request.refused(
            f"`{name}` is {image.size / 2**20:.1f} MB; {request.model} takes images under "
            f"{spec.max_bytes / 2**20:g} MB",
            param=param,
            code="image_too_large",
        )
    if spec.square and image.width != image.height:
        raise request.refused(
            f"`{name}` is {image.width}x{image.height}; {request.model} takes square images only", param=param
        )
    if spec.max_side is not None and max(image.width, image.height) > spec.max_side:
        raise request.refused(
            f"`{name}` is {image.width}x{image.height}; {request.model} takes images up to {spec.max_side} "
            "pixels on the longer side",
            param=param,
        )


def reject_mask(request: GenerationRequest, reason: str) -> None:
    """Drop the mask with a warning under `drop_params`, else raise UnsupportedParamsError with `reason`
    (for a model that takes none, or a plugin's mode of a model that uses none)."""
    if not request.drop_params:
        raise UnsupportedParamsError("mask", provider=request.provider, model=request.model, reason=reason)
    request.mask = None
    request.warnings.append(f"dropped `mask`: not supported by {request.provider}/{request.model}")


def reject(
    request: GenerationRequest,
    name: str,
    value: Any,
    allowed: Allowed,
    *,
    reason: str | None = None,
) -> None:
    """Drop `name` from the request with a warning under `drop_params`, else raise UnsupportedParamsError."""
    if request.drop_params:
        request.params.pop(name, None)
        # The value stays out: a misnamed credential must not land in a warning or a log line.
        request.warnings.append(f"dropped `{name}`: not supported by {request.provider}/{request.model}")
        return
    raise UnsupportedParamsError(
        name,
        value=value,
        allowed=_describe(allowed) if allowed is not None else None,
        provider=request.provider,
        model=request.model,
        reason=reason,
    )


def parse_size(size: str) -> tuple[int, int]:
    """`"1024x768"` → `(1024, 768)`; raises ValueError for anything else."""
    width, sep, height = size.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or int(width) == 0 or int(height) == 0:
        raise ValueError(f"size must look like WIDTHxHEIGHT (e.g. 1024x1024), got {size!r}")
    return int(width), int(height)


def _ratio(text: str) -> float:
    width, _, height = text.partition(":")
    return int(width) / int(height)


# OpenAI's standard sizes and the ratio each stands for (1792x1024 is DALL-E 3's "16:9").
OPENAI_SIZE_RATIOS = {
    "1024x1024": "1:1",
    "1792x1024": "16:9",
    "1024x1792": "9:16",
    "1536x1024": "3:2",
    "1024x1536": "2:3",
}


def aspect_ratio_for(request: GenerationRequest, size: str, ratios: Iterable[str]) -> str:
    """The aspect ratio (`"16:9"`) among `ratios` for an OpenAI `size`.

    An OpenAI standard size whose ratio is offered, or an exact match, is used silently; otherwise the
    nearest ratio, with a warning. A malformed size (or `auto`) is rejected through the drop policy
    and the first ratio is returned.
    """
    ratios = list(ratios)
    if OPENAI_SIZE_RATIOS.get(size) in ratios:
        return OPENAI_SIZE_RATIOS[size]
    try:
        width, height = parse_size(size)
    except ValueError as exc:
        reject(request, "size", size, ratios, reason=str(exc))
        return ratios[0]
    wanted = width / height
    best = min(ratios, key=lambda r: abs(_ratio(r) - wanted))
    if abs(_ratio(best) - wanted) > 1e-3:
        request.warnings.append(f"size {size} has no exact aspect ratio on {request.model}; used the nearest, {best}")
    return best


def dimensions_for(request: GenerationRequest, size: str, sizes: Collection[str]) -> tuple[int, int] | None:
    """`(width, height)` for `size` if the model accepts it, else rejected through the drop policy."""
    if size in sizes:
        return parse_size(size)
    reject(request, "size", size, sizes)
    return None


def camel_case(name: str) -> str:
    """`negative_prompt` → `negativePrompt` (a camelCase name is returned unchanged)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def native_params(params: Mapping[str, Any], skip: Collection[str] = OPENAI_PARAMS) -> dict[str, Any]:
    """The parameters that are not OpenAI's, to pass on as the provider's own."""
    return {k: v for k, v in params.items() if k not in skip}
