"""A fault-injecting upstream: OpenAI's Images API over raw asyncio sockets, broken on purpose.

    with FaultyUpstream() as upstream:
        upstream.script("reset_mid_body", "ok")   # the next two requests; then `upstream.default`
        imagegen.image_generation("otter", model="openai/dall-e-2", api_base=upstream.api_base, api_key="k")

Each request is answered with one `Fault`: a proper `ImagesResponse` (`ok`), or the ways an upstream
breaks: the connection closed or reset at each stage, a body cut short or never finished, a 200
with garbage, 5xx. It runs on its own thread and event loop, so sync and async clients and a proxy
subprocess can all call it; `open_connections` tells a test when every connection has been let go.

Also a command, for soak runs (`benchmarks/soak.py`): `python -m tests.faults.upstream --mix
ok=90,reset_mid_body=5,stall=5 --latency-ms 50` prints `PORT <n>` and serves a seeded random mix.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import json
import os
import random
import socket
import struct
import threading
import time
from collections.abc import Mapping
from typing import Literal, get_args

Fault = Literal[
    "ok",  # a proper ImagesResponse (after `latency`)
    "close",  # the connection closed before any answer
    "reset_after_headers",  # `200` and its headers, then a TCP reset
    "reset_mid_body",  # half the body, then a TCP reset
    "truncated_json",  # a complete HTTP answer (its length honoured) whose JSON stops halfway
    "garbage",  # `200` with `application/json` that is an HTML error page (or random bytes, when large)
    "server_error",  # 500 in OpenAI's error shape
    "unavailable",  # 503 in OpenAI's error shape, with `Retry-After: 0`
    "stall",  # `200` and its headers, then silence, connection held open
    "endless",  # `200`, chunked, and chunks that never stop coming
    "drip",  # `200` and its headers, then the body one byte per `drip_interval`
    "drip_headers",  # the status line and headers one byte per `drip_interval`
]
FAULTS: tuple[Fault, ...] = get_args(Fault)
HANGS: frozenset[Fault] = frozenset({"stall", "endless", "drip", "drip_headers"})
"""The faults that never answer on their own: only a timeout ends them."""
_GARBAGE = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
_HEAD_LIMIT = 64 * 1024
_PAST_READ_AHEAD = 128 * 1024


def images_body(image_bytes: int) -> bytes:
    """An OpenAI `ImagesResponse` with one base64 image of `image_bytes` random bytes and its `usage`."""
    body = {
        "created": int(time.time()),
        "data": [{"b64_json": base64.b64encode(os.urandom(image_bytes)).decode()}],
        "usage": {"input_tokens": 10, "output_tokens": 272, "total_tokens": 282,
                  "input_tokens_details": {"image_tokens": 0, "text_tokens": 10}},
    }  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode()


def error_body(message: str) -> bytes:
    error = {"message": message, "type": "server_error", "param": None, "code": None}
    return json.dumps({"error": error}).encode()


def head(status: str, length: int | None, extra: Mapping[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", "content-type: application/json"]
    lines.append(f"content-length: {length}" if length is not None else "transfer-encoding: chunked")
    lines += [f"{name}: {value}" for name, value in (extra or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class FaultyUpstream:
    """The server; `script(...)` the next requests' faults, `default` answers the rest.

    `image_bytes` over 64 KiB makes answers the proxy streams through (rather than reads whole).
    `mix` (fault → weight) answers with a seeded random choice instead of `default`. `endless_interval`
    paces an endless answer (16 MB/s by default: a test holding many of them may want them slower).
    """

    def __init__(
        self,
        image_bytes: int = 1024,
        *,
        latency: float = 0.0,
        drip_interval: float = 1.0,
        endless_interval: float = 0.001,
        mix: Mapping[Fault, float] | None = None,
        seed: int = 19,
    ) -> None:
        self.default: Fault = "ok"
        self.latency = latency
        self.drip_interval = drip_interval
        self.endless_interval = endless_interval  # between an endless answer's 16 KiB chunks
        self.ok_body = images_body(image_bytes)
        self.garbage = _GARBAGE if image_bytes <= _HEAD_LIMIT else os.urandom(image_bytes)
        self.requests = 0
        self.served: collections.Counter[Fault] = collections.Counter()
        self.open_connections = 0
        self.streaming = 0  # endless answers past the 64 KiB a proxy reads ahead: it streams them through
        self._mix = dict(mix or {})
        self._random = random.Random(seed)
        self._script: collections.deque[Fault] = collections.deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.url}/v1"

    def script(self, *faults: Fault) -> None:
        """Answer the next requests with `faults`, in order."""
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; one of {', '.join(FAULTS)}")
        with self._lock:
            self._script.extend(faults)

    def _next_fault(self) -> Fault:
        with self._lock:
            self.requests += 1
            if self._script:
                fault = self._script.popleft()
            elif self._mix:
                fault = self._random.choices(list(self._mix), weights=list(self._mix.values()))[0]
            else:
                fault = self.default
            self.served[fault] += 1
            return fault

    def wait_for_requests(self, count: int, timeout: float = 20.0) -> None:
        wait_until(lambda: self.requests >= count, timeout, f"{count} requests (got {self.requests})")

    def wait_until_idle(self, timeout: float = 20.0) -> None:
        """Until every connection to this upstream has been closed (by either side)."""
        wait_until(lambda: self.open_connections == 0, timeout, f"no connections (still {self.open_connections})")

    # -- serving --------------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        self._writers.add(writer)
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass  # the client went away, or the fake is stopping
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
            self.open_connections -= 1

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Reads one request and answers it; False when the connection is over."""
        try:
            request_head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        length = 0
        for line in request_head.lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        fault = self._next_fault()
        if self.latency and fault not in HANGS:
            await asyncio.sleep(self.latency)
        return await self._answer(fault, reader, writer)

    async def _answer(self, fault: Fault, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        body = self.ok_body
        if fault == "ok":
            writer.write(head("200 OK", len(body)) + body)
        elif fault == "close":
            return False
        elif fault == "reset_after_headers":
            await _flushed(writer, head("200 OK", len(body)))
            _reset(writer)
            return False
        elif fault == "reset_mid_body":
            await _flushed(writer, head("200 OK", len(body)) + body[: len(body) // 2])
            _reset(writer)
            return False
        elif fault == "truncated_json":
            cut = body[: len(body) // 2]
            writer.write(head("200 OK", len(cut)) + cut)
        elif fault == "garbage":
            writer.write(head("200 OK", len(self.garbage)) + self.garbage)
        elif fault == "server_error":
            error = error_body("The server had an error while processing your request.")
            writer.write(head("500 Internal Server Error", len(error)) + error)
        elif fault == "unavailable":
            error = error_body("The engine is currently overloaded, please try again later.")
            writer.write(head("503 Service Unavailable", len(error), {"retry-after": "0"}) + error)
        elif fault == "stall":
            await _flushed(writer, head("200 OK", len(body)))
            await reader.read()  # until the client gives up
            return False
        elif fault == "endless":
            chunk = _chunk(b" " * 16384)
            past_read_ahead = chunk * (_PAST_READ_AHEAD // 16384)
            await _flushed(writer, head("200 OK", None) + _chunk(b'{"data":[') + past_read_ahead)
            self.streaming += 1
            while True:  # until the client gives up (a write to a closed connection raises)
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(self.endless_interval)
        elif fault in ("drip", "drip_headers"):
            whole = head("200 OK", len(body)) + body
            start = 0 if fault == "drip_headers" else len(head("200 OK", len(body)))
            await _flushed(writer, whole[:start])
            for index in range(start, len(whole)):
                await _flushed(writer, whole[index : index + 1])
                await asyncio.sleep(self.drip_interval)
        await writer.drain()
        return True

    # -- life cycle -----------------------------------------------------------------------------------

    def start(self) -> FaultyUpstream:
        started = threading.Event()

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=4096)
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            async with self._server:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._server.serve_forever()

        self._thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the faulty upstream did not start")
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        def close() -> None:
            server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            for task in asyncio.all_tasks(loop):
                task.cancel()

        loop.call_soon_threadsafe(close)
        assert self._thread is not None
        self._thread.join(10)
        self._loop = self._server = None

    def __enter__(self) -> FaultyUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _flushed(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Writes `data` and waits until the kernel has it: what follows (a reset, silence) comes after it."""
    writer.write(data)
    await writer.drain()
    while writer.transport.get_write_buffer_size():
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.02)  # and until the client has read it: a reset drops what it has not


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Closes with a TCP reset (RST) rather than an orderly FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def refused_api_base() -> str:
    """An api_base where nothing listens: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def open_fds(pid: int | str = "self") -> int:
    """How many file descriptors a process has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_until(condition: object, timeout: float, what: str) -> None:
    """Polls `condition()` until true; fails with `what` after `timeout` seconds (a hang guard, not a timing)."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def _parse_mix(text: str) -> dict[Fault, float]:
    mix: dict[Fault, float] = {}
    for item in text.split(","):
        name, _, weight = item.partition("=")
        if name not in FAULTS:
            raise SystemExit(f"unknown fault {name!r}; one of {', '.join(FAULTS)}")
        mix[name] = float(weight or 1)  # type: ignore[index]
    return mix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mix", default="ok=1", help="fault=weight,… (default: ok=1)")
    parser.add_argument("--image-bytes", type=int, default=1024)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--drip-interval", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    upstream = FaultyUpstream(
        args.image_bytes, latency=args.latency_ms / 1000, drip_interval=args.drip_interval,
        mix=_parse_mix(args.mix), seed=args.seed,
    ).start()  # fmt: skip
    print(f"PORT {upstream.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()


if __name__ == "__main__":
    main()
