"""Watching calls: callbacks and OpenTelemetry spans, at no cost when nothing watches.

A call is watched when a callback is registered (the call's `callbacks=[…]`, `imagegen.callbacks`, a
server's `CallContext`, or an installed callback plugin: entry-point group `imagegen.callbacks`) or the
application set an OpenTelemetry tracer provider. `begin` then returns an `Observer` that the call tells
what happens: checked and about to be sent (`on_request`), each upstream exchange (retries and polls are
counted; a span each), a stream's first event, and the end (`on_success` / `on_failure`, with one
`CallRecord`). Otherwise `begin` returns None and the call runs as if this module did not exist.

A callback is any object with some of `on_request(record)`, `on_success(record)`, `on_failure(record)`,
plain or `async def`. Plain ones run inline, on the caller's thread. Async ones never hold up the
call's result on the async path: they run as tasks of the running event loop, kept referenced until
done (a server awaits them on shutdown with `drain`); on the sync path (no running loop) they are run
to completion inline. A callback that raises never fails the call: its first failure is logged (once
per callback and hook) and every failure is reported to `failure_listeners` (the proxy counts them).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import httpx

from . import telemetry
from .exceptions import ImageGenError
from .records import CallRecord, recordable

if TYPE_CHECKING:
    import pluggy

    from .calls import PreparedCall
    from .provider import ProviderRequest
    from .types import ImageResponse

logger = logging.getLogger("imagegen")

CALLBACK_GROUP = "imagegen.callbacks"
HOOKS = ("on_request", "on_success", "on_failure")
ExchangeKind = Literal["attempt", "poll", "cancel"]

failure_listeners: list[Callable[[str, str], None]] = []
"""Called with (callback name, hook) whenever a callback raises (the proxy counts these in a metric)."""
_reported: set[tuple[str, str]] = set()
_pending: set[asyncio.Task[None]] = set()


@dataclass(frozen=True)
class CallContext:
    """What a server adds to every call it makes on a request's behalf (set in `current_context`)."""

    callbacks: Sequence[object] = ()
    metadata: Mapping[str, Any] | None = None
    log_prompts: bool = False
    request_id: str | None = None
    key_alias: str | None = None
    key_hash: str | None = None


current_context: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "imagegen_call_context", default=None
)


def begin(
    operation: str,
    *,
    callbacks: Sequence[object] | None = None,
    metadata: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Observer | None:
    """An observer for a call starting now, or None (the common case, nearly free) when nothing watches.

    `fields`: more `CallRecord` fields the caller knows (a server's `model_group`, `deployment`).
    """
    import imagegen

    context = current_context.get()
    globally: Sequence[object] = imagegen.callbacks or ()
    plugins = plugin_callbacks()
    tracer = telemetry.tracer()
    if not (callbacks or globally or plugins or tracer or (context is not None and context.callbacks)):
        return None
    listeners = [*(callbacks or ()), *globally, *plugins]
    log_prompts = bool(imagegen.log_prompts)
    if context is not None:
        listeners.extend(context.callbacks)
        log_prompts = log_prompts or context.log_prompts
        metadata = {**(context.metadata or {}), **(metadata or {})}
        fields = {"request_id": context.request_id, "key_alias": context.key_alias, "key_hash": context.key_hash,
                  **fields}  # fmt: skip
    return Observer(operation, listeners, tracer, metadata, log_prompts, fields)


class Observer:
    """Follows one call: fills its `CallRecord`, calls the callbacks, and drives its spans."""

    def __init__(
        self,
        operation: str,
        listeners: list[object],
        tracer: Any,
        metadata: Mapping[str, Any] | None,
        log_prompts: bool,
        fields: dict[str, Any],
    ) -> None:
        self.record = CallRecord(
            call_id=uuid.uuid4().hex,
            operation=operation,
            metadata=dict(metadata or {}),
            start_time=datetime.now(UTC),
            **fields,
        )
        self._started = time.perf_counter()
        self._listeners = listeners
        self._log_prompts = log_prompts
        self._span = telemetry.start_call_span(tracer, operation) if tracer is not None else None
        self._tracer = tracer
        self._ended = False

    def prepared(self, call: PreparedCall) -> None:
        """The call is checked and about to be sent: `on_request`."""
        record, request = self.record, call.request
        record.provider, record.model, record.base_model = call.provider.prefix, request.model, call.base_model
        record.params = recordable(request.params)
        record.input_images, record.mask, record.stream = len(request.images), request.mask is not None, request.stream
        record.mock = call.mock_response is not None
        if self._log_prompts:
            record.prompt = request.prompt
        if self._span is not None:
            telemetry.call_prepared(self._span, call)
        self._fire("on_request")

    def exchange(self, request: ProviderRequest, attempt: int, kind: ExchangeKind) -> Exchange:
        """An upstream request is being sent (the transport calls this for every attempt)."""
        if kind == "poll":
            self.record.polls += 1
        elif kind == "attempt" and attempt > 0:
            self.record.retries += 1
        span = None
        if self._span is not None:
            span = telemetry.start_exchange_span(self._tracer, self._span, request, attempt, kind)
        return Exchange(span)

    def first_event(self, at: float) -> None:
        """A stream's first event arrived at `at` (`time.perf_counter()`)."""
        self.record.time_to_first_event_ms = (at - self._started) * 1000

    def succeeded(self, response: ImageResponse) -> None:
        """The call returned `response`: `on_success`."""
        if self._end("success"):
            self._count(response)
            if self._span is not None:
                telemetry.call_succeeded(self._span, self.record)
            self._fire("on_success")

    def failed(self, error: BaseException, *, spent: ImageResponse | None = None) -> None:
        """The call raised `error` (or was cancelled): `on_failure`. `spent`: what it made and cost all the
        same (a stream closed after some of its images): counted in the record's `images`, `cost`, `usage`."""
        cancelled = isinstance(error, asyncio.CancelledError | GeneratorExit | KeyboardInterrupt)
        if self._end("cancelled" if cancelled else "failure"):
            record = self.record
            if spent is not None:
                self._count(spent)
            record.error_class, record.error_message = type(error).__name__, str(error)
            if isinstance(error, ImageGenError):
                record.error_message, record.status_code = error.message, error.status_code
                record.provider = record.provider or error.provider
                record.model = record.model or error.model
            if self._span is not None:
                telemetry.call_failed(self._span, record)
            self._fire("on_failure")

    def _count(self, response: ImageResponse) -> None:
        record = self.record
        record.images, record.cost, record.warnings = len(response.data), response.cost, list(response.warnings)
        record.usage = response.usage.model_dump() if response.usage is not None else None

    def _end(self, status: Literal["success", "failure", "cancelled"]) -> bool:
        if self._ended:
            return False
        self._ended = True
        elapsed = time.perf_counter() - self._started
        record = self.record
        record.status, record.latency_ms = status, elapsed * 1000
        record.end_time = record.start_time + timedelta(seconds=elapsed)
        return True

    def _fire(self, hook: str) -> None:
        snapshot = dataclasses.replace(self.record)  # a later hook's changes never reach an earlier task
        for listener in self._listeners:
            method = getattr(listener, hook, None)
            if method is None:
                continue
            try:
                outcome = method(snapshot)
                if inspect.isawaitable(outcome):
                    _run_async(outcome, listener, hook)
            except Exception as exc:
                callback_failed(listener, hook, exc)


class Exchange:
    """One upstream request in flight (its span, when tracing)."""

    __slots__ = ("_span",)

    def __init__(self, span: Any) -> None:
        self._span = span

    def ended(self, response: httpx.Response | None, error: BaseException | None) -> None:
        if self._span is not None:
            telemetry.end_exchange_span(self._span, response, error)


def _run_async(outcome: Awaitable[Any], listener: object, hook: str) -> None:
    async def guarded() -> None:
        try:
            await outcome
        except Exception as exc:
            callback_failed(listener, hook, exc)

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(guarded())  # the sync path: no loop to leave it to
        return
    task = loop.create_task(guarded())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def drain(timeout: float | None = None) -> None:
    """Wait for the async callbacks still running on this event loop (a server calls it on shutdown)."""
    loop = asyncio.get_running_loop()
    tasks = [task for task in _pending if task.get_loop() is loop]
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)


