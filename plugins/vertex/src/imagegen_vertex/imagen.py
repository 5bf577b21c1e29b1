"""Imagen on Vertex AI: the shared `:predict` wire format (`imagegen_gemini.predict`), plus what only
Vertex takes: a seed (with the watermark off), square-only models, and its enums' spelling (`ALLOW_ADULT`,
`BLOCK_ONLY_HIGH`: Google's SDK enums, as Vertex's Imagen edit reference sends them).

Edits put the image (and mask) in the instance: `referenceImages` on imagen-3.0-capability-001,
`image` and `mask` on Imagen 2 (see `imagen_edits`).
"""

from __future__ import annotations

from typing import Any

from imagegen.params import reject
from imagegen.provider import GenerationRequest
from imagegen_gemini import predict

from .models import ONLY_SQUARE


def predict_body(request: GenerationRequest) -> dict[str, Any]:
    """The `:predict` body of a checked generation."""
    assert request.spec is not None
    ratios = ("1:1",) if request.spec.name in ONLY_SQUARE else predict.ASPECT_RATIOS
    body = predict.predict_body(request, ratios, enum_case=str.upper)
    _check_seed(request, body["parameters"])
    return body


def common_parameters(request: GenerationRequest, specific: dict[str, Any]) -> dict[str, Any]:
    """The `parameters` every Imagen call shares, then the `specific` ones (an edit's)."""
    parameters = predict.common_parameters(request, specific, enum_case=str.upper)
    _check_seed(request, parameters)
    return parameters


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
