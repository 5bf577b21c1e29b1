"""Shared parameter tools: checking a call against a ModelSpec, the drop policy, sizes and aspect ratios.

Every provider uses these, so a size→aspect-ratio table or a `drop_params` rule exists once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from .exceptions import BadRequestError, UnsupportedParamsError
from .provider import Allowed, GenerationRequest, IntRange

OPENAI_PARAMS = ("n", "quality", "response_format", "size", "style", "user")


def _describe(allowed: Allowed) -> str | list[str]:
    if isinstance(allowed, IntRange):
        return str(allowed)
    assert allowed is not None
    return sorted(map(str, allowed))


def _accepts(allowed: Allowed, value: Any) -> bool:
    if allowed is None:
        return True
    if isinstance(allowed, IntRange):
        return value in allowed
    return value in allowed


def check_params(request: GenerationRequest) -> None:
    """Check `request.params` against `request.spec` (no spec: nothing is checked).

    An unknown parameter or a value outside the allowed ones raises `UnsupportedParamsError`
    naming the parameter, the model and what is allowed; with `drop_params` it is removed and a
    warning recorded instead.
    """
    spec = request.spec
    if spec is None:
        return
    if spec.max_prompt_chars is not None and len(request.prompt) > spec.max_prompt_chars:
        raise BadRequestError(
            f"the prompt has {len(request.prompt)} characters; {request.model} takes at most {spec.max_prompt_chars}",
            provider=request.provider,
            model=request.model,
            param="prompt",
        )
    for name, value in list(request.params.items()):
        if name not in spec.params:
            reject(request, name, value, None, reason=f"`{name}` is not supported by {request.model}")
        elif not _accepts(spec.params[name], value):
            reject(request, name, value, spec.params[name])


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
