"""Which operations (generation, edit, variation) each deployment and model group can serve.

Read from the plugins' `ModelSpec`s: the deployment's model, else its `base_model`, else, for a
pass-through provider (an Azure deployment, an OpenAI-compatible server), the known model its id names
(`azure/gpt-image-1`). A deployment whose model no plugin describes is `unknown`: it is still sent the
operations a client asks for (its plugin refuses what it cannot do), but it never counts as able to
do one when a fallback is chosen, and `/v1/models` shows it as generating only.
`deployment_spec` is the one lookup of a deployment's spec: routing and the console's insights use it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from imagegen.exceptions import PluginError
from imagegen.plugins import Provider, registry
from imagegen.provider import GENERATION, OPERATIONS, ModelSpec, Operation

from .config import Deployment


def resolved(deployment: Deployment) -> tuple[Provider, str] | None:
    """The plugin serving `deployment` and its model id there; None when no installed plugin does."""
    return _resolved(deployment.model)


def deployment_spec(deployment: Deployment) -> ModelSpec | None:
    """The ModelSpec of a deployment's model, else of its `base_model`, else of the known model a
    pass-through id names; None when no plugin describes it (unknown)."""
    base_model = deployment.model_info.get("base_model") or deployment.params.get("base_model")
    return _spec(deployment.model, base_model if isinstance(base_model, str) else None)


def _resolved(model: str) -> tuple[Provider, str] | None:
    try:
        return registry.resolve(model)
    except PluginError:
        return None


@functools.cache
def _spec(model: str, base_model: str | None) -> ModelSpec | None:
    if (found := _resolved(model)) is None:
        return None
    provider, model_id = found
    for name in (model_id, base_model):
        if not name:
            continue
        spec = provider.model(name)
        if spec is None and provider.info.pass_through_unknown_models:
            spec = _known_anywhere(name.rpartition("/")[2])
        if spec is not None:
            return spec
    return None


def _known_anywhere(name: str) -> ModelSpec | None:
    """The spec of a bare model name any installed plugin lists."""
    if (found := _resolved(name)) is None:
        return None
    provider, model_id = found
    return provider.model(model_id)


def deployment_operations(deployment: Deployment) -> tuple[Operation, ...] | None:
    """The operations `deployment` can do; None when no plugin describes its model (unknown)."""
    spec = deployment_spec(deployment)
    return spec.operations if spec is not None else None


def can(deployment: Deployment, operation: Operation) -> bool:
    """`deployment` may be sent `operation`: it is known to do it, or unknown (its plugin decides)."""
    operations = deployment_operations(deployment)
    return operations is None or operation in operations


def known_to(deployments: Iterable[Deployment], operation: Operation) -> bool:
    """Some deployment is known to do `operation` (what makes a group a fallback for it)."""
    return any(operation in (deployment_operations(d) or ()) for d in deployments)


def group_operations(deployments: Iterable[Deployment]) -> list[Operation]:
    """What a model group serves, as `/v1/models` shows it: every known operation of its deployments."""
    found: set[Operation] = set()
    for deployment in deployments:
        found.update(deployment_operations(deployment) or (GENERATION,))
    return [operation for operation in OPERATIONS if operation in found]
