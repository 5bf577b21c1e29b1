"""What a client may take of a worker: how big and how slow its request may be, how long it may stop reading.

An async worker holds thousands of connections cheaply, so a slow client costs it only what the
connection holds: a file descriptor, buffers and, for a generation, an upstream connection. Without
limits a few thousand clients sending their headers a byte at a time (slowloris), uploading a byte at
a time, or never reading their answers would hold those for ever. So, per connection:

- a request head must be complete within `header_timeout` of the connection opening (or of the
  previous answer) and be at most `max_header_bytes`: else 408 / 431 and the connection is closed;
- a request body must keep coming: the first `body_grace` seconds are free, then at least
  `body_min_rate` bytes a second on average (Apache's `RequestReadTimeout body=…,MinRate=…`): else 408;
- a client that reads nothing of its answer for `send_timeout` seconds (its buffers full) is dropped.

A connection closed after a refusal (or any answer that closes it) closes lingering: the answer, then
FIN, and what the client still sends is read and dropped for `LINGER_SECONDS`, so that no reset destroys
the answer before the client reads it.

`LimitedHttpProtocol` is uvicorn's httptools protocol with those checks; one sweep a second per
worker enforces the times (no timer per request). Body sizes are each route's to limit, as soon as
they are known: `BodyLimit` (the declared length, then while the body streams; a multipart upload's parts
are limited as they stream too, by `uploads`).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from .errors import ProxyError

MB = 1024 * 1024
STATE_KEY = "imagegen.client_limits"
"""Where the app puts its `ClientLimits` in the ASGI lifespan state, for the protocol to read."""
LINGER_SECONDS = 5.0
"""After an answer that closes its connection (a refusal, a 413), how long what the client still sends is
read and dropped before it closes: closed at once with unread bytes, a connection is reset by the kernel,
and the reset can destroy the answer before the client has read it (a lingering close, as Apache and nginx
make)."""


@dataclass(frozen=True)
class ClientLimits:
    max_header_bytes: int = 32 * 1024
    header_timeout: float = 30.0
    body_grace: float = 30.0
    body_min_rate: float = 1024.0
    send_timeout: float = 60.0
    sweep_interval: float = 1.0


DEFAULT_LIMITS = ClientLimits()


CLIENT_GONE = "client_gone"
"""The code of the 400 for a request whose client went away before sending its whole body."""


def too_large(message: str, code: str = "request_too_large", param: str | None = None) -> ProxyError:
    """A 413 that closes the connection, so the rest of the request body is not read."""
    return ProxyError(413, message, code=code, param=param, headers={"connection": "close"})


class BodyLimit:
    """How large a route's request body may be: refused with 413 as soon as it is known to be larger.

    The declared `content-length` is checked before reading; a chunked body is counted as it arrives.
    Every route reads its body through one (JSON bodies, multipart uploads); `setting` names the config
    setting that raises the limit, if one does. A client that leaves mid-body gets a 400 `client_gone`.
    """

    def __init__(self, max_bytes: int, setting: str | None = None) -> None:
        self.max_bytes = max_bytes
        self.setting = setting

    async def chunks(self, request: Request) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive, refused with 413 once over the limit."""
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            raise self._too_large()
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_bytes:
                    raise self._too_large()
                yield chunk
        except ClientDisconnect:
            raise ProxyError(400, "the client went away before sending the whole request", code=CLIENT_GONE) from None

    def _too_large(self) -> ProxyError:
        limit = f"{self.max_bytes / MB:g} MB" if self.max_bytes >= MB else f"{self.max_bytes} bytes"
        setting = f", this proxy's limit ({self.setting})" if self.setting else ""
        return too_large(f"The request body is larger than {limit}{setting}.")


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, with the limits of `ClientLimits` (from the app's lifespan state)."""

    def __init__(
        self,
        config: Any,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: ClientLimits = app_state.get(STATE_KEY, DEFAULT_LIMITS)
        self._waiting_since: float | None = None  # for a request head, since then
        self._head_bytes = 0
        self._in_head = False  # a head has begun and is not complete
        self._body_since: float | None = None  # a body is being received, since then
        self._body_bytes = 0
        self._stalled_since: float | None = None  # the client stopped reading (our writes are paused)
        self._refused = False

    # -- what the parser and the transport tell us -------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._waiting_since = self.loop.time()
        _sweep_connections_of(self.server_state, self.loop, self.limits.sweep_interval)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._in_head:  # still inside a head after this chunk: the chunk was head bytes
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self.refuse(431, f"The request's headers are larger than {self.limits.max_header_bytes} bytes.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0
        if self._waiting_since is None:  # a pipelined request: its time starts now
            self._waiting_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self._in_head, self._waiting_since = False, None
        self._body_since, self._body_bytes = self.loop.time(), 0
        super().on_headers_complete()
        if self.cycle is not None:  # an answer that closes the connection (a 413, `connection: close`) lingers too
            self.cycle.transport = _ClosingLingers(self)  # type: ignore[assignment]

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._body_since = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._waiting_since is None and not self._in_head:
            self._waiting_since = self.loop.time()

    def pause_writing(self) -> None:
        super().pause_writing()
        self._stalled_since = self.loop.time()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._stalled_since = None

    # -- enforcing ----------------------------------------------------------------------------------

    def enforce(self, now: float) -> None:
        """Close this connection if its client is past a time limit (called by the sweep)."""
        limits = self.limits
        if self.transport.is_closing():  # its last bytes are still buffered: closed once they are taken
            if self._stalled_since is None:
                self._stalled_since = now
            elif now - self._stalled_since > limits.send_timeout:
                self.transport.abort()  # its client will not take them
            return
        if self._refused:
            return  # answered and lingering: closed by its own timer
        if self._waiting_since is not None and now - self._waiting_since > limits.header_timeout:
            if self._in_head:
                self.refuse(408, f"The request's headers did not arrive within {limits.header_timeout:g} s.")
            else:
                self.transport.close()  # an idle connection that never sent a request
        elif self._body_since is not None and not self.flow.read_paused:
            allowed = limits.body_grace + self._body_bytes / limits.body_min_rate
            if now - self._body_since > allowed:
                self.refuse(
                    408,
                    f"The request body is arriving too slowly (under {limits.body_min_rate:g} bytes a second after "
                    f"{limits.body_grace:g} s).",
                )
        elif self._stalled_since is not None and now - self._stalled_since > limits.send_timeout:
            self.transport.abort()  # the client has read nothing for that long: let its connection go

    def refuse(self, status: int, message: str) -> None:
        """Answer `status` with OpenAI's error body, unless a response has begun, and close the connection."""
        self._refused = True
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started:
                self.transport.abort()
                return
            cycle.disconnected = True  # the app's reads and writes stop here
            cycle.message_event.set()
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": "request_timeout"}
        if status == 431:
            error["code"] = "request_header_fields_too_large"
        body = json.dumps({"error": error}).encode()
        head = [STATUS_LINE[status]]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body), b"connection: close\r\n"]
        self.transport.write(b"".join([*head, b"\r\n", body]))
        self._close_lingering()

    def _close_lingering(self) -> None:
        """Send the answer's end (FIN) now, drop what the client still sends, and close after LINGER_SECONDS."""
        self._refused = True  # `data_received` drops it all from now on
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self.flow.resume_reading()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


class _ClosingLingers:
    """A request's view of its connection (uvicorn's cycle writes to it): the connection itself, except that
    closing it after an answer is a lingering close (see LINGER_SECONDS)."""

    __slots__ = ("_protocol", "is_closing", "write")

    def __init__(self, protocol: LimitedHttpProtocol) -> None:
        self._protocol = protocol
        self.write = protocol.transport.write
        self.is_closing = protocol.transport.is_closing

    def close(self) -> None:
        if not self.is_closing():
            self._protocol._close_lingering()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._protocol.transport, name)


_sweeps: weakref.WeakKeyDictionary[ServerState, asyncio.Task[None]] = weakref.WeakKeyDictionary()


def _sweep_connections_of(server_state: ServerState, loop: asyncio.AbstractEventLoop, interval: float) -> None:
    """Start the worker's one sweep over its connections, if it is not running yet."""
    if server_state not in _sweeps:
        _sweeps[server_state] = loop.create_task(_sweep(weakref.ref(server_state), loop, interval))


async def _sweep(server: weakref.ref[ServerState], loop: asyncio.AbstractEventLoop, interval: float) -> None:
    while (state := server()) is not None:
        now = loop.time()
        for connection in list(state.connections):
            if isinstance(connection, LimitedHttpProtocol):
                connection.enforce(now)
        del state
        await asyncio.sleep(interval)
