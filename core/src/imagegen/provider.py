"""The objects a provider plugin declares and receives.

A plugin describes itself with a `ProviderInfo` (its models as `ModelSpec`s, the settings it reads),
then, for each call, turns a `GenerationRequest` into a `ProviderRequest` and an HTTP response into
an `ImageResponse` (see `imagegen.hookspecs`).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

HOOKS_VERSION = 1
"""The version of the hook contract in `imagegen.hookspecs`; a plugin states the one it was built for."""


@dataclass(frozen=True)
class IntRange:
    """An inclusive integer range, e.g. `n` from 1 to 10."""

    low: int
    high: int

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high

    def __str__(self) -> str:
        return f"an integer from {self.low} to {self.high}"


ANY: None = None
"""In `ModelSpec.params`: any value is accepted (the provider or `map_params` checks it)."""

Allowed = Collection[Any] | IntRange | None


@dataclass(frozen=True)
class ModelSpec:
    """What one model accepts.

    `params` maps every parameter the model takes, OpenAI's (`n`, `size`, `quality`, …) and native
    ones (`cfg_scale`, …), to its allowed values (a collection, an `IntRange`, or `ANY`). The core
    checks a call against it before `map_params`: an unknown parameter or value raises
    `UnsupportedParamsError`, or with `drop_params` is dropped with a warning.
    `max_prompt_chars`: a longer prompt is rejected before any request.
    `max_images_per_call`: the most images one upstream request makes; the core fans a larger `n`
    out into concurrent requests and merges the results.
    """

    name: str
    params: Mapping[str, Allowed]
    max_images_per_call: int | None = None
    aliases: tuple[str, ...] = ()
    family: str = ""
    max_prompt_chars: int | None = None


@dataclass(frozen=True)
class ProviderInfo:
    """What a provider plugin declares about itself.

    `settings`: keyword arguments that configure the provider (credentials, region, project…);
    the core keeps them out of the request parameters, never logs them, and the proxy refuses
    them from clients. `secret_settings`: those among them that must be masked in messages.
    `pass_through_unknown_models`: a model the plugin does not list is still served, unvalidated.
    `openai_shaped_responses`: a 2xx body is already OpenAI's `ImagesResponse` JSON, so a server (the
    proxy) may pass it on as it is instead of parsing and re-encoding it.
    """

    name: str
    models: tuple[ModelSpec, ...] = ()
    settings: frozenset[str] = frozenset()
    secret_settings: frozenset[str] = frozenset()
    pass_through_unknown_models: bool = False
    openai_shaped_responses: bool = False
    hooks_version: int = HOOKS_VERSION

    def model(self, name: str) -> ModelSpec | None:
        """The spec of `name` (or an alias of it), if the plugin lists it."""
        for spec in self.models:
            if name == spec.name or name in spec.aliases:
                return spec
        return None


COMMON_SETTINGS = frozenset({"api_key", "api_base", "api_version"})
COMMON_SECRETS = frozenset({"api_key"})


class Settings:
    """The settings of one call: `api_key`, `api_base`, `api_version` and the provider's own.

    Its repr names the keys only, so a credential cannot leak through a log line or a traceback.
    """

    __slots__ = ("_secret_names", "_values")

    def __init__(self, values: Mapping[str, Any], secret_names: Collection[str] = COMMON_SECRETS) -> None:
        self._values = {k: v for k, v in values.items() if v is not None}
        self._secret_names = frozenset(secret_names)

    def get(self, name: str, *env_names: str, default: Any = None) -> Any:
        """The setting `name`, else the first of `env_names` set in the environment, else `default`."""
        value = self._values.get(name)
        if value is not None:
            return value
        for env_name in env_names:
            env_value = os.environ.get(env_name)
            if env_value:
                return env_value
        return default

    def secrets(self) -> list[str]:
        """The secret settings passed to the call (a plugin lists those it read from the environment in
        `ProviderRequest.secrets`)."""
        return [str(v) for k, v in self._values.items() if k in self._secret_names and isinstance(v, str)]

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def __repr__(self) -> str:
        return f"Settings({', '.join(sorted(self._values))})"


@dataclass
class GenerationRequest:
    """One call on its way through a provider plugin.

    `model` is the id without the provider prefix; `spec` is None for a model the plugin does not
    list (pass-through). `params` holds the validated OpenAI and native parameters that were given
    (never None values). A plugin appends to `warnings` whatever it changes on the user's behalf.
    """

    prompt: str
    provider: str
    model: str
    spec: ModelSpec | None
    params: dict[str, Any]
    settings: Settings
    timeout: float
    drop_params: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass
class ProviderRequest:
    """The HTTP request a plugin wants sent: the core sends it (pooled, retried, timed out).

    `auth` (an `httpx.Auth`) runs on every attempt, so a signature (SigV4) or a token is fresh on
    retries; its async flow must not block the event loop. `secrets` lists credential values to
    mask in any error message.
    """

    url: str
    json: Any = None
    content: bytes | None = None
    # Kept out of repr: they carry credentials, and reprs reach tracebacks and error trackers.
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    method: str = "POST"
    auth: httpx.Auth | None = field(default=None, repr=False)
    secrets: list[str] = field(default_factory=list, repr=False)
