"""Recent key (and team, end user) lookups, so that authenticating a request costs no database round trip.

Each process keeps lookups (found or not) for a few seconds. With Redis, lookups are also shared
between replicas, and a changed or deleted key is announced on a pub/sub channel so that every
replica drops it at once; without Redis, other workers see the change when their entry expires.

A lookup that reads the database can race a change of the key: it reads the old record, the key
changes and is invalidated, then the lookup caches what it read. Two generation counters stop it
from caching a stale record: in Redis, invalidating a key INCRs its version, and the shared entry is
written (by a Lua script, atomically) only if the version is still the one read before the database;
in the process, an invalidation arriving during a lookup bumps that lookup's generation, and the
lookup then returns its record without remembering it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .store import KEYS, Holders, from_json, to_json

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("imagegen.proxy")

_SHARED_TTL_SECONDS = 60
_VERSION_TTL_SECONDS = 3600  # far longer than any lookup takes, so a version never vanishes under one
_NOT_FOUND = b"-"
_RESUBSCRIBE_SECONDS = 0.5
_MAX_RESUBSCRIBE_SECONDS = 10.0

# KEYS: the shared entry, the key's version. ARGV: the entry, the version read before the database
# ("" for none), its TTL. Writes the entry only if no invalidation happened since that version was read.
_SET_IF_VERSION_UNCHANGED = """
if (redis.call('GET', KEYS[2]) or '') == ARGV[2] then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
    return 1
end
return 0
"""


class _Load:
    """The lookups of one key that are reading it now, and how many invalidations arrived meanwhile."""

    __slots__ = ("generation", "lookups")

    def __init__(self) -> None:
        self.lookups = 0
        self.generation = 0


class KeyCache:
    """A TTL cache of `id → record | None` (keys by token, or teams, or end users), bounded in size, optionally
    backed by Redis. The last record found for each id is also kept (`last_known`), for when the database is
    unreachable."""

    def __init__(
        self, ttl: float, redis: Redis | None = None, max_entries: int = 10_000, holders: Holders = KEYS
    ) -> None:
        self.ttl = ttl
        self._redis = redis
        self._max_entries = max_entries
        self._holders = holders
        self._kind = holders.table.name.removeprefix("imagegen_").removesuffix("s")  # key, team, end_user
        self._channel = f"imagegen:{self._kind}s:invalidate"
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._last_known: OrderedDict[str, Any] = OrderedDict()
        self._unannounced: set[str] = set()  # changed while Redis was unreachable
        self._loads: dict[str, _Load] = {}  # only keys being looked up now, so it stays small
        self._listener: asyncio.Task[None] | None = None
        self._set_if_version_unchanged = redis.register_script(_SET_IF_VERSION_UNCHANGED) if redis is not None else None

    async def start(self) -> None:
        if self._redis is not None:
            self._listener = asyncio.create_task(self._listen(), name=f"imagegen-{self._kind}-invalidation")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def _listen(self) -> None:
        """Drop what other replicas announce changed; while Redis is away, retry (entries still expire after `ttl`)."""
        assert self._redis is not None
        pause = _RESUBSCRIBE_SECONDS
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._entries.clear()  # changes announced while unsubscribed were missed
                for token in list(self._unannounced):  # and changes made here were not announced
                    await self.invalidate(token)
                pause = _RESUBSCRIBE_SECONDS
                async for message in pubsub.listen():
                    data = message.get("data")
                    if isinstance(data, bytes):
                        self.drop_local(data.decode())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning(
                    "%s invalidation channel lost (%s); changes spread within %ss until Redis answers again",
                    self._kind, type(exc).__name__, self.ttl,
                )  # fmt: skip
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
            await asyncio.sleep(pause)
            pause = min(pause * 2, _MAX_RESUBSCRIBE_SECONDS)

    async def lookup(self, token: str, load: Callable[[str], Awaitable[Any]]) -> Any:
        """The record `token`, from this process, else Redis, else `load` (the database)."""
        entry = self._entries.get(token)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        pending = self._loads.setdefault(token, _Load())
        pending.lookups += 1
        generation = pending.generation
        try:
            record = await (self._shared(token, load) if self._redis is not None else load(token))
            if pending.generation == generation:  # else the key changed while it was read: don't keep it
                self._remember(token, record)
            return record
        finally:
            pending.lookups -= 1
            if not pending.lookups:
                del self._loads[token]

    async def _shared(self, token: str, load: Callable[[str], Awaitable[Any]]) -> Any:
        """The key from Redis, else from `load`, then shared unless it was invalidated meanwhile."""
        assert self._redis is not None
        assert self._set_if_version_unchanged is not None
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(self._shared_key(token))
        pipe.get(self._version_key(token))
        try:
            shared, version = await pipe.execute()
        except Exception as exc:  # Redis is away: the database alone, as without Redis
            logger.warning("%s cache in Redis unreachable (%s); read from the database", self._kind, type(exc).__name__)
            return await load(token)
        if shared is not None:
            return None if shared == _NOT_FOUND else from_json(self._holders.record, shared)
        record = await load(token)
        value = to_json(record) if record is not None else _NOT_FOUND
        with contextlib.suppress(Exception):  # not shared this time; the next lookup tries again
            await self._set_if_version_unchanged(
                keys=[self._shared_key(token), self._version_key(token)],
                args=[value, version if version is not None else b"", _SHARED_TTL_SECONDS],
            )
        return record

    def _remember(self, token: str, record: Any) -> None:
        self._entries[token] = (time.monotonic() + self.ttl, record)
        self._entries.move_to_end(token)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        if record is None:
            self._last_known.pop(token, None)
            return
        self._last_known[token] = record
        self._last_known.move_to_end(token)
        while len(self._last_known) > self._max_entries:
            self._last_known.popitem(last=False)

    def last_known(self, token: str) -> Any:
        """The record as last read (None if never found, or found gone): what to go on while the database is away."""
        return self._last_known.get(token)

    def drop_local(self, token: str) -> None:
        self._entries.pop(token, None)
        if (pending := self._loads.get(token)) is not None:
            pending.generation += 1

    async def invalidate(self, token: str) -> None:
        """Forget `token` here and, with Redis, on every replica."""
        self.drop_local(token)
        if self._redis is not None:
            pipe = self._redis.pipeline(transaction=True)
            pipe.incr(self._version_key(token))  # first, so that no lookup under way shares what it read
            pipe.expire(self._version_key(token), _VERSION_TTL_SECONDS)
            pipe.delete(self._shared_key(token))
            pipe.publish(self._channel, token)
            try:
                await pipe.execute()
                self._unannounced.discard(token)
            except Exception as exc:  # announced once Redis answers again (see _listen)
                self._unannounced.add(token)
                logger.warning(
                    "could not announce a changed %s through Redis (%s): announced when Redis answers again",
                    self._kind, type(exc).__name__,
                )  # fmt: skip

    def _shared_key(self, token: str) -> str:
        return f"imagegen:{self._kind}:{token}"

    def _version_key(self, token: str) -> str:
        return f"imagegen:{self._kind}version:{token}"
