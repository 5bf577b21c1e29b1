"""A fast fake of OpenAI's Images API for benchmarks: raw asyncio, stdlib only, never the bottleneck.

    python benchmarks/fake_upstream.py --image-bytes 2097152 [--latency-ms 0] [--partial-images 3]
                                       [--event-interval-ms 20]
    python benchmarks/fake_upstream.py --jobs 3      # BFL's job API instead: ready at each job's 3rd poll

Prints `PORT <n>` once listening on 127.0.0.1, then serves HTTP/1.1 keep-alive until killed.
Every `POST .../images/generations`, `.../images/edits` or `.../images/variations` with a bearer key gets
the same pre-encoded `ImagesResponse` (one base64 image of the configured size); a request body asking
for `"stream": true` gets Server-Sent Events instead (chunked): `--partial-images` partial images and
the completed one, `--event-interval-ms` apart (the first that long after the head, as a model works),
each stamped with `"sent_ns"`, the `time.monotonic_ns()` at which it was written (every process on the
machine reads the same clock). A request body is counted, never kept (an upload of 16 images is 64 MB),
and nothing is parsed or encoded per request beyond that stamp, so the numbers measure the client or
proxy in front of it. Strictness lives in `tests/fakes/`.
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
import re
import time
from dataclasses import dataclass

IMAGE_PATH_SUFFIXES = (b"/images/generations", b"/images/edits", b"/images/variations")
STREAM_REQUESTED = re.compile(rb'"stream"\s*:\s*true')
_BODY_HEAD_BYTES = 4096  # what is kept of a request body: enough to see `"stream":true` in a JSON one
_CHUNKED = -1
USAGE = {"input_tokens": 10, "input_tokens_details": {"image_tokens": 0, "text_tokens": 10}, "output_tokens": 272,
         "total_tokens": 282}  # fmt: skip


def images_response_body(image_b64: str) -> bytes:
    body = {
        "created": int(time.time()),
        "data": [{"b64_json": image_b64}],
        "background": "opaque",
        "output_format": "png",
        "quality": "medium",
        "size": "1024x1024",
        "usage": USAGE,
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
STREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


@dataclass(frozen=True)
class Event:
    """One pre-encoded event around the place of its `sent_ns` stamp (a fixed 19 characters)."""

    before: bytes
    after: bytes

    def chunk(self) -> list[bytes]:
        stamp = b"%19d" % time.monotonic_ns()  # space-padded: JSON takes blanks before a number, not zeros
        return [b"%x\r\n" % (len(self.before) + len(stamp) + len(self.after)), self.before, stamp, self.after, b"\r\n"]


def stream_events(operation: str, image_b64: str, partial_images: int) -> list[Event]:
    fields = {"created_at": int(time.time()), "size": "1024x1024", "quality": "medium", "background": "opaque",
              "output_format": "png"}  # fmt: skip
    events = []
    for index in [*range(partial_images), None]:
        kind = f"{operation}.partial_image" if index is not None else f"{operation}.completed"
        last = {"partial_image_index": index} if index is not None else {"usage": USAGE}
        rest = json.dumps({**fields, **last}, separators=(",", ":"))[1:]
        before = f'event: {kind}\ndata: {{"type":"{kind}","sent_ns":'.encode()
        events.append(Event(before, f',"b64_json":"{image_b64}",{rest}\n\n'.encode()))
    return events


@dataclass(frozen=True)
class Answers:
    ok: bytes
    generation_events: list[Event]
    edit_events: list[Event]
    latency: float
    event_interval: float


class ImagesProtocol(asyncio.Protocol):
    """One keep-alive connection: reads request heads and counts their bodies (pipelining included), answers each."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.remaining: int | None = None  # body bytes still to come; None while reading a head
        self.chunk_left = 0  # of a chunked body: the current chunk's bytes and CRLF still to come
        self.last_chunk = False
        self.body_head = bytearray()
        self.close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer or self.remaining == 0:
            if self.remaining is None and not self._read_head():
                return
            if self.remaining == _CHUNKED and not self._read_chunks():
                return
            if self.remaining is not None and self.remaining > 0 and not self._take(self.remaining):
                return
            self.remaining = None
            self.answer(self.head, bytes(self.body_head))

    def _read_head(self) -> bool:
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        self.head = bytes(self.buffer[:head_end]).lower()
        del self.buffer[: head_end + 4]
        self.remaining, self.close_after = 0, False
        self.body_head = bytearray()
        for line in self.head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name == b"content-length":
                self.remaining = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value:
                self.remaining, self.chunk_left, self.last_chunk = _CHUNKED, 0, False
            elif name == b"connection" and value.strip() == b"close":
                self.close_after = True
        return True

    def _take(self, count: int) -> bool:
        """Count up to `count` body bytes off the buffer (keeping the body's first KiB); True once all came."""
        taken = min(count, len(self.buffer))
        if len(self.body_head) < _BODY_HEAD_BYTES:
            self.body_head += self.buffer[: min(taken, _BODY_HEAD_BYTES - len(self.body_head))]
        del self.buffer[:taken]
        if self.remaining != _CHUNKED:
            assert self.remaining is not None
            self.remaining -= taken
        else:
            self.chunk_left -= taken
        return taken == count

    def _read_chunks(self) -> bool:
        while True:
            if self.chunk_left == 0:
                if self.last_chunk:
                    self.remaining = 0
                    return True
                line_end = self.buffer.find(b"\r\n")
                if line_end < 0:
                    return False
                size = int(bytes(self.buffer[:line_end]).split(b";")[0], 16)
                del self.buffer[: line_end + 2]
                self.chunk_left, self.last_chunk = size + 2, size == 0  # the data and its CRLF
            if not self._take(self.chunk_left):
                return False

    def answer(self, head: bytes, body_head: bytes) -> None:
        method, path = head.split(b" ", 2)[:2]
        path = path.split(b"?")[0]
        if method != b"post" or not path.endswith(IMAGE_PATH_SUFFIXES):
            response: bytes | list[Event] = NOT_FOUND
        elif b"\r\nauthorization: bearer " not in head and b"\r\napi-key: " not in head:
            response = UNAUTHORIZED
        elif STREAM_REQUESTED.search(body_head):
            edit = path.endswith(b"/images/edits")
            response = self.answers.edit_events if edit else self.answers.generation_events
        else:
            response = self.answers.ok
        close = self.close_after
        if self.answers.latency > 0:
            asyncio.get_running_loop().call_later(self.answers.latency, self.send, response, close)
        else:
            self.send(response, close)

    def send(self, response: bytes | list[Event], close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if isinstance(response, list):  # the head at once, each event after the interval (as a model works)
            self.transport.write(STREAM_HEAD)
            if self.answers.event_interval > 0:
                asyncio.get_running_loop().call_later(self.answers.event_interval, self.send_events, response, 0, close)
            else:
                self.send_events(response, 0, close)
            return
        self.transport.write(response)
        if close:
            self.transport.close()

    def send_events(self, events: list[Event], index: int, close: bool) -> None:
        """Write event `index`, then the next one `event_interval` later (all at once without an interval)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        while index < len(events):
            transport.writelines(events[index].chunk())
            index += 1
            if self.answers.event_interval > 0 and index < len(events):
                asyncio.get_running_loop().call_later(
                    self.answers.event_interval, self.send_events, events, index, close
                )
                return
        transport.write(b"0\r\n\r\n")
        if close:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class JobsProtocol(ImagesProtocol):
    """BFL's job API: a submit answers a polling URL; a job is Ready at its `polls_until_ready`th poll."""

    polls: dict[bytes, int] = {}  # shared by every connection on purpose
    submits = 0
    PENDING = http_response("200 OK", b'{"status":"Pending"}')

    def __init__(self, answers: Answers, polls_until_ready: int) -> None:
        super().__init__(answers)
        self.polls_until_ready = polls_until_ready

    def answer(self, head: bytes, body_head: bytes) -> None:
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
        self.send(response, self.close_after)


async def serve(
    port: int, image_bytes: int, latency_ms: float, partial_images: int, event_interval_ms: float, jobs: int = 0
) -> None:
    # Random bytes, like a compressed image: base64 of them does not compress or dedupe.
    image_b64 = base64.b64encode(os.urandom(image_bytes)).decode()
    answers = Answers(
        ok=http_response("200 OK", images_response_body(image_b64)),
        generation_events=stream_events("image_generation", image_b64, partial_images),
        edit_events=stream_events("image_edit", image_b64, partial_images),
        latency=latency_ms / 1000,
        event_interval=event_interval_ms / 1000,
    )
    loop = asyncio.get_running_loop()

    def protocol() -> ImagesProtocol:
        return JobsProtocol(answers, jobs) if jobs else ImagesProtocol(answers)

    server = await loop.create_server(protocol, "127.0.0.1", port, backlog=4096, reuse_address=True)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed as `PORT n`)")
    parser.add_argument("--image-bytes", type=int, default=1024, help="decoded size of the returned image")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added before each response")
    parser.add_argument("--partial-images", type=int, default=0, help="partial images before the final one (streams)")
    parser.add_argument("--event-interval-ms", type=float, default=0.0, help="between a stream's events")
    parser.add_argument("--jobs", type=int, default=0, help="serve BFL's job API, each job ready at this poll")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(args.port, args.image_bytes, args.latency_ms, args.partial_images, args.event_interval_ms, args.jobs)
        )


if __name__ == "__main__":
    main()
