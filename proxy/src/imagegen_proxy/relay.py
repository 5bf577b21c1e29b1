"""One deployment's answer, and how its body reaches the client.

An OpenAI-shaped upstream (its plugin says `ProviderInfo.openai_shaped_responses`: `openai/`,
`azure/`) asked for one upstream request (no `n` fan-out) already answers in the client's format, so
its body is passed on as it is: never parsed and re-encoded. A body that ends within
`SMALL_BODY_BYTES` is read whole and checked by the plugin, and its cost goes out as the
`x-imagegen-response-cost` header. A larger one (megabytes of base64) is streamed through chunk by
chunk, so a request holds at most a few chunks in memory; its images are counted and its `usage`
found on the way (`ImagesScan`). Its cost is a header only when the price does not depend on `usage`
(a per-image price: `n` images); a token-priced one is known only after the last byte, so it is
recorded in the metrics and spend log but is no header.

An upstream answer that began with 2xx was made and billed, so it is always charged: when the
client leaves mid-stream the rest is still read (`streams.ChargedBody`, as for an event stream) to
find its `usage`, and an answer whose end never arrives is charged the requested images at the
per-image price.
Every other deployment's response is parsed by its plugin and serialised once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from imagegen import observe, transport
from imagegen.api import asend_part, asettle
from imagegen.calls import PreparedCall, aprepare
from imagegen.images import ImageInput
from imagegen.provider import GENERATION, Operation
from imagegen.results import adownload_urls
from imagegen.types import ImageResponse, Usage

from .charges import charge, cost, cost_up_front, report, usage_near_edges
from .config import Deployment
from .streams import ChargedBody, EventStream, Finish, open_events, reading

logger = logging.getLogger("imagegen.proxy")
SMALL_BODY_BYTES = 64 * 1024  # held whole per request in flight: small enough for 64 connections
_IMAGE_KEYS = (b'"b64_json":', b'"url":')
_LONGEST_KEY = max(len(key) for key in _IMAGE_KEYS)
_EDGE_BYTES = 4096  # `usage` and the other top-level fields sit before or after `data`, within this of an end
_BODY_HEADERS_NOT_FORWARDED = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_JSON_OBJECT_START = re.compile(rb"\s*\{")


@dataclass
class Answer:
    """A deployment's successful answer: the whole body, or its head and the rest still streaming."""

    body: list[bytes]
    images: int
    cost: float | None
    rest: AsyncIterator[bytes] | None = None
    upstream: httpx.Response | None = field(default=None, repr=False)  # open while `rest` streams
    length: int | None = None  # the body's length when known in advance
    call: PreparedCall | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)  # what the core changed on the caller's behalf
    usage: Usage | None = None  # of an answer read whole

    async def close(self) -> None:
        if self.upstream is not None:
            await self.upstream.aclose()


@dataclass(frozen=True)
class CallInputs:
    """What a request carries besides its prompt and parameters: its operation, input images, mask, and
    whether the client wants its answer streamed as events."""

    operation: Operation = GENERATION
    images: Sequence[ImageInput] = ()
    mask: ImageInput | None = None
    stream: bool = False
    partial_images: int | None = None


GENERATE = CallInputs()


async def answer(
    deployment: Deployment, prompt: str, params: Mapping[str, Any], inputs: CallInputs = GENERATE
) -> Answer | EventStream:
    """Call `deployment` once (the core retries as its `num_retries` says); raises ImageGenError. A
    streamed answer (`inputs.stream`) has begun when this returns: see `streams`.

    The call is observed (callbacks, spans) as one of the request's (`observe.current_context`); a
    streamed answer reports its end when its body is closed (`StreamedBody.close`, `EventStream.close`)."""
    observer = observe.begin(inputs.operation, model_group=deployment.model_group, deployment=deployment.id)
    call = await aprepare(
        prompt, deployment.model, {}, {**deployment.params, **params}, operation=inputs.operation,
        images=inputs.images, mask=inputs.mask, stream=inputs.stream, partial_images=inputs.partial_images,
        timeout=deployment.timeout, drop_params=deployment.drop_params, num_retries=deployment.num_retries,
        observer=observer,
    )  # fmt: skip
    try:
        if inputs.stream:
            return await open_events(deployment, call)
        if call.provider.info.openai_shaped_responses and len(call.parts) == 1:
            answered = await _pass_through(deployment, call)
        else:
            # Parts that succeeded are kept (and charged) when others failed: `finish` turns those into a warning.
            outcomes = await asyncio.gather(*(asend_part(call, part) for part in call.parts), return_exceptions=True)
            response = call.finish(list(outcomes))
            await adownload_urls(call, response)  # URL results, when the client asked for b64_json
            # Serialised once, straight to bytes: images can be megabytes of base64.
            body = response.__pydantic_serializer__.to_json(response, exclude_none=True)
            answered = _answer_of([body], deployment, call, response)
    except BaseException as error:
        call.failed(error)
        raise
    if answered.rest is None:
        report(call, 200, answered.images, answered.cost, answered.usage)
    return answered


