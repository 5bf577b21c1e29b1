"""Which OpenAI model sits behind an Azure deployment: the OpenAI plugin's rules, chosen per deployment.

A deployment's name is the user's choice, so the model is `base_model` when given, else the known
OpenAI model its name contains (`my-dall-e-3-eu` → dall-e-3), else unknown (sent unvalidated).
"""

from __future__ import annotations

import functools
import re

from imagegen.exceptions import BadRequestError
from imagegen.provider import GenerationRequest, ModelSpec
from imagegen_openai.models import MODELS

_SPECS_BY_NAME = {name: spec for spec in MODELS for name in (spec.name, *spec.aliases)}
# Longest first: `gpt-image-1-mini` must win over `gpt-image-1`, which it contains.
_NAMES_LONGEST_FIRST = sorted(_SPECS_BY_NAME, key=len, reverse=True)


def base_model_spec(request: GenerationRequest, base_model: str) -> ModelSpec:
    """The spec of `base_model` (`dall-e-3`, also accepted as `azure/dall-e-3` or `openai/dall-e-3`)."""
    name = base_model.removeprefix("azure/").removeprefix("openai/")
    spec = _SPECS_BY_NAME.get(name)
    if spec is None:
        raise BadRequestError(
            f"unknown base_model {base_model!r}; known: {', '.join(sorted(_SPECS_BY_NAME))}. "
            "Omit base_model to send the parameters unvalidated.",
            provider=request.provider,
            model=request.model,
            param="base_model",
        )
    return spec


@functools.lru_cache(maxsize=256)
def spec_from_deployment_name(deployment: str) -> ModelSpec | None:
    """The model a deployment's name contains as a whole word (`gpt-image-1` is not in `gpt-image-1.5`)."""
    lowered = deployment.lower()
    for name in _NAMES_LONGEST_FIRST:
        if re.search(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9.])", lowered):
            return _SPECS_BY_NAME[name]
    return None
