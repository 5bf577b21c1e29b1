"""Requests per minute of each subject (a key, a team, an end user), counted against their `rpm_limit`.

`LocalCounters` counts in this process (each worker alone: the proxy warns when workers > 1);
`RedisCounters` in Redis with an atomic INCR, so every replica shares them. Fixed one-minute windows,
as LiteLLM's. Spend and reservations are the ledger's (see `ledger`).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

SpendKey = tuple[str, datetime | None]  # a subject (key:<token>…), and the budget period (its end) spend belongs to


def minute_now() -> tuple[int, int]:
    """This minute's number, and the seconds to the next one."""
    now = time.time()
    return int(now // 60), 60 - int(now % 60)


def period_over(period: datetime | None, now: datetime) -> bool:
    """Whether spend counted in `period` may belong to a period since replaced (once it ended, a new
    one starts at the subject's next request; an admin change of a period still running keeps its spend)."""
    return period is not None and period <= now


class Counters(Protocol):
    async def count_request(self, subject: str, minute: int) -> int:
        """Count one request of `subject` in `minute`; returns its requests in that minute, this one included."""

    async def forget(self, subject: str) -> None: ...


class LocalCounters:
    """Counters in this process."""

    def __init__(self) -> None:
        self._requests: dict[str, tuple[int, int]] = {}

    async def count_request(self, subject: str, minute: int) -> int:
        window, count = self._requests.get(subject, (minute, 0))
        count = count + 1 if window == minute else 1
        self._requests[subject] = (minute, count)
        return count

    async def forget(self, subject: str) -> None:
        self._requests.pop(subject, None)


class RedisCounters:
    """Counters shared by every replica through Redis; one pipelined round trip per subject."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def count_request(self, subject: str, minute: int) -> int:
        requests_key = f"imagegen:rpm:{subject}:{minute}"
        pipe = self._redis.pipeline(transaction=False)
        pipe.incr(requests_key)
        pipe.expire(requests_key, 120)
        count, _ = await pipe.execute()
        return int(count)

    async def forget(self, subject: str) -> None:
        pass  # the minute's counter expires by itself
