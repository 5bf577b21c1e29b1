"""PostgreSQL or Redis unreachable under load (cut by a TCP relay, the services keep running).

The database: keys that cannot be checked get a 503 naming the cause, unless
`allow_requests_on_db_unavailable`, when keys checked before keep working with budgets from the last
known spend. Either way, every answered request's spend row is written once the database is back.
Redis: limits are counted by each replica alone (a warning and a metric), or refused with
`redis_required`; shared spend is re-read from the database once Redis answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from sqlalchemy.engine import make_url

from imagegen_proxy.access import RequestRecord
from imagegen_proxy.errors import ProxyError
from imagegen_proxy.keys.ledger import RedisLedger
from imagegen_proxy.keys.tokens import hash_key

from .conftest import POSTGRES_PORT
from .cuttable import CuttableRelay, cuttable
from .test_key_access import Admin, running

pytestmark = pytest.mark.anyio

OUTAGE_SECONDS = 10.0
REQUEST_EVERY_SECONDS = 0.05


def through(url: str, relay: CuttableRelay) -> str:
    return make_url(url).set(port=relay.port).render_as_string(hide_password=False)


async def answer(admin: Admin, key: str, cost: float = 0.04) -> int:
    """One generation as the proxy makes it: authenticated, admitted, answered at `cost`, recorded; its status."""
    try:
        caller = await admin.access.admit(await admin.caller(key), "dall-e-3")
    except ProxyError as error:
        return error.status
    admin.access.record(RequestRecord(caller, "dall-e-3", "openai/dall-e-3", "openai", 1, None, None, cost, 5.0, 200))
    return 200


async def under_load(admin: Admin, key: str, seconds: float) -> list[int]:
    """Requests, one every REQUEST_EVERY_SECONDS, for `seconds`: their statuses."""
    statuses = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        statuses.append(await answer(admin, key))
        await asyncio.sleep(REQUEST_EVERY_SECONDS)
    return statuses


async def spend_rows(admin: Admin) -> int:
    await admin.access.spend_writer.flush()
    response = await admin.call("GET", "/spend/logs", params={"limit": 10_000})
    assert response.status_code == 200, response.text
    return len(response.json())


def degraded(admin: Admin, store: str) -> float:
    value = admin.access.metrics.registry.get_sample_value("imagegen_proxy_degraded_decisions_total", {"store": store})
    return value or 0.0


async def test_keys_get_a_clear_503_while_the_database_is_unreachable_and_every_answered_request_is_logged(
    postgres_url: str,
) -> None:
    async with cuttable(POSTGRES_PORT) as relay, running(through(postgres_url, relay), key_cache_ttl=0.1) as admin:
        key = await admin.generate(max_budget=100)
        before = [await answer(admin, key) for _ in range(5)]
        await relay.cut()
        during = await under_load(admin, key, OUTAGE_SECONDS)
        await relay.restore()
        after = [await answer(admin, key) for _ in range(5)]
        rows = await spend_rows(admin)
    assert before == after == [200] * 5
    assert set(during) == {503}
    assert rows == before.count(200) + during.count(200) + after.count(200)


async def test_the_503_says_the_database_is_unreachable_and_how_to_keep_serving(postgres_url: str) -> None:
    async with cuttable(POSTGRES_PORT) as relay, running(through(postgres_url, relay), key_cache_ttl=0.05) as admin:
        key = await admin.generate()
        await relay.cut()
        await asyncio.sleep(0.1)  # its cached lookup expires
        with pytest.raises(ProxyError) as caught:
            await admin.caller(key)
        await relay.restore()
    assert caught.value.status == 503
    assert "unreachable" in caught.value.message
    assert "allow_requests_on_db_unavailable" in caught.value.message


async def test_with_allow_requests_on_db_unavailable_checked_keys_keep_working_within_their_last_known_budget(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "imagegen.proxy")
    async with (
        cuttable(POSTGRES_PORT) as relay,
        running(through(postgres_url, relay), key_cache_ttl=0.1, allow_requests_on_db_unavailable=True) as admin,
    ):
        key = await admin.generate(max_budget=0.4)  # ten images
        never_checked = await admin.generate()
        before = [await answer(admin, key) for _ in range(2)]
        await admin.access.spend_writer.flush()
        await admin.caller(key)  # read again with its spend: the last known before the cut
        await relay.cut()
        during = await under_load(admin, key, OUTAGE_SECONDS)
        with pytest.raises(ProxyError) as unknown:
            await admin.caller(never_checked)
        await relay.restore()
        rows = await spend_rows(admin)
        info = (await admin.call("GET", "/key/info", params={"key": key})).json()["info"]
    assert before == [200, 200]
    assert during[:8] == [200] * 8  # the rest of the budget: eight images
    assert set(during[8:]) == {400}  # budget exceeded, counted from the last known spend
    assert unknown.value.status == 503
    assert rows == 10
    assert info["spend"] == pytest.approx(0.4)
    assert degraded(admin, "database") > 0
    assert "keys database is unreachable" in caplog.text
    assert "spend log: the database is unreachable" in caplog.text  # rows wait, bounded, with a warning


# -- Redis ---------------------------------------------------------------------------------------------


@asynccontextmanager
async def two_replicas(postgres_url: str, redis_url: str, **general: object) -> AsyncIterator[list[Admin]]:
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(running(postgres_url, redis_url, key_cache_ttl=0.1, **general))
            for _ in range(2)
        ]


async def shared_spend(admin: Admin, key: str) -> float | None:
    assert admin.access._redis is not None
    value = await admin.access._redis.get(RedisLedger.spend_key(f"key:{hash_key(key)}"))
    return None if value is None else float(value)


async def test_without_redis_limits_are_counted_per_replica_with_a_warning_then_shared_spend_resyncs(
    postgres_url: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "imagegen.proxy")
    async with cuttable(6379) as relay, two_replicas(postgres_url, f"redis://127.0.0.1:{relay.port}/0") as (one, two):
        key = await one.generate(max_budget=1, rpm_limit=100)
        assert await answer(one, key) == 200
        await relay.cut()
        assert await answer(two, key) == 200  # counted by this replica alone
        assert degraded(two, "redis") > 0
        await relay.restore()
        await one.access.spend_writer.flush()
        assert await answer(two, key) == 200  # Redis answers: the spend it missed is read from the database
        shared = await shared_spend(one, key)
    assert "Redis is unreachable" in caplog.text
    assert "read from the database" in caplog.text
    assert shared == pytest.approx(0.12)  # both replicas' 0.04 from before, and this request's


async def test_with_redis_required_limits_are_refused_while_redis_is_unreachable(
    postgres_url: str, redis_url: str
) -> None:
    async with (
        cuttable(6379) as relay,
        two_replicas(postgres_url, f"redis://127.0.0.1:{relay.port}/0", redis_required=True) as (one, _two),
    ):
        key = await one.generate(rpm_limit=100)
        await relay.cut()
        with pytest.raises(ProxyError) as caught:
            await one.access.admit(await one.caller(key), "dall-e-3")
        await relay.restore()
    assert caught.value.status == 503
    assert "Redis is unreachable" in caught.value.message
