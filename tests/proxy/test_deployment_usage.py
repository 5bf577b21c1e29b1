"""Deployments' request and token counts against their `rpm` and `tpm`, per process and shared through Redis."""

from __future__ import annotations

import logging
import secrets

import pytest
from redis.asyncio import Redis

from imagegen_proxy.config import Deployment
from imagegen_proxy.deployment_usage import RequestCounts

from .conftest import in_one_minute

pytestmark = pytest.mark.anyio


def deployment(rpm: int | None = None, tpm: int | None = None) -> Deployment:
    return Deployment(f"d-{secrets.token_hex(4)}", "images", "openai/gpt-image-1", "openai", "image",
                      {"api_base": "http://127.0.0.1:9/v1"}, rpm=rpm, tpm=tpm)  # fmt: skip


async def test_a_deployment_takes_requests_up_to_its_rpm_then_is_known_full() -> None:
    counts, limited = RequestCounts(), deployment(rpm=2)
    in_one_minute()

    taken = [await counts.take(limited) for _ in range(3)]

    assert taken == [True, True, False]
    assert counts.full(limited)


async def test_two_processes_share_a_deployments_count_through_redis(redis_url: str) -> None:
    limited = deployment(rpm=3)
    one, two = Redis.from_url(redis_url), Redis.from_url(redis_url)
    in_one_minute()
    try:
        taken = [await counts.take(limited) for counts in (RequestCounts(one), RequestCounts(two)) * 2]
        seen = await RequestCounts(one).counts([limited])
    finally:
        await one.aclose()
        await two.aclose()

    assert taken == [True, True, True, False]
    assert seen == [4]


async def test_a_deployment_whose_answers_used_its_tpm_is_known_out_of_tokens_at_once() -> None:
    counts, limited = RequestCounts(), deployment(tpm=500)
    in_one_minute()

    counts.add_tokens(limited, 282)
    under = not counts.out_of_tokens(limited) and await counts.take(limited, tpm=True)
    counts.add_tokens(limited, 282)

    assert under
    assert counts.out_of_tokens(limited)
    assert not await counts.take(limited, tpm=True)


async def test_two_processes_share_a_deployments_tokens_through_redis(redis_url: str) -> None:
    limited = deployment(tpm=500)
    one, two = Redis.from_url(redis_url), Redis.from_url(redis_url)
    in_one_minute()
    try:
        first, second = RequestCounts(one), RequestCounts(two)
        first.add_tokens(limited, 282)
        second.add_tokens(limited, 282)
        await first.flush()
        await second.flush()
        taken = await RequestCounts(one).take(limited, tpm=True)
        seen = RequestCounts(two)
        await seen.counts([limited])
    finally:
        await one.aclose()
        await two.aclose()

    assert taken is False
    assert seen.out_of_tokens(limited)


async def test_without_an_answer_from_redis_requests_are_counted_in_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    counts, limited = RequestCounts(unreachable), deployment(rpm=1)
    in_one_minute()
    try:
        with caplog.at_level(logging.WARNING, logger="imagegen.proxy"):
            taken = [await counts.take(limited) for _ in range(2)]
    finally:
        await unreachable.aclose()

    assert taken == [True, False]
    assert "deployment rpm and tpm limits are counted in this process" in caplog.text
