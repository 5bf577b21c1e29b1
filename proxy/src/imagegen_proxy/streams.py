"""Streamed answers (`stream: true`): OpenAI's image events, sent to the client as they arrive.

The client always gets `text/event-stream` in OpenAI's framing (`event: <type>` / `data: <JSON with its
type>`), which the openai SDK's `images.generate(stream=True)` / `images.edit(stream=True)` read:

- An OpenAI-shaped upstream's own event stream (OpenAI, Azure) is relayed as bytes, event by event
  (`RelayedEvents`): each event goes out as soon as its last byte arrived, never parsed whole nor
  re-encoded. The first event is awaited before the answer begins, so an upstream whose stream fails
  at once is retried or falls back like any failed request; after that, a failure is an error event.
- Any other stream a plugin parses (`parse_event`), and every model that does not stream, whose
  finished answer becomes one completed event per image (`imagegen.streaming.completed_events`), are
  serialised once per event (`ParsedEvents`).

Either way the request is recorded once, when the stream ends, and charged from the completed events
(their `usage` for token-priced models, else per image). A client that leaves early is charged for
what the upstream made: the rest is still read, for `DRAIN_SECONDS` at most, for its `usage`; a stream
that breaks off is charged the images asked for at the per-image price.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable

import httpx

from imagegen import streaming, transport
from imagegen.api import aoutcome
from imagegen.calls import PreparedCall
from imagegen.exceptions import APIConnectionError, ImageGenError
from imagegen.streaming import StreamAssembler
from imagegen.types import CompletedImageEvent, ImageStreamEvent, Usage

from .charges import CLIENT_GONE, DRAIN_SECONDS, charge, cost, report
from .config import Deployment
from .errors import ProxyError
from .events import EventFramer, EventSummary, error_frame, frame, summarize

logger = logging.getLogger("imagegen.proxy")
Finish = Callable[[int, int, float | None, Usage | None], None]
"""Records the request: its status, the images it made, its cost, and its `usage` when the upstream sent one."""


class ChargedBody:
    """A streamed answer's body as the client receives it (`EventStream`, `relay.StreamedBody`); `close` ends
    it once, however it ended: whole, broken off, or with the client gone.

    The upstream answered 2xx, so the answer is charged even when the client leaves early: `close` reads
    the rest (made and billed upstream) for `DRAIN_SECONDS` at most, for its images and `usage`, unless the
    worker is stopping (no time); then it lets the upstream go, records the request (`finish`) and tells
    the call's observer.
    """

    def __init__(self, call: PreparedCall | None, finish: Finish | None = None) -> None:
        self.call = call  # None: no observer to tell (a body read in a test)
        self._finish = finish
        self._status = CLIENT_GONE  # until the last byte is sent
        self._whole = False  # the upstream's answer was read to its end
        self._chunks: AsyncGenerator[bytes, None] | None = None
        self._closed = False

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._chunks is not None:
            await self._chunks.aclose()
        try:
            if self._status == CLIENT_GONE and not self._whole and not _being_cancelled():
                try:
                    async with asyncio.timeout(DRAIN_SECONDS):
                        await self._drain()
                except (ImageGenError, httpx.TransportError, httpx.StreamError, TimeoutError) as exc:
                    logger.warning("the rest of an answer its client left could not be read: %s", type(exc).__name__)
        finally:
            await self._release()
            usage = self._usage()
            images, charged = self._charge(usage)
            finish, self._finish = self._finish, None  # it may hold this body (a closure): no cycle left behind
            if finish is not None:
                finish(self._status, images, charged, usage)
            if self.call is not None:
                report(self.call, self._status, images, charged, usage)

    async def _drain(self) -> None:
        """The client left: read the rest of the upstream's answer; `_whole` once it was read to its end."""
        raise NotImplementedError

    async def _release(self) -> None:
        """Let go of the upstream."""

    def _charge(self, usage: Usage | None) -> tuple[int, float | None]:
        """The images and cost to record; `usage`: the answer's (`_usage`)."""
        raise NotImplementedError

    def _usage(self) -> Usage | None:
        """The answer's `usage`, when the upstream sent one."""
        raise NotImplementedError


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class EventStream(ChargedBody):
    """The events of one streamed answer as the client receives them; `close` records the request once,
    however the stream ended (whole, with an error event, or with the client gone)."""

    call: PreparedCall

    def __init__(self, deployment: Deployment, call: PreparedCall, cost_header: float | None = None) -> None:
        super().__init__(call)
        self.deployment = deployment
        self.cost_header = cost_header
        """The answer's cost when known before its first event (a finished answer's)."""
        self.first_event_at: float | None = None
        """`time.perf_counter()` when the first event was handed to the server to send."""
        self._completed = 0
        self._usages: list[Usage] = []

    def start(self, finish: Finish) -> EventStream:
        """Ready to send; `finish` records the request when the stream is closed."""
        self._finish = finish
        self._chunks = self._send()
        return self

    def __aiter__(self) -> AsyncIterator[bytes]:
        assert self._chunks is not None, "start() the stream first"
        return self._chunks

    async def _send(self) -> AsyncGenerator[bytes, None]:
        async for event in self._events():
            if self.first_event_at is None:
                self.first_event_at = time.perf_counter()
            for piece in event:
                yield piece
        if self._status == CLIENT_GONE:
            self._status = 200

    def _events(self) -> AsyncIterator[list[bytes]]:
        """Each event's bytes, as they are to be sent."""
        raise NotImplementedError

    def _counted(self, summary: EventSummary) -> None:
        if summary.completed:
            self._completed += 1
            if summary.usage is not None:
                self._usages.append(summary.usage)

    def _failed(self, error: ImageGenError) -> bytes:
        """The error event ending a stream that broke off after its first event, and the status it records."""
        proxy_error = ProxyError.from_imagegen(error)
        self._status = proxy_error.status
        return error_frame(proxy_error.body())

    def _usage(self) -> Usage | None:
        """The usage of every completed event, added up."""
        return Usage.total(self._usages)

    def _charge(self, usage: Usage | None) -> tuple[int, float | None]:
        """The images and cost to record: as counted when the stream was read whole, else as asked for."""
        return charge(self.deployment, self.call, whole=self._whole, images=self._completed, usage=usage)


