"""The HTTP server: OpenAI's image routes (and Azure's), models, health and metrics, on Starlette.

One request (a generation, an edit, a variation): authenticate → read the body (JSON ≤ 1 MiB; an
edit's or a variation's images within `UploadLimits`, large ones spooled to disk) → refuse
client-chosen endpoints or credentials → resolve the model group (and check it does the operation)
→ admit → route (retries, fallbacks) → answer (an OpenAI-shaped upstream's body passed through,
streamed when large; any other serialised once; `stream: true`: events as they arrive) → record.
Logs carry the operation, model, deployment, status, latency and image count: never a body, a
prompt, a key or image data.
"""

from __future__ import annotations

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
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from imagegen import transport
from imagegen.plugins import registry
from imagegen.provider import COMMON_SETTINGS, EDIT, GENERATION, OPERATIONS, VARIATION, Operation

from .access import AccessControl, Caller, RequestRecord, build_access, presented_key
from .config import Deployment, ProxyConfig, load_config
from .connections import AiohttpTransport
from .errors import ProxyError
from .metrics import CONTENT_TYPE, ProxyMetrics
from .operations import can, group_operations, known_to
from .relay import GENERATE, CallInputs, StreamedBody, StreamedResponse
from .router import RouteFailed, Router
from .schemas import form_value
from .streams import EventStream
from .uploads import Spool, SpoolDirectory, UploadLimits, json_images, read_form

logger = logging.getLogger("imagegen.proxy")

CONFIG_ENV = "IMAGEGEN_PROXY_CONFIG"
"""The config file a worker process loads (`imagegen serve` sets it for `--workers N`)."""
MAX_BODY_BYTES = 1 << 20
# Clients never choose where a request goes or with which credentials (LiteLLM's CVE-2024-6587):
# these, anything starting with the prefixes, and every installed provider's declared settings.
FORBIDDEN_FIELDS = frozenset(
    {"api_base", "base_url", "api_key", "api_version", "azure_ad_token", "vertex_credentials", "vertex_ai_project",
     "vertex_ai_location", "user_config", "custom_llm_provider"}
)  # fmt: skip
FORBIDDEN_PREFIXES = ("aws_", "azure_", "vertex_")
_FORM_NAME_PARTS = re.compile(r"[^\[\]]+")  # `extra[api_base]`: each part of a bracketed form field name
# How a call is retried and timed out is the operator's choice, set per deployment in the config.
CONFIG_ONLY_FIELDS = frozenset({"timeout", "num_retries", "max_retries", "drop_params"})


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


