"""OpenTelemetry traces of calls, following the GenAI semantic conventions (`imagegen-core[otel]`).

Spans go to the tracer provider the application set (`opentelemetry.trace.set_tracer_provider`, or
`opentelemetry-instrument`); there is no imagegen switch. Until the application has imported
OpenTelemetry and set a provider, `tracer()` is None and nothing here runs (nor is anything imported).

A call is a CLIENT span `{operation} {model}` (`gen_ai.operation.name`, `gen_ai.provider.name`,
`gen_ai.request.model`, `gen_ai.request.choice.count`, `gen_ai.output.type`, the response's token
usage, `error.type`), with a child span per upstream exchange: every attempt (`http.request.resend_count`
on a retry) and every poll of a job (`imagegen.exchange`: `attempt`, `poll` or `cancel`). The GenAI
conventions name no image operations yet: ours are `image_generation`, `image_edit`, `image_variation`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    from opentelemetry.trace import Span, Tracer

    from .calls import PreparedCall
    from .provider import ProviderRequest
    from .records import CallRecord

OPERATION_NAMES = {"generation": "image_generation", "edit": "image_edit", "variation": "image_variation"}
PROVIDER_NAMES = {
    "openai": "openai", "azure": "azure.ai.openai", "bedrock": "aws.bedrock", "vertex_ai": "gcp.vertex_ai"
}  # fmt: skip
"""The conventions' well-known `gen_ai.provider.name` values; any other plugin is named by its prefix."""

_cached: tuple[object, Any] = (None, None)


def tracer() -> Tracer | None:
    """imagegen's tracer from the application's tracer provider, or None when none is set."""
    global _cached
    api = sys.modules.get("opentelemetry.trace")
    if api is None:  # an application that set a provider has imported the API
        return None
    provider = api.get_tracer_provider()
    if isinstance(provider, api.ProxyTracerProvider | api.NoOpTracerProvider):
        return None
    if _cached[0] is not provider:
        from . import __version__

        _cached = (provider, provider.get_tracer("imagegen", __version__))
    found: Tracer = _cached[1]
    return found


def start_call_span(tracer: Tracer, operation: str) -> Span:
    """The span of a call, a child of the current span (an application's, or the proxy's request)."""
    from opentelemetry.trace import SpanKind

    name = OPERATION_NAMES.get(operation, operation)
    return tracer.start_span(name, kind=SpanKind.CLIENT, attributes={"gen_ai.operation.name": name})


def call_prepared(span: Span, call: PreparedCall) -> None:
    request = call.request
    operation = OPERATION_NAMES.get(request.operation, request.operation)
    span.update_name(f"{operation} {request.model}")
    attributes: dict[str, Any] = {
        "gen_ai.provider.name": PROVIDER_NAMES.get(call.provider.prefix, call.provider.prefix),
        "gen_ai.request.model": request.model,
        "gen_ai.output.type": "image",
        "gen_ai.request.choice.count": request.params.get("n", 1),
    }
    if isinstance(seed := request.params.get("seed"), int):
        attributes["gen_ai.request.seed"] = seed
    if call.parts:
        url = _url(call.parts[0][1])
        attributes["server.address"], attributes["server.port"] = url.host, url.port or _default_port(url)
    span.set_attributes(attributes)


def call_succeeded(span: Span, record: CallRecord) -> None:
    attributes: dict[str, Any] = {"gen_ai.response.model": record.model or "", "imagegen.images": record.images}
    if record.usage is not None:
        attributes["gen_ai.usage.input_tokens"] = record.usage.get("input_tokens", 0)
        attributes["gen_ai.usage.output_tokens"] = record.usage.get("output_tokens", 0)
    if record.cost is not None:
        attributes["imagegen.cost_usd"] = record.cost
    if record.retries:
        attributes["imagegen.retries"] = record.retries
    if record.polls:
        attributes["imagegen.polls"] = record.polls
    span.set_attributes(attributes)
    span.end()


def call_failed(span: Span, record: CallRecord) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", record.error_class or "Exception")
    if record.cost is not None:  # spent all the same (a stream closed after some of its images)
        span.set_attributes({"imagegen.images": record.images, "imagegen.cost_usd": record.cost})
    span.set_status(Status(StatusCode.ERROR, record.error_class))
    span.end()


def start_exchange_span(tracer: Tracer, parent: Span, request: ProviderRequest, attempt: int, kind: str) -> Span:
    """A child span of the call for one HTTP exchange with the provider (OpenTelemetry's HTTP client span)."""
    from opentelemetry.trace import SpanKind, set_span_in_context

    url = _url(request)
    attributes: dict[str, Any] = {
        "http.request.method": request.method,
        "server.address": url.host,
        "server.port": url.port or _default_port(url),
        "imagegen.exchange": kind,
    }
    if attempt:
        attributes["http.request.resend_count"] = attempt
    return tracer.start_span(
        request.method, context=set_span_in_context(parent), kind=SpanKind.CLIENT, attributes=attributes
    )


def end_exchange_span(span: Span, response: httpx.Response | None, error: BaseException | None) -> None:
    from opentelemetry.trace import Status, StatusCode

    if response is not None:
        span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 400:
            span.set_attribute("error.type", str(response.status_code))
            span.set_status(Status(StatusCode.ERROR))
    elif error is not None:
        span.set_attribute("error.type", type(error).__name__)
        span.set_status(Status(StatusCode.ERROR))
    span.end()


def _url(request: ProviderRequest) -> httpx.URL:
    from .transport import parsed_url

    return parsed_url(request.url)


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80
