"""Requests and tokens each deployment took this minute, counted against its `rpm` and `tpm`: in this
process, or through Redis.

Windows are fixed minutes of the wall clock (as LiteLLM's and the keys' limits), so replicas agree on
them. With Redis, every replica counts in the same key with INCR: of two replicas racing for a
deployment's last request of the minute, exactly one gets it. Tokens are known only once an answer is
made, so they are added afterwards (INCRBY) and a deployment is skipped once they reach its `tpm`. What
this process last saw is kept, so a deployment known to be full is skipped without asking Redis again this
minute. When Redis does not answer, requests are counted in this process (with a warning) and Redis is
tried again a few seconds later. A deployment's keys hold its id and a digest of its id and endpoint:
replicas serving the same config share them, other proxies sharing the Redis (another config with the
same `dall-e-3#1`) do not.
"""

from __future__ import annotations

import asyncio
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
    """This minute's request and token counts of the deployments, shared through `redis` when given."""

    def __init__(self, redis: Redis | None = None) -> None:
        self._redis = redis
        self._redis_down_until = 0.0
        self._seen: dict[str, tuple[int, int]] = {}  # deployment id → (minute, its requests as last seen)
        self._tokens_seen: dict[str, tuple[int, int]] = {}  # deployment id → (minute, its tokens as last seen)
        self._keys: dict[str, str] = {}  # deployment id → its keys' prefix
        self._sharing: set[asyncio.Task[None]] = set()  # tokens being added in Redis

    def full(self, deployment: Deployment) -> bool:
        """Whether the deployment is known to have reached its `rpm` this minute (no call to Redis)."""
        return deployment.rpm is not None and self._count(deployment.id, current_minute()[0]) >= deployment.rpm

    def out_of_tokens(self, deployment: Deployment) -> bool:
        """Whether the deployment is known to have used its `tpm` this minute (no call to Redis)."""
        minute = current_minute()[0]
        return deployment.tpm is not None and _this_minute(self._tokens_seen, deployment.id, minute) >= deployment.tpm

    async def take(self, deployment: Deployment, *, tpm: bool = False) -> bool:
        """Count one request of the deployment; False (and it is not to be called) if that is over its `rpm`,
        or, with `tpm`, if its tokens this minute have reached its `tpm`."""
        minute, _ = current_minute()
        with_tokens = tpm and deployment.tpm is not None
        count, tokens = await self._incremented(deployment, minute, with_tokens)
        self._seen[deployment.id] = (minute, count)
        if tokens is not None:
            self._note_tokens(deployment.id, minute, tokens)
        return (deployment.rpm is None or count <= deployment.rpm) and not (
            with_tokens and self.out_of_tokens(deployment)
        )

    def add_tokens(self, deployment: Deployment, tokens: int) -> None:
        """Count the tokens an answer of the deployment used (known once it is made): in this process at once,
        and in Redis in the background (the answer is on its way to the client already)."""
        minute, _ = current_minute()
        self._note_tokens(deployment.id, minute, _this_minute(self._tokens_seen, deployment.id, minute) + tokens)
        if self._shared():
            task = asyncio.get_running_loop().create_task(self._share_tokens(deployment, minute, tokens))
            self._sharing.add(task)
            task.add_done_callback(self._sharing.discard)

    async def flush(self) -> None:
        """Wait for the tokens still being added in Redis."""
        await asyncio.gather(*self._sharing, return_exceptions=True)

    async def _share_tokens(self, deployment: Deployment, minute: int, tokens: int) -> None:
        assert self._redis is not None
        key = self._tokens_key(deployment, minute)
        try:
            pipeline = self._redis.pipeline(transaction=False)
            pipeline.incrby(key, tokens)
            pipeline.expire(key, _WINDOW_TTL_SECONDS)
            total, _ = await pipeline.execute()
        except Exception as exc:
            self._redis_failed(exc)
        else:
            self._note_tokens(deployment.id, minute, int(total))

    def _note_tokens(self, deployment_id: str, minute: int, tokens: int) -> None:
        """What is known of a deployment's tokens this minute; they only grow, so a stale read never lowers it."""
        self._tokens_seen[deployment_id] = (minute, max(tokens, _this_minute(self._tokens_seen, deployment_id, minute)))

    async def counts(self, deployments: Sequence[Deployment]) -> list[int]:
        """The deployments' requests this minute (one MGET with Redis, which also reads their tokens)."""
        minute, _ = current_minute()
        if self._shared():
            assert self._redis is not None
            keys = [self._key(d, minute) for d in deployments] + [self._tokens_key(d, minute) for d in deployments]
            try:
                values = await self._redis.mget(keys)
            except Exception as exc:
                self._redis_failed(exc)
            else:
                for deployment, requests, tokens in zip(
                    deployments, values[: len(deployments)], values[len(deployments) :], strict=True
                ):
                    self._seen[deployment.id] = (minute, int(requests or 0))
                    self._note_tokens(deployment.id, minute, int(tokens or 0))
        return [self._count(d.id, minute) for d in deployments]

    async def _incremented(self, deployment: Deployment, minute: int, with_tokens: bool) -> tuple[int, int | None]:
        """The deployment's requests this minute, this one counted; and its tokens, when asked for and shared."""
        if self._shared():
            assert self._redis is not None
            key = self._key(deployment, minute)
            try:
                pipeline = self._redis.pipeline(transaction=False)
                pipeline.incr(key)
                pipeline.expire(key, _WINDOW_TTL_SECONDS)
                if with_tokens:
                    pipeline.get(self._tokens_key(deployment, minute))
                count, _, *tokens = await pipeline.execute()
                return int(count), int(tokens[0] or 0) if tokens else None
            except Exception as exc:
                self._redis_failed(exc)
        return self._count(deployment.id, minute) + 1, None

    def _key(self, deployment: Deployment, minute: int) -> str:
        prefix = self._keys.get(deployment.id)
        if prefix is None:
            endpoint = f"{deployment.id}\0{deployment.params.get('api_base') or ''}"
            digest = hashlib.blake2b(endpoint.encode(), digest_size=6).hexdigest()
            prefix = self._keys[deployment.id] = f"{_NAMESPACE}:{deployment.id}:{digest}"
        return f"{prefix}:{minute}"

    def _tokens_key(self, deployment: Deployment, minute: int) -> str:
        return f"{self._key(deployment, minute)}:tokens"

    def _count(self, deployment_id: str, minute: int) -> int:
        return _this_minute(self._seen, deployment_id, minute)

    def _shared(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._redis_down_until

    def _redis_failed(self, exc: Exception) -> None:
        self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
        logger.warning(
            "Redis did not answer (%s): deployment rpm and tpm limits are counted in this process for the next %g s",
            type(exc).__name__, REDIS_RETRY_SECONDS,
        )  # fmt: skip


def _this_minute(seen: dict[str, tuple[int, int]], deployment_id: str, minute: int) -> int:
    last = seen.get(deployment_id)
    return last[1] if last is not None and last[0] == minute else 0
