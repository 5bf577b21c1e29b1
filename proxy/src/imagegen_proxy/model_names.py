"""What a requested model name means: a model group, an alias of one, or a name a wildcard deployment matches.

As in LiteLLM: an exact `model_name` always wins; then `model_group_alias` (and `model_alias_map`);
then the wildcard deployments (`model_name: "*"`, `"openai/*"`, …), the most specific pattern first
(most literal characters, then fewest `*`). A bare name (`dall-e-3`) is also tried with the prefix of
the provider that lists it (`openai/dall-e-3`), a prefixed one without it (for `model_name: "*"`). A
wildcard deployment serves a name with each `*` of its `litellm_params.model` replaced by what the
pattern's `*` matched, and only when the provider's plugin lists that model (or the deployment declares
`model_info.mode: image_generation` on a provider that passes unknown models through): a client cannot
reach a model the plugins do not vouch for.
"""

from __future__ import annotations

import dataclasses
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imagegen.exceptions import PluginError
from imagegen.plugins import registry

if TYPE_CHECKING:
    from .config import Deployment

WILDCARD = "*"
IMAGE_MODE = "image_generation"
_REMEMBERED_WILDCARD_NAMES = 1024  # names served by wildcards whose deployments are kept (the latest used)


@dataclass(frozen=True)
class Alias:
    """`router_settings.model_group_alias` (or `litellm_settings.model_alias_map`): a name for another model
    name. A hidden one works but is not listed by /v1/models."""

    target: str
    hidden: bool = False


def is_wildcard(name: str) -> bool:
    return WILDCARD in name


def wildcard_pattern(name: str) -> re.Pattern[str]:
    """The requested names a `model_name` with `*` matches; each `*` captures what it stands for."""
    return re.compile("(.*)".join(re.escape(part) for part in name.split(WILDCARD)), re.DOTALL)


def specificity(name: str) -> tuple[int, int]:
    """How specific a wildcard `model_name` is: the more literal characters, then the fewer `*`, the more."""
    return len(name) - name.count(WILDCARD), -name.count(WILDCARD)


def substitute(model: str, captured: Sequence[str]) -> str:
    """`model` (a deployment's `litellm_params.model`) with each `*` replaced by what the pattern captured."""
    if not is_wildcard(model):
        return model
    if len(captured) > model.count(WILDCARD):
        return model.replace(WILDCARD, captured[-1], 1)  # more `*` in the name than in the model: the last one
    for part in captured:
        model = model.replace(WILDCARD, part, 1)
    return model


def spellings(name: str) -> list[str]:
    """The ways a requested name may be written: as asked, then `openai/dall-e-3` for a bare `dall-e-3` (the
    prefix of the plugin that lists it) or `dall-e-3` for `openai/dall-e-3` (an installed plugin's prefix)."""
    prefix, slash, rest = name.partition("/")
    if slash:
        return [name, rest] if prefix in registry.entries() else [name]
    try:
        provider, _ = registry.resolve(name)
    except PluginError:
        return [name]
    return [name, f"{provider.prefix}/{name}"]


def served_by(deployment: Deployment, model: str) -> str | None:
    """The provider prefix a wildcard deployment sends `model` to, if it may: its plugin lists the model, or
    the deployment declares image generation on a provider that passes unknown models through."""
    try:
        provider, model_id = registry.resolve(model)
    except PluginError:
        return None
    declared = deployment.model_info.get("mode") == IMAGE_MODE and provider.info.pass_through_unknown_models
    return provider.prefix if provider.model(model_id) is not None or declared else None


