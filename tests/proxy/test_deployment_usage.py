"""Deployments' request counts against their `rpm`, per process and shared through Redis (in-process)."""

from __future__ import annotations

import logging
import secrets

import pytest
from redis.asyncio import Redis

from imagegen_proxy.config import Deployment
from imagegen_proxy.deployment_usage import RequestCounts

from .conftest import in_one_minute

pytestmark = pytest.mark.anyio


def deployment(rpm: int | None) -> Deployment:
    return Deployment(f"d-{secrets.token_hex(4)}", "images", "openai/dall-e-2", "openai", "image",
                      {"api_base": "http://127.0.0.1:9/v1"}, rpm=rpm)  # fmt: skip


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
    assert "deployment rpm limits are counted in this process" in caplog.text
