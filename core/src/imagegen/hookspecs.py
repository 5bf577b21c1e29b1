"""The hooks a provider plugin implements. Each docstring is the contract.

A provider plugin is a module with `@hookimpl` functions, named by an entry point in the group
`imagegen.providers` whose name is the model prefix it serves (`bedrock = "imagegen_bedrock"`).
The core imports it the first time that prefix is used. One call runs:

    provider_info → (core validates params against the ModelSpec) → map_params → build_request
    → (core sends, retries) → parse_response, or parse_error for a non-2xx answer

Hooks are called with keyword arguments; a plugin may accept only those it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import argparse

    import httpx

    from .exceptions import ImageGenError
    from .provider import GenerationRequest, ProviderInfo, ProviderRequest
    from .types import ImageResponse

hookspec = pluggy.HookspecMarker("imagegen")
hookimpl = pluggy.HookimplMarker("imagegen")


class ProviderSpec:
    """Hooks of a provider plugin (entry-point group `imagegen.providers`)."""

    @hookspec(firstresult=True)
    def provider_info(self) -> ProviderInfo:  # type: ignore[empty-body]
        """Describe the provider: its name, models, settings and the hooks version it targets.

        Called once, when the plugin loads. Must be cheap: no network, no provider SDK import.
        """

    @hookspec(firstresult=True)
    def map_params(self, request: GenerationRequest) -> dict[str, Any]:  # type: ignore[empty-body]
        """Translate `request.params` (already checked against the ModelSpec) into the provider's body.

        Returns the JSON body to send. Raise `UnsupportedParamsError` for a value that cannot be
        mapped, unless `request.drop_params`, in which case drop it and append to `request.warnings`
        (`imagegen.params` has the shared tools: size → aspect ratio, nearest size, …).
        """

    @hookspec(firstresult=True)
    def build_request(self, request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:  # type: ignore[empty-body]
        """Say where and how to send `body`: URL, headers, and an `httpx.Auth` for signing or tokens.

        Read credentials with `request.settings.get(name, *ENV_VARS)`; raise `AuthenticationError`
        naming the setting and the environment variable when one is missing. Called once per
        upstream request, on the caller's thread or event loop: do no blocking I/O here (put it in
        the auth flow, which the core runs off the event loop when asked).
        """

    @hookspec(firstresult=True)
    def parse_response(self, request: GenerationRequest, response: httpx.Response) -> ImageResponse:  # type: ignore[empty-body]
        """Turn a 2xx response into an `ImageResponse`, keeping provider fields it does not map.

        Raise `ContentPolicyViolationError` when the provider filtered every image, even on a 200.
        """

    @hookspec(firstresult=True)
    def parse_error(self, request: GenerationRequest, response: httpx.Response) -> ImageGenError | None:
        """Turn a non-2xx response into the matching `ImageGenError`, or return None for the default.

        The default reads OpenAI's `{"error": {"message", "code", "param"}}` body and picks the class
        from the HTTP status. Called after retries are exhausted (or for a status never retried).
        """


class CommandSpec:
    """Hooks of a CLI extension (entry-point group `imagegen.commands`), e.g. the proxy's `serve`."""

    @hookspec
    def register_commands(self, subparsers: argparse._SubParsersAction[Any]) -> None:
        """Add subcommands to the `imagegen` CLI; set `func` via `set_defaults(func=...)` on each."""
