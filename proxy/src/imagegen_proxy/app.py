"""The HTTP server: OpenAI's image routes (and Azure's), models, health and metrics, on Starlette.

One request (a generation, an edit, a variation): room for it (file descriptors, not stopping: else a
fast 503) → authenticate → read the body (JSON ≤ 1 MiB; an edit's or a variation's images within
`UploadLimits`, large ones spooled to disk) → refuse client-chosen endpoints or credentials → resolve
the model group (and check it does the operation) → admit → route (retries, fallbacks) → answer (an
OpenAI-shaped upstream's body passed through, streamed when large; any other serialised once; `stream:
true`: events as they arrive) → record. Logs carry the request id, key alias, operation, model,
deployment, status, latency, cost and image count: never a body, a prompt, a key or image data. Every
answer carries an `x-request-id` (`observability`); the calls a request makes are told to the config's
callbacks (`callbacks`) and to OpenTelemetry.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from imagegen import observe, transport
from imagegen.plugins import registry
from imagegen.provider import COMMON_SETTINGS, EDIT, GENERATION, OPERATIONS, VARIATION, Operation
from imagegen.types import Usage

from . import __version__, schemas
from .access import AccessControl, Caller, MasterKeyAccess, RequestRecord, presented_key
from .callbacks import load_callbacks
from .capacity import FileDescriptors
from .client_limits import CLIENT_GONE, DEFAULT_LIMITS, BodyLimit, ClientLimits
from .client_limits import STATE_KEY as CLIENT_LIMITS_STATE
from .config import Deployment, ProxyConfig, load_config
from .connections import AiohttpTransport
from .console import console_routes
from .errors import ProxyError
from .insights import insight_routes
from .lifecycle import GracefulStop
from .metrics import CONTENT_TYPE, ProxyMetrics
from .model_names import ModelNames
from .observability import RequestContext, current_request_id
from .openapi import ApiRoute, document
from .operations import can, group_operations, known_to
from .relay import GENERATE, CallInputs, StreamedBody, StreamedResponse
from .router import RouteFailed, Router
from .schemas import form_value
from .streams import EventStream
from .uploads import Spool, SpoolDirectory, UploadLimits, json_images, read_form
from .workers import CONFIG_ENV, DRAIN_TIMEOUT_ENV

logger = logging.getLogger("imagegen.proxy")

MONITOR_SECONDS = 1.0  # how often the descriptor gauges are brought up to date
FULL_COLLECTION_AFTER = 1000
"""Collections of the middle generation between two full ones, in a serving process (Python's default: 10)."""
MAX_BODY_BYTES = 1 << 20
JSON_BODY = BodyLimit(MAX_BODY_BYTES)
# Clients never choose where a request goes or with which credentials (LiteLLM's CVE-2024-6587):
# these, anything starting with the prefixes, and every installed provider's declared settings.
FORBIDDEN_FIELDS = frozenset(
    {"api_base", "base_url", "api_key", "api_version", "azure_ad_token", "vertex_credentials", "vertex_ai_project",
     "vertex_ai_location", "user_config", "custom_llm_provider", "mock_response", "callbacks"}
)  # fmt: skip
FORBIDDEN_PREFIXES = ("aws_", "azure_", "vertex_")
_FORM_NAME_PARTS = re.compile(r"[^\[\]]+")  # `extra[api_base]`: each part of a bracketed form field name
# How a call is retried and timed out is the operator's choice, set per deployment in the config.
CONFIG_ONLY_FIELDS = frozenset({"timeout", "num_retries", "max_retries", "drop_params"})
CALLBACK_DRAIN_SECONDS = 10.0
"""How long shutdown waits for async callbacks still running."""


def forbidden_fields() -> frozenset[str]:
    """The body fields refused from clients: the fixed list plus every installed provider's settings."""
    names = set(FORBIDDEN_FIELDS | COMMON_SETTINGS)
    for entry in registry.load_all():
        if entry.provider is not None:
            names |= entry.provider.info.settings
    return frozenset(name.lower() for name in names)


def is_forbidden(name: str, forbidden: frozenset[str]) -> bool:
    return name.lower() in forbidden or name.lower().startswith(FORBIDDEN_PREFIXES)


def find_forbidden(body: Mapping[str, Any], forbidden: frozenset[str]) -> str | None:
    """The path (`extra.api_base`) of the first forbidden key anywhere in `body`, or None."""
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:
        path, value = stack.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            where = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and is_forbidden(key, forbidden):
                return where
            if isinstance(item, dict | list):
                stack.append((where, item))
    return None


def build_access(config: ProxyConfig, metrics: ProxyMetrics, names: ModelNames) -> AccessControl:
    """The access control the config asks for: with a master key, it and the virtual keys it creates (which
    price a request at the deployments `names` routes it to)."""
    if config.master_key is None:
        return MasterKeyAccess(None)
    from .keys import KeyAccess  # the keys database's modules load only when keys are used

    return KeyAccess(config, metrics=metrics, model_names=names)


class Proxy:
    """The proxy's state and request handlers (one per worker process)."""

    def __init__(
        self,
        config: ProxyConfig,
        access: AccessControl | None = None,
        *,
        freeze_startup_heap: bool = False,
        drain_timeout: float | None = None,
        client_limits: ClientLimits = DEFAULT_LIMITS,
    ) -> None:
        self.config = config
        self.client_limits = client_limits
        self.metrics = ProxyMetrics()
        self.router = Router(config, self.metrics)
        self.access = access or build_access(config, self.metrics, self.router.names)
        self.freeze_startup_heap = freeze_startup_heap
        self.descriptors = FileDescriptors()
        # The tasks of generations in flight, to answer them when the worker has to stop.
        self.requests: set[asyncio.Task[Any]] = set()
        self.stopping = False
        self.graceful_stop = GracefulStop(drain_timeout, self.stop_requests) if drain_timeout is not None else None
        self.served = self.router.names.groups
        self.forbidden = forbidden_fields()
        self.created = int(time.time())
        self.callbacks, _ = load_callbacks(config.litellm_settings, config.path)
        self._openapi: dict[str, Any] | None = None
        self.operations = {name: group_operations(ds) for name, ds in self.served.items()}
        self.sendable = {
            name: {op for op in OPERATIONS if any(can(d, op) for d in ds)} for name, ds in self.served.items()
        }
        self.upload_limits = UploadLimits.from_settings(config.general_settings)
        # data: URLs, read whole
        self.json_edit_body = BodyLimit(self.upload_limits.json_body_bytes, "general_settings.max_request_size_mb")
        self.uploads = SpoolDirectory()

    # -- generations, edits, variations ------------------------------------------------------------

    async def generations(self, request: Request) -> Response:
        self.check_room()
        caller = await self.access.authenticate(presented_key(request))
        body = await self._read_json(request)
        return await self._serve(caller, request, body, GENERATE)

    async def edits(self, request: Request) -> Response:
        """OpenAI's multipart form (`image`, `image[]` or repeated `image`; `mask`) or its JSON form (`images`)."""
        self.check_room()
        caller = await self.access.authenticate(presented_key(request))
        async with self.uploads.spool() as spool:
            if request.headers.get("content-type", "").startswith("multipart/form-data"):
                body, inputs = await self._read_form(request, EDIT, spool)
            elif request.headers.get("content-type", "application/json").startswith("application/json"):
                body = await self._read_json(request, self.json_edit_body)
                images, mask = json_images(body, self.upload_limits)
                inputs = CallInputs(EDIT, images, mask)
            else:
                raise ProxyError(
                    400, "Send an edit as multipart/form-data (OpenAI's form) or as application/json.",
                    code="unsupported_content_type",
                )  # fmt: skip
            return await self._serve(caller, request, body, inputs)

    async def variations(self, request: Request) -> Response:
        """OpenAI's multipart form: `image`, and the other fields."""
        self.check_room()
        caller = await self.access.authenticate(presented_key(request))
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise ProxyError(
                400, "Send a variation as multipart/form-data (OpenAI's form): the image as `image`.",
                code="unsupported_content_type",
            )  # fmt: skip
        async with self.uploads.spool() as spool:
            body, inputs = await self._read_form(request, VARIATION, spool)
            return await self._serve(caller, request, body, inputs)

    async def _read_form(
        self, request: Request, operation: Operation, spool: Spool
    ) -> tuple[dict[str, Any], CallInputs]:
        form = await read_form(request, self.upload_limits, spool)
        for name in form.fields:
            if any(is_forbidden(part, self.forbidden) for part in _FORM_NAME_PARTS.findall(name)):
                raise _forbidden(name)
        body = {name: form_value(name, text) for name, text in form.fields.items()}
        if operation == VARIATION and form.mask is not None:
            raise ProxyError(400, "A variation takes no `mask`.", param="mask", code="unknown_parameter")
        return body, CallInputs(operation, form.images, form.mask)

    async def _serve(self, caller: Caller, request: Request, body: dict[str, Any], inputs: CallInputs) -> Response:
        self._refuse_forbidden(body)
        body_model = body.pop("model", None)
        model = request.path_params.get("deployment") or body_model
        prompt = body.pop("prompt", None)
        group = self._model_group(model, caller)
        self._check_operation(group, inputs.operation)
        if inputs.operation == GENERATION and (not isinstance(prompt, str) or not prompt.strip()):
            raise ProxyError(
                400, "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter"
            )
        if prompt is not None and not isinstance(prompt, str):
            raise ProxyError(400, "`prompt` must be a string.", param="prompt", code="invalid_type")
        metadata = body.pop("metadata", None)
        if metadata is not None and not isinstance(metadata, dict):
            raise ProxyError(400, "`metadata` must be a JSON object", param="metadata")
        inputs = self._stream_fields(body, inputs)
        self._check_call_fields(body)
        caller = await self.access.admit(caller, group, body)
        self._observe(caller, metadata)
        return await self._route(caller, group, prompt or "", body, inputs)

    def _observe(self, caller: Caller, metadata: dict[str, Any] | None) -> None:
        """What the calls of this request tell callbacks: the config's callbacks, the request's id and key."""
        observe.current_context.set(
            observe.CallContext(
                callbacks=self.callbacks,
                metadata=metadata,
                log_prompts=self.config.store_prompts,
                request_id=current_request_id.get(),
                key_alias=caller.key_alias,
                key_hash=caller.key_hash,
            )
        )

    @property
    def draining(self) -> bool:
        """The worker is stopping: from the first stop signal, or once its requests were stopped."""
        return self.stopping or (self.graceful_stop is not None and self.graceful_stop.draining)

    def check_room(self) -> None:
        """A fast 503 for a new request when the worker is stopping or out of file descriptors.

        Every route that calls an upstream (generations, edits and variations, before their uploads) calls this
        first.
        """
        if self.draining:
            self.metrics.refused.labels("shutting_down").inc()
            raise _shutting_down()
        if not self.descriptors.has_room():
            self.metrics.refused.labels("at_capacity").inc()
            usage = self.descriptors.usage()
            logger.warning("refusing a request: %d of %d file descriptors open", usage.open, usage.limit)
            raise ProxyError(
                503,
                f"this proxy worker is at its limit of open connections ({usage.open} of {usage.limit} file "
                "descriptors); retry in a moment, or raise its open-file limit (ulimit -n)",
                code="proxy_at_capacity",
                headers={"retry-after": "1", "connection": "close"},
            )

    def _refuse_forbidden(self, body: Mapping[str, Any]) -> None:
        if (where := find_forbidden(body, self.forbidden)) is not None:
            raise _forbidden(where)

    def _check_operation(self, group: str, operation: Operation) -> None:
        """400 when no deployment of `group` can do `operation`, naming the groups that can."""
        if operation in self._sendable(group):
            return
        able = sorted(name for name, deployments in self.served.items() if known_to(deployments, operation))
        verb = {EDIT: "edit images", VARIATION: "make variations of images"}.get(operation, "generate images")
        raise ProxyError(
            400,
            f"the model {group!r} cannot {verb}; models that can: {', '.join(able) or 'none on this proxy'}",
            param="model",
            code="model_not_supported",
        )

    def _operations(self, group: str) -> list[Operation]:
        """What a listed group (a configured group, or a name a wildcard serves) does, for /v1/models."""
        found = self.operations.get(group)
        return found if found is not None else group_operations(self.router.names.deployments(group) or [])

    def _sendable(self, group: str) -> set[Operation]:
        """The operations some deployment of `group` (a configured group, or a wildcard's match) may be sent."""
        found = self.sendable.get(group)
        if found is None:
            deployments = self.router.names.deployments(group) or []
            found = {op for op in OPERATIONS if any(can(d, op) for d in deployments)}
        return found

    @staticmethod
    def _stream_fields(body: dict[str, Any], inputs: CallInputs) -> CallInputs:
        if "stream" not in body and "partial_images" not in body:
            return inputs
        stream = body.pop("stream", None)
        partial_images = body.pop("partial_images", None)
        if stream is not None and not isinstance(stream, bool):
            raise ProxyError(400, "`stream` must be true or false.", param="stream", code="invalid_type")
        if stream and inputs.operation == VARIATION:
            raise ProxyError(400, "Variations are not streamed; remove `stream`.", param="stream")
        return dataclasses.replace(inputs, stream=bool(stream), partial_images=partial_images)

    async def _route(
        self, caller: Caller, group: str, prompt: str, params: dict[str, Any], inputs: CallInputs
    ) -> Response:
        started = time.perf_counter()
        self.metrics.in_flight.inc()
        operation = inputs.operation
        task = asyncio.current_task()
        assert task is not None
        self.requests.add(task)

        def finished(
            deployment: Deployment | None,
            status: int,
            images: int = 0,
            cost: float | None = None,
            usage: Usage | None = None,
            first_event_at: float | None = None,
        ) -> None:
            self.requests.discard(task)
            self.metrics.in_flight.dec()
            if deployment is not None and usage is not None:
                self.router.used_tokens(deployment, usage.total_tokens)
            self._finished(caller, group, operation, prompt, params, deployment, status, images, cost, started,
                           first_event_at)  # fmt: skip

        try:
            outcome = await self.router.generate(group, prompt, params, allowed=caller.models, inputs=inputs)
        except RouteFailed as failed:
            error = ProxyError.from_imagegen(failed.error)
            finished(failed.deployment, error.status)
            raise error from None
        except Exception:
            finished(None, 500)
            raise
        except asyncio.CancelledError:
            if not self.stopping:
                finished(None, 499)  # the client went away first
                raise
            task.uncancel()  # stopped by `stop_requests`: answered rather than dropped
            finished(None, 503)
            raise _shutting_down() from None
        except BaseException:
            finished(None, 499)
            raise
        deployment, answer = outcome.deployment, outcome.answer
        headers = {"x-imagegen-deployment": deployment.id}
        if isinstance(answer, EventStream):
            if answer.cost_header is not None:
                headers["x-imagegen-response-cost"] = str(answer.cost_header)
            stream = answer

            def stream_finished(status: int, images: int, cost: float | None, usage: Usage | None) -> None:
                finished(deployment, status, images, cost, usage, stream.first_event_at)

            return StreamedResponse(stream.start(stream_finished), {**headers, **_EVENT_STREAM_HEADERS},
                                    media_type="text/event-stream")  # fmt: skip
        if answer.cost is not None:  # a streamed answer's only when priced per image, not by its `usage`
            headers["x-imagegen-response-cost"] = str(answer.cost)
        if answer.warnings:  # what was changed on the caller's behalf (a dropped parameter…), as a JSON list
            headers["x-imagegen-warnings"] = json.dumps(answer.warnings)
        if answer.rest is not None:
            if answer.length is not None:
                headers["content-length"] = str(answer.length)
            body = StreamedBody(deployment, answer, functools.partial(finished, deployment))
            return StreamedResponse(body, headers)
        finished(deployment, 200, answer.images, answer.cost, answer.usage)
        content = answer.body[0] if len(answer.body) == 1 else b"".join(answer.body)
        return Response(content, 200, headers, media_type="application/json")

    def _finished(
        self,
        caller: Caller,
        group: str,
        operation: Operation,
        prompt: str,
        params: Mapping[str, Any],
        deployment: Deployment | None,
        status: int,
        images: int,
        cost: float | None,
        started: float,
        first_event_at: float | None = None,
    ) -> None:
        elapsed = time.perf_counter() - started
        provider = deployment.provider if deployment else None
        self.metrics.requests.labels(group, str(status)).inc()
        self.metrics.latency.labels(group).observe(elapsed)
        if images:
            self.metrics.images.labels(group, provider).inc(images)
        if first_event_at is not None:
            self.metrics.time_to_first_event.labels(group).observe(first_event_at - started)
        request_id = current_request_id.get()
        logger.info(
            "%s request_id=%s key=%s model=%s deployment=%s provider=%s status=%d images=%d latency_ms=%.1f "
            "cost=%s",
            operation, request_id, caller.key_alias or "-", group, deployment.id if deployment else "-",
            provider or "-", status, images, elapsed * 1000, cost,
            extra={"request_id": request_id, "key_alias": caller.key_alias, "operation": operation,
                   "model_group": group, "deployment": deployment.id if deployment else None, "provider": provider,
                   "status": status, "images": images, "latency_ms": round(elapsed * 1000, 1), "cost": cost},
        )  # fmt: skip
        merged = {**deployment.params, **params} if deployment else params
        self.access.record(
            RequestRecord(
                caller=caller,
                model_group=group,
                operation=operation,
                deployment=deployment.id if deployment else None,
                provider=provider,
                image_count=images,
                size=_text(merged.get("size")),
                quality=_text(merged.get("quality")),
                cost=cost,
                latency_ms=elapsed * 1000,
                status=status,
                prompt=prompt if self.config.store_prompts else None,
                request_id=request_id,
                metadata=context.metadata if (context := observe.current_context.get()) else None,
            )
        )

    def _model_group(self, model: Any, caller: Caller) -> str:
        group = self.router.model_group(model) if isinstance(model, str) else None
        if group is not None:
            return group
        visible = [name for name in self.router.names.listed() if caller.models is None or name in caller.models]
        available = ", ".join(visible) or "none"
        if isinstance(model, str) and self.router.names.is_refused(model):
            raise ProxyError(
                400,
                f"{model!r} is not an image generation model on this proxy; image models: {available}",
                param="model",
                code="model_not_supported",
            )
        if not model:
            raise ProxyError(400, f"`model` is required; available models: {available}", param="model")
        raise ProxyError(
            400, f"Invalid model name {model!r}; available models: {available}", param="model", code="model_not_found"
        )

    @staticmethod
    def _check_call_fields(body: dict[str, Any]) -> None:
        for name in CONFIG_ONLY_FIELDS & body.keys():
            raise ProxyError(400, f"`{name}` is set per model in the proxy's config, not by clients", param=name)

    @staticmethod
    async def _read_json(request: Request, limit: BodyLimit = JSON_BODY) -> dict[str, Any]:
        chunks = [chunk async for chunk in limit.chunks(request)]
        try:
            body = json.loads(b"".join(chunks))
        except (ValueError, RecursionError):
            raise ProxyError(400, "We could not parse the JSON body of your request.", code="invalid_json") from None
        if not isinstance(body, dict):
            raise ProxyError(400, "The request body must be a JSON object.", code="invalid_json")
        return body

    # -- other routes -------------------------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        caller = await self.access.authenticate(presented_key(request))
        names = [name for name in self.router.names.listed() if caller.models is None or name in caller.models]
        data = [
            {"id": name, "object": "model", "created": self.created, "owned_by": "imagegen",
             "operations": self._operations(name)}
            for name in names
        ]  # fmt: skip
        return JSONResponse({"object": "list", "data": data})

    async def liveliness(self, request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readiness(self, request: Request) -> Response:
        """Ready or not for anyone (a load balancer's probe sends no key); the details for the master key only.

        503 `draining` once the worker is stopping, 503 `at_capacity` while its file descriptors are
        past the point where new generations are refused.
        """
        try:
            operator = await self._is_operator(request)
        except ProxyError:
            operator = False
        usage = self.descriptors.usage()
        if self.draining:
            status = "draining"
        elif usage.open >= usage.refusing_above:
            status = "at_capacity"
        else:
            status = "healthy"
        code = 200 if status == "healthy" else 503
        if not operator:
            return JSONResponse({"status": status}, code)
        unconfigured = sorted(d.id for ds in self.served.values() for d in ds if d.unavailable is not None)
        return JSONResponse(
            {"status": status, "model_groups": len(self.served), "unconfigured_deployments": unconfigured,
             "requests_in_flight": len(self.requests), "file_descriptors": usage.as_dict()},
            code,
        )  # fmt: skip

    async def prometheus(self, request: Request) -> Response:
        # Metrics name deployments, model groups and error rates: the master key's, unless made public.
        if not self.config.public_metrics and not await self._is_operator(request):
            raise ProxyError(
                403, "/metrics is for the master key only (or set general_settings.public_metrics)", code="admin_only"
            )
        self._update_gauges()
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE)

    async def openapi(self, request: Request) -> Response:
        """The OpenAPI document of every route; the master key's, unless made public."""
        if self.config.general_settings.get("public_openapi") is not True and not await self._is_operator(request):
            raise ProxyError(
                403, "/openapi.json is for the master key only (or set general_settings.public_openapi)",
                code="admin_only",
            )  # fmt: skip
        if self._openapi is None:
            names = self.router.names  # with a wildcard deployment, any name may be served: no enum
            self._openapi = document(
                request.app.routes, title="imagegen proxy", version=__version__,
                model_groups=None if names.has_wildcards else names.listed(),
            )  # fmt: skip
        return JSONResponse(self._openapi)

    def _update_gauges(self) -> None:
        self.metrics.open_fds.set(self.descriptors.count())
        self.metrics.fd_limit.set(self.descriptors.limit)

    async def _monitor(self) -> None:
        """Keeps this worker's descriptor gauges current (with --workers N, /metrics is served by any one worker)."""
        while True:
            self._update_gauges()
            await asyncio.sleep(MONITOR_SECONDS)

    def stop_requests(self) -> None:
        """Stop every generation in flight: each is answered 503 (or cut off, when streaming) and recorded."""
        self.stopping = True
        if self.requests:
            logger.warning("stopping %d request(s) still in flight", len(self.requests))
        for task in list(self.requests):
            task.cancel()

    async def _is_operator(self, request: Request) -> bool:
        """The master key was sent, or none is configured (a loopback server open to all); 401 for a bad key."""
        caller = await self.access.authenticate(presented_key(request))
        return caller.is_admin or self.config.master_key is None

    def _callback_failed(self, callback: str, hook: str) -> None:
        self.metrics.callback_failures.labels(callback, hook).inc()

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[dict[str, Any]]:
        transport.use_async_transport(AiohttpTransport())
        await self.router.start()
        await self.access.startup()
        observe.failure_listeners.append(self._callback_failed)
        if self.freeze_startup_heap:
            _freeze_startup_heap()
        if self.graceful_stop is not None:
            self.graceful_stop.install()
        monitor = asyncio.create_task(self._monitor())
        try:
            yield {CLIENT_LIMITS_STATE: self.client_limits}  # for the server's connections (`client_limits`)
        finally:
            await observe.drain(CALLBACK_DRAIN_SECONDS)
            observe.failure_listeners.remove(self._callback_failed)
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
            await self.access.shutdown()
            await self.router.close()
            await transport.async_client().aclose()
            if self.graceful_stop is not None:
                self.graceful_stop.uninstall()
            self.uploads.remove()


def _freeze_startup_heap() -> None:
    """Keep what start-up built (modules, config, plugins, SQLAlchemy's tables) out of later collections.

    Under load, requests in flight survive young collections often enough to set off a full one about
    twice a second, and each walked the whole heap: 27 ms with the master key alone, 50 ms with the keys
    database's modules (5 to 10 % of the worker's CPU). That heap lives as long as the process; frozen, a
    full collection walks only what was made since.

    With thousands of slow requests in flight (images take seconds), what a full collection walks is
    those requests' own objects (~220 each: coroutines of every ASGI layer, httpx and aiohttp state),
    all alive: at 2,500 in flight (500 new requests a second, 5 s each) one full collection pauses the
    worker ~400 ms, and at Python's pace (every 10 collections of the middle generation, ~1.7 s) or
    even at every 100 (~17 s), the requests caught behind those pauses set the p99 (+380 to +620 ms
    against +70 to +140 ms at 1,000; `benchmarks/NOTES.md`). Full collections now wait for 1,000: one
    every few minutes under that load. What they would find is little (28 to ~1,200 objects of cyclic
    garbage each, measured), so it is freed later at no real cost; younger generations are as before.
    """
    gc.collect()  # start-up's own garbage goes first, rather than being kept for good
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_AFTER)


