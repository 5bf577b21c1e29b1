"""Every request's id and trace: an ASGI middleware around the whole app.

Each request gets an id: the client's `x-request-id` when it sent a valid one (1-64 of
`A-Za-z0-9._:-`), else a new one. It is in `current_request_id` while the request is served (logs,
error bodies, spend rows, callback records read it there) and in the `x-request-id` header of every
answer. With OpenTelemetry set up (the `imagegen-proxy[otel]` extra, a tracer provider: e.g. under
`opentelemetry-instrument`), each request is a SERVER span that continues the client's `traceparent`,
and the calls it makes are its children.
"""

from __future__ import annotations

import contextvars
import os
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagegen import telemetry

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")  # fits the spend log's column; nothing to escape

current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("imagegen_request_id", default=None)


def request_id_of(scope: Scope) -> str:
    """The client's request id if it is a valid one, else a new one (32 hex digits)."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _VALID_REQUEST_ID.match(value):
            return str(value.decode("ascii"))
    return os.urandom(16).hex()


class RequestContext:
    """Gives each HTTP request its id (and its server span, when tracing) and names it in the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        current_request_id.set(request_id)  # each request runs in its own task: no reset needed
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != REQUEST_ID_HEADER]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        tracer = telemetry.tracer()
        if tracer is None:
            await self.app(scope, receive, send_with_id)
            return
        await _traced(tracer, self.app, scope, receive, send_with_id)


async def _traced(tracer: Any, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve the request inside a SERVER span continuing the client's `traceparent`."""
    from opentelemetry import context, propagate
    from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

    carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    parent = propagate.extract(carrier)
    method, path = scope["method"], scope["path"]
    span = tracer.start_span(
        f"{method} {path}",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "url.path": path, "imagegen.request_id": current_request_id.get()},
    )
    token = context.attach(set_span_in_context(span, parent))

    async def send_traced(message: Message) -> None:
        if message["type"] == "http.response.start":
            status = int(message["status"])
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
        await send(message)

    try:
        await app(scope, receive, send_traced)
    finally:
        context.detach(token)
        span.end()
