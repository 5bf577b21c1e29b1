"""Streamed calls: OpenAI's image events as they arrive, from a provider that streams or emulated.

A provider that streams (its plugin sent `event_stream=True`) has each Server-Sent Event read by the
plugin's `parse_event` and passed on at once: partial images while the model works, then the completed
image with its `usage`. Every other provider's finished answer becomes one completed event per image,
exactly OpenAI's `partial_images=0` stream, so an app written against streaming works on any model.
`ImageStream` / `AsyncImageStream` are what callers iterate; after the last event their `response` is
the call's final `ImageResponse` (with its cost and warnings).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from types import TracebackType

import httpx

from . import transport
from .calls import PreparedCall
from .exceptions import APIConnectionError
from .images import decode_base64_head, sniff
from .provider import EDIT, GenerationRequest, ProviderRequest
from .sse import SSEDecoder
from .types import CompletedImageEvent, Image, ImageResponse, ImageStreamEvent, Usage

_SNIFF_B64_CHARS = 4096  # enough base64 to read an image's header (its type and dimensions)
EVENT_VALUES = {
    "size": frozenset({"1024x1024", "1024x1536", "1536x1024", "auto"}),
    "quality": frozenset({"low", "medium", "high", "auto"}),
    "background": frozenset({"transparent", "opaque", "auto"}),
}
"""What OpenAI's image events allow in these fields (`ImageGenCompletedEvent`); anything else is "auto"."""
OUTPUT_FORMATS = frozenset({"png", "webp", "jpeg"})


def event_type(request: GenerationRequest, kind: str) -> str:
    """`image_generation.<kind>` or `image_edit.<kind>`, by the request's operation."""
    return f"{'image_edit' if request.operation == EDIT else 'image_generation'}.{kind}"


def event_value(name: str, value: object) -> str:
    """`value` for the event field `name` if OpenAI's schema allows it, else "auto" (unknown to OpenAI's terms)."""
    return value if isinstance(value, str) and value in EVENT_VALUES[name] else "auto"


def completed_events(call: PreparedCall, response: ImageResponse) -> list[CompletedImageEvent]:
    """One completed event per image of a finished answer that is in base64 (an image whose download
    failed keeps its URL, in the final response only); the answer's `usage` rides on the last one, so a
    client adding up the events' usage counts it once. Fields OpenAI's schema has no value for are "auto"."""
    request = call.request
    params = request.params
    images = [image for image in response.data if image.b64_json is not None]
    events = []
    for index, image in enumerate(images):
        assert image.b64_json is not None
        found = sniff(decode_base64_head(image.b64_json, _SNIFF_B64_CHARS))
        last = index == len(images) - 1
        output_format = found[0] if found else params.get("output_format")
        events.append(
            CompletedImageEvent(
                type=event_type(request, "completed"),  # type: ignore[arg-type]
                b64_json=image.b64_json,
                created_at=response.created,
                size=event_value("size", f"{found[1]}x{found[2]}" if found else params.get("size")),
                quality=event_value("quality", params.get("quality")),
                background=event_value("background", params.get("background")),
                output_format=output_format if output_format in OUTPUT_FORMATS else "png",
                usage=response.usage if last and response.usage is not None else Usage(),
            )
        )
    return events