class RelayedEvents(EventStream):
    """An OpenAI-shaped upstream's event stream, relayed as bytes, event by event."""

    def __init__(
        self,
        deployment: Deployment,
        call: PreparedCall,
        upstream: httpx.Response,
        chunks: AsyncIterator[bytes],
        framer: EventFramer,
        first: list[list[bytes]],
    ) -> None:
        super().__init__(deployment, call)
        self._upstream = upstream
        self._upstream_chunks = chunks
        self._framer = framer
        self._first = first
        self._errored = False
        self._error_status = 502

    async def _events(self) -> AsyncIterator[list[bytes]]:
        while self._first:
            yield self._counted_event(self._first.pop(0))  # let go as sent, as every later event is
        try:
            async for chunk in self._upstream_chunks:
                for event in self._framer.feed(chunk):
                    yield self._counted_event(event)
        except httpx.TransportError as exc:
            logger.warning("the upstream broke off a stream: %s", type(exc).__name__)
            part, upstream = self.call.parts[0]
            error = transport.transport_error(exc, self.call.provider.prefix, part.model, upstream.secrets)
            yield [self._failed(error)]
            return
        self._whole = True
        if not self._completed and not self._errored:  # a partial image is never the final one
            yield [self._failed(_ended_early(self.call))]
        elif self._errored:
            self._status = self._error_status

    def _counted_event(self, event: list[bytes]) -> list[bytes]:
        summary = summarize(event)
        self._counted(summary)
        if summary.error is not None:
            self._errored = True
            self._error_status = ProxyError.from_imagegen(_upstream_error(self.call, summary.error)).status
        return event

    async def _drain(self) -> None:
        async for chunk in self._upstream_chunks:
            for event in self._framer.feed(chunk):
                self._counted(summarize(event))
        self._whole = True

    async def _release(self) -> None:
        await self._upstream.aclose()


