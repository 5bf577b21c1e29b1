"""The SDK: generate, edit and vary images with any installed provider, sync or async, whole or streamed.

One call's journey: `calls.prepare` (resolve the plugin → check the operation, parameters and input
images → map_params → build_request) → send each part (retries; a job is polled) → parse → `finish`
(merge, price). The sync and async functions share everything but the I/O. A call someone watches
(callbacks, OpenTelemetry: `imagegen.observe`) reports how it went; a `mock_response` sends nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, overload

from . import jobs, mocking, observe, results, streaming, transport
from .calls import PreparedCall, aprepare, failures_told, prepare
from .images import DOWNLOAD_TIMEOUT, ImageSource, aload_image, load_image
from .provider import EDIT, GENERATION, VARIATION, GenerationRequest, Job, Operation, ProviderRequest
from .streaming import AsyncImageStream, ImageStream, StreamAssembler
from .types import ImageResponse


def settle(call: PreparedCall, request: GenerationRequest, result: ImageResponse | Job) -> ImageResponse:
    """A parsed answer's images: polled until done if the answer was a job."""
    return jobs.wait_for(call, request, result) if isinstance(result, Job) else result


async def asettle(call: PreparedCall, request: GenerationRequest, result: ImageResponse | Job) -> ImageResponse:
    """The async twin of `settle`."""
    return await jobs.await_job(call, request, result) if isinstance(result, Job) else result


def _part(call: PreparedCall, part: tuple[GenerationRequest, ProviderRequest]) -> ImageResponse:
    request, upstream = part
    return settle(call, request, call.parse(request, upstream, transport.send(upstream, **call.send_kwargs())))


async def asend_part(call: PreparedCall, part: tuple[GenerationRequest, ProviderRequest]) -> ImageResponse:
    """Send one part of a call (retried), poll its job if it is one; its images, or its error."""
    request, upstream = part
    return await asettle(
        call, request, call.parse(request, upstream, await transport.asend(upstream, **call.send_kwargs()))
    )


def outcome(call: PreparedCall, b64: bool) -> ImageResponse:
    """The call's response (its URL results downloaded when `b64`), not yet reported to its observer."""
    if call.mock_response is not None:
        outcomes: list[ImageResponse | BaseException] = [mocking.respond(call)]
    elif len(call.parts) == 1:
        outcomes = [_part(call, call.parts[0])]
    else:
        with ThreadPoolExecutor(max_workers=call.concurrency) as pool:
            futures = [pool.submit(_part, call, part) for part in call.parts]
        outcomes = [future.exception() or future.result() for future in futures]
    response = call.finish(outcomes)
    results.download_urls(call, response, always=b64)
    return response


async def aoutcome(call: PreparedCall, b64: bool) -> ImageResponse:
    """The async twin of `outcome`."""
    if call.mock_response is not None:
        outcomes: list[ImageResponse | BaseException] = [mocking.respond(call)]
    elif len(call.parts) == 1:
        outcomes = [await asend_part(call, call.parts[0])]
    else:
        limit = asyncio.Semaphore(call.concurrency)

        async def limited(part: tuple[GenerationRequest, ProviderRequest]) -> ImageResponse:
            async with limit:
                return await asend_part(call, part)

        outcomes = list(await asyncio.gather(*(limited(part) for part in call.parts), return_exceptions=True))
    response = call.finish(outcomes)
    await results.adownload_urls(call, response, always=b64)
    return response


def run(call: PreparedCall) -> ImageResponse:
    """Send every part (concurrently when fanned out), poll jobs, merge and price."""
    try:
        return call.succeeded(outcome(call, b64=False))
    except BaseException as error:
        call.failed(error)
        raise


async def arun(call: PreparedCall) -> ImageResponse:
    """The async twin of `run` (real async I/O on the running event loop)."""
    try:
        return call.succeeded(await aoutcome(call, b64=False))
    except BaseException as error:
        call.failed(error)
        raise


def run_stream(call: PreparedCall) -> ImageStream:
    """The call's events: the provider's own stream (its answer has begun when this returns, so an error
    before the first event is raised here, after retries), else the finished answer's completed events."""
    assembler = StreamAssembler(call)
    try:
        if call.streams_natively:
            request, upstream = call.parts[0]
            first = streaming.open_stream(call, request, upstream)
            return ImageStream(streaming.native_events(call, first, assembler), assembler, first)
        return ImageStream(streaming.emulated_events(outcome(call, b64=True), assembler), assembler)
    except BaseException as error:
        call.failed(error)
        raise