class ModelNames:
    """The names clients may ask for, and the deployments that serve each.

    `groups`: the model groups with at least one deployment that generates images (a chat
    deployment sharing a name with image ones is never routed to); `refused`: names whose
    deployments all do something else. Names matched by a wildcard become groups of their own (the
    requested name) the first time they are asked for.
    """

    def __init__(self, deployments: Iterable[Deployment], aliases: Mapping[str, Alias] | None = None) -> None:
        exact: dict[str, list[Deployment]] = {}
        patterns: dict[str, list[Deployment]] = {}
        for deployment in deployments:
            by_name = patterns if is_wildcard(deployment.model_group) else exact
            by_name.setdefault(deployment.model_group, []).append(deployment)
        self.groups = {
            name: served for name, ds in exact.items() if (served := [d for d in ds if d.kind != "not_image"])
        }
        self.refused = frozenset(exact.keys() - self.groups.keys())
        ordered = sorted(patterns.items(), key=lambda item: specificity(item[0]), reverse=True)
        self._patterns = [(name, wildcard_pattern(name), ds) for name, ds in ordered]
        self.aliases: Mapping[str, Alias] = aliases or {}
        self._matched: OrderedDict[str, list[Deployment]] = OrderedDict()

    def resolve(self, requested: str) -> str | None:
        """The model group serving `requested` (an alias's target, or `requested` itself), or None."""
        if requested in self.groups:
            return requested
        alias = self.aliases.get(requested)
        if alias is not None:
            requested = alias.target
            if requested in self.groups:
                return requested
        return requested if self.deployments(requested) is not None else None

    def deployments(self, group: str) -> list[Deployment] | None:
        """The deployments of a group `resolve` named (wildcard groups are made again if forgotten)."""
        found = self.groups.get(group)
        if found is not None:
            return found
        found = self._matched.get(group)
        if found is not None:
            self._matched.move_to_end(group)
            return found
        found = self._match(group)
        if found:
            self._matched[group] = found
            if len(self._matched) > _REMEMBERED_WILDCARD_NAMES:
                self._matched.popitem(last=False)
            return found
        return None

    @property
    def wildcards(self) -> dict[str, list[Deployment]]:
        """The wildcard deployments that generate images, by the pattern they serve (`openai/*`, `*`)."""
        return {name: served for name, _, ds in self._patterns if (served := [d for d in ds if d.kind != "not_image"])}

    @property
    def has_wildcards(self) -> bool:
        """Some deployment serves a pattern of names (`*`, `openai/*`): which names are served is open-ended."""
        return bool(self._patterns)

    def serving(self, name: str) -> list[Deployment]:
        """The deployments a request for `name` (a group, an alias, a wildcard's match) is routed to, if any."""
        return self.groups.get(name) or self.deployments(self.resolve(name) or name) or []

    def is_refused(self, requested: str) -> bool:
        """A name this proxy knows but serves no image model for (a chat model, a provider without a plugin)."""
        alias = self.aliases.get(requested)
        requested = alias.target if alias is not None else requested
        if requested in self.refused:
            return True
        if not self._patterns:
            return False
        for name in spellings(requested):
            for _, pattern, deployments in self._patterns:
                if pattern.fullmatch(name):
                    return all(d.kind == "not_image" for d in deployments)
        return False

    def listed(self) -> list[str]:
        """The names /v1/models lists: model groups, visible aliases, and what each wildcard offers."""
        names = set(self.groups)
        names.update(name for name, alias in self.aliases.items() if not alias.hidden and self.resolve(name))
        for _, pattern, deployments in self._patterns:
            for deployment in deployments:
                names.update(n for n in _offered(deployment) if pattern.fullmatch(n) and self.resolve(n))
        return sorted(names)

    def _match(self, requested: str) -> list[Deployment]:
        if not self._patterns:
            return []
        for name in spellings(requested):
            for _, pattern, deployments in self._patterns:
                match = pattern.fullmatch(name)
                if match is None:
                    continue
                served = [
                    dataclasses.replace(d, model=model, model_group=requested, provider=provider)
                    for d in deployments
                    if d.kind != "not_image"
                    and (provider := served_by(d, model := substitute(d.model, match.groups()))) is not None
                ]
                if served:
                    return served
        return []


def _offered(deployment: Deployment) -> list[str]:
    """The names a wildcard deployment answers to, one per image model its plugin lists (when its
    `model_name` and its model each have one `*`: other patterns cannot be listed)."""
    name, model = deployment.model_group, deployment.model
    if deployment.kind == "not_image" or name.count(WILDCARD) != 1 or model.count(WILDCARD) != 1:
        return []
    before, after = model.split(WILDCARD)
    prefix = before.partition("/")[0]
    try:
        provider = registry.provider(prefix)
    except PluginError:
        return []
    offered = []
    for spec in provider.info.models:
        full = f"{prefix}/{spec.name}"
        if full.startswith(before) and full.endswith(after) and len(full) >= len(before) + len(after):
            offered.append(name.replace(WILDCARD, full[len(before) : len(full) - len(after)]))
    return offered
