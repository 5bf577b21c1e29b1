"""The InvokeModel generation bodies of each model family and every family's answers, as AWS documents them."""

from __future__ import annotations

import time
from typing import Any

from imagegen.exceptions import ContentPolicyViolationError, InternalServerError
from imagegen.params import parse_size
from imagegen.provider import GenerationRequest
from imagegen.types import Image, ImageResponse

from .models import AMAZON_NATIVE_NAMES, NOVA, QUALITY, STYLE_TO_NOVA, nova_dimensions, stability_aspect_ratio

SDXL_PASSTHROUGH = ("cfg_scale", "steps", "seed", "sampler", "style_preset", "clip_guidance_preset")
STABILITY_PASSTHROUGH = ("negative_prompt", "seed", "output_format", "mode")


def sdxl_body(request: GenerationRequest) -> dict[str, Any]:
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


def amazon_native(params: dict[str, Any]) -> dict[str, Any]:
    """Titan/Nova native parameters under Bedrock's names, whichever spelling was given."""
    native = {camel: params[snake] for snake, camel in AMAZON_NATIVE_NAMES.items() if snake in params}
    native.update((camel, params[camel]) for camel in AMAZON_NATIVE_NAMES.values() if camel in params)
    return native


def amazon_config(request: GenerationRequest, family: str, native: dict[str, Any]) -> dict[str, Any]:
    """The `imageGenerationConfig` Titan and Nova share between generations and edits."""
    params = request.params
    config: dict[str, Any] = {"numberOfImages": params.get("n", 1)}
    if size := params.get("size"):
        dimensions = nova_dimensions(request, size) if family == NOVA else parse_size(size)
        if dimensions is not None:
            config["width"], config["height"] = dimensions
    if (quality := QUALITY.get(params.get("quality", "auto"))) is not None:
        config["quality"] = quality
    config.update((name, native[name]) for name in ("cfgScale",) if name in native)
    config.update((name, params[name]) for name in ("seed",) if name in params)
    return config


def text_fields(prompt: str, native: dict[str, Any]) -> dict[str, Any]:
    """`text` and `negativeText`, each left out when empty: Titan and Nova refuse empty strings and nulls."""
    fields = {"text": prompt} if prompt else {}
    if negative := native.get("negativeText"):
        fields["negativeText"] = negative
    return fields


def amazon_body(request: GenerationRequest, family: str) -> dict[str, Any]:
    """Titan Image Generator and Nova Canvas share one TEXT_IMAGE body; Nova adds `style`."""
    native = amazon_native(request.params)
    text = text_fields(request.prompt, native)
    if style := request.params.get("style"):
        text["style"] = STYLE_TO_NOVA[style]
    return {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": text,
        "imageGenerationConfig": amazon_config(request, family, native),
    }


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