class ParsedEvents(EventStream):
    """Image events the core produced (a plugin's parsed stream, or a finished answer's completed
    events), each serialised once."""

    def __init__(
        self,
        deployment: Deployment,
        call: PreparedCall,
        events: AsyncIterator[ImageStreamEvent],
        assembler: StreamAssembler,
        cost_header: float | None = None,
    ) -> None:
        super().__init__(deployment, call, cost_header)
        self._source = events
        self._assembler = assembler

    async def _events(self) -> AsyncIterator[list[bytes]]:
        try:
            async for event in self._source:
                self._counted_event(event)
                yield [frame(event)]
        except ImageGenError as error:
            yield [self._failed(error)]
        self._whole = True

    def _counted_event(self, event: ImageStreamEvent) -> None:
        if isinstance(event, CompletedImageEvent):
            self._completed += 1
            self._usages.append(event.usage)

    async def _drain(self) -> None:
        # The part streaming now is paid for; the rest of `n` was never asked of the upstream: never started.
        self._assembler.open_no_more_parts = True
        async for event in self._source:
            self._counted_event(event)
        self._whole = True

    async def _release(self) -> None:
        close = getattr(self._source, "aclose", None)
        if close is not None:
            await close()


async def open_events(deployment: Deployment, call: PreparedCall) -> EventStream:
    """Start a streamed answer (retried by the core until it begins); raises ImageGenError before its
    first event, so the router can retry or fall back."""
    assembler = StreamAssembler(call)
    if not call.streams_natively:
        response = await aoutcome(call, b64=True)  # the whole answer, URL results downloaded
        events = streaming.aemulated_events(response, assembler)
        return ParsedEvents(deployment, call, events, assembler, cost_header=cost(deployment, call, response))
    part, upstream = call.parts[0]
    opened = await streaming.aopen_stream(call, part, upstream)
    if call.provider.info.openai_shaped_responses and len(call.parts) == 1:
        return await _relayed(deployment, call, opened)
    return ParsedEvents(deployment, call, streaming.anative_events(call, opened, assembler), assembler)


async def _relayed(deployment: Deployment, call: PreparedCall, response: httpx.Response) -> RelayedEvents:
    """The upstream's stream, its first event read: an error there is raised (retried, or a fallback)."""
    framer = EventFramer()
    chunks = response.aiter_bytes()
    async with reading(call, response):
        first: list[list[bytes]] = []
        async for chunk in chunks:
            first = framer.feed(chunk)
            if first:
                break
        if not first:
            raise _ended_early(call)
        summary = summarize(first[0])
        if summary.error is not None:
            raise _upstream_error(call, summary.error)
    return RelayedEvents(deployment, call, response, chunks, framer, first)


@contextlib.asynccontextmanager
async def reading(call: PreparedCall, response: httpx.Response) -> AsyncIterator[None]:
    """Around reading an upstream's answer before it is handed on: on a failure the upstream connection
    is released, and a broken one raises the core's error for it."""
    part, upstream = call.parts[0]
    try:
        yield
    except httpx.TransportError as exc:
        await response.aclose()
        raise transport.transport_error(exc, call.provider.prefix, part.model, upstream.secrets) from None
    except BaseException:
        await response.aclose()
        raise


def _upstream_error(call: PreparedCall, body: dict[str, object]) -> ImageGenError:
    part, upstream = call.parts[0]
    return transport.error_from_body(
        body, status=None, provider=call.provider.prefix, model=part.model, secrets=upstream.secrets
    )


def _ended_early(call: PreparedCall) -> APIConnectionError:
    return APIConnectionError(
        "the provider's stream ended before the image was completed", provider=call.provider.prefix,
        model=call.request.model,
    )  # fmt: skip
