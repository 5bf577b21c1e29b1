"""The InvokeModel request and response bodies of each model family, exactly as AWS documents them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from imagegen.exceptions import ContentPolicyViolationError, InternalServerError
from imagegen.params import parse_size, reject
from imagegen.provider import GenerationRequest
from imagegen.types import Image, ImageResponse

from .models import (
    AMAZON_NATIVE_NAMES,
    CFG_SCALE_RANGES,
    NOVA,
    QUALITY,
    SDXL,
    STABILITY,
    STYLE_TO_NOVA,
    TITAN,
    nova_dimensions,
    stability_aspect_ratio,
)

SDXL_PASSTHROUGH = ("cfg_scale", "steps", "seed", "sampler", "style_preset", "clip_guidance_preset")
STABILITY_PASSTHROUGH = ("negative_prompt", "seed", "output_format", "mode")


def _checked_cfg_scale(request: GenerationRequest, family: str, name: str) -> None:
    """Reject (or drop) a `cfg_scale` outside the family's range: the core checks integer ranges only."""
    value = request.params.get(name)
    low, high = CFG_SCALE_RANGES[family]
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        reject(
            request,
            name,
            value,
            None,
            reason=f"`{name}`={value!r} is not supported; allowed: a number from {low} to {high}",
        )


def sdxl_body(request: GenerationRequest) -> dict[str, Any]:
    _checked_cfg_scale(request, SDXL, "cfg_scale")
    params = request.params
    text_prompts = [{"text": request.prompt, "weight": 1.0}]
    if negative := params.get("negative_prompt"):
        text_prompts.append({"text": negative, "weight": -1.0})  # SDXL's negative prompt is a negative weight
    body: dict[str, Any] = {"text_prompts": text_prompts}
    if size := params.get("size"):
        body["width"], body["height"] = parse_size(size)  # already one of the nine SDXL sizes
    body.update((name, params[name]) for name in SDXL_PASSTHROUGH if name in params)
    return body


def stability_body(request: GenerationRequest) -> dict[str, Any]:
    params = request.params
    body: dict[str, Any] = {"prompt": request.prompt}
    if "aspect_ratio" in params:
        body["aspect_ratio"] = params["aspect_ratio"]
        if "size" in params:
            request.warnings.append(f"ignored size {params['size']}: aspect_ratio {params['aspect_ratio']} was given")
    elif size := params.get("size"):
        body["aspect_ratio"] = stability_aspect_ratio(request, size)
    body.update((name, params[name]) for name in STABILITY_PASSTHROUGH if name in params)
    return body


def amazon_body(request: GenerationRequest, family: str) -> dict[str, Any]:
    """Titan Image Generator and Nova Canvas share one TEXT_IMAGE body; Nova adds `style`."""
    _checked_cfg_scale(request, family, "cfg_scale")
    _checked_cfg_scale(request, family, "cfgScale")
    params = request.params
    native = {camel: params[snake] for snake, camel in AMAZON_NATIVE_NAMES.items() if snake in params}
    native.update((camel, params[camel]) for camel in AMAZON_NATIVE_NAMES.values() if camel in params)
    native.update((name, params[name]) for name in ("seed",) if name in params)
    text: dict[str, Any] = {"text": request.prompt}
    if negative := native.pop("negativeText", None):
        text["negativeText"] = negative  # omitted when absent: Nova rejects null
    if style := params.get("style"):
        text["style"] = STYLE_TO_NOVA[style]
    config: dict[str, Any] = {"numberOfImages": params.get("n", 1)}
    if size := params.get("size"):
        dimensions = nova_dimensions(request, size) if family == NOVA else parse_size(size)
        if dimensions is not None:
            config["width"], config["height"] = dimensions
    if (quality := QUALITY.get(params.get("quality", "auto"))) is not None:
        config["quality"] = quality
    config.update(native)
    return {"taskType": "TEXT_IMAGE", "textToImageParams": text, "imageGenerationConfig": config}


def _filtered(request: GenerationRequest, message: str, filter_results: Any) -> ContentPolicyViolationError:
    return ContentPolicyViolationError(
        message, provider=request.provider, model=request.model, status_code=400, filter_results=filter_results
    )


def _images_response(data: list[Image], body: dict[str, Any], drop: tuple[str, ...]) -> ImageResponse:
    # Fields of the provider's body we do not map are kept (as the OpenAI plugin keeps OpenAI's).
    extra = {k: v for k, v in body.items() if k not in drop}
    return ImageResponse(created=int(time.time()), data=data, **extra)


def parse_sdxl(request: GenerationRequest, body: dict[str, Any]) -> ImageResponse:
    artifacts = body["artifacts"]
    images = [a for a in artifacts if a.get("finishReason") != "CONTENT_FILTERED"]
    if not images:
        raise _filtered(request, "the image was filtered by Stability's content filter (CONTENT_FILTERED)", artifacts)
    if all(a.get("finishReason") == "ERROR" for a in images):
        raise InternalServerError("the model failed to generate the image (finishReason ERROR)",
                                  provider=request.provider, model=request.model, status_code=502)  # fmt: skip
    data = [
        Image.model_validate({"b64_json": a["base64"], "seed": a.get("seed"), "finish_reason": a.get("finishReason")})
        for a in images
    ]
    return _images_response(data, body, drop=("artifacts",))


def parse_stability(request: GenerationRequest, body: dict[str, Any]) -> ImageResponse:
    reasons = body.get("finish_reasons") or []
    problems = [r for r in reasons if r is not None]
    if problems:
        if all(str(r).startswith("Filter reason") for r in problems):
            raise _filtered(request, f"the request was filtered by Stability's content filter ({problems[0]})", reasons)
        raise InternalServerError(f"the model failed to generate the image ({problems[0]})",
                                  provider=request.provider, model=request.model, status_code=502)  # fmt: skip
    seeds = body.get("seeds") or []
    data = [
        Image.model_validate({"b64_json": image, "seed": seeds[i]}) if i < len(seeds) else Image(b64_json=image)
        for i, image in enumerate(body["images"])
    ]
    return _images_response(data, body, drop=("images", "seeds", "finish_reasons"))


def parse_amazon(request: GenerationRequest, body: dict[str, Any]) -> ImageResponse:
    images = body.get("images") or []
    if body.get("error") and not images:  # Titan/Nova report a moderation block here
        raise _filtered(request, str(body["error"]), body["error"])
    return _images_response([Image(b64_json=image) for image in images], body, drop=("images", "error"))


@dataclass(frozen=True)
class Family:
    """How one model family's InvokeModel bodies look."""

    request_body: Callable[[GenerationRequest], dict[str, Any]]
    parse: Callable[[GenerationRequest, dict[str, Any]], ImageResponse]


FAMILIES = {
    SDXL: Family(sdxl_body, parse_sdxl),
    STABILITY: Family(stability_body, parse_stability),
    TITAN: Family(lambda request: amazon_body(request, TITAN), parse_amazon),
    NOVA: Family(lambda request: amazon_body(request, NOVA), parse_amazon),
}


def family_of(request: GenerationRequest) -> Family:
    assert request.spec is not None  # the provider lists every model it serves
    return FAMILIES[request.spec.family]


def parse_response(request: GenerationRequest, response: httpx.Response) -> ImageResponse:
    """An InvokeModel answer, parsed once; images are kept as the base64 strings Bedrock sent."""
    return family_of(request).parse(request, response.json())
