"""Which body builder and which parser each model family uses, for each operation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from imagegen.provider import GENERATION, GenerationRequest
from imagegen.types import ImageResponse

from . import edits, wire
from .models import NOVA, SDXL, STABILITY, STABILITY_SERVICE, TITAN

BodyBuilder = Callable[[GenerationRequest], dict[str, Any]]


@dataclass(frozen=True)
class Family:
    """How one model family's InvokeModel bodies look: generations, edits and variations, and answers."""

    generation_body: BodyBuilder | None
    edit_body: BodyBuilder | None
    parse: Callable[[GenerationRequest, dict[str, Any]], ImageResponse]


FAMILIES = {
    SDXL: Family(wire.sdxl_body, None, wire.parse_sdxl),
    STABILITY: Family(wire.stability_body, edits.image_to_image_body, wire.parse_stability),
    STABILITY_SERVICE: Family(None, edits.service_body, wire.parse_stability),
    TITAN: Family(lambda r: wire.amazon_body(r, TITAN), lambda r: edits.amazon_edit_body(r, TITAN), wire.parse_amazon),
    NOVA: Family(lambda r: wire.amazon_body(r, NOVA), lambda r: edits.amazon_edit_body(r, NOVA), wire.parse_amazon),
}


def family_of(request: GenerationRequest) -> Family:
    assert request.spec is not None  # the provider lists every model it serves
    return FAMILIES[request.spec.family]


def request_body(request: GenerationRequest) -> dict[str, Any]:
    """The body of a checked request: the core has refused operations the model lacks."""
    family = family_of(request)
    build = family.generation_body if request.operation == GENERATION else family.edit_body
    assert build is not None
    return build(request)


def parse_response(request: GenerationRequest, response: httpx.Response) -> ImageResponse:
    """An InvokeModel answer, parsed once; images are kept as the base64 strings Bedrock sent."""
    return family_of(request).parse(request, response.json())