def _answer_of(body: list[bytes], deployment: Deployment, call: PreparedCall, response: ImageResponse) -> Answer:
    """The answer whose whole `body` was read, and parsed as `response`."""
    return Answer(
        body, len(response.data), cost(deployment, call, response), warnings=response.warnings, usage=response.usage
    )


async def _pass_through(deployment: Deployment, call: PreparedCall) -> Answer:
    part, upstream = call.parts[0]
    response = await transport.asend(upstream, stream=True, **call.send_kwargs())
    async with reading(call, response):
        declared = response.headers.get("content-length", "")
        if not response.is_success or (declared.isdigit() and int(declared) <= SMALL_BODY_BYTES):
            await response.aread()  # an error, or a small body: read whole and parsed by the plugin
            parsed = call.finish([await asettle(call, part, call.parse(part, upstream, response))])
            return _answer_of([response.content], deployment, call, parsed)
        chunks = response.aiter_bytes()
        head: list[bytes] = []
        size = 0
        async for chunk in chunks:
            head.append(chunk)
            size += len(chunk)
            if size > SMALL_BODY_BYTES:
                if _JSON_OBJECT_START.match(head[0]):
                    up_front = cost_up_front(deployment, call)
                    return Answer(head, 0, up_front, chunks, response, _known_length(response), call, part.warnings)
                break  # not a JSON object: its first 64 KiB are enough for the plugin to refuse it
        await response.aclose()
        parsed = call.finish([await asettle(call, part, call.parse(part, upstream, _whole(response, head)))])
        return _answer_of(head, deployment, call, parsed)


def _whole(response: httpx.Response, body: list[bytes]) -> httpx.Response:
    """The response with its (decoded) body read, for the plugin's parser."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in _BODY_HEADERS_NOT_FORWARDED]
    return httpx.Response(response.status_code, headers=headers, content=b"".join(body), request=response.request)


def _known_length(response: httpx.Response) -> int | None:
    length = response.headers.get("content-length")
    if length is None or not length.isdigit() or "content-encoding" in response.headers:
        return None
    return int(length)


class ImagesScan:
    """Counts the images of an `ImagesResponse` body and finds its `usage` while the body streams by.

    Images are counted by their `"b64_json":` or `"url":` keys, including keys split across
    chunks. Only quotes are looked at (found with memchr), and a JSON string holds no unescaped
    quote, so megabytes of base64 cost next to nothing and no prompt text can pass for a key.
    """

    def __init__(self) -> None:
        self._counts = dict.fromkeys(_IMAGE_KEYS, 0)
        self._carry = b""  # the stream's last bytes, shorter than a key: where a key cut in two starts
        self._head = b""
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        carry = self._carry
        window = carry + chunk[: _LONGEST_KEY - 1]
        for quote in _quotes(window, len(carry)):  # keys cut in two: they start before this chunk, end in it
            key = _key_at(window, quote)
            if key is not None and quote + len(key) > len(carry):
                self._counts[key] += 1
        for quote in _quotes(chunk, len(chunk)):
            key = _key_at(chunk, quote)
            if key is not None:
                self._counts[key] += 1
        keep = _LONGEST_KEY - 1
        self._carry = chunk[-keep:] if len(chunk) >= keep else (carry + chunk)[-keep:]
        if len(self._head) < _EDGE_BYTES:
            self._head += chunk[: _EDGE_BYTES - len(self._head)]
        self._tail = chunk[-_EDGE_BYTES:] if len(chunk) >= _EDGE_BYTES else (self._tail + chunk)[-_EDGE_BYTES:]

    @property
    def images(self) -> int:
        return max(self._counts.values())  # some servers send both keys per image, one of them null

    def looks_complete(self) -> bool:
        """The body read so far ends as a JSON object does (a body cut short mostly ends inside a string)."""
        return self._tail.rstrip().endswith(b"}")

    def usage(self) -> Usage | None:
        """The body's `usage`, if it sits near either end (OpenAI sends it after `data`)."""
        return usage_near_edges(self._tail, self._head)


