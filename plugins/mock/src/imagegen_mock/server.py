"""The mock's image API, served in-process: OpenAI's Images API wire format, answered locally.

    POST /v1/images/generations   JSON (stream: true → Server-Sent Events with partial images)
    POST /v1/images/edits         multipart: image / image[], mask, fields
    POST /v1/images/variations    multipart: image, fields

`MockTransport` is the httpx transport the plugin's requests go through (`ProviderRequest.transport`):
nothing leaves the process. The request headers `x-mock-latency-ms`, `x-mock-fail-rate` and
`x-mock-fail-status` carry the plugin's settings. On the async path the latency is an `asyncio.sleep`
and the drawing runs on a worker thread: the event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import random
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from imagegen.multipart import FormFile, parse_form
from imagegen.params import parse_size

from . import render

PATHS = {"/v1/images/generations": "generation", "/v1/images/edits": "edit", "/v1/images/variations": "variation"}
DEFAULT_SIZE = (1024, 1024)
TOKENS_PER_INPUT_IMAGE = 65


def openai_error(
    status: int, message: str, kind: str, code: str | None = None, param: str | None = None
) -> httpx.Response:
    """An error as OpenAI answers it."""
    return httpx.Response(status, json={"error": {"message": message, "type": kind, "param": param, "code": code}})


@dataclass
class Job:
    """One request, read and checked: what to draw and how to answer."""

    operation: str
    fields: dict[str, Any]
    inputs: list[bytes] = field(default_factory=list)
    mask: bytes | None = None

    @property
    def prompt(self) -> str:
        return str(self.fields.get("prompt", ""))

    def number(self, name: str, default: int) -> int:
        value = self.fields.get(name, default)
        return int(value) if not isinstance(value, bool) else default

    @property
    def size(self) -> tuple[int, int] | None:
        size = self.fields.get("size", "auto")
        if size == "auto":
            return DEFAULT_SIZE if self.operation == "generation" else None
        return parse_size(str(size))

    @property
    def output_format(self) -> str:
        return str(self.fields.get("output_format", "png"))

    @property
    def quality(self) -> str:
        """As OpenAI reports it: low, medium or high (auto and standard are medium, hd is high)."""
        quality = str(self.fields.get("quality", "auto"))
        return quality if quality in ("low", "medium", "high") else "high" if quality == "hd" else "medium"

    @property
    def background(self) -> str:
        """As OpenAI reports it: transparent or opaque."""
        transparent = self.fields.get("background") == "transparent" and self.output_format != "jpeg"
        return "transparent" if transparent else "opaque"

    def described(self, image: Any) -> dict[str, Any]:
        """The fields OpenAI reports with a GPT image model's images."""
        return {"size": f"{image.width}x{image.height}", "quality": self.quality, "background": self.background,
                "output_format": self.output_format}  # fmt: skip

    @property
    def streamed(self) -> bool:
        return str(self.fields.get("stream", "false")).lower() == "true"


def read(request: httpx.Request, body: bytes) -> Job | httpx.Response:
    """The request (its `body` read from its stream) as a `Job`, or the 4xx answer it deserves."""
    operation = PATHS.get(request.url.path)
    if request.method != "POST" or operation is None:
        return openai_error(404, f"Invalid URL ({request.method} {request.url.path})", "invalid_request_error")
    if operation == "generation":
        try:
            fields = json.loads(body)
        except ValueError:
            return openai_error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        if not isinstance(fields, dict) or not str(fields.get("prompt", "")).strip():
            return openai_error(400, "Missing required parameter: 'prompt'.", "invalid_request_error", param="prompt")
        return Job(operation, fields)
    try:
        texts, files = parse_form(request.headers.get("content-type", ""), body)
    except ValueError as exc:
        return openai_error(400, f"Invalid multipart body: {exc}", "invalid_request_error")
    images: list[FormFile] = files.get("image", []) + files.get("image[]", [])
    if not images:
        return openai_error(400, "Missing required parameter: 'image'.", "invalid_request_error", param="image")
    masks = files.get("mask", [])
    last = {name: values[-1] for name, values in texts.items()}
    return Job(operation, last, [image.data for image in images], masks[0].data if masks else None)


def draw(job: Job, index: int) -> Any:
    """Image number `index` of the job (a Pillow image)."""
    seed = job.number("seed", 0) + index
    if job.operation == "generation":
        assert job.size is not None
        transparent = job.background == "transparent"
        return render.generated(job.prompt, job.size, seed=seed, index=index, transparent=transparent)
    base = render.opened(job.inputs[0])
    if job.operation == "variation":
        return render.varied(base, job.size, seed=seed, index=index)
    mask = render.opened(job.mask) if job.mask is not None else None
    return render.edited(base, job.prompt, job.size, mask, seed=seed, index=index)


def encode(job: Job, image: Any) -> str:
    compression = job.fields.get("output_compression")
    data = render.encoded(image, job.output_format, int(compression) if compression is not None else None)
    return base64.b64encode(data).decode("ascii")


