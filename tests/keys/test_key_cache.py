"""The key cache never brings back a key that changed while it was being read."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from imagegen_proxy.keys.cache import KeyCache
from imagegen_proxy.keys.store import KeyRecord

pytestmark = pytest.mark.anyio


class Database:
    """Keys by hash, standing in for the keys table; `paused()` holds the next read after it read."""

    def __init__(self, token: str) -> None:
        self.records: dict[str, KeyRecord] = {token: KeyRecord(token=token, key_name="sk-...abcd")}
        self.reads = 0
        self.read_done = asyncio.Event()
        self.release = asyncio.Event()

    async def load(self, token: str) -> KeyRecord | None:
        self.reads += 1
        return self.records.get(token)

    async def paused_load(self, token: str) -> KeyRecord | None:
        record = await self.load(token)
        self.read_done.set()
        await self.release.wait()  # the read is done; the key changes before the lookup caches it
        return record


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def token() -> str:
    return f"test-{uuid.uuid4().hex}"


async def lookup_racing_a_delete(reader: KeyCache, deleter: KeyCache, database: Database, token: str) -> None:
    """`reader` reads the key; `deleter` deletes and invalidates it; then `reader` finishes its lookup."""
    lookup = asyncio.create_task(reader.lookup(token, database.paused_load))
    await database.read_done.wait()
    del database.records[token]
    await deleter.invalidate(token)
    database.release.set()
    assert await lookup is not None  # it read the key before the delete: that much is fine


async def test_a_lookup_racing_a_delete_does_not_share_the_deleted_key_with_other_replicas(
    redis: Redis, token: str
) -> None:
    reader, deleter, other = KeyCache(3, redis), KeyCache(3, redis), KeyCache(3, redis)
    database = Database(token)
    try:
        await lookup_racing_a_delete(reader, deleter, database, token)
        assert await other.lookup(token, database.load) is None
    finally:
        await redis.delete(f"imagegen:key:{token}", f"imagegen:keyversion:{token}")


async def test_an_invalidation_during_a_lookup_is_not_undone_by_it(token: str) -> None:
    cache = KeyCache(60)  # one process, no Redis: the invalidation is a local drop
    database = Database(token)
    await lookup_racing_a_delete(cache, cache, database, token)
    assert await cache.lookup(token, database.load) is None
    assert database.reads == 2


async def test_a_lookup_shares_the_key_so_other_replicas_do_not_read_the_database(redis: Redis, token: str) -> None:
    first, second = KeyCache(3, redis), KeyCache(3, redis)
    database = Database(token)
    try:
        await first.lookup(token, database.load)
        await first.invalidate(token)  # a version now exists: sharing must still work after one
        await first.lookup(token, database.load)
        found = await second.lookup(token, database.load)
        await second.lookup(token, database.load)
    finally:
        await redis.delete(f"imagegen:key:{token}", f"imagegen:keyversion:{token}")
    assert found is not None
    assert found.token == token
    assert database.reads == 2  # once by the first replica, again after its invalidation; never by the second
