"""Per-key counters that limits are checked against: requests this minute, and spend this budget period.

`LocalCounters` keeps them in this process (each worker alone: the proxy warns when workers > 1);
`RedisCounters` keeps them in Redis with atomic INCR / INCRBYFLOAT, so every replica shares them.
Rate limits use fixed one-minute windows, as LiteLLM's do.

Spend is counted in the budget period the request was admitted in, named by the period's end (the
key's `budget_reset_at`; None for a key without `budget_duration`, or when not known). Spend of a
period that has ended and been replaced by a new one no longer counts, on any worker or replica.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from .store import KeyRecord

SPEND_TTL_SECONDS = 86400  # an idle key's shared spend is re-read from the database after a day
_NAMESPACE = "imagegen"


@dataclass(frozen=True)
class Usage:
    """A key's counters as one request sees them: spend so far, and requests this minute including it."""

    spend: float
    requests_this_minute: int
    seconds_to_next_minute: int


SpendKey = tuple[str, datetime | None]  # a key's hash, and the budget period (its end) the spend belongs to


def _minute(now: float) -> tuple[int, int]:
    return int(now // 60), 60 - int(now % 60)


def period_over(period: datetime | None, now: datetime) -> bool:
    """Whether spend counted in `period` may belong to a period since replaced (once it ended, a new
    one starts at the key's next request; an admin change of a period still running keeps its spend)."""
    return period is not None and period <= now


class Counters(Protocol):
    async def count_request(self, record: KeyRecord) -> Usage:
        """Count one request of the key and say where its limits stand."""

    async def add_spend(self, token: str, amount: float, period: datetime | None) -> None:
        """Count `amount` of spend in the budget period ending at `period`."""

    async def set_spend(self, token: str, amount: float) -> None:
        """The key's spend is now `amount` (a new budget period, an admin update)."""

    def spend_flushed(self, amounts: Mapping[SpendKey, float]) -> None:
        """These amounts were added to their keys' spend in the database (a record read now includes them)."""

    async def forget(self, token: str) -> None: ...


class LocalCounters:
    """Counters in this process. Spend = the cached record's (database) spend + what this process added since.

    Unwritten spend is kept per budget period, so that when another worker starts a new period, the
    spend this worker counted in the old one stops counting here too (the database drops it as well).
    """

    def __init__(self) -> None:
        self._requests: dict[str, tuple[int, int]] = {}
        self._unflushed: dict[str, dict[datetime | None, float]] = {}

    async def count_request(self, record: KeyRecord) -> Usage:
        minute, remaining = _minute(time.time())
        window, count = self._requests.get(record.token, (minute, 0))
        count = count + 1 if window == minute else 1
        self._requests[record.token] = (minute, count)
        return Usage(record.spend + self._unflushed_in_period(record), count, remaining)

    def _unflushed_in_period(self, record: KeyRecord) -> float:
        by_period = self._unflushed.get(record.token)
        if not by_period:
            return 0.0
        now = datetime.now(UTC)
        for period in [p for p in by_period if p != record.budget_reset_at and period_over(p, now)]:
            del by_period[period]  # a previous period's: it will not be added to the new period's spend
        return sum(by_period.values())

    async def add_spend(self, token: str, amount: float, period: datetime | None) -> None:
        by_period = self._unflushed.setdefault(token, {})
        by_period[period] = by_period.get(period, 0.0) + amount

    async def set_spend(self, token: str, amount: float) -> None:
        self._unflushed.pop(token, None)

    def spend_flushed(self, amounts: Mapping[SpendKey, float]) -> None:
        for (token, period), amount in amounts.items():
            by_period = self._unflushed.get(token)
            if by_period is None or period not in by_period:
                continue
            left = by_period[period] - amount
            if left > 1e-12:
                by_period[period] = left
            else:
                del by_period[period]
                if not by_period:
                    del self._unflushed[token]

    async def forget(self, token: str) -> None:
        self._requests.pop(token, None)
        self._unflushed.pop(token, None)


class RedisCounters:
    """Counters shared by every replica through Redis; one pipelined round trip per request."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    @staticmethod
    def _spend_key(token: str) -> str:
        return f"{_NAMESPACE}:spend:{token}"

    async def count_request(self, record: KeyRecord) -> Usage:
        minute, remaining = _minute(time.time())
        spend_key = self._spend_key(record.token)
        requests_key = f"{_NAMESPACE}:rpm:{record.token}:{minute}"
        pipe = self._redis.pipeline(transaction=False)
        # The database's spend seeds the shared counter the first time any replica sees the key.
        pipe.set(spend_key, repr(record.spend), nx=True, ex=SPEND_TTL_SECONDS)
        pipe.get(spend_key)
        pipe.incr(requests_key)
        pipe.expire(requests_key, 120)
        _, spend, count, _ = await pipe.execute()
        return Usage(float(spend or 0.0), int(count), remaining)

    async def add_spend(self, token: str, amount: float, period: datetime | None) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.incrbyfloat(self._spend_key(token), amount)
        pipe.expire(self._spend_key(token), SPEND_TTL_SECONDS)
        await pipe.execute()

    async def set_spend(self, token: str, amount: float) -> None:
        await self._redis.set(self._spend_key(token), repr(amount), ex=SPEND_TTL_SECONDS)

    def spend_flushed(self, amounts: Mapping[SpendKey, float]) -> None:
        pass  # the shared counter already includes them

    async def forget(self, token: str) -> None:
        await self._redis.delete(self._spend_key(token))
