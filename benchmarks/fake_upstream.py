"""A fast fake of OpenAI's Images API for benchmarks: raw asyncio, stdlib only, never the bottleneck.

    python benchmarks/fake_upstream.py --image-bytes 2097152 --latency-ms 0
    python benchmarks/fake_upstream.py --jobs 3      # BFL's job API instead: ready at each job's 3rd poll

Prints `PORT <n>` once listening on 127.0.0.1, then serves HTTP/1.1 keep-alive until killed.
Every `POST .../images/generations` with a bearer key gets the same pre-encoded `ImagesResponse`
(one base64 image of the configured size); nothing is parsed or encoded per request, so the
numbers measure the client or proxy in front of it. Strictness lives in `tests/fakes/`, not here.
With `--jobs N`, `POST /v1/<model>` (with an `x-key`) answers `{id, polling_url}`, `GET
/v1/get_result?id=` answers Pending until the job's Nth poll, then Ready with a result URL, and `GET
/stats` counts submits and polls.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import time

IMAGE_PATH_SUFFIX = b"/images/generations"


def images_response_body(image_bytes: int) -> bytes:
    # Random bytes, like a compressed image: base64 of them does not compress or dedupe.
    image_b64 = base64.b64encode(os.urandom(image_bytes)).decode()
    body = {
        "created": int(time.time()),
        "data": [{"b64_json": image_b64}],
        "background": "opaque",
        "output_format": "png",
        "quality": "medium",
        "size": "1024x1024",
        "usage": {
            "input_tokens": 10,
            "input_tokens_details": {"image_tokens": 0, "text_tokens": 10},
            "output_tokens": 272,
            "total_tokens": 282,
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


def http_response(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


UNAUTHORIZED = http_response(
    "401 Unauthorized",
    b'{"error":{"message":"You didn\'t provide an API key.","type":"invalid_request_error","param":null,"code":null}}',
)
NOT_FOUND = http_response(
    "404 Not Found", b'{"error":{"message":"Invalid URL","type":"invalid_request_error","param":null,"code":null}}'
)


class ImagesProtocol(asyncio.Protocol):
    """One keep-alive connection: parses request heads and bodies (pipelining included), answers each."""

    def __init__(self, ok: bytes, latency: float) -> None:
        self.ok = ok
        self.latency = latency
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(self.buffer[:head_end]).lower()
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip() == b"close":
                    close = True
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            del self.buffer[:end]
            self.answer(head, close)

    def answer(self, head: bytes, close: bool) -> None:
        method, path = head.split(b" ", 2)[:2]
        if method != b"post" or not path.split(b"?")[0].endswith(IMAGE_PATH_SUFFIX):
            response = NOT_FOUND
        elif b"\r\nauthorization: bearer " not in head and b"\r\napi-key: " not in head:
            response = UNAUTHORIZED
        else:
            response = self.ok
        if self.latency > 0:
            asyncio.get_running_loop().call_later(self.latency, self.send, response, close)
        else:
            self.send(response, close)

    def send(self, response: bytes, close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(response)
        if close:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class JobsProtocol(ImagesProtocol):
    """BFL's job API: a submit answers a polling URL; a job is Ready at its `polls_until_ready`th poll."""

    polls: dict[bytes, int] = {}  # shared by every connection on purpose
    submits = 0
    PENDING = http_response("200 OK", b'{"status":"Pending"}')

    def __init__(self, polls_until_ready: int) -> None:
        super().__init__(b"", 0.0)
        self.polls_until_ready = polls_until_ready

    def answer(self, head: bytes, close: bool) -> None:
        method, path = head.split(b" ", 2)[:2]
        assert self.transport is not None
        base = f"http://127.0.0.1:{self.transport.get_extra_info('sockname')[1]}"
        if method == b"post" and path.startswith(b"/v1/") and b"\r\nx-key: " in head:
            JobsProtocol.submits += 1
            job = f"job-{JobsProtocol.submits}"
            self.polls[job.encode()] = 0
            body = json.dumps({"id": job, "polling_url": f"{base}/v1/get_result?id={job}"}).encode()
            response = http_response("200 OK", body)
        elif method == b"get" and path.startswith(b"/v1/get_result?id=") and b"\r\nx-key: " in head:
            job_id = path.partition(b"id=")[2]
            self.polls[job_id] += 1
            ready = self.polls[job_id] >= self.polls_until_ready
            sample = f'{{"status":"Ready","result":{{"sample":"{base}/results/{job_id.decode()}.png"}}}}'
            response = http_response("200 OK", sample.encode()) if ready else self.PENDING
        elif method == b"get" and path == b"/stats":
            stats = {"submits": JobsProtocol.submits, "polls": sum(self.polls.values())}
            response = http_response("200 OK", json.dumps(stats).encode())
        else:
            response = NOT_FOUND
        self.send(response, close)


async def serve(port: int, image_bytes: int, latency_ms: float, jobs: int = 0) -> None:
    ok = http_response("200 OK", images_response_body(image_bytes))
    loop = asyncio.get_running_loop()

    def protocol() -> ImagesProtocol:
        return JobsProtocol(jobs) if jobs else ImagesProtocol(ok, latency_ms / 1000)

    server = await loop.create_server(protocol, "127.0.0.1", port, backlog=4096, reuse_address=True)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed as `PORT n`)")
    parser.add_argument("--image-bytes", type=int, default=1024, help="decoded size of the returned image")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added before each response")
    parser.add_argument("--jobs", type=int, default=0, help="serve BFL's job API, each job ready at this poll")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.image_bytes, args.latency_ms, args.jobs))


if __name__ == "__main__":
    main()
