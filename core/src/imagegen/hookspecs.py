"""The hooks a provider plugin implements. Each docstring is the contract.

A provider plugin is a module with `@hookimpl` functions, named by an entry point in the group
`imagegen.providers` whose name is the model prefix it serves (`bedrock = "imagegen_bedrock"`).
The core imports it the first time that prefix is used. One call runs:

    provider_info → (core checks the operation, params and input images against the ModelSpec)
    → map_params → build_request → (core sends, retries) → parse_response, or parse_error for a
    non-2xx answer; then, for a streamed answer, parse_event per event; for a job, parse_poll per poll

The same hooks serve every operation (generation, edit, variation): `request.operation` says which.
`parse_event` and `parse_poll` are optional: a plugin implements them only if its provider streams
or answers with jobs. Hooks are called with keyword arguments; a plugin may accept only those it needs.

A callback plugin (entry-point group `imagegen.callbacks`) implements some of `CallbackSpec`'s hooks:
it is told of every call of the process, SDK and proxy alike (see docs/callbacks.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import argparse

    import httpx

    from .exceptions import ImageGenError
    from .provider import GenerationRequest, Job, ProviderInfo, ProviderRequest
    from .records import CallRecord
    from .sse import ServerSentEvent
    from .types import ImageResponse, ImageStreamEvent

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

        Returns the body's fields (JSON, or a multipart form's text fields: `build_request` decides how
        they are sent). An edit or a variation carries its checked `request.images` and `request.mask`
        (OpenAI's mask convention: transparent = edit; convert with `imagegen.masks`). Raise
        `UnsupportedParamsError` for a value that cannot be mapped, unless `request.drop_params`, in
        which case drop it and append to `request.warnings` (`imagegen.params` has the shared tools:
        size → aspect ratio, nearest size, …).
        """

    @hookspec(firstresult=True)
    def build_request(self, request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:  # type: ignore[empty-body]
        """Say where and how to send `body`: URL, headers, and an `httpx.Auth` for signing or tokens.

        Send it as `json=body`, or as a multipart form (`form=body, files=[(field, image), …]`). Set
        `event_stream=True` when `request.stream` asked for events and the request you built makes the
        provider stream them (then `parse_event` reads the answer). Read credentials with
        `request.settings.get(name, *ENV_VARS)`; raise `AuthenticationError` naming the setting and
        the environment variable when one is missing. Called once per
        upstream request (with `map_params`: on the caller's thread, or a worker thread for async calls),
        not per attempt: put what must be fresh on each attempt (signing, tokens) in the auth flow.
        """

    @hookspec(firstresult=True)
    def parse_response(self, request: GenerationRequest, response: httpx.Response) -> ImageResponse | Job:  # type: ignore[empty-body]
        """Turn a 2xx response into an `ImageResponse`, keeping provider fields it does not map.

        Raise `ContentPolicyViolationError` when the provider filtered every image, even on a 200.
        A provider that answers with a job to poll returns a `Job` instead: the core polls it (one
        deadline for the whole call, backoff, `Retry-After`, 5xx retried, cancel on timeout) and hands
        each answer to `parse_poll`. Image URLs keep their expiry in `Image.expires_at`.
        """

    @hookspec(firstresult=True)
    def parse_event(self, request: GenerationRequest, event: ServerSentEvent) -> ImageStreamEvent | None:
        """Turn one Server-Sent Event of a streamed answer into an image event, or None to skip it.

        Called for each event of an answer whose `ProviderRequest.event_stream` was set, as it arrives
        (`ModelSpec.streams` only declares that a model can stream; the request's flag is what counts).
        Return a `PartialImageEvent` or a `CompletedImageEvent` (`imagegen.types`); raise the matching
        `ImageGenError` for an error the provider sends mid-stream. The core assembles the final
        `ImageResponse` from the completed events, prices it from their `usage`, and fails the call if
        the stream ends before a completed event.
        """

    @hookspec(firstresult=True)
    def parse_poll(self, request: GenerationRequest, job: Job, response: httpx.Response) -> ImageResponse | Job:  # type: ignore[empty-body]
        """Read the 2xx answer to `job.poll`: the finished `ImageResponse`, or the job to poll again.

        Return `job` (or a copy with a new `poll` request, e.g. to fetch a finished job's result) while
        it runs; raise `ContentPolicyViolationError` for a moderated job and the matching
        `ImageGenError` for a failed one. A non-2xx answer goes to `parse_error` (5xx and 429 are
        retried until the call's deadline).
        """

    @hookspec(firstresult=True)
    def parse_error(self, request: GenerationRequest, response: httpx.Response) -> ImageGenError | None:
        """Turn a non-2xx response into the matching `ImageGenError`, or return None for the default.

        The default reads OpenAI's `{"error": {"message", "code", "param"}}` body and picks the class
        from the HTTP status. Called after retries are exhausted (or for a status never retried), and
        for a retried 429 without a `Retry-After` header: the error's `retry_after` (from the body, as
        Google's `RetryInfo`) is how long the core waits before the next attempt.
        """


class CommandSpec:
    """Hooks of a CLI extension (entry-point group `imagegen.commands`), e.g. the proxy's `serve`."""

    @hookspec
    def register_commands(self, subparsers: argparse._SubParsersAction[Any]) -> None:
        """Add subcommands to the `imagegen` CLI; set `func` via `set_defaults(func=...)` on each."""


class CallbackSpec:
    """Hooks of a callback plugin (entry-point group `imagegen.callbacks`): logging and monitoring
    integrations, told of every call the process makes (SDK and proxy). Each hook may be a plain
    function or `async def`; a hook that raises is logged once and never fails the call. Keep plain
    hooks quick: they run on the caller's thread (async ones run as tasks on the async path).
    """

    @hookspec
    def on_request(self, record: CallRecord) -> None:
        """A call is checked and about to be sent upstream (`record.status == "started"`).

        `record` (`imagegen.records.CallRecord`) has the provider, model, parameters and metadata;
        a call refused before this point (a bad parameter, no plugin) gets only `on_failure`.
        """

    @hookspec
    def on_success(self, record: CallRecord) -> None:
        """A call returned its images (`record.status == "success"`): `images`, `cost`, `usage`,
        `latency_ms`, `retries`, `polls`, and for a stream `time_to_first_event_ms` (called when
        the stream ends)."""

    @hookspec
    def on_failure(self, record: CallRecord) -> None:
        """A call raised (`record.status == "failure"`: `error_class`, `error_message`, `status_code`)
        or its caller left (`"cancelled"`: a stream closed before its end, a cancelled task)."""
