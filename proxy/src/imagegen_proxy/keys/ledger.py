"""Reservations: a request's worst-case price (and its place in flight) held against every budget it is under.

Before a request goes upstream, `reserve` holds its worst-case price against each subject that bounds it
(its key, the key's team, its end user: `key:<token>`, `team:<id>`, `user:<id>`), and one place against
their `max_parallel_requests`; if any would go over, nothing is held and the request is refused. Once
the answer is priced the reservation is settled: the real cost is charged and the reservation let go,
atomically, so that at no moment does the request count in neither. So however many requests arrive at
once, on however many replicas, a budget is exceeded by at most the difference between the reserved and
the real prices of requests already admitted. A reservation left by a crash or a lost answer expires
after `RESERVATION_TTL_SECONDS`. No lock is held while a request waits on its upstream.

- `DatabaseLedger`: reservations are rows of `imagegen_reservations`; reserving is one transaction that
  locks the subjects' rows (PostgreSQL's `FOR UPDATE`, sorted by subject as every transaction locking
  several does: `locking_order`; SQLite's write lock) and reads their spend and unexpired reservations.
  Settling writes the real cost on the reservation (off the response path): from then on it counts that
  cost and no longer holds a place in flight; the spend writer's transaction that adds the cost deletes it.
- `RedisLedger`: shared by replicas; one Lua script reserves for every subject or for none, another
  settles (releases and charges the shared spend counter, seeded from the database).
- `MemoryLedger`: this process alone: exact for a single process on SQLite, and what the others fall
  back to while Redis (or, with `allow_requests_on_db_unavailable`, the database) is unreachable.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Delete, case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..errors import ProxyError
from .schema import reservations
from .store import SUBJECT_HOLDERS, KeyStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

RESERVATION_TTL_SECONDS = 900.0
"""How long a reservation holds without being settled: longer than any request may take (its retries and
fallbacks, and reading a streamed answer whose client left), short enough that a crashed replica's
reservations soon stop blocking a budget."""
_EPSILON = 1e-9  # ten 0.04 reservations add up to 0.4000000000000001: that fits a 0.40 budget


@dataclass(frozen=True)
class Hold:
    """One subject a request is held against: its limits, and its spend as the database last said."""

    subject: str  # key:<token>, team:<id>, user:<id>
    label: str  # how a refusal names it: "this key", "team 'search'", "end user 'u-1'"
    spend: float
    max_budget: float | None = None
    max_parallel: int | None = None
    budget_reset_at: datetime | None = None

    @property
    def limited(self) -> bool:
        return self.max_budget is not None or self.max_parallel is not None


@dataclass(frozen=True)
class Refusal:
    """Why a reservation did not fit: `hold`'s budget (with what it has spent and has reserved) or its places."""

    hold: Hold
    spent: float
    reserved: float
    budget: bool  # False: max_parallel_requests

    def error(self, amount: float) -> ProxyError:
        hold = self.hold
        if not self.budget:
            return ProxyError(
                429,
                f"too many requests at once: {hold.label} may have {hold.max_parallel} in flight "
                "(max_parallel_requests); retry when one finishes",
                code="max_parallel_requests_exceeded",
                headers={"retry-after": "1"},
            )
        assert hold.max_budget is not None
        resets = f"; it resets at {hold.budget_reset_at.isoformat()}" if hold.budget_reset_at else ""
        held = f" and ${self.reserved:.6g} is held by requests in flight" if self.reserved > _EPSILON else ""
        return ProxyError(
            400,
            f"budget exceeded: {hold.label} has spent ${self.spent:.6g} of its ${hold.max_budget:.6g} budget{held}; "
            f"this request may cost up to ${amount:.6g}{resets}",
            type="budget_exceeded",
            code="budget_exceeded",
        )


def refusal(hold: Hold, spent: float, reserved: float, in_flight: int, amount: float) -> Refusal | None:
    """Whether one more request of `amount` fits `hold`: None if it does."""
    if hold.max_budget is not None and spent + reserved + amount > hold.max_budget + _EPSILON:
        return Refusal(hold, spent, reserved, budget=True)
    if hold.max_budget is not None and amount == 0 and spent >= hold.max_budget:  # unpriced: as before, spend < budget
        return Refusal(hold, spent, reserved, budget=True)
    if hold.max_parallel is not None and in_flight >= hold.max_parallel:
        return Refusal(hold, spent, reserved, budget=False)
    return None


