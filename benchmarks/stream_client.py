"""A load client for image event streams: how soon each stream's first event reaches the client.

    python benchmarks/stream_client.py URL KEY BODY_JSON --connections 16 --seconds 10

Keeps `--connections` keep-alive connections busy, each posting BODY_JSON (`"stream": true`) and
reading the `text/event-stream` answer (chunked) to its end. The fake upstream stamps every event with
`"sent_ns"`, its `time.monotonic_ns()` when it wrote the event (the clock every process on the machine
shares): the client notes the same clock when an event's last byte arrived. Prints one line,
`STREAM_JSON {...}`: streams read, events, errors, and the first events' delays in µs (p50, p90, p99).
Raw asyncio and the stdlib only, so the client costs as little as the fake upstream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from urllib.parse import urlsplit

_SENT = re.compile(rb'"sent_ns":\s*(\d+)')


class Totals:
    def __init__(self) -> None:
        self.streams = 0
        self.events = 0
        self.errors = 0
        self.first_event_us: list[float] = []


async def read_stream(reader: asyncio.StreamReader, totals: Totals) -> None:
    """One chunked `text/event-stream` answer, to its last chunk."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200") or b"transfer-encoding: chunked" not in head.lower():
        raise RuntimeError(f"unexpected answer: {head[:200]!r}")
    pending = bytearray()
    first = True
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            break
        searched_from = max(len(pending) - 1, 0)
        pending += await reader.readexactly(size)
        await reader.readexactly(2)
        while (end := pending.find(b"\n\n", searched_from)) >= 0:
            arrived = time.monotonic_ns()
            event = bytes(pending[: min(end, 400)])
            del pending[: end + 2]
            searched_from = 0
            totals.events += 1
            sent = _SENT.search(event)
            if b'"error"' in event[:200]:
                raise RuntimeError(f"an error event: {event[:200]!r}")
            if first and sent:
                totals.first_event_us.append((arrived - int(sent[1])) / 1000)
            first = False
    totals.streams += 1


async def connection(host: str, port: int, request: bytes, deadline: float, totals: Totals) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline:
            writer.write(request)
            try:
                await read_stream(reader, totals)
            except (RuntimeError, asyncio.IncompleteReadError, ValueError):
                totals.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else 0.0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("body")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    url = urlsplit(args.url)
    body = args.body.encode()
    request = (
        f"POST {url.path} HTTP/1.1\r\nhost: {url.netloc}\r\nauthorization: Bearer {args.key}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body
    totals = Totals()
    deadline = time.monotonic() + args.seconds
    started = time.monotonic()
    await asyncio.gather(
        *(connection(url.hostname or "127.0.0.1", url.port or 80, request, deadline, totals)
          for _ in range(args.connections))
    )  # fmt: skip
    summary = {
        "streams": totals.streams, "events": totals.events, "errors": totals.errors,
        "seconds": time.monotonic() - started,
        "first_event_us": [percentile(totals.first_event_us, q) for q in (50, 90, 99)],
    }  # fmt: skip
    print("STREAM_JSON " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
