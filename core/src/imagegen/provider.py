"""The objects a provider plugin declares and receives.

A plugin describes itself with a `ProviderInfo` (its models as `ModelSpec`s, the settings it reads),
then, for each call, turns a `GenerationRequest` into a `ProviderRequest` and an HTTP response into
an `ImageResponse` — or a `Job` the core polls (see `imagegen.hookspecs`).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    import httpx

    from .exceptions import BadRequestError
    from .images import ImageInput

HOOKS_VERSION = 2
"""The version of the hook contract in `imagegen.hookspecs`; a plugin states the one it was built for.

Version 2 added operations (edits and variations: input images, masks, multipart bodies), streamed
answers (`parse_event`) and jobs (`parse_poll`). A version-1 plugin still serves generation unchanged.
"""
SUPPORTED_HOOKS_VERSIONS = frozenset({1, 2})

GENERATION: Final = "generation"
EDIT: Final = "edit"
VARIATION: Final = "variation"
Operation = Literal["generation", "edit", "variation"]
OPERATIONS: tuple[Operation, ...] = (GENERATION, EDIT, VARIATION)


@dataclass(frozen=True)
class IntRange:
    """An inclusive integer range, e.g. `n` from 1 to 10."""

    low: int
    high: int

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high

    def __str__(self) -> str:
        return f"an integer from {self.low} to {self.high}"


@dataclass(frozen=True)
class NumberRange:
    """An inclusive range of numbers, integer or not, e.g. a guidance scale from 1.1 to 10."""

    low: float
    high: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and self.low <= value <= self.high

    def __str__(self) -> str:
        return f"a number from {self.low} to {self.high}"


ANY: None = None
"""In `ModelSpec.params`: any value is accepted (the provider or `map_params` checks it)."""

Allowed = Collection[Any] | IntRange | NumberRange | None

IMAGE_FORMATS = frozenset({"png", "jpeg", "webp"})


@dataclass(frozen=True)
class OperationSpec:
    """What a model accepts for an operation on input images: an edit or a variation.

    `params`: as `ModelSpec.params`, for this operation. `max_images`: input images per call (at
    least one is always required). `mask`: takes a mask, in OpenAI's convention (fully transparent
    pixels mark the area to edit; the plugin converts it to its provider's). `prompt`: required,
    optional (e.g. an object removal) or none (a variation). `formats`, `max_bytes`, `square`,
    `max_side`: limits on each input image (and the mask), checked by the core before any request.
    `max_mask_bytes`: a tighter limit on the mask alone (OpenAI: masks under 4 MB, images under 50 MB).
    `max_images_per_call`: as `ModelSpec.max_images_per_call`, when it differs for this operation.
    """

    params: Mapping[str, Allowed]
    max_images: int = 1
    mask: bool = False
    prompt: Literal["required", "optional", "none"] = "required"
    formats: frozenset[str] = IMAGE_FORMATS
    max_bytes: int | None = None
    square: bool = False
    max_side: int | None = None
    max_images_per_call: int | None = None
    max_mask_bytes: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    """What one model accepts.

    `params` maps every parameter the model takes when generating, OpenAI's (`n`, `size`, `quality`,
    …) and native ones (`cfg_scale`, …), to its allowed values (a collection, an `IntRange`, a `NumberRange`, or `ANY`).
    The core checks a call against it before `map_params`: an unknown parameter or value raises
    `UnsupportedParamsError`, or with `drop_params` is dropped with a warning.
    `max_prompt_chars`: a longer prompt is rejected before any request.
    `max_images_per_call`: the most images one upstream request makes; the core fans a larger `n`
    out into concurrent requests and merges the results.
    `generation`: the model makes images from a prompt (False for an edit-only model); `edit` and
    `variation`: what it accepts for those operations (None: it does not do them).
    `streams`: the provider streams this model's answers as events (partial images, `parse_event`);
    every other model's stream is emulated by the core with one completed event per image.
    """

    name: str
    params: Mapping[str, Allowed]
    max_images_per_call: int | None = None
    aliases: tuple[str, ...] = ()
    family: str = ""
    max_prompt_chars: int | None = None
    generation: bool = True
    edit: OperationSpec | None = None
    variation: OperationSpec | None = None
    streams: bool = False

    @property
    def operations(self) -> tuple[Operation, ...]:
        """The operations the model supports, in OPERATIONS order."""
        edits: tuple[Operation, ...] = tuple(op for op in (EDIT, VARIATION) if self.operation(op) is not None)
        return (GENERATION, *edits) if self.generation else edits

    def operation(self, name: str) -> OperationSpec | None:
        """The spec of an edit or a variation (None for generation and for an operation it lacks)."""
        return self.edit if name == EDIT else self.variation if name == VARIATION else None

    def supports(self, operation: str) -> bool:
        return operation in self.operations

    def params_for(self, operation: str) -> Mapping[str, Allowed]:
        """The parameters the model accepts for `operation`."""
        spec = self.operation(operation)
        return spec.params if spec is not None else self.params

    def images_per_call(self, operation: str) -> int | None:
        spec = self.operation(operation)
        if spec is not None and spec.max_images_per_call is not None:
            return spec.max_images_per_call
        return self.max_images_per_call


@dataclass(frozen=True)
class ProviderInfo:
    """What a provider plugin declares about itself.

    `settings`: keyword arguments that configure the provider (credentials, region, project…);
    the core keeps them out of the request parameters, never logs them, and the proxy refuses
    them from clients. `secret_settings`: those among them that must be masked in messages.
    `pass_through_unknown_models`: a model the plugin does not list is still served, unvalidated.
    `openai_shaped_responses`: a 2xx body is already OpenAI's `ImagesResponse` JSON (and an event
    stream already OpenAI's image events), so a server (the proxy) may pass it on as it is instead of
    parsing and re-encoding it.
    `max_concurrent_requests`: the most upstream requests (or jobs) one call keeps in flight when it
    fans `n` out (None: the core's own cap).
    `defer_bare_names`: its models are also another plugin's (the same models through another API): a
    bare model name goes to that other plugin when it is installed, to this one only when none other lists it.
    """

    name: str
    models: tuple[ModelSpec, ...] = ()
    settings: frozenset[str] = frozenset()
    secret_settings: frozenset[str] = frozenset()
    pass_through_unknown_models: bool = False
    openai_shaped_responses: bool = False
    hooks_version: int = HOOKS_VERSION
    max_concurrent_requests: int | None = None
    defer_bare_names: bool = False

    def model(self, name: str) -> ModelSpec | None:
        """The spec of `name` (or an alias of it), if the plugin lists it."""
        for spec in self.models:
            if name == spec.name or name in spec.aliases:
                return spec
        return None


COMMON_SETTINGS = frozenset({"api_key", "api_base", "api_version", "api_type", "extra_headers"})
"""Settings every call takes. `api_type` means something only to a plugin that lists it in its own
settings (Azure: `azure` or `azure_ad`); elsewhere it is ignored with a warning. `extra_headers` are
added to every upstream request by the core; plugins never see them."""
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
    """One call on its way through a provider plugin, whatever its operation.

    `model` is the id without the provider prefix; `spec` is None for a model the plugin does not
    list (pass-through). `params` holds the validated OpenAI and native parameters that were given
    (never None values). A plugin appends to `warnings` whatever it changes on the user's behalf.
    `operation`: generation, edit or variation. `images` (edits, variations) and `mask` (edits) are
    the checked input images; `prompt` is "" when the operation takes none. `stream`: the caller
    wants events; a plugin whose provider streams sends a streaming request (`ProviderRequest.event_stream`)
    asking for `partial_images` partial images, otherwise the core emulates the stream.
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
    operation: Operation = GENERATION
    images: list[ImageInput] = field(default_factory=list)
    mask: ImageInput | None = None
    stream: bool = False
    partial_images: int | None = None

    def refused(self, message: str, *, param: str | None = None, code: str | None = None) -> BadRequestError:
        """The error refusing this request before anything is sent: a 400 naming its provider and model,
        and the parameter (`param`) to fix."""
        from .exceptions import BadRequestError

        return BadRequestError(message, provider=self.provider, model=self.model, param=param, code=code)


@dataclass
class ProviderRequest:
    """The HTTP request a plugin wants sent: the core sends it (pooled, retried, timed out).

    The body is `json`, raw `content`, or a multipart form: `form` (text fields; a list value repeats
    its field, booleans are sent as true/false) with `files` (`(field name, ImageInput)` parts, sent
    from the image's bytes or file without copies, and re-sent whole on a retry).
    `auth` (an `httpx.Auth`) runs on every attempt, so a signature (SigV4) or a token is fresh on
    retries; its async flow must not block the event loop. `secrets` lists credential values to
    mask in any error message. `event_stream`: the answer is Server-Sent Events, read with `parse_event`.
    `transport`: an httpx transport to send through instead of the network (an in-process provider,
    like imagegen-mock); it implements `handle_request` for sync calls and `handle_async_request` for
    async ones, and the async one must not block the event loop.
    """

    url: str
    json: Any = None
    content: bytes | None = None
    # Kept out of repr: they carry credentials, and reprs reach tracebacks and error trackers.
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    method: str = "POST"
    auth: httpx.Auth | None = field(default=None, repr=False)
    secrets: list[str] = field(default_factory=list, repr=False)
    form: Mapping[str, Any] | None = None
    files: Sequence[tuple[str, ImageInput]] = ()
    event_stream: bool = False
    transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = field(default=None, repr=False)


@dataclass
class Job:
    """A provider's answer that is a job still running; the core polls it until it ends.

    `poll`: the request that asks how the job is doing (its URL as the provider gave it); `cancel`:
    the request that cancels it, sent (best effort) when the call's deadline passes. `interval`: the
    seconds the provider suggests between polls (the core backs off from it and honours
    `Retry-After`). `state`: anything the plugin needs between polls; `parse_poll` may return the job
    with a new `poll` request (e.g. to fetch a finished job's result from another URL), whose waits
    start again from its `interval`. `finished`: the job has ended and `poll` fetches its outcome, so
    an error answer is the job's own (raised, never polled again).
    """

    id: str
    poll: ProviderRequest
    cancel: ProviderRequest | None = None
    interval: float = 1.0
    state: dict[str, Any] = field(default_factory=dict)
    finished: bool = False
