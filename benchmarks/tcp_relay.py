"""The ceiling of any proxy on one event loop: a byte relay, no HTTP parsing, nothing per request.

    python benchmarks/tcp_relay.py --upstream 127.0.0.1:8080

Prints `PORT <n>` once listening on 127.0.0.1 (or takes `--port`). Each client connection gets its
own upstream connection and bytes are copied both ways as they arrive, with flow control. A real
proxy does strictly more (parse, authenticate, route, record), so its throughput with large bodies
can only be lower: this row shows what the machine allows a single-process Python proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import cast


class _Pipe(asyncio.Protocol):
    """One side of a relayed connection: what it receives is written to its peer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Pipe | None = None
        self.early: list[bytes] = []  # client bytes that arrive before the upstream connection is up

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None or peer.transport is None:
            self.early.append(data)
            return
        peer.transport.write(data)

    def pause_writing(self) -> None:  # our peer sends faster than we can pass on: stop reading it
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


async def serve(upstream_host: str, upstream_port: int, port: int) -> None:
    loop = asyncio.get_running_loop()
    connecting: set[asyncio.Task[None]] = set()  # referenced until done: the loop keeps only weak references

    def accepted() -> _Pipe:
        client = _Pipe()

        async def connect() -> None:
            try:
                _, upstream = await loop.create_connection(_Pipe, upstream_host, upstream_port)
            except OSError:
                if client.transport is not None:
                    client.transport.close()
                return
            upstream.peer, client.peer = client, upstream
            assert upstream.transport is not None
            for data in client.early:
                upstream.transport.write(data)
            client.early.clear()

        connecting.add(task := loop.create_task(connect()))
        task.add_done_callback(connecting.discard)
        return client

    server = await loop.create_server(accepted, "127.0.0.1", port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, metavar="HOST:PORT")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    host, _, upstream_port = args.upstream.rpartition(":")
    try:
        import uvloop  # the loop the proxies under test run on

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        run(serve(host, int(upstream_port), args.port))


if __name__ == "__main__":
    main()