class Ledger(Protocol):
    async def reserve(self, reservation: str, holds: Sequence[Hold], amount: float) -> Refusal | None:
        """Hold `amount` and one place against every hold, or nothing and say which did not fit."""

    async def settle(self, reservation: str, holds: Sequence[Hold], cost: float) -> bool:
        """Charge `cost` and let the reservation go, if this ledger does it now; False: the spend writer does
        it when it writes the cost to the database (`release`)."""

    def release(self, reservations: Iterable[str]) -> None:
        """These reservations' costs reached the database."""

    async def set_spend(self, subject: str, amount: float) -> None:
        """A new budget period: the subject's spend is now `amount`, and requests in flight no longer count in it."""

    async def forget(self, subject: str) -> None:
        """The subject changed or was deleted: drop what this ledger caches of its spend (reservations in flight
        still count, and expire)."""


# -- in the database -------------------------------------------------------------------------------


class DatabaseLedger:
    """Reservations as rows, taken in one short transaction per request (see the module's docstring)."""

    def __init__(self, store: KeyStore, ttl: float = RESERVATION_TTL_SECONDS) -> None:
        self._store = store
        self._ttl = ttl

    async def reserve(self, reservation: str, holds: Sequence[Hold], amount: float) -> Refusal | None:
        now = datetime.now(UTC)
        engine = self._store.engine
        holds = locking_order(holds)
        async with engine.begin() as connection:
            if engine.dialect.name == "sqlite":
                await connection.exec_driver_sql("BEGIN IMMEDIATE")  # one writer at a time, across workers
            # Every subject's row is locked before anything else is read or written: always in the same order.
            spent = [await self._locked_spend(connection, hold) for hold in holds]
            for hold, spend in zip(holds, spent, strict=True):
                await connection.execute(_expired_of(hold.subject, now))
                not_expired = (reservations.c.subject == hold.subject, reservations.c.expires_at > now)
                held = select(
                    func.coalesce(func.sum(func.coalesce(reservations.c.cost, reservations.c.amount)), 0.0),
                    func.coalesce(func.sum(case((reservations.c.cost.is_(None), 1), else_=0)), 0),
                ).where(*not_expired)
                reserved, in_flight = (await connection.execute(held)).one()
                refused = refusal(hold, spend, float(reserved), int(in_flight), amount)
                if refused is not None:
                    await connection.rollback()
                    return refused
            expires = now + timedelta(seconds=self._ttl)
            await connection.execute(
                insert(reservations),
                [
                    {"reservation_id": reservation, "subject": h.subject, "amount": amount, "expires_at": expires}
                    for h in holds
                ],
            )
        return None

    async def _locked_spend(self, connection: AsyncConnection, hold: Hold) -> float:
        """The subject's spend, its row locked until the transaction ends (PostgreSQL: reservations queue here;
        SQLite's write lock is already held)."""
        kind, _, identifier = hold.subject.partition(":")
        holders = SUBJECT_HOLDERS[kind]
        table = holders.table
        statement = select(table.c.spend).where(table.c[holders.id_column] == identifier)
        if connection.dialect.name == "postgresql":
            statement = statement.with_for_update()
        return float((await connection.execute(statement)).scalar() or 0.0)

    async def settle(self, reservation: str, holds: Sequence[Hold], cost: float) -> bool:
        """The reservation counts its `cost` from now on, and no longer as a request in flight (its place in
        `max_parallel_requests` is free), until the spend writer's transaction adds the cost and deletes it."""
        async with self._store.engine.begin() as connection:
            await connection.execute(
                update(reservations).where(reservations.c.reservation_id == reservation).values(cost=cost)
            )
        return False

    def release(self, reservations: Iterable[str]) -> None:
        pass  # deleted in that transaction

    async def set_spend(self, subject: str, amount: float) -> None:
        pass  # the database's spend and reservations are the truth (`KeyStore.reset_budget`)

    async def forget(self, subject: str) -> None:
        pass  # nothing cached: the database's spend and reservations are the truth


def locking_order(holds: Sequence[Hold]) -> list[Hold]:
    """`holds` in the order their rows are locked, by every transaction that locks more than one: sorted by
    subject (`key:…` < `team:…` < `user:…`, then by id). Two requests, or a request and the spend writer,
    that lock the same rows in the same order wait for each other, never deadlock."""
    return sorted(holds, key=lambda hold: hold.subject)