def _quotes(data: bytes, end: int) -> Iterator[int]:
    quote = data.find(b'"', 0, end)
    while quote >= 0:
        yield quote
        quote = data.find(b'"', quote + 1, end)


def _key_at(data: bytes, position: int) -> bytes | None:
    return next((key for key in _IMAGE_KEYS if data.startswith(key, position)), None)


class StreamedBody(ChargedBody):
    """The body of a streamed answer as the client receives it; `close` records it once, however it ended
    (see `ChargedBody`: a client that leaves early is charged for the whole answer, read for its `usage`)."""

    def __init__(self, deployment: Deployment, answer: Answer, finish: Finish) -> None:
        super().__init__(answer.call, finish)
        self._deployment = deployment
        self._answer = answer
        self._scan = ImagesScan()
        self._chunks = self._read()

    def __aiter__(self) -> AsyncIterator[bytes]:
        assert self._chunks is not None
        return self._chunks

    async def _read(self) -> AsyncGenerator[bytes, None]:
        answer = self._answer
        assert answer.rest is not None
        received = 0
        # The head's chunks are let go as they are sent: with 64 answers in flight, holding each one's
        # first ~256 KiB until its end cost ~15 MB of peak RSS.
        while answer.body:
            head = answer.body.pop(0)
            received = self._scanned(head, received)
            yield head
            del head  # not kept while the upstream's next chunk is awaited
        try:
            async for chunk in answer.rest:
                received = self._scanned(chunk, received)
                yield chunk
        except httpx.TransportError as exc:
            raise self._broke_off(408 if isinstance(exc, httpx.TimeoutException) else 502, type(exc).__name__) from exc
        if not self._scan.looks_complete():
            raise self._broke_off(502, "its JSON ends early")
        self._status, self._whole = 200, True

    def _scanned(self, chunk: bytes, received: int) -> int:
        """Counts `chunk` in; the last chunk of a declared length is not sent unless the JSON ends whole."""
        self._scan.feed(chunk)
        received += len(chunk)
        if received == self._answer.length and not self._scan.looks_complete():
            raise self._broke_off(502, "its JSON ends early")
        return received

    def _broke_off(self, status: int, why: str) -> UpstreamBrokeOff:
        self._status = status
        logger.warning("the upstream broke off a streamed answer: %s", why)
        return UpstreamBrokeOff(why)

    async def _drain(self) -> None:
        assert self._answer.rest is not None
        async for chunk in self._answer.rest:
            self._scan.feed(chunk)
        self._whole = True

    async def _release(self) -> None:
        await self._answer.close()

    def _usage(self) -> Usage | None:
        return self._scan.usage()

    def _charge(self, usage: Usage | None) -> tuple[int, float | None]:
        """The images and cost to record: as read when the body was read whole, else as asked for."""
        assert self.call is not None
        images, charged = charge(self._deployment, self.call, whole=self._whole, images=self._scan.images,
                                 usage=usage if self._whole else None)  # fmt: skip
        cost = self._answer.cost  # per image: the header the client got
        return images, cost if cost is not None else charged


class UpstreamBrokeOff(Exception):
    """A streamed answer that cannot be completed: its client's response is cut off, never made to look whole."""


class ResponseBody(Protocol):
    """A body sent as it is produced (`StreamedBody`, an `EventStream`), closed once however it ended."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


class StreamedResponse(Response):
    """A streamed answer, sent chunk by chunk as the upstream's arrive.

    Not Starlette's StreamingResponse: its task group per response costs more than a chunk. The
    body is closed (the upstream released, the request recorded) however the response ends, and
    sending stops at the next chunk once the client has gone. When the upstream breaks off (or its JSON
    ends early) the response is left without its end, so the client sees it broken, not short and whole.
    """

    def __init__(self, body: ResponseBody, headers: Mapping[str, str], media_type: str = "application/json") -> None:
        self.status_code = 200
        self.background = None
        self.media_type = media_type
        self.init_headers(headers)  # no body: no content-length made up when the upstream sent none
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.ensure_future(receive())  # returns once the client disconnects (or the response ends)
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async for chunk in self._body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if gone.done():
                    return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except UpstreamBrokeOff:
            return  # left incomplete: the server closes the connection, the client sees a broken response
        finally:
            gone.cancel()
            await self._body.close()
