"""Which OpenAI model sits behind an Azure deployment: the OpenAI plugin's rules as Azure serves them.

A deployment's name is the user's choice, so the model is `base_model` when given, else the known
OpenAI model its name contains (`my-dall-e-3-eu` → dall-e-3), else unknown (sent unvalidated).

Azure differs from OpenAI (MicrosoftDocs azure-ai-docs, how-to/dall-e.md and the latest-preview reference):
"DALL-E models don't support the Image Edit API", Azure has no variations route, and its `output_format`
is png or jpeg (no webp). GPT image deployments edit (masks under 4 MB) and stream as on OpenAI.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping

from imagegen.provider import Allowed, GenerationRequest, ModelSpec, OperationSpec
from imagegen_openai.models import MODELS as OPENAI_MODELS

AZURE_OUTPUT_FORMATS = frozenset({"png", "jpeg"})
EDITING_FAMILIES = frozenset({"gpt-image"})
"""The model families whose Azure deployments edit (DALL·E deployments cannot)."""


def _azure_params(params: Mapping[str, Allowed]) -> dict[str, Allowed]:
    return {**params, "output_format": AZURE_OUTPUT_FORMATS} if "output_format" in params else dict(params)


def _as_on_azure(spec: ModelSpec) -> ModelSpec:
    edit: OperationSpec | None = None
    if spec.edit is not None and spec.family in EDITING_FAMILIES:
        edit = dataclasses.replace(spec.edit, params=_azure_params(spec.edit.params))
    return dataclasses.replace(spec, params=_azure_params(spec.params), edit=edit, variation=None)


MODELS: tuple[ModelSpec, ...] = tuple(_as_on_azure(spec) for spec in OPENAI_MODELS)
"""The OpenAI models as Azure deployments serve them."""

_SPECS_BY_NAME = {name: spec for spec in MODELS for name in (spec.name, *spec.aliases)}
# Longest first: `gpt-image-1-mini` must win over `gpt-image-1`, which it contains.
_NAMES_LONGEST_FIRST = sorted(_SPECS_BY_NAME, key=len, reverse=True)


def base_model_spec(request: GenerationRequest, base_model: str) -> ModelSpec:
    """The spec of `base_model` (`dall-e-3`, also accepted as `azure/dall-e-3` or `openai/dall-e-3`)."""
    name = base_model.removeprefix("azure/").removeprefix("openai/")
    spec = _SPECS_BY_NAME.get(name)
    if spec is None:
        raise request.refused(
            f"unknown base_model {base_model!r}; known: {', '.join(sorted(_SPECS_BY_NAME))}. "
            "Omit base_model to send the parameters unvalidated.",
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
