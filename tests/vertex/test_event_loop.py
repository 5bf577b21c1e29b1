"""The async path never blocks the event loop: loading credentials (a key file, ADC discovery) and
exchanging tokens run on worker threads, and no call waits on the loop for another's token exchange.

Each test has a fake hold its answer until a coroutine releases it: were the loop blocked while
the client waits, that coroutine could not run, the hold would time out and count as in vain.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio.to_thread
import pytest

import imagegen
from imagegen.exceptions import AuthenticationError
from tests.fakes.vertex_fake import FakeGoogleOAuth, FakeVertex, HeldAnswers, NotAMetadataServer

from .conftest import PROJECT

MODEL = "vertex_ai/imagen-3.0-generate-002"


async def arrival(hold: HeldAnswers) -> None:
    assert await anyio.to_thread.run_sync(hold.arrived.wait, HeldAnswers.TIMEOUT), "the request never came"


@pytest.mark.anyio
async def test_a_token_exchange_in_flight_never_blocks_the_loop_for_other_calls(tmp_path: Path) -> None:
    with FakeGoogleOAuth() as oauth, FakeVertex(oauth.is_valid, PROJECT) as vertex:
        key_file = tmp_path / "key.json"
        key_file.write_text(oauth.new_key(project_id=PROJECT).json)
        # No project setting: the key file's project is needed, and the first call is loading that key.
        kwargs = {"api_base": vertex.url, "vertex_credentials": str(key_file)}
        oauth.hold = hold = HeldAnswers()

        first = asyncio.create_task(imagegen.aimage_generation("otter", model=MODEL, **kwargs))
        await arrival(hold)  # the first call is exchanging the key for a token, holding the credentials
        second = asyncio.create_task(imagegen.aimage_generation("otter", model=MODEL, **kwargs))
        await asyncio.sleep(0)  # the second call is prepared: it must not wait for that exchange on the loop
        hold.release.set()
        responses = await asyncio.gather(first, second)

    assert hold.in_vain == 0
    assert [len(response.data) for response in responses] == [1, 1]
    assert len(oauth.requests) == 1  # the second call used the first one's token
    assert all(f"/projects/{PROJECT}/" in request.path for request in vertex.requests)


@pytest.mark.anyio
async def test_application_default_credentials_are_discovered_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with NotAMetadataServer() as metadata:
        monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud credentials
        monkeypatch.setenv("GCE_METADATA_IP", metadata.url.removeprefix("http://"))
        call = asyncio.create_task(imagegen.aimage_generation("otter", model=MODEL, api_base=metadata.url))
        await arrival(metadata.hold)  # ADC discovery is probing for the metadata server
        metadata.hold.release.set()

        with pytest.raises(AuthenticationError, match="no usable Google credentials"):
            await call

    assert metadata.hold.in_vain == 0