def _shutting_down() -> ProxyError:
    return ProxyError(
        503, "this proxy is shutting down; retry the request (another replica, or this one once restarted)",
        code="shutting_down", headers={"retry-after": "1"},
    )  # fmt: skip


def _forbidden(where: str) -> ProxyError:
    return ProxyError(
        400,
        f"`{where}` is not accepted in a request: the proxy's config decides where requests go and with which "
        "credentials",
        param=where,
        code="forbidden_parameter",
    )


_EVENT_STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}  # no buffering proxy in between


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return ProxyError(exc.status_code, str(exc.detail)).response()


async def _proxy_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProxyError)
    if exc.code == CLIENT_GONE:  # nothing was sent upstream nor charged; no one reads this answer
        request_id = current_request_id.get()
        logger.info(
            "client_gone request_id=%s path=%s status=%d: the client left before sending its whole request",
            request_id, request.url.path, exc.status,
            extra={"request_id": request_id, "status": exc.status, "code": CLIENT_GONE},
        )  # fmt: skip
    return exc.response()


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return ProxyError(500, "internal error in the proxy; see its log", code="internal_error").response()


def create_app(
    config: ProxyConfig,
    access: AccessControl | None = None,
    *,
    freeze_startup_heap: bool = False,
    drain_timeout: float | None = None,
    client_limits: ClientLimits = DEFAULT_LIMITS,
) -> Starlette:
    """The ASGI app serving `config`. `freeze_startup_heap`: this process only serves the app (as in
    `imagegen serve`), so what start-up built can leave the garbage collector's sight (see `gc.freeze`).
    `drain_timeout`: this process is the server's, so the app chains itself to its stop signals (see
    `lifecycle`); None leaves signals alone (an app embedded in another process). `client_limits`: what
    a client may take of the server (enforced by `client_limits.LimitedHttpProtocol`, the server's protocol)."""
    proxy = Proxy(
        config, access, freeze_startup_heap=freeze_startup_heap, drain_timeout=drain_timeout,
        client_limits=client_limits,
    )  # fmt: skip
    routes = [
        ApiRoute("/v1/images/generations", proxy.generations, "POST", schemas.GENERATIONS),
        ApiRoute("/images/generations", proxy.generations, "POST", schemas.GENERATIONS),
        ApiRoute(
            "/openai/deployments/{deployment}/images/generations", proxy.generations, "POST", schemas.AZURE_GENERATIONS
        ),
        ApiRoute("/v1/images/edits", proxy.edits, "POST", schemas.EDITS),
        ApiRoute("/images/edits", proxy.edits, "POST", schemas.EDITS),
        ApiRoute("/openai/deployments/{deployment}/images/edits", proxy.edits, "POST", schemas.AZURE_EDITS),
        ApiRoute("/v1/images/variations", proxy.variations, "POST", schemas.VARIATIONS),
        ApiRoute("/images/variations", proxy.variations, "POST", schemas.VARIATIONS),
        # Azure has no variations; the AzureOpenAI SDK sends them here (or under a deployment, when it has one).
        ApiRoute("/openai/images/variations", proxy.variations, "POST", schemas.VARIATIONS),
        ApiRoute(
            "/openai/deployments/{deployment}/images/variations", proxy.variations, "POST", schemas.AZURE_VARIATIONS
        ),
        ApiRoute("/v1/models", proxy.models, "GET", schemas.MODELS),
        ApiRoute("/models", proxy.models, "GET", schemas.MODELS),
        ApiRoute("/health/liveliness", proxy.liveliness, "GET", schemas.LIVELINESS),
        ApiRoute("/health/readiness", proxy.readiness, "GET", schemas.READINESS),
        ApiRoute("/metrics", proxy.prometheus, "GET", schemas.METRICS),
        ApiRoute("/openapi.json", proxy.openapi, "GET", schemas.OPENAPI),
        *proxy.access.routes(),
        *insight_routes(proxy),
        *console_routes(config.ui),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestContext)],
        lifespan=proxy.lifespan,
        exception_handlers={ProxyError: _proxy_error, HTTPException: _http_error, Exception: _unexpected_error},
    )
    app.state.proxy = proxy
    return app


def app_from_environment() -> Starlette:
    """The app for a worker process: the config named by `IMAGEGEN_PROXY_CONFIG`."""
    drain_timeout = float(os.environ[DRAIN_TIMEOUT_ENV]) if DRAIN_TIMEOUT_ENV in os.environ else None
    return create_app(load_config(os.environ[CONFIG_ENV]), freeze_startup_heap=True, drain_timeout=drain_timeout)