class StreamAssembler:
    """Collects a streamed answer's completed events into the call's final `ImageResponse`; a stream left
    before its end (closed early, or broken) still gets one: what it delivered, with what that cost."""

    def __init__(self, call: PreparedCall) -> None:
        self.call = call
        self.first_event_at: float | None = None
        """`time.perf_counter()` when the first event arrived (time to first event = it minus `call.started`)."""
        self.response: ImageResponse | None = None
        self.answer: ImageResponse | None = None
        """An emulated stream's finished answer (already made, priced and paid for), its events still to go."""
        self.open_no_more_parts = False
        """Set when the caller left but reads on for what was paid (a server draining an answer its client
        left): the part streaming now is read to its end, and no upstream request is started for the rest."""
        self._parts: list[ImageResponse] = []
        self._completed: list[CompletedImageEvent] = []
        self._delivered: list[Image] = []

    def add(self, event: ImageStreamEvent, image: Image | None = None) -> None:
        """An event passed on to the caller (`image`: the answer's image a completed event carries)."""
        if self.first_event_at is None:
            self.first_event_at = time.perf_counter()
            if self.call.observer is not None:
                self.call.observer.first_event(self.first_event_at)
        if isinstance(event, CompletedImageEvent):
            self._completed.append(event)
            self._delivered.append(image or Image(b64_json=event.b64_json))

    def part_done(self, request: GenerationRequest) -> None:
        """One upstream stream ended: it must have completed its images (a partial image is never final)."""
        if not self._completed:
            raise APIConnectionError(
                "the provider's stream ended before the image was completed",
                provider=request.provider,
                model=request.model,
            )
        self._parts.append(self._assembled(self._completed))
        self._completed = []

    @staticmethod
    def _assembled(completed: list[CompletedImageEvent]) -> ImageResponse:
        usage = Usage.total(event.usage for event in completed)
        data = [Image(b64_json=event.b64_json) for event in completed]
        return ImageResponse(created=completed[0].created_at, data=data, usage=usage)

    def finish(self, response: ImageResponse | None = None) -> ImageResponse:
        """The final response: the assembled parts (or a finished answer's), priced and annotated; the
        call succeeded."""
        self.response = self.call.succeeded(response or self.call.finish(self._parts))
        return self.response

    def left(self, error: BaseException) -> None:
        """The stream ended before its last event (`error`: GeneratorExit when its caller closed it): its
        response is what it delivered, priced by what was spent, and the call is reported failed (or
        cancelled) with it. An emulated stream's answer was made and paid for whole: that is its cost."""
        if self.response is not None:
            return
        requested = self.call.request.params.get("n", 1)
        note = f"the stream ended early: {len(self._delivered)} of {requested} image(s) delivered"
        if self.answer is not None:
            spent = self.answer.model_copy(update={"data": list(self._delivered)})
            spent._annotate(self.call.provider.prefix, self.call.request.model, [*self.answer.warnings, note],
                            self.answer.cost)  # fmt: skip
        elif parts := [*self._parts, *([self._assembled(self._completed)] if self._completed else [])]:
            spent = self.call.priced(ImageResponse.merge(parts), [note])
        else:  # no image completed: what the provider billed for its work so far is not known
            spent = ImageResponse()
            spent._annotate(self.call.provider.prefix, self.call.request.model, [*self.call.warnings(), note])
        self.response = spent
        self.call.failed(error, spent=spent)


def open_stream(call: PreparedCall, request: GenerationRequest, upstream: ProviderRequest) -> httpx.Response:
    """Send a streaming request (retried until its answer begins); raises the mapped error of a non-2xx."""
    response = transport.send(upstream, stream=True, **call.send_kwargs())
    if not response.is_success:
        try:
            response.read()
        finally:
            response.close()
        raise call.error(request, upstream, response)
    return response


async def aopen_stream(call: PreparedCall, request: GenerationRequest, upstream: ProviderRequest) -> httpx.Response:
    """The async twin of `open_stream`."""
    response = await transport.asend(upstream, stream=True, **call.send_kwargs())
    if not response.is_success:
        try:
            await response.aread()
        finally:
            await response.aclose()
        raise call.error(request, upstream, response)
    return response


def native_events(
    call: PreparedCall, first: httpx.Response, assembler: StreamAssembler
) -> Generator[ImageStreamEvent, None, None]:
    """The events of every part's stream, in turn (`first` is the first part's, already open)."""
    try:
        for index, (request, upstream) in enumerate(call.parts):
            response = first if index == 0 else open_stream(call, request, upstream)
            decoder = SSEDecoder()
            try:
                for chunk in response.iter_bytes():
                    for sse in decoder.feed(chunk):
                        event = call.parse_event(request, upstream, sse)
                        if event is not None:
                            assembler.add(event)
                            yield event
            except httpx.TransportError as exc:
                raise transport.transport_error(exc, call.provider.prefix, request.model, upstream.secrets) from None
            finally:
                response.close()
            assembler.part_done(request)
        assembler.finish()
    except BaseException as error:  # GeneratorExit: the caller closed the stream before its end
        assembler.left(error)
        raise


