"""What an answer costs: the deployment's own price (`model_info`) or its model's list price, from the
images and `usage` it returned, counted up front when priced per image, or estimated when its end
never arrived (an answer that began with 2xx was made and billed upstream, so it is always charged).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from imagegen import pricing
from imagegen.calls import PreparedCall
from imagegen.types import Image, ImageResponse, Usage

from .config import Deployment

DRAIN_SECONDS = 30.0
"""How long the rest of a streamed answer is still read after its client left, to find its `usage`."""
CLIENT_GONE = 499
_USAGE_KEY = b'"usage":'


def cost(deployment: Deployment, call: PreparedCall, response: ImageResponse) -> float | None:
    """The deployment's own price (`model_info`) when it has one, else the core's list price."""
    info = deployment.model_info
    if deployment.provider and (pricing.OVERRIDE_KEYS & info.keys() or "base_model" in info):
        return pricing.cost_of(deployment.provider, call.request.model, call.request.params, response, model_info=info)
    return response.cost


def counted_cost(deployment: Deployment, call: PreparedCall, images: int, usage: Usage | None) -> float | None:
    """The cost of an answer read to its end without parsing it whole: its images counted, its `usage` found."""
    light = ImageResponse.model_construct(data=[Image()] * images, usage=usage)
    return cost(deployment, call, call.finish([light]))


def charge(
    deployment: Deployment, call: PreparedCall, *, whole: bool, images: int, usage: Usage | None
) -> tuple[int, float | None]:
    """The images and cost to record for an answer that began with 2xx: as counted when it was read to its
    end (`whole`), else the images asked for (or more, if more were seen) at the per-image price."""
    if whole:
        return images, counted_cost(deployment, call, images, usage)
    images = max(images, requested_images(call))
    return images, estimated_cost(deployment, call, images)


def requested_images(call: PreparedCall) -> int:
    n = call.request.params.get("n", 1)
    return n if isinstance(n, int) else 1


def cost_up_front(deployment: Deployment, call: PreparedCall) -> float | None:
    """A streamed answer's cost before its body: known when priced per image (not by `usage`), for `n` images."""
    price = _price(deployment, call)
    if price is None or price.per_token:
        return None
    known = price.cost(_images(requested_images(call)), call.request.params)
    return None if known is None else round(known, 10)


def estimated_cost(deployment: Deployment, call: PreparedCall, images: int) -> float | None:
    """The cost of an answer whose `usage` never arrived: `images` at the per-image price.

    Without a `quality` (nor a default one) the highest quality's price is charged: a budget is
    never under-charged because an answer broke off.
    """
    price = _price(deployment, call)
    if price is None:
        return None
    params = call.request.params
    variants: list[Mapping[str, Any]] = [params]
    if "quality" not in params and "quality" not in price.defaults:
        qualities = sorted({quality for rule in price.per_image for quality in rule.quality or ()})
        variants += [{**params, "quality": quality} for quality in qualities]
    costs = [known for variant in variants if (known := price.cost(_images(images), variant)) is not None]
    return round(max(costs), 10) if costs else None


def _images(count: int) -> ImageResponse:
    return ImageResponse.model_construct(data=[Image()] * count, usage=None)


def _price(deployment: Deployment, call: PreparedCall) -> pricing.ModelPrice | None:
    """The price `cost` charges: the deployment's own (`model_info`), else its model's list price."""
    return pricing.price_for(
        call.provider.prefix, call.request.model, base_model=call.base_model, model_info=deployment.model_info
    )


def usage_near_edges(*edges: bytes) -> Usage | None:
    """The `usage` object of a JSON body of which only these pieces (its first and last KiB) were kept."""
    for edge in edges:
        start = edge.rfind(_USAGE_KEY)
        if start < 0:
            continue
        text = edge[start + len(_USAGE_KEY) :].decode(errors="replace").lstrip()
        try:
            value, _ = json.JSONDecoder().raw_decode(text)
            return Usage.model_validate(value) if isinstance(value, dict) else None
        except ValueError:  # cut off by the edge, or not usage as OpenAI writes it
            continue
    return None