async def arun_stream(call: PreparedCall) -> AsyncImageStream:
    """The async twin of `run_stream`."""
    assembler = StreamAssembler(call)
    try:
        if call.streams_natively:
            request, upstream = call.parts[0]
            first = await streaming.aopen_stream(call, request, upstream)
            return AsyncImageStream(streaming.anative_events(call, first, assembler), assembler, first)
        return AsyncImageStream(streaming.aemulated_events(await aoutcome(call, b64=True), assembler), assembler)
    except BaseException as error:
        call.failed(error)
        raise


def _inputs(image: ImageSource | Sequence[ImageSource] | None) -> list[tuple[str, ImageSource]]:
    """Each input image with the name errors call it by (`image`, or `image[2]` in a list)."""
    if image is None:
        return []
    if isinstance(image, list | tuple):
        return [(f"image[{index}]", item) for index, item in enumerate(image)]
    return [("image", image)]  # type: ignore[list-item]  # bytes and str are Sequences too, but one image


class _Deadline:
    """The call's one deadline, from its `timeout` option: input images downloaded from URLs spend from it too."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.at = time.monotonic() + transport.seconds(options.get("timeout"))

    def left(self) -> float:
        return max(self.at - time.monotonic(), 0.001)  # past it, a download or an attempt times out at once

    def for_download(self) -> float:
        return min(self.left(), DOWNLOAD_TIMEOUT)


def _call(
    operation: Operation,
    prompt: str | None,
    model: str | None,
    openai_params: dict[str, Any],
    provider_params: dict[str, Any],
    options: dict[str, Any],
    image: ImageSource | Sequence[ImageSource] | None = None,
    mask: ImageSource | None = None,
) -> PreparedCall:
    observer = observe.begin(operation, callbacks=options.pop("callbacks"), metadata=options.pop("metadata"))
    with failures_told(observer):
        deadline = _Deadline(options)
        images = [load_image(source, name=name, timeout=deadline.for_download()) for name, source in _inputs(image)]
        loaded_mask = load_image(mask, name="mask", timeout=deadline.for_download()) if mask is not None else None
        if image is not None or mask is not None:
            options["timeout"] = deadline.left()
    return prepare(
        prompt, model, openai_params, provider_params, operation=operation, images=images, mask=loaded_mask,
        observer=observer, **options,
    )  # fmt: skip


async def _acall(
    operation: Operation,
    prompt: str | None,
    model: str | None,
    openai_params: dict[str, Any],
    provider_params: dict[str, Any],
    options: dict[str, Any],
    image: ImageSource | Sequence[ImageSource] | None = None,
    mask: ImageSource | None = None,
) -> PreparedCall:
    observer = observe.begin(operation, callbacks=options.pop("callbacks"), metadata=options.pop("metadata"))
    with failures_told(observer):
        deadline = _Deadline(options)
        images = [
            await aload_image(source, name=name, timeout=deadline.for_download()) for name, source in _inputs(image)
        ]
        loaded_mask = (
            await aload_image(mask, name="mask", timeout=deadline.for_download()) if mask is not None else None
        )
        if image is not None or mask is not None:
            options["timeout"] = deadline.left()
    return await aprepare(
        prompt, model, openai_params, provider_params, operation=operation, images=images, mask=loaded_mask,
        observer=observer, **options,
    )  # fmt: skip


@overload
def image_generation(
    prompt: str, model: str | None = None, *, stream: Literal[False] = False, **kwargs: Any
) -> ImageResponse: ...
@overload
def image_generation(prompt: str, model: str | None = None, *, stream: Literal[True], **kwargs: Any) -> ImageStream: ...
def image_generation(
    prompt: str,
    model: str | None = None,
    n: int | None = None,
    quality: str | None = None,
    response_format: str | None = None,
    size: str | None = None,
    style: str | None = None,
    user: str | None = None,
    timeout: float | None = transport.DEFAULT_TIMEOUT,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    drop_params: bool | None = None,
    num_retries: int | None = None,
    stream: bool = False,
    partial_images: int | None = None,
    api_type: str | None = None,
    custom_llm_provider: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    mock_response: Any = None,
    callbacks: Sequence[object] | None = None,
    **provider_params: Any,
) -> ImageResponse | ImageStream:
    """Generate images from a text prompt with any installed provider.

    `model` is `prefix/model` (`bedrock/amazon.nova-canvas-v1:0`) or a bare OpenAI name
    (`dall-e-3`); it defaults to `openai/gpt-image-1`. Any keyword not listed here is a provider
    parameter or setting (`background`, `cfg_scale`, `aws_region_name`, …). `stream=True` returns an
    `ImageStream` of events (`partial_images` 0-3 partial images first, where the provider streams).

    `custom_llm_provider`: the plugin to route to whatever `model` says (as a `prefix/`). `api_type`:
    Azure's `azure` (key) or `azure_ad` (Entra ID); ignored with a warning elsewhere. `extra_headers`:
    sent upstream on every attempt (never over a header the plugin sets; masked in errors). `metadata`:
    carried to callbacks, never sent. `mock_response`: answer without any request (`imagegen.mocking`).
    `callbacks`: objects with `on_request` / `on_success` / `on_failure` for this call (docs/callbacks.md).
    """
    openai_params = dict(
        n=n, quality=quality, response_format=response_format, size=size, style=style, user=user,
        api_key=api_key, api_base=api_base, api_version=api_version, api_type=api_type, extra_headers=extra_headers,
    )  # fmt: skip
    options = dict(
        stream=stream, partial_images=partial_images, timeout=timeout, drop_params=drop_params, num_retries=num_retries,
        custom_llm_provider=custom_llm_provider, mock_response=mock_response, metadata=metadata, callbacks=callbacks,
    )  # fmt: skip
    call = _call(GENERATION, prompt, model, openai_params, provider_params, options)
    return run_stream(call) if stream else run(call)


@overload
async def aimage_generation(
    prompt: str, model: str | None = None, *, stream: Literal[False] = False, **kwargs: Any
) -> ImageResponse: ...
@overload
async def aimage_generation(
    prompt: str, model: str | None = None, *, stream: Literal[True], **kwargs: Any
) -> AsyncImageStream: ...
async def aimage_generation(
    prompt: str,
    model: str | None = None,
    n: int | None = None,
    quality: str | None = None,
    response_format: str | None = None,
    size: str | None = None,
    style: str | None = None,
    user: str | None = None,
    timeout: float | None = transport.DEFAULT_TIMEOUT,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    drop_params: bool | None = None,
    num_retries: int | None = None,
    stream: bool = False,
    partial_images: int | None = None,
    api_type: str | None = None,
    custom_llm_provider: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    mock_response: Any = None,
    callbacks: Sequence[object] | None = None,
    **provider_params: Any,
) -> ImageResponse | AsyncImageStream:
    """The async twin of `image_generation` (real async I/O on the running event loop)."""
    openai_params = dict(
        n=n, quality=quality, response_format=response_format, size=size, style=style, user=user,
        api_key=api_key, api_base=api_base, api_version=api_version, api_type=api_type, extra_headers=extra_headers,
    )  # fmt: skip
    options = dict(
        stream=stream, partial_images=partial_images, timeout=timeout, drop_params=drop_params, num_retries=num_retries,
        custom_llm_provider=custom_llm_provider, mock_response=mock_response, metadata=metadata, callbacks=callbacks,
    )  # fmt: skip
    call = await _acall(GENERATION, prompt, model, openai_params, provider_params, options)
    return await arun_stream(call) if stream else await arun(call)


@overload
def image_edit(
    image: ImageSource | Sequence[ImageSource],
    prompt: str | None = None,
    model: str | None = None,
    *,
    stream: Literal[False] = False,
    **kwargs: Any,
) -> ImageResponse: ...
@overload
def image_edit(
    image: ImageSource | Sequence[ImageSource],
    prompt: str | None = None,
    model: str | None = None,
    *,
    stream: Literal[True],
    **kwargs: Any,
) -> ImageStream: ...
def image_edit(
    image: ImageSource | Sequence[ImageSource],
    prompt: str | None = None,
    model: str | None = None,
    mask: ImageSource | None = None,
    n: int | None = None,
    quality: str | None = None,
    response_format: str | None = None,
    size: str | None = None,
    user: str | None = None,
    timeout: float | None = transport.DEFAULT_TIMEOUT,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    drop_params: bool | None = None,
    num_retries: int | None = None,
    stream: bool = False,
    partial_images: int | None = None,
    api_type: str | None = None,
    custom_llm_provider: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    mock_response: Any = None,
    callbacks: Sequence[object] | None = None,
    **provider_params: Any,
) -> ImageResponse | ImageStream:
    """Edit images following an instruction, with any provider that edits.

    `image`: one input or a list (bytes, a path, a binary file object, a `data:` URL or an `http(s)://`
    URL, downloaded with a size limit). `mask`: an image the size of the (first) input whose fully
    transparent pixels mark the area to edit (OpenAI's convention, converted for each provider).
    `model` defaults to `openai/gpt-image-1`. Every other argument is as in `image_generation`; the
    inputs are checked against the model's limits before any request.
    """
    openai_params = dict(
        n=n, quality=quality, response_format=response_format, size=size, user=user,
        api_key=api_key, api_base=api_base, api_version=api_version, api_type=api_type, extra_headers=extra_headers,
    )  # fmt: skip
    options = dict(
        stream=stream, partial_images=partial_images, timeout=timeout, drop_params=drop_params, num_retries=num_retries,
        custom_llm_provider=custom_llm_provider, mock_response=mock_response, metadata=metadata, callbacks=callbacks,
    )  # fmt: skip
    call = _call(EDIT, prompt, model, openai_params, provider_params, options, image, mask)
    return run_stream(call) if stream else run(call)


@overload
async def aimage_edit(
    image: ImageSource | Sequence[ImageSource],
    prompt: str | None = None,
    model: str | None = None,
    *,
    stream: Literal[False] = False,
    **kwargs: Any,
) -> ImageResponse: ...
@overload
async def aimage_edit(
    image: ImageSource | Sequence[ImageSource],
    prompt: str | None = None,
    model: str | None = None,
    *,
    stream: Literal[True],
    **kwargs: Any,
) -> AsyncImageStream: ...
async def aimage_edit(
    image: ImageSource | Sequence[ImageSource],
    prompt: str | None = None,
    model: str | None = None,
    mask: ImageSource | None = None,
    n: int | None = None,
    quality: str | None = None,
    response_format: str | None = None,
    size: str | None = None,
    user: str | None = None,
    timeout: float | None = transport.DEFAULT_TIMEOUT,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    drop_params: bool | None = None,
    num_retries: int | None = None,
    stream: bool = False,
    partial_images: int | None = None,
    api_type: str | None = None,
    custom_llm_provider: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    mock_response: Any = None,
    callbacks: Sequence[object] | None = None,
    **provider_params: Any,
) -> ImageResponse | AsyncImageStream:
    """The async twin of `image_edit`."""
    openai_params = dict(
        n=n, quality=quality, response_format=response_format, size=size, user=user,
        api_key=api_key, api_base=api_base, api_version=api_version, api_type=api_type, extra_headers=extra_headers,
    )  # fmt: skip
    options = dict(
        stream=stream, partial_images=partial_images, timeout=timeout, drop_params=drop_params, num_retries=num_retries,
        custom_llm_provider=custom_llm_provider, mock_response=mock_response, metadata=metadata, callbacks=callbacks,
    )  # fmt: skip
    call = await _acall(EDIT, prompt, model, openai_params, provider_params, options, image, mask)
    return await arun_stream(call) if stream else await arun(call)


def image_variation(
    image: ImageSource | Sequence[ImageSource],
    model: str | None = None,
    n: int | None = None,
    response_format: str | None = None,
    size: str | None = None,
    user: str | None = None,
    timeout: float | None = transport.DEFAULT_TIMEOUT,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    drop_params: bool | None = None,
    num_retries: int | None = None,
    api_type: str | None = None,
    custom_llm_provider: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    mock_response: Any = None,
    callbacks: Sequence[object] | None = None,
    **provider_params: Any,
) -> ImageResponse:
    """Make variations of an image: dall-e-2 (the default model) and every model with a variation mode
    (Amazon Titan / Nova Canvas). `image` as in `image_edit`."""
    openai_params = dict(
        n=n, response_format=response_format, size=size, user=user,
        api_key=api_key, api_base=api_base, api_version=api_version, api_type=api_type, extra_headers=extra_headers,
    )  # fmt: skip
    options = dict(
        timeout=timeout, drop_params=drop_params, num_retries=num_retries, custom_llm_provider=custom_llm_provider,
        mock_response=mock_response, metadata=metadata, callbacks=callbacks,
    )  # fmt: skip
    return run(_call(VARIATION, None, model, openai_params, provider_params, options, image))


async def aimage_variation(
    image: ImageSource | Sequence[ImageSource],
    model: str | None = None,
    n: int | None = None,
    response_format: str | None = None,
    size: str | None = None,
    user: str | None = None,
    timeout: float | None = transport.DEFAULT_TIMEOUT,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    drop_params: bool | None = None,
    num_retries: int | None = None,
    api_type: str | None = None,
    custom_llm_provider: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    mock_response: Any = None,
    callbacks: Sequence[object] | None = None,
    **provider_params: Any,
) -> ImageResponse:
    """The async twin of `image_variation`."""
    openai_params = dict(
        n=n, response_format=response_format, size=size, user=user,
        api_key=api_key, api_base=api_base, api_version=api_version, api_type=api_type, extra_headers=extra_headers,
    )  # fmt: skip
    options = dict(
        timeout=timeout, drop_params=drop_params, num_retries=num_retries, custom_llm_provider=custom_llm_provider,
        mock_response=mock_response, metadata=metadata, callbacks=callbacks,
    )  # fmt: skip
    return await arun(await _acall(VARIATION, None, model, openai_params, provider_params, options, image))
