"""The SDK against an upstream that breaks: each fault is the documented error, nothing is left open.

`timeout` bounds an attempt as a whole: an answer dripping a byte at a time (each read well within the
timeout: the fake drips every 0.2 s rather than every second, to keep the suite fast) or never ending is
cut at the timeout. Sync calls check it between body chunks, so an upstream
dripping its *headers* is bounded there only by the per-read timeout: that fault is async-only here.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import imagegen
from imagegen import transport
from imagegen.exceptions import (
    APIConnectionError,
    ImageGenError,
    InternalServerError,
    ServiceUnavailableError,
    Timeout,
)

from .conftest import HANG_TIMEOUT, Descriptors, timeout_for
from .upstream import FAULTS, Fault, FaultyUpstream, refused_api_base

EXPECTED: dict[Fault, tuple[type[ImageGenError], int | None]] = {
    "close": (APIConnectionError, None),
    "reset_after_headers": (APIConnectionError, None),
    "reset_mid_body": (APIConnectionError, None),
    "truncated_json": (InternalServerError, 502),
    "garbage": (InternalServerError, 502),
    "server_error": (InternalServerError, 500),
    "unavailable": (ServiceUnavailableError, 503),
    "stall": (Timeout, 408),
    "endless": (Timeout, 408),
    "drip": (Timeout, 408),
    "drip_headers": (Timeout, 408),
}
SYNC_FAULTS = [fault for fault in EXPECTED if fault != "drip_headers"]
RETRIED_BY_THE_CORE: list[Fault] = ["close", "reset_after_headers", "reset_mid_body", "server_error", "unavailable"]


def test_every_fault_has_an_expected_error() -> None:
    assert set(EXPECTED) == set(FAULTS) - {"ok"}


def call_options(upstream: FaultyUpstream | str, fault: Fault = "ok", **kwargs: Any) -> dict[str, Any]:
    api_base = upstream if isinstance(upstream, str) else upstream.api_base
    return {"model": "openai/dall-e-2", "api_base": api_base, "api_key": "sk-k", "num_retries": 0,
            "timeout": timeout_for(fault), **kwargs}  # fmt: skip


def generate(upstream: FaultyUpstream | str, fault: Fault = "ok", **kwargs: Any) -> imagegen.ImageResponse:
    return imagegen.image_generation("otter", **call_options(upstream, fault, **kwargs))


async def agenerate(upstream: FaultyUpstream | str, fault: Fault = "ok", **kwargs: Any) -> imagegen.ImageResponse:
    return await imagegen.aimage_generation("otter", **call_options(upstream, fault, **kwargs))


def assert_is(error: ImageGenError, fault: Fault) -> None:
    kind, status = EXPECTED[fault]
    assert type(error) is kind, f"{fault}: {error!r}"
    assert error.status_code == status
    assert error.provider == "openai"


@pytest.mark.parametrize("fault", SYNC_FAULTS)
def test_a_fault_is_its_error_class_and_status(upstream: FaultyUpstream, fault: Fault) -> None:
    upstream.script(fault)

    with pytest.raises(ImageGenError) as raised:
        generate(upstream, fault)

    assert_is(raised.value, fault)


@pytest.mark.anyio
@pytest.mark.parametrize("fault", list(EXPECTED))
async def test_a_fault_is_its_error_class_and_status_async(upstream: FaultyUpstream, fault: Fault) -> None:
    upstream.script(fault)

    with pytest.raises(ImageGenError) as raised:
        await agenerate(upstream, fault)

    assert_is(raised.value, fault)


def test_a_refused_connection_is_a_connection_error() -> None:
    with pytest.raises(APIConnectionError, match="ConnectError"):
        generate(refused_api_base())


@pytest.mark.anyio
async def test_a_refused_connection_is_a_connection_error_async() -> None:
    with pytest.raises(APIConnectionError, match="ConnectError"):
        await agenerate(refused_api_base())


@pytest.mark.parametrize("fault", RETRIED_BY_THE_CORE)
def test_a_broken_attempt_is_retried_and_the_retry_answers(upstream: FaultyUpstream, fault: Fault) -> None:
    upstream.script(fault, "ok")

    response = generate(upstream, num_retries=1)

    assert len(response.data) == 1
    assert upstream.requests == 2


def test_a_timeout_bounds_the_whole_answer_not_each_read(upstream: FaultyUpstream) -> None:
    upstream.script("drip")  # a byte every 0.2 s: every read returns well within the timeout

    with pytest.raises(Timeout, match="ReadTimeout"):
        generate(upstream, timeout=HANG_TIMEOUT)

    assert upstream.served["drip"] == 1


def test_after_every_fault_no_connection_or_descriptor_is_left_open(upstream: FaultyUpstream) -> None:
    descriptors = Descriptors(upstream)
    for fault in SYNC_FAULTS:
        upstream.script(fault)
        with pytest.raises(ImageGenError):
            generate(upstream, fault)

    assert len(generate(upstream).data) == 1  # and the client still works
    descriptors.assert_nothing_left_open()


@pytest.mark.anyio
async def test_after_every_fault_no_connection_or_descriptor_is_left_open_async(upstream: FaultyUpstream) -> None:
    descriptors = Descriptors(upstream)
    for fault in EXPECTED:
        upstream.script(fault)
        with pytest.raises(ImageGenError):
            await agenerate(upstream, fault)

    assert len((await agenerate(upstream)).data) == 1
    await asyncio.to_thread(descriptors.assert_nothing_left_open)
    await transport.async_client().aclose()
