"""The core's fan-out of `n` for models that make fewer images per call (here: Stability on Bedrock's fake)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

import imagegen
from imagegen import transport
from tests.fakes.bedrock_fake import FakeBedrock

API_KEY = "ABSK" + secrets.token_urlsafe(40)  # a Bedrock API key, generated per run
SD35 = "bedrock/stability.sd3-5-large-v1:0"


@pytest.fixture
def bedrock() -> Iterator[dict[str, Any]]:
    with FakeBedrock(api_keys=(API_KEY,)) as fake:
        yield {"api_base": fake.url, "api_key": API_KEY, "fake": fake}


def call(bedrock: dict[str, Any], **kwargs: Any) -> imagegen.ImageResponse:
    settings = {k: v for k, v in bedrock.items() if k != "fake"}
    return imagegen.image_generation("otter", model=SD35, num_retries=0, **settings, **kwargs)


def seeds(fake: FakeBedrock) -> list[int]:
    return sorted(body["seed"] for _, body in fake.invocations)


def test_consecutive_seeds_wrap_within_the_models_range(bedrock: dict[str, Any]) -> None:
    call(bedrock, n=3, seed=4294967293)  # SD3.5 seeds go up to 4294967294
    assert seeds(bedrock["fake"]) == [0, 4294967293, 4294967294]


def test_images_from_the_parts_that_succeeded_are_kept_with_a_warning(bedrock: dict[str, Any]) -> None:
    bedrock["fake"].fail_next("server_error")
    response = call(bedrock, n=3)
    assert len(response.data) == 2
    assert "1 of 3 upstream requests failed" in response.warnings[-1]


@pytest.mark.anyio
async def test_partial_results_on_the_async_path_too(bedrock: dict[str, Any]) -> None:
    bedrock["fake"].fail_next("server_error")
    settings = {k: v for k, v in bedrock.items() if k != "fake"}
    response = await imagegen.aimage_generation("otter", model=SD35, n=2, num_retries=0, **settings)
    assert len(response.data) == 1
    assert "1 of 2 upstream requests failed" in response.warnings[-1]


def test_when_every_part_fails_the_error_is_raised(bedrock: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "INITIAL_BACKOFF", 0.001)
    bedrock["fake"].fail_next("server_error", times=2)
    with pytest.raises(imagegen.InternalServerError):
        call(bedrock, n=2)
