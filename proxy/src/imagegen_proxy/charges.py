"""What an answer costs: the deployment's own price (`model_info`) or its model's list price, from the
images and `usage` it returned, counted up front when priced per image, or estimated when its end
never arrived (an answer that began with 2xx was made and billed upstream, so it is always charged).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from imagegen import pricing
from imagegen.calls import PreparedCall
from imagegen.exceptions import APIConnectionError, PluginError
from imagegen.plugins import registry
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
    """The most `images` images of this call can cost, at the per-image price (a token-priced model's
    per-image table bounds it too): an answer whose `usage` never arrived is charged this."""
    return most(_price(deployment, call), call.request.params, images)


def most(price: pricing.ModelPrice | None, params: Mapping[str, Any], images: int) -> float | None:
    """What `images` images with `params` cost at most at `price`: at the asked quality; without one (nor a
    default), or with one the price does not name (`auto`), the highest quality's price; without a size, the
    largest size's. A budget is never under-charged."""
    if price is None:
        return None
    asked = price.cost(_images(images), params) if "quality" in params or "quality" in price.defaults else None
    if asked is not None:
        return round(asked, 10)
    qualities = sorted({quality for rule in price.per_image for quality in rule.quality or ()})
    variants = [params, *({**params, "quality": quality} for quality in qualities)]
    costs = [known for variant in variants if (known := price.cost(_images(images), variant)) is not None]
    return round(max(costs), 10) if costs else None


def worst_case_cost(deployments: Iterable[Deployment], params: Mapping[str, Any]) -> float | None:
    """What a request with `params` may cost at most, served by any of `deployments` (its group and fallbacks):
    `most` of the `n` images asked for, whatever the operation. None when none of them is priced."""
    n = params.get("n", 1)
    images = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
    costs = [
        known
        for deployment in deployments
        if (known := most(deployment_price(deployment), {**deployment.params, **params}, images)) is not None
    ]
    return max(costs) if costs else None


def deployment_price(deployment: Deployment) -> pricing.ModelPrice | None:
    """A deployment's price before any call: its own (`model_info`), else its model's (or base model's) list
    price, as a call to it would be charged."""
    try:
        provider, model_id = registry.resolve(deployment.model)
    except PluginError:
        return None
    spec = provider.model(model_id)
    base_model = spec.name if spec is not None else deployment.params.get("base_model")
    return pricing.price_for(
        provider.prefix, model_id, base_model=base_model if isinstance(base_model, str) else None,
        model_info=deployment.model_info,
    )  # fmt: skip


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


def report(call: PreparedCall, status: int, images: int, cost: float | None, usage: Usage | None) -> None:
    """Tell the call's observer (callbacks, spans) how an answer the proxy sent on ended, with what it counted
    and charged: whole, left by its client, or broken off upstream."""
    if call.observer is None:
        return
    counted = ImageResponse.model_construct(data=[Image()] * images, usage=usage)
    counted._annotate(call.provider.prefix, call.request.model, list(call.request.warnings), cost)
    if status == 200:
        call.succeeded(counted)
    elif status == CLIENT_GONE:
        call.failed(GeneratorExit(), spent=counted)
    else:
        error = APIConnectionError("the upstream broke off a streamed answer", provider=call.provider.prefix)
        call.failed(error, spent=counted)
