"""What each model group and deployment offers: parameters, price and health, from what is installed and known.

Capabilities are the plugins' `ModelSpec.params` (allowed values of `size`, `quality`, `n` and each native
parameter); a group offers what every one of its deployments accepts, since any of them may serve a request.
Each operation (generation, edit, variation) is offered with what the deployments that may be sent it accept
(an edit's input images and mask) and how they stream (`native` or `emulated`).
Prices are the core's (or a deployment's own `model_info` prices). Nothing here calls an upstream.
Settings (credentials, endpoints, regions) are never shown: a deployment shows only its model and its
default image parameters.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from imagegen import pricing
from imagegen.provider import EDIT, GENERATION, Allowed, IntRange, ModelSpec, NumberRange, OperationSpec

from ..config import Deployment
from ..model_names import IMAGE_MODE
from ..operations import can, deployment_spec, group_operations, resolved
from ..router import DeploymentState
from .health import Recent


def allowed_values(allowed: Allowed) -> dict[str, Any] | None:
    """`{"values": [...]}`, `{"min": 1, "max": 10}`, or None for any value."""
    if allowed is None:
        return None
    if isinstance(allowed, IntRange | NumberRange):
        return {"min": allowed.low, "max": allowed.high}
    return {"values": sorted(allowed, key=lambda value: (value != "auto", str(value)))}


def _intersection(first: Allowed, second: Allowed) -> Allowed:
    if first is None:
        return second
    if second is None:
        return first
    if isinstance(first, IntRange) and isinstance(second, IntRange):
        return IntRange(max(first.low, second.low), min(first.high, second.high))
    if isinstance(first, IntRange | NumberRange) and isinstance(second, IntRange | NumberRange):
        return NumberRange(max(first.low, second.low), min(first.high, second.high))
    if isinstance(first, IntRange | NumberRange):
        first, second = second, first
    assert not isinstance(first, IntRange | NumberRange)
    return frozenset(value for value in first if value in second)


def common_params(declared: Iterable[Mapping[str, Allowed]]) -> dict[str, Any] | None:
    """The parameters every declared table accepts, with the values all of them allow; None if there is no table
    (a pass-through model: the provider decides)."""
    declared = list(declared)
    if not declared:
        return None
    names = [name for name in declared[0] if all(name in params for params in declared)]
    merged: dict[str, Any] = {}
    for name in names:
        allowed = declared[0][name]
        for params in declared[1:]:
            allowed = _intersection(allowed, params[name])
        merged[name] = allowed_values(allowed)
    return merged


def operations_info(deployments: list[Deployment]) -> dict[str, dict[str, Any]]:
    """Each operation some of `deployments` serves, with what every deployment that may be sent it accepts.

    Generations and edits say how they stream: `native` (partial images as the model works) when every such
    deployment's provider streams the model, else `emulated` (one completed event per image). Variations are
    not streamed. An edit or a variation gives the limits of its input images (`max_images`, `mask`, …).
    """
    found: dict[str, dict[str, Any]] = {}
    for operation in group_operations(deployments):
        specs = [deployment_spec(deployment) for deployment in deployments if can(deployment, operation)]
        known = [spec for spec in specs if spec is not None]
        if operation == GENERATION:
            found[operation] = {"params": common_params(spec.params for spec in known), "streaming": _streaming(specs)}
            continue
        inputs = [spec for model in known if (spec := model.operation(operation)) is not None]
        found[operation] = {"params": common_params(spec.params for spec in inputs), **_input_limits(inputs)}
        if operation == EDIT:
            found[operation]["streaming"] = _streaming(specs)
    return found


def _streaming(specs: list[ModelSpec | None]) -> str:
    return "native" if specs and all(spec is not None and spec.streams for spec in specs) else "emulated"


def _input_limits(inputs: list[OperationSpec]) -> dict[str, Any]:
    """The strictest of each limit on input images (None: not declared by any plugin)."""
    if not inputs:
        return dict.fromkeys(("max_images", "mask", "prompt", "formats", "max_bytes", "square", "max_side"))
    prompts = {spec.prompt for spec in inputs}
    return {
        "max_images": min(spec.max_images for spec in inputs),
        "mask": all(spec.mask for spec in inputs),
        "prompt": next(kind for kind in ("required", "optional", "none") if kind in prompts),
        "formats": sorted(frozenset.intersection(*(spec.formats for spec in inputs))),
        "max_bytes": min((spec.max_bytes for spec in inputs if spec.max_bytes), default=None),
        "square": any(spec.square for spec in inputs),
        "max_side": min((spec.max_side for spec in inputs if spec.max_side), default=None),
    }


def _price(deployment: Deployment, spec: ModelSpec | None) -> dict[str, Any] | None:
    if (found := resolved(deployment)) is None:
        return None
    provider, model_id = found
    price = pricing.price_for(
        provider.prefix, model_id, base_model=spec.name if spec else None, model_info=deployment.model_info
    )
    if price is None:
        return None
    return {
        "per_image": [
            {
                "usd": rule.usd,
                "quality": sorted(rule.quality) if rule.quality is not None else None,
                "max_pixels": rule.max_pixels,
                "max_steps": rule.max_steps,
            }
            for rule in price.per_image
        ],
        "per_token": dict(price.per_token),
    }


def _limits(spec: ModelSpec | None) -> dict[str, Any]:
    return {
        "max_images_per_call": spec.max_images_per_call if spec else None,
        "max_prompt_chars": spec.max_prompt_chars if spec else None,
    }


def group_info(name: str, deployments: list[Deployment]) -> dict[str, Any]:
    """A model group as any caller allowed to use it may see it: what it takes, never where it goes."""
    specs = [deployment_spec(deployment) for deployment in deployments]
    prices = [_price(deployment, spec) for deployment, spec in zip(deployments, specs, strict=True)]
    limits = [_limits(spec) for spec in specs]
    return {
        "model_group": name,
        "mode": IMAGE_MODE,
        "providers": sorted({d.provider for d in deployments if d.provider}),
        "supported_operations": group_operations(deployments),
        "operations": operations_info(deployments),
        "params": common_params(spec.params for spec in specs if spec is not None),
        # A group's price or limit when its deployments agree on one (else each deployment's is at /model/info).
        "price": prices[0] if all(price == prices[0] for price in prices) else None,
        **{key: limits[0][key] if all(limit[key] == limits[0][key] for limit in limits) else None for key in limits[0]},
    }


def _image_defaults(deployment: Deployment, spec: ModelSpec | None) -> dict[str, Any]:
    """The deployment's default image parameters: only those its spec declares, so no setting can slip in."""
    if spec is None:
        return {}
    return {name: value for name, value in deployment.params.items() if name in spec.params}


