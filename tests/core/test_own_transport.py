"""`ProviderRequest.transport`: a plugin sends through its own httpx transport (an in-process provider),
sync and async, with the core's retries, instead of the network."""

from __future__ import annotations

import pytest

import imagegen
from imagegen import streaming, transport
from imagegen.calls import prepare
from imagegen.plugins import registry
from imagegen.streaming import StreamAssembler

from . import inprocess_plugin
from .inprocess_plugin import PREFIX, install

MODEL = f"{PREFIX}/local-1"


@pytest.fixture(autouse=True)
def inproc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.entries(), PREFIX, install())
    monkeypatch.setattr(transport, "INITIAL_BACKOFF", 0.001)
    inprocess_plugin.received.clear()
    inprocess_plugin.failures.clear()


def test_a_sync_call_goes_through_the_plugins_transport() -> None:
    response = imagegen.image_generation("otter", model=MODEL, n=2)
    assert len(response.data) == 2
    assert [r.url.host for r in inprocess_plugin.received] == ["inproc.invalid"]


@pytest.mark.anyio
async def test_an_async_call_goes_through_the_plugins_transport() -> None:
    response = await imagegen.aimage_generation("otter", model=MODEL)
    assert len(response.data) == 1
    assert len(inprocess_plugin.received) == 1


def test_the_core_retries_through_the_plugins_transport() -> None:
    inprocess_plugin.failures.extend([503, 429])
    response = imagegen.image_generation("otter", model=MODEL, num_retries=2)
    assert len(response.data) == 1
    assert len(inprocess_plugin.received) == 3


@pytest.mark.anyio
async def test_a_transport_without_async_support_is_a_plugin_error_on_the_async_path() -> None:
    with pytest.raises(imagegen.PluginError, match="no handle_async_request"):
        await imagegen.aimage_generation("otter", model=MODEL, sync_only=True)
    assert imagegen.image_generation("otter", model=MODEL, sync_only=True).data


@pytest.mark.anyio
async def test_a_stream_read_on_after_its_caller_left_starts_no_new_upstream_request() -> None:
    # As the proxy drains an answer its client left: the part streaming is paid for, the others never started.
    call = prepare("otter", f"{PREFIX}/streamer-1", {"n": 3}, {}, stream=True, timeout=None, drop_params=None,
                   num_retries=None)  # fmt: skip
    assert len(call.parts) == 3
    assembler = StreamAssembler(call)
    part, upstream = call.parts[0]
    events = streaming.anative_events(call, await streaming.aopen_stream(call, part, upstream), assembler)

    assembler.open_no_more_parts = True
    read = [event async for event in events]

    assert len(read) == 1
    assert len(inprocess_plugin.received) == 1
    assert assembler.response is not None
    assert len(assembler.response.data) == 1
    assert "1 of 3 image(s) delivered" in assembler.response.warnings[-1]