def _expired_of(subject: str, now: datetime) -> Delete:
    """Delete the subject's expired reservations, skipping any another transaction holds (the spend writer
    deleting it as it settles): no reservation row is ever waited for while subject rows are locked."""
    expired = (
        select(reservations.c.reservation_id)
        .where(reservations.c.subject == subject, reservations.c.expires_at <= now)
        .with_for_update(skip_locked=True)
    )
    return delete(reservations).where(reservations.c.subject == subject, reservations.c.reservation_id.in_(expired))


# -- in this process -------------------------------------------------------------------------------


@dataclass
class _Held:
    amount: float  # what it counts for: its worst-case price, then (once settled) its cost
    expires: float
    subjects: tuple[str, ...]
    settled: bool = False  # its cost counts here until the database's spend (the holds' `spend`) includes it


class MemoryLedger:
    """This process's reservations and not yet written costs, over each subject's last known spend; each
    subject's totals are kept as they change, so a reservation costs the same however many are held."""

    def __init__(self, ttl: float = RESERVATION_TTL_SECONDS) -> None:
        self._ttl = ttl
        self._held: dict[str, _Held] = {}
        self._totals: dict[str, tuple[float, int]] = {}  # subject → (amount held, requests in flight)
        self._next_sweep = 0.0

    async def reserve(self, reservation: str, holds: Sequence[Hold], amount: float) -> Refusal | None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        for hold in holds:
            reserved, in_flight = self._totals.get(hold.subject, (0.0, 0))
            refused = refusal(hold, hold.spend, reserved, in_flight, amount)
            if refused is not None:
                return refused
        held = self._held[reservation] = _Held(amount, now + self._ttl, tuple(h.subject for h in holds))
        self._count(held, held.subjects, +1)
        return None

    async def settle(self, reservation: str, holds: Sequence[Hold], cost: float) -> bool:
        self.settle_here(reservation, cost)
        return False

    def settle_here(self, reservation: str | None, cost: float) -> None:
        """`settle`, with no I/O to wait for (on the response path)."""
        held = self._held.get(reservation) if reservation is not None else None
        if held is not None and not held.settled:
            self._count(held, held.subjects, -1)
            held.amount, held.settled = cost, True
            self._count(held, held.subjects, +1)

    def release(self, reservations: Iterable[str]) -> None:
        for name in reservations:
            if (held := self._held.pop(name, None)) is not None:
                self._count(held, held.subjects, -1)

    async def set_spend(self, subject: str, amount: float) -> None:
        for held in self._held.values():
            if subject in held.subjects:
                self._count(held, (subject,), -1)
                held.subjects = tuple(s for s in held.subjects if s != subject)

    async def forget(self, subject: str) -> None:
        pass  # the last known spend comes with the next record read

    def _count(self, held: _Held, subjects: Iterable[str], sign: int) -> None:
        for subject in subjects:
            reserved, in_flight = self._totals.get(subject, (0.0, 0))
            reserved, in_flight = reserved + sign * held.amount, in_flight + sign * (not held.settled)
            if in_flight or abs(reserved) > _EPSILON:
                self._totals[subject] = (reserved, in_flight)
            else:
                self._totals.pop(subject, None)

    def _sweep(self, now: float) -> None:
        """Let go of what expired: a lost answer, or a cost whose spend row was never written."""
        self.release([name for name, held in self._held.items() if held.expires <= now])
        self._next_sweep = now + 1.0


# -- in Redis --------------------------------------------------------------------------------------