def deployment_info(deployment: Deployment, state: DeploymentState, recent: Recent) -> dict[str, Any]:
    """A deployment as the master key sees it (LiteLLM's /model/info entry) with its current health."""
    spec = deployment_spec(deployment)
    if deployment.unavailable is not None:
        status = "unconfigured"
    elif state.cooldown_remaining > 0:
        status = "cooling_down"
    else:
        status = "ready"
    return {
        "model_name": deployment.model_group,
        "litellm_params": {"model": deployment.model, **_image_defaults(deployment, spec)},
        "model_info": {
            "id": deployment.id,
            "mode": IMAGE_MODE,
            "provider": deployment.provider,
            "base_model": spec.name if spec else deployment.model_info.get("base_model"),
            "verified": deployment.kind == "image",
            "weight": deployment.weight,
            "supported_operations": group_operations([deployment]),
            "operations": operations_info([deployment]),
            "params": common_params([spec.params] if spec is not None else []),
            "price": _price(deployment, spec),
            **_limits(spec),
        },
        "health": {
            "status": status,
            "detail": deployment.unavailable,
            "cooldown_remaining_s": round(state.cooldown_remaining, 1),
            "in_flight": state.in_flight,
            "failures_this_minute": state.recent_failures,
            **recent.figures(deployment.id),
        },
    }


def visible_groups(
    served: Mapping[str, list[Deployment]], allowed: Collection[str] | None
) -> dict[str, list[Deployment]]:
    """The groups a caller may use (`allowed` None: all), by name."""
    return {name: served[name] for name in sorted(served) if allowed is None or name in allowed}