class Proxy:
    """The proxy's state and request handlers (one per worker process)."""

    def __init__(
        self, config: ProxyConfig, access: AccessControl | None = None, *, freeze_startup_heap: bool = False
    ) -> None:
        self.config = config
        self.access = access or build_access(config)
        self.freeze_startup_heap = freeze_startup_heap
        self.metrics = ProxyMetrics()
        groups = config.groups()
        # A chat deployment sharing a model_name with image ones (a LiteLLM config) is never routed to.
        image_groups = {name: [d for d in ds if d.kind != "not_image"] for name, ds in groups.items()}
        self.served = {name: ds for name, ds in image_groups.items() if ds}
        self.refused = groups.keys() - self.served.keys()
        self.router = Router(self.served, config.router, self.metrics)
        self.forbidden = forbidden_fields()
        self.created = int(time.time())
        self.operations = {name: group_operations(ds) for name, ds in self.served.items()}
        self.sendable = {
            name: {op for op in OPERATIONS if any(can(d, op) for d in ds)} for name, ds in self.served.items()
        }
        self.upload_limits = UploadLimits.from_settings(config.general_settings)
        self.uploads = SpoolDirectory()

    # -- generations, edits, variations ------------------------------------------------------------

    async def generations(self, request: Request) -> Response:
        caller = await self.access.authenticate(presented_key(request))
        body = await self._read_json(request, MAX_BODY_BYTES)
        return await self._serve(caller, request, body, GENERATE)

    async def edits(self, request: Request) -> Response:
        """OpenAI's multipart form (`image`, `image[]` or repeated `image`; `mask`) or its JSON form (`images`)."""
        caller = await self.access.authenticate(presented_key(request))
        async with self.uploads.spool() as spool:
            if request.headers.get("content-type", "").startswith("multipart/form-data"):
                body, inputs = await self._read_form(request, EDIT, spool)
            elif request.headers.get("content-type", "application/json").startswith("application/json"):
                body = await self._read_json(request, self.upload_limits.json_body_bytes)
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
        inputs = self._stream_fields(body, inputs)
        self._check_call_fields(body)
        await self.access.admit(caller, group)
        return await self._route(caller, group, prompt or "", body, inputs)

    def _refuse_forbidden(self, body: Mapping[str, Any]) -> None:
        if (where := find_forbidden(body, self.forbidden)) is not None:
            raise _forbidden(where)

    def _check_operation(self, group: str, operation: Operation) -> None:
        """400 when no deployment of `group` can do `operation`, naming the groups that can."""
        if operation in self.sendable[group]:
            return
        able = sorted(name for name, deployments in self.served.items() if known_to(deployments, operation))
        verb = {EDIT: "edit images", VARIATION: "make variations of images"}.get(operation, "generate images")
        raise ProxyError(
            400,
            f"the model {group!r} cannot {verb}; models that can: {', '.join(able) or 'none on this proxy'}",
            param="model",
            code="model_not_supported",
        )

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

        def finished(
            deployment: Deployment | None,
            status: int,
            images: int = 0,
            cost: float | None = None,
            first_event_at: float | None = None,
        ) -> None:
            self.metrics.in_flight.dec()
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
        except BaseException:
            finished(None, 499)  # cancelled: the client went away first
            raise
        deployment, answer = outcome.deployment, outcome.answer
        headers = {"x-imagegen-deployment": deployment.id}
        if isinstance(answer, EventStream):
            if answer.cost_header is not None:
                headers["x-imagegen-response-cost"] = str(answer.cost_header)
            stream = answer

            def stream_finished(status: int, images: int, cost: float | None) -> None:
                finished(deployment, status, images, cost, stream.first_event_at)

            return StreamedResponse(stream.start(stream_finished), {**headers, **_EVENT_STREAM_HEADERS},
                                    media_type="text/event-stream")  # fmt: skip
        if answer.cost is not None:  # a streamed answer's only when priced per image, not by its `usage`
            headers["x-imagegen-response-cost"] = str(answer.cost)
        if answer.rest is not None:
            if answer.length is not None:
                headers["content-length"] = str(answer.length)
            body = StreamedBody(deployment, answer, functools.partial(finished, deployment))
            return StreamedResponse(body, headers)
        finished(deployment, 200, answer.images, answer.cost)
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
        logger.info(
            "%s model=%s deployment=%s provider=%s status=%d images=%d latency_ms=%.1f",
            operation, group, deployment.id if deployment else "-", provider or "-", status, images, elapsed * 1000,
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
            )
        )

    def _model_group(self, model: Any, caller: Caller) -> str:
        if isinstance(model, str) and model in self.served:
            return model
        visible = sorted(name for name in self.served if caller.models is None or name in caller.models)
        available = ", ".join(visible) or "none"
        if isinstance(model, str) and model in self.refused:
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
    async def _read_json(request: Request, limit: int) -> dict[str, Any]:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise _too_large(limit)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
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
        names = sorted(name for name in self.served if caller.models is None or name in caller.models)
        data = [
            {"id": name, "object": "model", "created": self.created, "owned_by": "imagegen",
             "operations": self.operations[name]}
            for name in names
        ]  # fmt: skip
        return JSONResponse({"object": "list", "data": data})

    async def liveliness(self, request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readiness(self, request: Request) -> Response:
        """Ready or not for anyone (a load balancer's probe sends no key); the details for the master key only."""
        try:
            operator = await self._is_operator(request)
        except ProxyError:
            operator = False
        if not operator:
            return JSONResponse({"status": "healthy"})
        unconfigured = sorted(d.id for ds in self.served.values() for d in ds if d.unavailable is not None)
        return JSONResponse(
            {"status": "healthy", "model_groups": len(self.served), "unconfigured_deployments": unconfigured}
        )

    async def prometheus(self, request: Request) -> Response:
        # Metrics name deployments, model groups and error rates: the master key's, unless made public.
        if not self.config.public_metrics and not await self._is_operator(request):
            raise ProxyError(
                403, "/metrics is for the master key only (or set general_settings.public_metrics)", code="admin_only"
            )
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE)

    async def _is_operator(self, request: Request) -> bool:
        """The master key was sent, or none is configured (a loopback server open to all); 401 for a bad key."""
        caller = await self.access.authenticate(presented_key(request))
        return caller.is_admin or self.config.master_key is None

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        transport.use_async_transport(AiohttpTransport())
        await self.access.startup()
        if self.freeze_startup_heap:
            _freeze_startup_heap()
        try:
            yield
        finally:
            await self.access.shutdown()
            await transport.async_client().aclose()
            self.uploads.remove()


