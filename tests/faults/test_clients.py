"""Clients that are too big or too slow: refused early, cut off in time, never exhausting the worker.

Oversized requests are refused by the real `imagegen serve`. The time limits are tested on the same
app and protocol served in this process by uvicorn, with limits of a fraction of a second (the
defaults are 30 to 60 s), so the server's connections can be looked at directly.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from imagegen_proxy.app import create_app
from imagegen_proxy.client_limits import ClientLimits, LimitedHttpProtocol
from imagegen_proxy.config import parse_config
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, ProxyLauncher, RunningProxy

from .upstream import FaultyUpstream, wait_until

FAST = ClientLimits(header_timeout=0.5, body_grace=0.5, body_min_rate=2000, send_timeout=0.5, sweep_interval=0.05)
GENERATION = json.dumps({"model": "m", "prompt": "otter"}).encode()


def config(upstream: FaultyUpstream, timeout: float = 600) -> dict[str, Any]:
    return {"model_list": [{"model_name": "m", "litellm_params": {"model": "openai/dall-e-2",
                                                                    "api_base": upstream.api_base,
                                                                    "api_key": UPSTREAM_KEY, "timeout": timeout}}]}  # fmt: skip


class InProcessServer:
    """The proxy app under uvicorn with `LimitedHttpProtocol`, on a thread of this process."""

    def __init__(self, upstream: FaultyUpstream, limits: ClientLimits, timeout: float) -> None:
        app = create_app(parse_config(config(upstream, timeout)), client_limits=limits)
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, http=LimitedHttpProtocol, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        return len(self.server.server_state.connections)

    def generate(self) -> int:
        return httpx.post(f"{self.url}/v1/images/generations", content=GENERATION, timeout=30).status_code

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


@contextmanager
def serving(upstream: FaultyUpstream, limits: ClientLimits = FAST, timeout: float = 600) -> Iterator[InProcessServer]:
    server = InProcessServer(upstream, limits, timeout)
    server.thread.start()
    wait_until(lambda: server.server.started, 20, "the server to start")
    try:
        yield server
    finally:
        server.server.should_exit = True
        server.thread.join(20)


def generation_head(length: int = len(GENERATION)) -> bytes:
    return (
        b"POST /v1/images/generations HTTP/1.1\r\nhost: proxy\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % length
    )


def answer_of(connection: socket.socket) -> tuple[int, dict[str, Any]]:
    """The status and JSON body the server wrote before closing the connection."""
    data = b""
    while chunk := connection.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


# -- oversized requests, refused by `imagegen serve` before they are read ----------------------------


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    with FaultyUpstream() as upstream:
        launcher = ProxyLauncher(tmp_path_factory.mktemp("clients"))
        yield launcher(config(upstream))
        launcher.close()


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningProxy, FaultyUpstream]]:
    """A proxy with a master key (so spend is logged) and upload limits of 1 MB per image, 32 MB per request."""
    with FaultyUpstream() as upstream:
        launcher = ProxyLauncher(tmp_path_factory.mktemp("uploads"))
        settings = {"master_key": MASTER_KEY, "max_image_size_mb": 1, "max_request_size_mb": 32}
        yield launcher({**config(upstream), "general_settings": settings}), upstream
        launcher.close()


def answer_with_head(connection: socket.socket) -> tuple[bytes, dict[str, Any]]:
    """The head and JSON body the server wrote before closing the connection."""
    data = b""
    while chunk := connection.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, json.loads(body)


def raw(proxy: RunningProxy) -> socket.socket:
    host, port = proxy.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def test_oversized_headers_are_refused_with_431(proxy: RunningProxy) -> None:
    with raw(proxy) as connection:
        connection.sendall(b"GET /health/liveliness HTTP/1.1\r\nhost: proxy\r\nx-padding: " + b"a" * 100_000)

        status, body = answer_of(connection)  # before the head has even ended

    assert status == 431
    assert body["error"]["code"] == "request_header_fields_too_large"


def test_a_body_declared_too_large_is_refused_before_it_is_sent(proxy: RunningProxy) -> None:
    with raw(proxy) as connection:
        connection.sendall(generation_head(length=50_000_000))  # and not one byte of it

        status, body = answer_of(connection)

    assert status == 413
    assert body["error"]["code"] == "request_too_large"


def test_a_refusal_reaches_a_client_that_keeps_sending(proxy: RunningProxy) -> None:
    # Closed with the rest unread, the connection would be reset, and the reset can destroy the answer before
    # the client reads it (it did for every such 413, and for half the 431s above): the proxy closes lingering.
    with raw(proxy) as connection:
        connection.sendall(generation_head(length=50_000_000) + b"x" * 300_000)

        status, body = answer_of(connection)

    assert status == 413
    assert body["error"]["code"] == "request_too_large"


def test_a_chunked_body_is_refused_once_it_passes_the_limit(proxy: RunningProxy) -> None:
    def chunks() -> Iterator[bytes]:
        while True:  # for ever, unless the proxy stops reading
            yield b" " * 65536

    response = httpx.post(f"{proxy.url}/v1/images/generations", content=chunks(), timeout=30)

    assert response.status_code == 413
    assert response.headers["connection"] == "close"  # the rest is not read


def upload_head(path: str, length: int, boundary: bytes = b"b") -> bytes:
    return (
        b"POST %s HTTP/1.1\r\nhost: proxy\r\nauthorization: Bearer %s\r\n"
        b"content-type: multipart/form-data; boundary=%s\r\ncontent-length: %d\r\n\r\n"
        % (path.encode(), MASTER_KEY.encode(), boundary, length)
    )


def image_part(name: str = "image") -> bytes:
    return b'--b\r\ncontent-disposition: form-data; name="%s"; filename="i.png"\r\ncontent-type: image/png\r\n\r\n' % (
        name.encode()
    )


def test_an_upload_part_over_its_limit_is_refused_naming_it_and_the_rest_is_not_read(
    limited: tuple[RunningProxy, FaultyUpstream],
) -> None:
    proxy, upstream = limited
    with raw(proxy) as connection:
        # The image's first byte past 1 MB, and no more: the rest of the declared 4 MB is never sent.
        connection.sendall(upload_head("/v1/images/variations", 4 << 20) + image_part() + b"x" * ((1 << 20) + 1))

        head, body = answer_with_head(connection)

    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in head.lower()
    assert body["error"]["code"] == "image_too_large"
    assert "max_image_size_mb" in body["error"]["message"]
    assert upstream.requests == 0


def test_an_upload_over_the_request_limit_is_413_with_connection_close(
    limited: tuple[RunningProxy, FaultyUpstream],
) -> None:
    proxy, _ = limited
    with raw(proxy) as connection:
        connection.sendall(upload_head("/v1/images/edits", 64 << 20))  # and not one byte of it

        head, body = answer_with_head(connection)

    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in head.lower()
    assert body["error"]["code"] == "request_too_large"
    assert "max_request_size_mb" in body["error"]["message"]


@pytest.mark.parametrize("path", ["/v1/images/edits", "/v1/images/variations"])
def test_a_client_leaving_mid_upload_is_logged_client_gone_and_nothing_is_sent_upstream_nor_charged(
    limited: tuple[RunningProxy, FaultyUpstream], path: str
) -> None:
    proxy, upstream = limited
    with raw(proxy) as connection:
        connection.sendall(upload_head(path, 1 << 20) + image_part() + b"\x89PNG" + b"x" * 1000)
        time.sleep(0.2)  # the proxy is reading the upload

    wait_until(lambda: "client_gone" in proxy.logs(), 10, "the proxy to log the client as gone")
    with proxy.http() as client:
        spend_logs = client.get("/spend/logs").json()
    assert upstream.requests == 0
    assert spend_logs == []
    assert "status=400" in next(line for line in proxy.logs().splitlines() if "client_gone" in line)


# -- slow clients, cut off in time -------------------------------------------------------------------


def test_slowloris_headers_are_cut_off_and_other_clients_are_served(upstream: FaultyUpstream) -> None:
    with serving(upstream) as server:
        slow = [server.connect() for _ in range(200)]
        for connection in slow:
            connection.sendall(b"POST /v1/images/generations HTTP/1.1\r\n")
        served = [server.generate() for _ in range(3)]
        for connection in slow:  # a byte more now and then: each keeps the connection "active"
            connection.sendall(b"x")

        answers = [answer_of(connection) for connection in slow]
        wait_until(lambda: server.connections == 0, 20, "every slow connection closed")

    assert served == [200] * 3
    assert {status for status, _ in answers} == {408}
    assert answers[0][1]["error"]["code"] == "request_timeout"


def test_a_connection_that_never_sends_a_request_is_closed(upstream: FaultyUpstream) -> None:
    with serving(upstream) as server:
        idle = [server.connect() for _ in range(50)]

        closed = [connection.recv(1) for connection in idle]  # b"": closed by the server, silently

    assert closed == [b""] * 50


def test_a_slow_upload_is_refused_with_408(upstream: FaultyUpstream) -> None:
    with serving(upstream) as server, server.connect() as connection:
        connection.sendall(generation_head(length=1_000_000) + b"{")  # then a byte now and then
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                connection.sendall(b" ")
            except OSError:
                break
            time.sleep(0.05)

        status, body = answer_of(connection)

    assert status == 408
    assert "too slowly" in body["error"]["message"]
    assert upstream.requests == 0


def test_a_client_that_stops_reading_is_dropped_and_its_upstream_released(upstream: FaultyUpstream) -> None:
    upstream.script("endless")  # more than any socket buffer holds: the proxy's writes to the client stall
    with serving(upstream, timeout=8) as server:
        connection = socket.socket()
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        connection.connect(("127.0.0.1", server.port))
        connection.sendall(generation_head() + GENERATION)  # and never reads the answer

        wait_until(lambda: upstream.streaming == 1, 20, "the answer to stream")
        wait_until(lambda: server.connections == 0, 20, "the stalled connection dropped")
        upstream.wait_until_idle()  # read on for its cost until the upstream's timeout, then let go
        during = server.generate()
        connection.close()

    assert during == 200


def test_a_steady_keep_alive_client_is_not_cut_off(upstream: FaultyUpstream) -> None:
    with serving(upstream) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        statuses = []
        for _ in range(3):
            statuses.append(client.post("/v1/images/generations", content=GENERATION).status_code)
            time.sleep(0.2)  # idle between requests, within the limits

    assert statuses == [200] * 3


def test_the_worker_stays_responsive_while_a_thousand_connections_dribble(upstream: FaultyUpstream) -> None:
    with serving(upstream, ClientLimits(header_timeout=5, sweep_interval=0.05)) as server:
        slow = [server.connect() for _ in range(1000)]
        for connection in slow:
            connection.sendall(b"GET /health/liveliness HTTP/1.1\r\n")

        served = [server.generate() for _ in range(5)]

        for connection in slow:
            connection.close()

    assert served == [200] * 5