def usage(job: Job, images: list[Any]) -> dict[str, Any]:
    """Token counts, made up but consistent: the prompt's words and input images in, the pixels out."""
    text = len(job.prompt.split())
    image_in = TOKENS_PER_INPUT_IMAGE * len(job.inputs)
    out = sum(math.ceil(image.width * image.height / 1024) for image in images)
    return {"input_tokens": text + image_in, "output_tokens": out, "total_tokens": text + image_in + out,
            "input_tokens_details": {"text_tokens": text, "image_tokens": image_in}}  # fmt: skip


def answer(job: Job, images: list[Any]) -> dict[str, Any]:
    """The `ImagesResponse` body for the drawn images."""
    as_url = job.fields.get("response_format") == "url"
    data = []
    for image in images:
        encoded = encode(job, image)
        item: dict[str, Any] = (
            {"url": f"data:image/{job.output_format};base64,{encoded}"} if as_url else {"b64_json": encoded}
        )
        if job.prompt:
            item["revised_prompt"] = f"A mock image of: {job.prompt}"
        data.append(item)
    return {"created": int(time.time()), "data": data, **job.described(images[0]), "usage": usage(job, images)}


def events(job: Job, images: list[Any]) -> Iterator[bytes]:
    """A stream's Server-Sent Events: each image's partial images, then its completed event."""
    kind = "image_edit" if job.operation == "edit" else "image_generation"
    steps = job.number("partial_images", 0)
    for number, image in enumerate(images):
        common = {"created_at": int(time.time()), **job.described(image)}
        for step in range(steps):
            partial = encode(job, render.partial(image, step, steps))
            payload = {"type": f"{kind}.partial_image", "b64_json": partial, "partial_image_index": step, **common}
            yield _sse(payload)
        last = number == len(images) - 1
        completed = {"type": f"{kind}.completed", "b64_json": encode(job, image), **common}
        completed["usage"] = usage(job, images) if last else {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        yield _sse(completed)


def _sse(payload: dict[str, Any]) -> bytes:
    return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode()


@dataclass
class Behaviour:
    """The settings a request carries: its latency and how often it fails."""

    latency: float = 0.0
    fail_rate: float = 0.0
    fail_status: int = 500

    @classmethod
    def of(cls, request: httpx.Request) -> Behaviour:
        headers = request.headers
        return cls(
            latency=float(headers.get("x-mock-latency-ms", 0)) / 1000,
            fail_rate=float(headers.get("x-mock-fail-rate", 0)),
            fail_status=int(headers.get("x-mock-fail-status", 500)),
        )

    def pause(self, job: Job, images: list[Any]) -> float:
        """A stream's wait before each event: the latency spread over them."""
        return self.latency / max(1, len(images) * (job.number("partial_images", 0) + 1))

    def failure(self) -> httpx.Response | None:
        if self.fail_rate <= 0 or random.random() >= self.fail_rate:
            return None
        return openai_error(self.fail_status, f"mock_fail_rate: a simulated HTTP {self.fail_status}", "server_error")


def _streamed(body: Iterator[bytes] | AsyncIterator[bytes]) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)


class MockTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Answers the mock's requests in-process, sync and async."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # The stream, not `request.content`: the core sends a multipart body as a stream of its own.
        assert isinstance(request.stream, httpx.SyncByteStream)
        behaviour = Behaviour.of(request)
        job = read(request, b"".join(request.stream))
        if isinstance(job, httpx.Response):
            return job
        if not job.streamed:
            time.sleep(behaviour.latency)
        if (failed := behaviour.failure()) is not None:
            return failed
        images = [draw(job, index) for index in range(job.number("n", 1))]
        if not job.streamed:
            return httpx.Response(200, json=answer(job, images))
        pause = behaviour.pause(job, images)

        def paced() -> Iterator[bytes]:
            for event in events(job, images):
                time.sleep(pause)
                yield event

        return _streamed(paced())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        behaviour = Behaviour.of(request)
        job = read(request, b"".join([chunk async for chunk in request.stream]))
        if isinstance(job, httpx.Response):
            return job
        if not job.streamed:
            await asyncio.sleep(behaviour.latency)
        if (failed := behaviour.failure()) is not None:
            return failed
        images = await asyncio.to_thread(_draw_all, job)
        if not job.streamed:
            return httpx.Response(200, json=await asyncio.to_thread(answer, job, images))
        pause = behaviour.pause(job, images)

        async def paced() -> AsyncIterator[bytes]:
            produced = events(job, images)
            while (event := await asyncio.to_thread(_next, produced)) is not None:
                await asyncio.sleep(pause)
                yield event

        return _streamed(paced())


def _draw_all(job: Job) -> list[Any]:
    return [draw(job, index) for index in range(job.number("n", 1))]


def _next(produced: Iterator[bytes]) -> bytes | None:
    return next(produced, None)  # each event is encoded on a worker thread, as its image was drawn


TRANSPORT = MockTransport()
"""The one transport of the process (the core keeps one client per transport)."""
