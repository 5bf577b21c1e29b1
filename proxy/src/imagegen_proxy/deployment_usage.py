"""Requests each deployment took this minute, counted against its `rpm`: in this process, or through Redis.

Windows are fixed minutes of the wall clock (as LiteLLM's and the keys' limits), so replicas agree on
them. With Redis, every replica counts in the same key with INCR: of two replicas racing for a
deployment's last request of the minute, exactly one gets it. What this process last saw is kept, so a
deployment known to be full is skipped without asking Redis again this minute. When Redis does not
answer, requests are counted in this process (with a warning) and Redis is tried again a few seconds later.
A deployment's key holds its id and a digest of its id and endpoint: replicas serving the same config share
it, other proxies sharing the Redis (another config with the same `dall-e-3#1`) do not.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from .config import Deployment

logger = logging.getLogger("imagegen.proxy")

_NAMESPACE = "imagegen:deployment-rpm"
_WINDOW_TTL_SECONDS = 120  # a minute's key outlives its minute, for replicas whose clocks differ a little
REDIS_RETRY_SECONDS = 5.0
"""After Redis failed to answer, requests are counted in this process for this long before it is tried again."""


def current_minute() -> tuple[int, int]:
    """The minute of the wall clock (its number since the epoch), and the seconds until the next one starts."""
    now = time.time()
    return int(now // 60), 60 - int(now % 60)


class RequestCounts:
    """This minute's request counts of the deployments, shared through `redis` when given."""

    def __init__(self, redis: Redis | None = None) -> None:
        self._redis = redis
        self._redis_down_until = 0.0
        self._seen: dict[str, tuple[int, int]] = {}  # deployment id → (minute, its count as last seen)
        self._keys: dict[str, str] = {}  # deployment id → its keys' prefix

    def full(self, deployment: Deployment) -> bool:
        """Whether the deployment is known to have reached its `rpm` this minute (no call to Redis)."""
        return deployment.rpm is not None and self._count(deployment.id, current_minute()[0]) >= deployment.rpm

    async def take(self, deployment: Deployment) -> bool:
        """Count one request of the deployment; False (and it is not to be called) if that is over its `rpm`."""
        minute, _ = current_minute()
        count = await self._incremented(deployment, minute)
        self._seen[deployment.id] = (minute, count)
        return deployment.rpm is None or count <= deployment.rpm

    async def counts(self, deployments: Sequence[Deployment]) -> list[int]:
        """The deployments' requests this minute (one MGET with Redis)."""
        minute, _ = current_minute()
        if self._shared():
            assert self._redis is not None
            try:
                values = await self._redis.mget([self._key(d, minute) for d in deployments])
            except Exception as exc:
                self._redis_failed(exc)
            else:
                for deployment, value in zip(deployments, values, strict=True):
                    self._seen[deployment.id] = (minute, int(value or 0))
        return [self._count(d.id, minute) for d in deployments]

    async def _incremented(self, deployment: Deployment, minute: int) -> int:
        if self._shared():
            assert self._redis is not None
            key = self._key(deployment, minute)
            try:
                pipeline = self._redis.pipeline(transaction=False)
                pipeline.incr(key)
                pipeline.expire(key, _WINDOW_TTL_SECONDS)
                count, _ = await pipeline.execute()
                return int(count)
            except Exception as exc:
                self._redis_failed(exc)
        return self._count(deployment.id, minute) + 1

    def _key(self, deployment: Deployment, minute: int) -> str:
        prefix = self._keys.get(deployment.id)
        if prefix is None:
            endpoint = f"{deployment.id}\0{deployment.params.get('api_base') or ''}"
            digest = hashlib.blake2b(endpoint.encode(), digest_size=6).hexdigest()
            prefix = self._keys[deployment.id] = f"{_NAMESPACE}:{deployment.id}:{digest}"
        return f"{prefix}:{minute}"

    def _count(self, deployment_id: str, minute: int) -> int:
        seen = self._seen.get(deployment_id)
        return seen[1] if seen is not None and seen[0] == minute else 0

    def _shared(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._redis_down_until

    def _redis_failed(self, exc: Exception) -> None:
        self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
        logger.warning(
            "Redis did not answer (%s): deployment rpm limits are counted in this process for the next %g s",
            type(exc).__name__, REDIS_RETRY_SECONDS,
        )  # fmt: skip