def _freeze_startup_heap() -> None:
    """Keep what start-up built (modules, config, plugins, SQLAlchemy's tables) out of later collections.

    Under load, requests in flight survive young collections often enough to set off a full one about
    twice a second, and each walked the whole heap: 27 ms with the master key alone, 50 ms with the keys
    database's modules (5 to 10 % of the worker's CPU). That heap lives as long as the process; frozen, a
    full collection walks only what was made since.
    """
    gc.collect()  # start-up's own garbage goes first, rather than being kept for good
    gc.freeze()


def _forbidden(where: str) -> ProxyError:
    return ProxyError(
        400,
        f"`{where}` is not accepted in a request: the proxy's config decides where requests go and with which "
        "credentials",
        param=where,
        code="forbidden_parameter",
    )


def _too_large(limit: int) -> ProxyError:
    return ProxyError(413, f"The request body is larger than {limit} bytes.", code="request_too_large")


_EVENT_STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}  # no buffering proxy in between


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return ProxyError(exc.status_code, str(exc.detail)).response()


async def _proxy_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProxyError)
    return exc.response()


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return ProxyError(500, "internal error in the proxy; see its log", code="internal_error").response()


def create_app(
    config: ProxyConfig, access: AccessControl | None = None, *, freeze_startup_heap: bool = False
) -> Starlette:
    """The ASGI app serving `config`. `freeze_startup_heap`: this process only serves the app (as in
    `imagegen serve`), so what start-up built can leave the garbage collector's sight (see `gc.freeze`)."""
    proxy = Proxy(config, access, freeze_startup_heap=freeze_startup_heap)
    routes = [
        Route("/v1/images/generations", proxy.generations, methods=["POST"]),
        Route("/images/generations", proxy.generations, methods=["POST"]),
        Route("/openai/deployments/{deployment}/images/generations", proxy.generations, methods=["POST"]),
        Route("/v1/images/edits", proxy.edits, methods=["POST"]),
        Route("/images/edits", proxy.edits, methods=["POST"]),
        Route("/openai/deployments/{deployment}/images/edits", proxy.edits, methods=["POST"]),
        Route("/v1/images/variations", proxy.variations, methods=["POST"]),
        Route("/images/variations", proxy.variations, methods=["POST"]),
        # Azure has no variations; the AzureOpenAI SDK sends them here (or under a deployment, when it has one).
        Route("/openai/images/variations", proxy.variations, methods=["POST"]),
        Route("/openai/deployments/{deployment}/images/variations", proxy.variations, methods=["POST"]),
        Route("/v1/models", proxy.models, methods=["GET"]),
        Route("/models", proxy.models, methods=["GET"]),
        Route("/health/liveliness", proxy.liveliness, methods=["GET"]),
        Route("/health/readiness", proxy.readiness, methods=["GET"]),
        Route("/metrics", proxy.prometheus, methods=["GET"]),
        *proxy.access.routes(),
    ]
    app = Starlette(
        routes=routes,
        lifespan=proxy.lifespan,
        exception_handlers={ProxyError: _proxy_error, HTTPException: _http_error, Exception: _unexpected_error},
    )
    app.state.proxy = proxy
    return app


def app_from_environment() -> Starlette:
    """The app for a worker process: the config named by `IMAGEGEN_PROXY_CONFIG`."""
    return create_app(load_config(os.environ[CONFIG_ENV]), freeze_startup_heap=True)
