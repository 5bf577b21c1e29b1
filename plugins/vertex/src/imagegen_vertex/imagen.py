"""Imagen's wire format: `POST …/publishers/google/models/{model}:predict`.

{"instances": [{"prompt": …}], "parameters": {"sampleCount", "aspectRatio", "outputOptions", …}}
→ {"predictions": [{"bytesBase64Encoded", "mimeType", "prompt"?} | {"raiFilteredReason"}]}

Edits put the image (and mask) in the instance: `referenceImages` on imagen-3.0-capability-001,
`image` and `mask` on Imagen 2 (see `imagen_edits`).
"""

from __future__ import annotations

from typing import Any

import httpx

from imagegen.exceptions import ContentPolicyViolationError
from imagegen.params import reject
from imagegen.provider import GenerationRequest
from imagegen.types import Image, ImageResponse

from .models import OUTPUT_MIME_TYPES
from .options import aspect_ratio, image_size, native


def predict_body(request: GenerationRequest) -> dict[str, Any]:
    """The `:predict` body of a checked generation."""
    sized: dict[str, Any] = {}
    if ratio := aspect_ratio(request):
        sized["aspectRatio"] = ratio
    if size := image_size(request):
        sized["sampleImageSize"] = size
    parameters = common_parameters(request, {**sized, **native(request)})
    return {"instances": [{"prompt": request.prompt}], "parameters": parameters}


def common_parameters(request: GenerationRequest, specific: dict[str, Any]) -> dict[str, Any]:
    """The `parameters` every Imagen call shares (the count, the output options), then the `specific` ones."""
    assert request.spec is not None
    # Imagen's own default is 4 images: always say how many, so a user gets what they asked for.
    parameters: dict[str, Any] = {"sampleCount": request.params.get("n", 1)}
    if output_options := _output_options(request):
        parameters["outputOptions"] = output_options
    parameters.update(specific)  # native parameters are more specific than OpenAI ones
    if "includeRaiReason" in request.spec.params_for(request.operation):
        parameters.setdefault("includeRaiReason", True)  # so a filtered image says why
    _check_seed(request, parameters)
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


def _check_seed(request: GenerationRequest, parameters: dict[str, Any]) -> None:
    # Vertex refuses a seed for watermarked images, and watermarking is on unless turned off.
    accepted = request.spec.params_for(request.operation) if request.spec else {}
    if "seed" in parameters and "addWatermark" in accepted and parameters.get("addWatermark") is not False:
        reject(
            request,
            "seed",
            parameters["seed"],
            None,
            reason=f"`seed` needs add_watermark=False on {request.model} (watermarked images are not reproducible)",
        )
        parameters.pop("seed")  # reached only under drop_params


def parse_predict_response(request: GenerationRequest, response: httpx.Response) -> ImageResponse:
    """Images from `predictions`; filtered ones are dropped with a warning, and if none is left, an error."""
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
        reason = "; ".join(dict.fromkeys(filtered)) or "Vertex AI returned no image (all were filtered)"
        raise ContentPolicyViolationError(
            reason,
            filter_results=filtered,
            provider=request.provider,
            model=request.model,
            body={k: v for k, v in body.items() if k != "predictions"},
        )
    if filtered:
        reasons = "; ".join(dict.fromkeys(filtered))
        request.warnings.append(f"{len(filtered)} image(s) removed by Vertex AI's safety filters: {reasons}")
    extra = {k: v for k, v in body.items() if k != "predictions"}
    if other_predictions:
        extra["other_predictions"] = other_predictions
    return ImageResponse(data=images, **extra)
