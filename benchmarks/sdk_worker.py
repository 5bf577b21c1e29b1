"""Child of the SDK benchmark: one client, warmed up, timing batches of calls on command.

    python benchmarks/sdk_worker.py --client imagegen --mode async --api-base http://127.0.0.1:PORT/v1
    python benchmarks/sdk_worker.py --client litellm --mode sync --model bedrock/… --kwargs '{"aws_…": …}'

Prints `READY` after the warm-up, then for each line `N` read from stdin makes N sequential calls
and prints their durations (ns) as one JSON list; `quit` or EOF ends it. The parent interleaves
batches of every worker, so all clients see the same machine noise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

PROMPT = "A cute baby sea otter"
MODEL = "gpt-image-1"


class Target:
    """Where calls go: the OpenAI-shaped fake by default; `model` and `kwargs` for the SDKs' other providers."""

    def __init__(self, api_base: str, api_key: str, model: str | None, kwargs: dict[str, Any] | None) -> None:
        self.api_base, self.api_key = api_base, api_key
        self.model = model or f"openai/{MODEL}"
        self.kwargs = kwargs if kwargs is not None else {"api_base": api_base, "api_key": api_key}


def sync_call(client: str, target: Target) -> Callable[[], Any]:
    """A function making one image generation call with `client`; returns the image list."""
    api_base, api_key, model, kwargs = target.api_base, target.api_key, target.model, target.kwargs
    if client == "httpx":
        import httpx

        http = httpx.Client()
        url, headers = f"{api_base}/images/generations", {"authorization": f"Bearer {api_key}"}
        return lambda: http.post(url, json={"model": MODEL, "prompt": PROMPT}, headers=headers).json()["data"]
    if client == "imagegen":
        import imagegen

        return lambda: imagegen.image_generation(PROMPT, model=model, **kwargs).data
    if client == "litellm":
        import litellm

        return lambda: litellm.image_generation(prompt=PROMPT, model=model, **kwargs).data
    if client == "openai":
        import openai

        sdk = openai.OpenAI(api_key=api_key, base_url=api_base)
        return lambda: sdk.images.generate(model=MODEL, prompt=PROMPT).data
    raise SystemExit(f"unknown client {client!r}")


def async_call(client: str, target: Target) -> Callable[[], Awaitable[Any]]:
    """The async twin of `sync_call` (clients are created inside the worker's one event loop)."""
    api_base, api_key, model, kwargs = target.api_base, target.api_key, target.model, target.kwargs
    if client == "httpx":
        import httpx

        http = httpx.AsyncClient()
        url, headers = f"{api_base}/images/generations", {"authorization": f"Bearer {api_key}"}

        async def post() -> Any:
            response = await http.post(url, json={"model": MODEL, "prompt": PROMPT}, headers=headers)
            return response.json()["data"]

        return post
    if client == "imagegen":
        import imagegen

        async def generate() -> Any:
            response = await imagegen.aimage_generation(PROMPT, model=model, **kwargs)
            return response.data

        return generate
    if client == "litellm":
        import litellm

        async def litellm_generate() -> Any:
            response = await litellm.aimage_generation(prompt=PROMPT, model=model, **kwargs)
            return response.data

        return litellm_generate
    if client == "openai":
        import openai

        sdk = openai.AsyncOpenAI(api_key=api_key, base_url=api_base)

        async def sdk_generate() -> Any:
            return (await sdk.images.generate(model=MODEL, prompt=PROMPT)).data

        return sdk_generate
    raise SystemExit(f"unknown client {client!r}")


def check(data: Any) -> None:
    if len(data) != 1:
        raise SystemExit(f"expected one image, got {data!r:.200}")


def serve_sync(call: Callable[[], Any], warmup: int) -> None:
    for _ in range(warmup):
        check(call())
    print("READY", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            return
        durations = []
        for _ in range(int(line)):
            started = time.perf_counter_ns()
            check(call())
            durations.append(time.perf_counter_ns() - started)
        print(json.dumps(durations), flush=True)


def serve_async(client: str, target: Target, warmup: int) -> None:
    loop = asyncio.new_event_loop()

    async def batch(call: Callable[[], Awaitable[Any]], count: int) -> list[int]:
        durations = []
        for _ in range(count):
            started = time.perf_counter_ns()
            check(await call())
            durations.append(time.perf_counter_ns() - started)
        return durations

    async def make() -> Callable[[], Awaitable[Any]]:
        return async_call(client, target)

    call = loop.run_until_complete(make())
    loop.run_until_complete(batch(call, warmup))
    print("READY", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        print(json.dumps(loop.run_until_complete(batch(call, int(line)))), flush=True)
    loop.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", required=True, choices=["httpx", "imagegen", "litellm", "openai"])
    parser.add_argument("--mode", required=True, choices=["sync", "async"])
    parser.add_argument("--api-base", default="")
    parser.add_argument("--api-key", default="sk-bench-upstream")
    parser.add_argument("--model", help="for imagegen and litellm: another provider's model")
    parser.add_argument("--kwargs", type=json.loads, help="for imagegen and litellm: that provider's settings (JSON)")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    target = Target(args.api_base, args.api_key, args.model, args.kwargs)
    if args.mode == "sync":
        serve_sync(sync_call(args.client, target), args.warmup)
    else:
        serve_async(args.client, target, args.warmup)


if __name__ == "__main__":
    main()
