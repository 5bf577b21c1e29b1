"""Several replicas on one database: limits and key changes hold across them (with Redis, at once)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from imagegen_proxy.access import RequestRecord
from imagegen_proxy.errors import ProxyError
from imagegen_proxy.keys import KeyAccess
from imagegen_proxy.keys.tokens import hash_key

from .test_key_access import Admin, running

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def replicas(database_url: str, redis_url: str, key_cache_ttl: float = 3.0) -> AsyncIterator[list[Admin]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(running(database_url, redis_url, key_cache_ttl)) for _ in range(2)]


async def eventually_refused(access: KeyAccess, key: str, within: float) -> ProxyError:
    deadline = time.monotonic() + within
    while True:
        try:
            await access.authenticate(key)
        except ProxyError as error:
            return error
        if time.monotonic() > deadline:
            pytest.fail(f"the key still worked after {within} s")
        await asyncio.sleep(0.02)


async def spent(access: KeyAccess, key: str, cost: float) -> None:
    caller = await access.admit(await access.authenticate(key), "dall-e-3")
    access.record(RequestRecord(caller, "dall-e-3", "openai/dall-e-3", "openai", 1, None, None, cost, 5.0, 200))


async def test_rpm_limit_holds_across_replicas_with_redis(postgres_url: str, redis_url: str) -> None:
    async with replicas(postgres_url, redis_url) as (one, two):
        key = await one.generate(rpm_limit=3)
        for admin in (one, two, one):
            await admin.access.admit(await admin.caller(key), "dall-e-3")
        with pytest.raises(ProxyError) as caught:
            await two.access.admit(await two.caller(key), "dall-e-3")
    assert caught.value.status == 429


async def test_budget_holds_across_replicas_with_redis(postgres_url: str, redis_url: str) -> None:
    async with replicas(postgres_url, redis_url) as (one, two):
        key = await one.generate(max_budget=0.05)
        await spent(one.access, key, 0.08)  # admitted at its worst-case price, 0.04; it cost more
        await asyncio.sleep(0.05)  # the cost is settled in Redis off the response path
        with pytest.raises(ProxyError) as caught:
            await two.access.admit(await two.caller(key), "dall-e-3")
    assert caught.value.type == "budget_exceeded"


async def test_deleted_key_stops_on_every_replica_with_redis(postgres_url: str, redis_url: str) -> None:
    async with replicas(postgres_url, redis_url) as (one, two):
        key = await one.generate()
        await two.caller(key)  # now cached on the second replica
        await one.call("POST", "/key/delete", json={"keys": [key]})
        error = await eventually_refused(two.access, key, within=1.0)
    assert error.status == 401


async def test_updated_key_applies_on_every_replica_with_redis(postgres_url: str, redis_url: str) -> None:
    async with replicas(postgres_url, redis_url) as (one, two):
        key = await one.generate(models=["dall-e-3"])
        await two.access.admit(await two.caller(key), "dall-e-3")
        await one.call("POST", "/key/update", json={"key": key, "models": ["gpt-image-1"]})
        await asyncio.sleep(0.2)
        with pytest.raises(ProxyError) as caught:
            await two.access.admit(await two.caller(key), "dall-e-3")
    assert caught.value.status == 403


async def test_without_redis_a_deleted_key_stops_on_other_workers_within_the_cache_ttl(postgres_url: str) -> None:
    async with replicas(postgres_url, redis_url="", key_cache_ttl=0.3) as (one, two):
        key = await one.generate()
        await two.caller(key)  # now cached on the second worker
        await one.call("POST", "/key/delete", json={"keys": [key]})
        started = time.monotonic()
        error = await eventually_refused(two.access, key, within=2.0)
    assert error.status == 401
    assert time.monotonic() - started <= 1.0


async def test_without_redis_spend_of_an_ended_budget_period_does_not_count_on_the_other_worker(
    sqlite_url: str,
) -> None:
    async with replicas(sqlite_url, redis_url="") as (one, two):
        key = await one.generate(max_budget=0.1, budget_duration="30d")
        token = hash_key(key)
        period_end = datetime.now(UTC) + timedelta(milliseconds=100)  # as if 30 days had almost passed
        await one.access.store.update(token, {"budget_reset_at": period_end})
        await spent(two.access, key, 0.2)  # answered on the second worker, not written yet
        await asyncio.sleep(0.15)  # the period ends
        await spent(one.access, key, 0.0)  # the first worker starts the new period
        await one.access.spend_writer.flush()
        await two.access.spend_writer.flush()
        await two.access.forget(token)  # the second worker's cached record expires
        await two.access.admit(await two.caller(key), "dall-e-3")
        info = (await one.call("GET", "/key/info", params={"key": key})).json()["info"]
        logs = (await one.call("GET", "/spend/logs", params={"api_key": key})).json()
    assert info["spend"] == 0
    assert sorted(row["spend"] for row in logs) == [0.0, 0.2]  # logged, but counted in the period it was spent in
