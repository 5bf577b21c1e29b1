"""Recent key lookups, so that authenticating a request costs no database round trip.

Each process keeps lookups (found or not) for a few seconds. With Redis, lookups are also shared
between replicas, and a changed or deleted key is announced on a pub/sub channel so that every
replica drops it at once; without Redis, other workers see the change when their entry expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .store import KeyRecord

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

logger = logging.getLogger("imagegen.proxy")

INVALIDATION_CHANNEL = "imagegen:keys:invalidate"
_SHARED_TTL_SECONDS = 60
_NOT_FOUND = b"-"


class KeyCache:
    """A TTL cache of `token → KeyRecord | None`, bounded in size, optionally backed by Redis."""

    def __init__(self, ttl: float, redis: Redis | None = None, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self._redis = redis
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, KeyRecord | None]] = OrderedDict()
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._redis is not None:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(INVALIDATION_CHANNEL)
            self._listener = asyncio.create_task(self._listen(pubsub), name="imagegen-key-invalidation")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def _listen(self, pubsub: PubSub) -> None:
        try:
            async for message in pubsub.listen():
                data = message.get("data")
                if isinstance(data, bytes):
                    self.drop_local(data.decode())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # entries still expire after `ttl`, so this only slows invalidation
            logger.warning("key invalidation channel lost (%s); key changes now spread within %ss", exc, self.ttl)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py

    async def lookup(self, token: str, load: Callable[[str], Awaitable[KeyRecord | None]]) -> KeyRecord | None:
        """The key `token`, from this process, else Redis, else `load` (the database)."""
        entry = self._entries.get(token)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        record: KeyRecord | None
        shared = await self._redis.get(self._shared_key(token)) if self._redis is not None else None
        if shared is not None:
            record = None if shared == _NOT_FOUND else KeyRecord.from_json(shared)
        else:
            record = await load(token)
            if self._redis is not None:
                value = record.to_json() if record is not None else _NOT_FOUND
                await self._redis.set(self._shared_key(token), value, ex=_SHARED_TTL_SECONDS)
        self._remember(token, record)
        return record

    def _remember(self, token: str, record: KeyRecord | None) -> None:
        self._entries[token] = (time.monotonic() + self.ttl, record)
        self._entries.move_to_end(token)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def drop_local(self, token: str) -> None:
        self._entries.pop(token, None)

    async def invalidate(self, token: str) -> None:
        """Forget `token` here and, with Redis, on every replica."""
        self.drop_local(token)
        if self._redis is not None:
            pipe = self._redis.pipeline(transaction=False)
            pipe.delete(self._shared_key(token))
            pipe.publish(INVALIDATION_CHANNEL, token)
            await pipe.execute()

    @staticmethod
    def _shared_key(token: str) -> str:
        return f"imagegen:key:{token}"
