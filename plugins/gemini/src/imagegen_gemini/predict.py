"""Imagen's wire format, `:predict`, shared by the Gemini API and Vertex AI plugins.

    {"instances": [{"prompt": …}], "parameters": {"sampleCount", "aspectRatio", "outputOptions", …}}
    → {"predictions": [{"bytesBase64Encoded", "mimeType", "prompt"?} | {"raiFilteredReason"}]}

What both APIs take is here; Vertex adds the parameters the Gemini API refuses (seed, negative prompt,
watermark, prompt rewriting) and its edits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpx

from imagegen.exceptions import ContentPolicyViolationError
from imagegen.params import reject
from imagegen.provider import Allowed, GenerationRequest, IntRange
from imagegen.types import Image, ImageResponse

from .params import BOOLEANS, aspect_ratio, image_size, native, native_fields

ASPECT_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
OUTPUT_MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}


class _AnyCase(frozenset[str]):
    """Enum values in either case (`allow_adult` or `ALLOW_ADULT`): each API is sent the case it wants."""

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and super().__contains__(value.lower())


PERSON_GENERATION = _AnyCase({"dont_allow", "allow_adult", "allow_all"})
SAFETY_SETTINGS = _AnyCase({"block_low_and_above", "block_medium_and_above", "block_only_high", "block_none"})
ENUM_PARAMETERS = ("personGeneration", "safetySetting")
"""Sent lowercase to the Gemini API (its reference's spelling), uppercase to Vertex AI (Google's SDK enums)."""
LANGUAGES = frozenset({"auto", "en", "zh", "zh-CN", "zh-TW", "hi", "ja", "ko", "pt", "es"})

COMMON_PARAMS: dict[str, Allowed] = {
    "n": IntRange(1, 4),
    "response_format": frozenset({"b64_json"}),  # Imagen answers in base64 only
    "output_format": frozenset(OUTPUT_MIME_TYPES),
    "output_compression": IntRange(0, 100),
    **native(
        person_generation=PERSON_GENERATION,
        safety_setting=SAFETY_SETTINGS,
        safety_filter_level=SAFETY_SETTINGS,  # google-genai's name for `safetySetting`
        language=LANGUAGES,
        include_rai_reason=BOOLEANS,
        include_safety_attributes=BOOLEANS,
    ),
}
"""What Imagen takes on both APIs, generating (with a `size`) or editing."""


def predict_body(
    request: GenerationRequest, ratios: Iterable[str] = ASPECT_RATIOS, *, enum_case: Callable[[str], str] = str.lower
) -> dict[str, Any]:
    """The `:predict` body of a checked generation; `enum_case` spells `ENUM_PARAMETERS` as the API wants."""
    sized: dict[str, Any] = {}
    if ratio := aspect_ratio(request, ratios):
        sized["aspectRatio"] = ratio
    if size := image_size(request):
        sized["sampleImageSize"] = size
    parameters = common_parameters(request, {**sized, **native_fields(request)}, enum_case=enum_case)
    return {"instances": [{"prompt": request.prompt}], "parameters": parameters}


def common_parameters(
    request: GenerationRequest, specific: dict[str, Any], *, enum_case: Callable[[str], str] = str.lower
) -> dict[str, Any]:
    """The `parameters` every Imagen call shares (the count, the output options), then the `specific` ones,
    with `ENUM_PARAMETERS` spelled by `enum_case`."""
    assert request.spec is not None
    # Imagen's own default is 4 images: always say how many, so a user gets what they asked for.
    parameters: dict[str, Any] = {"sampleCount": request.params.get("n", 1)}
    if output_options := _output_options(request):
        parameters["outputOptions"] = output_options
    parameters.update(specific)  # native parameters are more specific than OpenAI ones
    if "safetyFilterLevel" in parameters:  # the SDK's name; the wire's is `safetySetting`
        parameters.setdefault("safetySetting", parameters.pop("safetyFilterLevel"))
    for name in ENUM_PARAMETERS:
        if isinstance(parameters.get(name), str):
            parameters[name] = enum_case(parameters[name])
    if "includeRaiReason" in request.spec.params_for(request.operation):
        parameters.setdefault("includeRaiReason", True)  # so a filtered image says why
    return parameters


def _output_options(request: GenerationRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    output_format = request.params.get("output_format")
    if output_format is not None:
        options["mimeType"] = OUTPUT_MIME_TYPES[output_format]
    compression = request.params.get("output_compression")
    if compression is not None:
        if output_format == "jpeg":
            options["compressionQuality"] = compression
        else:
            reject(
                request,
                "output_compression",
                compression,
                None,
                reason="`output_compression` applies to JPEG only: pass output_format='jpeg' with it",
            )
    return options


def parse_predict_response(request: GenerationRequest, response: httpx.Response, service: str) -> ImageResponse:
    """Images from `predictions`; filtered ones are dropped with a warning, and if none is left, an error.

    `service` names the API in messages ("Vertex AI", "The Gemini API").
    """
    body = response.json()
    images: list[Image] = []
    filtered: list[str] = []
    other_predictions: list[dict[str, Any]] = []
    for prediction in body.get("predictions") or ():
        if "bytesBase64Encoded" in prediction:
            fields = {k: v for k, v in prediction.items() if k not in ("bytesBase64Encoded", "prompt")}
            images.append(
                Image(b64_json=prediction["bytesBase64Encoded"], revised_prompt=prediction.get("prompt"), **fields)
            )
        elif "raiFilteredReason" in prediction:
            filtered.append(str(prediction["raiFilteredReason"]))
        else:  # e.g. the prompt's safety attributes (includeSafetyAttributes)
            other_predictions.append(prediction)
    if not images:
        reason = "; ".join(dict.fromkeys(filtered)) or f"{service} returned no image (all were filtered)"
        raise ContentPolicyViolationError(
            reason,
            filter_results=filtered,
            provider=request.provider,
            model=request.model,
            body={k: v for k, v in body.items() if k != "predictions"},
        )
    if filtered:
        reasons = "; ".join(dict.fromkeys(filtered))
        request.warnings.append(f"{len(filtered)} image(s) removed by {service}'s safety filters: {reasons}")
    extra = {k: v for k, v in body.items() if k != "predictions"}
    if other_predictions:
        extra["other_predictions"] = other_predictions
    return ImageResponse(data=images, **extra)