async def anative_events(
    call: PreparedCall, first: httpx.Response, assembler: StreamAssembler
) -> AsyncGenerator[ImageStreamEvent, None]:
    """The async twin of `native_events`."""
    try:
        for index, (request, upstream) in enumerate(call.parts):
            if index and assembler.open_no_more_parts:
                assembler.left(GeneratorExit())
                return
            response = first if index == 0 else await aopen_stream(call, request, upstream)
            decoder = SSEDecoder()
            try:
                async for chunk in response.aiter_bytes():
                    for sse in decoder.feed(chunk):
                        event = call.parse_event(request, upstream, sse)
                        if event is not None:
                            assembler.add(event)
                            yield event
            except httpx.TransportError as exc:
                raise transport.transport_error(exc, call.provider.prefix, request.model, upstream.secrets) from None
            finally:
                await response.aclose()
            assembler.part_done(request)
        assembler.finish()
    except BaseException as error:
        assembler.left(error)
        raise


def emulated_events(response: ImageResponse, assembler: StreamAssembler) -> Generator[ImageStreamEvent, None, None]:
    """A finished answer's completed events (its URL results already downloaded)."""
    assembler.answer = response  # now: made and paid for, even if the stream is closed before its first event
    return _emulated(response, assembler)


def _emulated(response: ImageResponse, assembler: StreamAssembler) -> Generator[ImageStreamEvent, None, None]:
    try:
        streamed = [image for image in response.data if image.b64_json is not None]
        for image, event in zip(streamed, completed_events(assembler.call, response), strict=True):
            assembler.add(event, image)
            yield event
        assembler.finish(response)
    except BaseException as error:
        assembler.left(error)
        raise


def aemulated_events(response: ImageResponse, assembler: StreamAssembler) -> AsyncGenerator[ImageStreamEvent, None]:
    """The async twin of `emulated_events`."""
    return _aemulated(emulated_events(response, assembler))


async def _aemulated(events: Generator[ImageStreamEvent, None, None]) -> AsyncGenerator[ImageStreamEvent, None]:
    try:
        for event in events:
            yield event
    finally:
        events.close()  # left early: the call is reported cancelled now, not when collected


class _StreamBase:
    def __init__(self, assembler: StreamAssembler) -> None:
        self._assembler = assembler

    @property
    def response(self) -> ImageResponse:
        """The call's final `ImageResponse` (cost, warnings, every completed image), once the stream ended;
        after it was closed early (or broke), what it delivered, with what was spent."""
        if self._assembler.response is None:
            raise RuntimeError("the stream has not ended yet: iterate over every event first (or close it)")
        return self._assembler.response

    def _left(self) -> None:
        """Closed: before its end (even before its first event), the call was cancelled by its caller."""
        self._assembler.left(GeneratorExit())

    @property
    def time_to_first_event(self) -> float | None:
        """Seconds from the call's start to its first event (None before the first event)."""
        first = self._assembler.first_event_at
        return None if first is None else first - self._assembler.call.started


class ImageStream(_StreamBase):
    """The events of a streamed call. Iterate it; use it as a context manager (or `close()` it) so that
    leaving early closes the upstream connection."""

    def __init__(
        self,
        events: Generator[ImageStreamEvent, None, None],
        assembler: StreamAssembler,
        upstream: httpx.Response | None = None,
    ) -> None:
        super().__init__(assembler)
        self._events = events
        self._upstream = upstream  # open before the first event is asked for: closed here if it never is

    def __iter__(self) -> Iterator[ImageStreamEvent]:
        return self

    def __next__(self) -> ImageStreamEvent:
        return next(self._events)

    def close(self) -> None:
        self._events.close()
        if self._upstream is not None:
            self._upstream.close()
        self._left()

    def __enter__(self) -> ImageStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class AsyncImageStream(_StreamBase):
    """The async twin of `ImageStream`: `async for` it, `async with` it, or `await stream.aclose()`."""

    def __init__(
        self,
        events: AsyncGenerator[ImageStreamEvent, None],
        assembler: StreamAssembler,
        upstream: httpx.Response | None = None,
    ) -> None:
        super().__init__(assembler)
        self._events = events
        self._upstream = upstream

    def __aiter__(self) -> AsyncIterator[ImageStreamEvent]:
        return self

    async def __anext__(self) -> ImageStreamEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()
        if self._upstream is not None:
            await self._upstream.aclose()
        self._left()

    async def __aenter__(self) -> AsyncImageStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()