def callback_failed(listener: object, hook: str, error: Exception) -> None:
    """A callback raised: reported to `failure_listeners`, logged the first time for this callback and hook."""
    name = callback_name(listener)
    for report in failure_listeners:
        report(name, hook)
    if (name, hook) not in _reported:
        _reported.add((name, hook))
        logger.warning(
            "imagegen callback %s.%s failed (%s); the call goes on, and its later failures are not logged",
            name, hook, type(error).__name__, exc_info=error,
        )  # fmt: skip


def callback_name(listener: object) -> str:
    """How logs and metrics name a callback: its plugin's name, else its class's (or function's) name."""
    name = getattr(listener, "callback_name", None)
    if isinstance(name, str):
        return name
    if inspect.ismodule(listener):
        return listener.__name__
    target = listener if inspect.isfunction(listener) or inspect.isclass(listener) else type(listener)
    return f"{target.__module__}.{target.__qualname__}"


# -- callback plugins --------------------------------------------------------------------------------


class PluginCallback:
    """An installed callback plugin's hook implementations, as a callback object."""

    def __init__(self, name: str, impls: Mapping[str, pluggy.HookImpl]) -> None:
        self.callback_name = name
        for hook, impl in impls.items():
            setattr(self, hook, functools.partial(_call_impl, impl))


def _call_impl(impl: pluggy.HookImpl, record: CallRecord) -> Any:
    return impl.function(*(record for _ in impl.argnames))  # a hookimpl may take `record` or nothing


def plugin_callback(name: str, plugin: object) -> PluginCallback | None:
    """A callback plugin's hooks (checked: a misspelled hook raises), or None if it implements none."""
    import pluggy

    from .hookspecs import CallbackSpec

    manager = pluggy.PluginManager("imagegen")
    manager.add_hookspecs(CallbackSpec)
    manager.register(plugin, name=name)
    manager.check_pending()
    impls = {hook: impl for hook in HOOKS for impl in getattr(manager.hook, hook).get_hookimpls()}
    return PluginCallback(name, impls) if impls else None


@functools.cache
def plugin_callbacks() -> tuple[PluginCallback, ...]:
    """The installed callback plugins (entry-point group `imagegen.callbacks`), loaded once per process.

    One that fails to load (or misspells a hook) is logged and left out, unless `IMAGEGEN_STRICT_PLUGINS=1`.
    """
    from .plugins import _disabled, _entry_points, _strict

    disabled = _disabled()
    loaded = []
    for entry_point in _entry_points(CALLBACK_GROUP):
        if entry_point.name in disabled:
            continue
        try:
            callback = plugin_callback(entry_point.name, entry_point.load())
        except Exception as exc:
            if _strict():
                raise
            logger.error("imagegen: the callback plugin %r failed to load: %s", entry_point.name, exc)
            continue
        if callback is not None:
            loaded.append(callback)
    return tuple(loaded)
