"""An open-loop load generator (wrk2-style): new requests at a fixed rate, whatever the server does.

    python benchmarks/open_loop.py URL --rate 500 --seconds 20 --key sk-… --body '{"model": …}'

A closed loop (wrk) waits for an answer before it sends again, so a server that slows down is sent
less: it hides exactly the collapse this measures. Here request i is due at start + i / rate and its
latency counts from then (not from when it was actually sent: no coordinated omission), each on a
connection of its own when none is free. Prints one line, `OPEN_LOOP {json}`: requests, answers by
status, errors by kind, latency percentiles in ms, and how late the generator itself ran.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import resource
import time

import aiohttp


def raise_open_file_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


async def run(url: str, key: str, body: bytes, rate: float, seconds: float, timeout: float) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    statuses: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    lateness = 0.0
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as session:

        async def one(due: float) -> None:
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    statuses[str(response.status)] += 1
                    if response.status == 200:
                        latencies.append(loop.time() - due)
            except TimeoutError:
                statuses["timeout"] += 1
            except aiohttp.ClientError as exc:
                statuses[type(exc).__name__] += 1

        count = int(rate * seconds)
        start = loop.time() + 0.2
        tasks = []
        for index in range(count):
            due = start + index / rate
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            lateness = max(lateness, loop.time() - due)
            tasks.append(asyncio.create_task(one(due)))
        sent_in = loop.time() - start
        await asyncio.gather(*tasks)
    latencies.sort()
    return {
        "requests": count,
        "sent_in_s": round(sent_in, 3),
        "statuses": dict(statuses),
        "ok": statuses["200"],
        "p50_ms": percentile(latencies, 50) * 1000,
        "p90_ms": percentile(latencies, 90) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": (latencies[-1] if latencies else float("nan")) * 1000,
        "generator_late_ms": lateness * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, required=True, help="new requests a second")
    parser.add_argument("--seconds", type=float, required=True, help="how long new requests are sent")
    parser.add_argument("--key", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--timeout", type=float, default=60, help="a request unanswered after this is an error")
    args = parser.parse_args()
    raise_open_file_limit()
    try:
        import uvloop
    except ImportError:  # the project's venv has it; anything else may not
        runner = asyncio.run
    else:
        runner = uvloop.run
    started = time.monotonic()
    summary = runner(run(args.url, args.key, args.body.encode(), args.rate, args.seconds, args.timeout))
    summary["took_s"] = round(time.monotonic() - started, 1)
    print("OPEN_LOOP " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
