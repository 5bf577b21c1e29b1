"""A real HTTP server on 127.0.0.1 for testing a provider against its wire protocol.

Subclass `FakeUpstream`, implement `handle` (the provider's API, strictly: reject what the real
service rejects) and `error` (how the provider spells each kind of failure), and start it:

    with MyFakeProvider() as upstream:
        imagegen.image_generation("otter", model="my/model", api_base=upstream.url)

`fail_next(kind)` makes the next requests fail the way the provider fails; `requests` records
everything received. `FakeRequest.form()` reads a multipart body strictly; a `FakeResponse` whose body
is an iterator of chunks is streamed (chunked, each chunk flushed as it comes: `event_stream` makes
Server-Sent Events spaced in time). A fake of a provider that runs jobs keeps them pending while
`hold_jobs` is set (the conformance kit's job tests set it). A provider spread over several hosts (a
polling gateway, a CDN) gets more listeners from `add_listener()`: each its own port, one handler, one
`requests` list (`FakeRequest.port` says which listener a request reached).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..multipart import FormFile, parse_form

ERROR_KINDS = (
    "auth",
    "permission",
    "not_found",
    "bad_request",
    "content_policy",
    "rate_limit",
    "server_error",
    "unavailable",
    "mid_stream_error",  # for fakes of providers that stream: an error event after the stream began
)

# The smallest valid PNG (1x1, transparent): real image bytes for tests to decode.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
TINY_PNG_B64 = base64.b64encode(TINY_PNG).decode()


@dataclass
class FakeRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    port: int = 0  # the listener's port: which of the fake's hosts was asked

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> tuple[dict[str, list[str]], dict[str, list[FakeFile]]]:
        """A `multipart/form-data` body as (text fields, files), each by name in the order sent.

        Raises ValueError for a body that is not one (a fake answers that with the provider's 400).
        """
        return parse_form(self.headers.get("content-type", ""), self.body)


FakeFile = FormFile
"""A file part of a multipart body."""


@dataclass
class FakeResponse:
    status: int = 200
    body: Any = None  # bytes are sent as they are; an iterator of bytes is streamed; anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        if isinstance(self.body, bytes):
            return self.body, self.headers
        return json.dumps(self.body).encode(), {"content-type": "application/json", **self.headers}

    @property
    def streamed(self) -> bool:
        return isinstance(self.body, Iterator)


def event_stream(events: Iterable[tuple[str | None, Any]], *, delay: float = 0.0, status: int = 200) -> FakeResponse:
    """A streamed answer of Server-Sent Events: `(event name or None, JSON payload)` pairs, `delay`
    seconds apart (the first one after `delay` too), each flushed as it is sent."""

    def chunks() -> Iterator[bytes]:
        for name, payload in events:
            time.sleep(delay)
            head = f"event: {name}\n" if name else ""
            yield f"{head}data: {json.dumps(payload)}\n\n".encode()

    return FakeResponse(status, chunks(), {"content-type": "text/event-stream", "cache-control": "no-cache"})


class FakeUpstream:
    """Base class of the fake providers. Thread-safe; serves HTTP/1.1 with keep-alive."""

    def handle(self, request: FakeRequest) -> FakeResponse:
        """Answer one request as the provider would."""
        raise NotImplementedError

    def error(self, kind: str) -> FakeResponse:
        """The provider's answer for a failure `kind` (one of ERROR_KINDS)."""
        raise NotImplementedError

    def __init__(self) -> None:
        self.requests: list[FakeRequest] = []
        self.hold_jobs = False
        self._failures: deque[str] = deque()
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []

    @property
    def url(self) -> str:
        assert self._servers, "start the fake first"
        return self._url_of(self._servers[0])

    @property
    def port(self) -> int:
        """The port of the first listener."""
        assert self._servers, "start the fake first"
        return int(self._servers[0].server_address[1])

    @staticmethod
    def _url_of(server: ThreadingHTTPServer) -> str:
        host, port = server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(self, kind: str, times: int = 1) -> None:
        """Answer the next `times` requests with the provider's `kind` of error."""
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; one of {', '.join(ERROR_KINDS)}")
        with self._lock:
            self._failures.extend([kind] * times)

    def _respond(self, request: FakeRequest) -> FakeResponse:
        with self._lock:
            self.requests.append(request)
            kind = self._failures.popleft() if self._failures else None
        if kind is not None:
            return self.error(kind)
        return self.handle(request)

    def start(self) -> FakeUpstream:
        self.add_listener()
        return self

    def add_listener(self) -> str:
        """Listen on one more port (another of the provider's hosts); its base URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Buffer the head with the body: two small sends on a kept-alive connection stall ~40 ms (Nagle).
            wbufsize = 1 << 16

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                request = FakeRequest(
                    method=self.command,
                    path=split.path,
                    query=parse_qs(split.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                    port=self.connection.getsockname()[1],
                )
                try:
                    response = fake._respond(request)
                except Exception as exc:  # a bug in the fake must show up in the test, not hang it
                    response = FakeResponse(500, {"fake_upstream_bug": repr(exc)})
                if response.streamed:
                    self._stream(response)
                    return
                body, headers = response.encoded()
                self.send_response(response.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream(self, response: FakeResponse) -> None:
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                try:
                    for chunk in response.body:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):  # the client left mid-stream
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self._servers.append(server)
        return self._url_of(server)

    def stop(self) -> None:
        while self._servers:
            server = self._servers.pop()
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