# KEYS: per subject, its spend counter, its reservations (a sorted set by expiry) and their amounts (a hash).
# ARGV: now, expiry, amount, reservation id, spend ttl, then per subject: database spend, budget ("" for
# none), max parallel ("" for none). Returns {} when reserved, else {index (1-based), spent, reserved}.
_RESERVE = """
local now, expires, amount, id, spend_ttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local subjects = #KEYS / 3
for i = 1, subjects do
    local spend_key, zset, amounts = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
    redis.call('SET', spend_key, ARGV[3 + 3 * i], 'NX', 'EX', spend_ttl)
    local gone = redis.call('ZRANGEBYSCORE', zset, '-inf', now)
    if #gone > 0 then
        redis.call('ZREMRANGEBYSCORE', zset, '-inf', now)
        redis.call('HDEL', amounts, unpack(gone))
    end
    local spent = tonumber(redis.call('GET', spend_key) or '0')
    local reserved = 0
    for _, value in ipairs(redis.call('HVALS', amounts)) do reserved = reserved + tonumber(value) end
    local budget, parallel = ARGV[4 + 3 * i], ARGV[5 + 3 * i]
    if budget ~= '' then
        budget = tonumber(budget)
        if spent + reserved + amount > budget + 1e-9 or (amount == 0 and spent >= budget) then
            return {i, tostring(spent), tostring(reserved)}
        end
    end
    if parallel ~= '' and redis.call('ZCARD', zset) >= tonumber(parallel) then
        return {i, tostring(spent), tostring(reserved), 'parallel'}
    end
end
for i = 1, subjects do
    redis.call('ZADD', KEYS[3 * i - 1], expires, id)
    redis.call('HSET', KEYS[3 * i], id, ARGV[3])
    redis.call('EXPIRE', KEYS[3 * i - 1], spend_ttl)
    redis.call('EXPIRE', KEYS[3 * i], spend_ttl)
end
return {}
"""

# KEYS: as for _RESERVE. ARGV: reservation id, cost, spend ttl. Lets the reservation go and charges the cost.
_SETTLE = """
for i = 1, #KEYS / 3 do
    local removed = redis.call('ZREM', KEYS[3 * i - 1], ARGV[1])
    redis.call('HDEL', KEYS[3 * i], ARGV[1])
    if tonumber(ARGV[2]) ~= 0 and redis.call('EXISTS', KEYS[3 * i - 2]) == 1 then
        redis.call('INCRBYFLOAT', KEYS[3 * i - 2], ARGV[2])
        redis.call('EXPIRE', KEYS[3 * i - 2], ARGV[3])
    end
end
return 1
"""

SPEND_TTL_SECONDS = 86400  # an idle subject's shared spend is re-read from the database after a day


class RedisLedger:
    """Reservations and spend shared by every replica (see the module's docstring)."""

    def __init__(self, redis: Redis, ttl: float = RESERVATION_TTL_SECONDS) -> None:
        self._redis = redis
        self._ttl = ttl
        self._reserve = redis.register_script(_RESERVE)
        self._settle = redis.register_script(_SETTLE)

    @staticmethod
    def spend_key(subject: str) -> str:
        return f"imagegen:spend:{subject}"

    @classmethod
    def _keys(cls, holds: Sequence[Hold]) -> list[str]:
        return [
            key
            for hold in holds
            for key in (
                cls.spend_key(hold.subject),
                f"imagegen:held:{hold.subject}",
                f"imagegen:heldamounts:{hold.subject}",
            )
        ]

    async def reserve(self, reservation: str, holds: Sequence[Hold], amount: float) -> Refusal | None:
        now = time.time()
        args: list[str | float] = [repr(now), repr(now + self._ttl), repr(amount), reservation, SPEND_TTL_SECONDS]
        for hold in holds:
            args += [repr(hold.spend), _optional(hold.max_budget), _optional(hold.max_parallel)]
        answer = await self._reserve(keys=self._keys(holds), args=args)
        if not answer:
            return None
        index, spent, reserved = int(answer[0]) - 1, float(answer[1]), float(answer[2])
        return Refusal(holds[index], spent, reserved, budget=len(answer) < 4)

    async def settle(self, reservation: str, holds: Sequence[Hold], cost: float) -> bool:
        await self._settle(keys=self._keys(holds), args=[reservation, repr(cost), SPEND_TTL_SECONDS])
        return True

    def release(self, reservations: Iterable[str]) -> None:
        pass  # settled in Redis already

    async def set_spend(self, subject: str, amount: float) -> None:
        spend_key, held, amounts = self._keys([Hold(subject, subject, amount)])
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(spend_key, repr(amount), ex=SPEND_TTL_SECONDS)
        pipe.delete(held, amounts)
        await pipe.execute()

    async def forget(self, subject: str) -> None:
        await self._redis.delete(self.spend_key(subject))

    async def reseed(self, subject: str, spend: float) -> None:
        """The subject's spend is `spend` (as the database has it), its reservations in flight unchanged."""
        await self._redis.set(self.spend_key(subject), repr(spend), ex=SPEND_TTL_SECONDS)


def _optional(value: float | int | None) -> str:
    return "" if value is None else repr(value)
