"""The keys database: virtual keys and spend log rows, on SQLite (default) or PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Table, delete, event, func, insert, select, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from .counters import SpendKey, period_over
from .reports import SpendQuery
from .schema import end_users, keys, migrate, reservations, spend_logs, teams

T = TypeVar("T")


@dataclass(kw_only=True)
class BudgetHolder:
    """What keys, teams and end users share: limits, a budget and the spend of its current period."""

    models: list[str] = field(default_factory=list)
    max_budget: float | None = None
    budget_duration: str | None = None
    budget_reset_at: datetime | None = None
    spend: float = 0.0
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def info(self) -> dict[str, Any]:
        """As the admin API shows it (LiteLLM's field names)."""
        return asdict(self)


@dataclass(kw_only=True)
class KeyRecord(BudgetHolder):
    """One virtual key as stored: its hash (`token`), limits, budget and spend so far."""

    token: str
    key_name: str
    key_alias: str | None = None
    expires: datetime | None = None
    team_id: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> KeyRecord:
        record: KeyRecord = KEYS.load(row)
        return record


@dataclass(kw_only=True)
class TeamRecord(BudgetHolder):
    """A team: limits that bound each of its keys as well as their own, and the spend of all of them."""

    team_id: str
    team_alias: str | None = None
    members_with_roles: list[dict[str, Any]] = field(default_factory=list)
    blocked: bool = False


@dataclass(kw_only=True)
class EndUserRecord(BudgetHolder):
    """An end user (LiteLLM's customer): whom a request's `user` field names, with their own limits. (`models`
    is unused: LiteLLM's customers have none.)"""

    user_id: str
    alias: str | None = None
    blocked: bool = False


@dataclass(frozen=True)
class Holders:
    """How one table of budget holders (keys, teams, end users) is read and written."""

    table: Table
    id_column: str
    metadata_column: str
    record: type[Any]

    def load(self, row: Mapping[Any, Any]) -> Any:
        values = {f.name: row[f.name] for f in fields(self.record) if f.name in row and f.name != "metadata"}
        return self.record(**values, metadata=row[self.metadata_column] or {})

    def columns(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """`values` as this table's columns (`metadata` under its own name; fields it has no column for left out)."""
        renamed = {(self.metadata_column if k == "metadata" else k): v for k, v in values.items()}
        return {name: value for name, value in renamed.items() if name in self.table.c}


KEYS = Holders(keys, "token", "key_metadata", KeyRecord)
TEAMS = Holders(teams, "team_id", "team_metadata", TeamRecord)
END_USERS = Holders(end_users, "user_id", "end_user_metadata", EndUserRecord)
SUBJECT_HOLDERS = {"key": KEYS, "team": TEAMS, "user": END_USERS}
"""A subject (`key:<token>`, `team:<id>`, `user:<id>`) is a row of one of these tables."""


def to_json(record: Any) -> str:
    """A stored record (key, team, end user) as JSON, for the cache Redis shares."""
    return json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(record).items()})


def from_json(cls: type[T], text: str | bytes) -> T:
    data = json.loads(text)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    for name in ("budget_reset_at", "expires", "created_at", "updated_at"):
        if data.get(name):
            data[name] = datetime.fromisoformat(data[name])
    return cls(**{k: v for k, v in data.items() if k in known})


def async_database_url(url: str) -> tuple[URL, dict[str, Any]]:
    """A user's database URL (`sqlite:///x.db`, `postgresql://…`) as an async driver URL, and connect args.

    `?schema=NAME` (as in Prisma, hence LiteLLM's DATABASE_URL) puts the tables in that PostgreSQL schema.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite"), {}
    if backend in ("postgresql", "postgres"):
        query = dict(parsed.query)
        connect_args: dict[str, Any] = {}
        if schema := query.pop("schema", None):
            connect_args["server_settings"] = {"search_path": str(schema)}
        if sslmode := query.pop("sslmode", None):  # libpq's name; asyncpg calls it `ssl`
            connect_args["ssl"] = str(sslmode)
        return parsed.set(drivername="postgresql+asyncpg", query=query), connect_args
    raise ValueError(
        f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:///path/to/imagegen.db "
        "or postgresql://user:password@host:5432/database"
    )


SQLITE_ROWS_PER_INSERT = 100


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # WAL lets several workers read while one writes; busy_timeout waits for a lock instead of failing. In WAL,
    # synchronous=NORMAL syncs at checkpoints rather than every commit (a reservation took ~10 ms, then ~3 ms):
    # a power cut may lose the last commits, never the database.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class KeyStore:
    """Async access to the keys and spend log tables."""

    def __init__(self, database_url: str) -> None:
        url, connect_args = async_database_url(database_url)
        self.dialect = url.get_backend_name()
        # A pre-ping finds a server connection that died while pooled; a SQLite file has none to lose, and the
        # ping cost a round trip to aiosqlite's thread (and the GIL) on every spend batch.
        self.engine: AsyncEngine = create_async_engine(
            url, connect_args=connect_args, pool_pre_ping=self.dialect != "sqlite"
        )
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            # A spend batch as multi-row INSERTs, not executemany: sqlite3 releases and retakes the GIL
            # around every row's step, and under load each retake stalls the event loop's thread for a
            # forced GIL handoff to aiosqlite's thread (a 1,300-row batch: ~2,600 handoffs, 1 to 2 s).
            self.engine.dialect.use_insertmanyvalues_wo_returning = True
            # In INSERTs of 100 rows (and one shorter): sqlite3 keeps its last 128 statements prepared, and
            # one INSERT text per batch size (up to 1,000 rows each) grew a busy worker by ~1 MB a second.
            self.engine.dialect.insertmanyvalues_page_size = SQLITE_ROWS_PER_INSERT

    def describe(self) -> str:
        """The database, without its password: for start-up logs."""
        return self.engine.url.render_as_string(hide_password=True)

    async def start(self) -> None:
        await migrate(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()

    async def create(self, record: KeyRecord) -> None:
        await self.add(KEYS, record)

    async def get(self, token: str) -> KeyRecord | None:
        record: KeyRecord | None = await self.find(KEYS, token)
        return record

    async def find_alias(self, alias: str) -> KeyRecord | None:
        async with self.engine.connect() as connection:
            row = (await connection.execute(select(keys).where(keys.c.key_alias == alias))).mappings().first()
        return KeyRecord.from_row(row) if row is not None else None

    async def update(self, token: str, values: Mapping[str, Any]) -> KeyRecord | None:
        """Change some columns of a key (`metadata` is the `key_metadata` column); None if there is no such key."""
        record: KeyRecord | None = await self.change(KEYS, token, values)
        return record

    async def delete(self, tokens: Iterable[str]) -> list[str]:
        """Delete keys; returns the tokens that existed."""
        return await self.remove(KEYS, tokens)

    # -- any table of budget holders -----------------------------------------------------------------

    async def add(self, holders: Holders, record: Any) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(insert(holders.table).values(**holders.columns(asdict(record))))

    async def find(self, holders: Holders, identifier: str) -> Any:
        table = holders.table
        async with self.engine.connect() as connection:
            statement = select(table).where(table.c[holders.id_column] == identifier)
            row = (await connection.execute(statement)).mappings().first()
        return holders.load(row) if row is not None else None

    async def change(self, holders: Holders, identifier: str, values: Mapping[str, Any]) -> Any:
        """Change some columns of one row; None if there is no such row."""
        table, where = holders.table, holders.table.c[holders.id_column] == identifier
        async with self.engine.begin() as connection:
            statement = update(table).where(where).values(**holders.columns(values), updated_at=datetime.now(UTC))
            if (await connection.execute(statement)).rowcount == 0:
                return None
            row = (await connection.execute(select(table).where(where))).mappings().one()
        return holders.load(row)

    async def remove(self, holders: Holders, identifiers: Iterable[str]) -> list[str]:
        """Delete rows; returns the ids that existed."""
        wanted, column = list(identifiers), holders.table.c[holders.id_column]
        async with self.engine.begin() as connection:
            found = (await connection.execute(select(column).where(column.in_(wanted)))).scalars().all()
            await connection.execute(delete(holders.table).where(column.in_(found)))
        return list(found)

    async def every(self, holders: Holders, limit: int = 10_000, **equal: Any) -> list[Any]:
        table = holders.table
        statement = select(table).order_by(table.c.created_at, table.c[holders.id_column]).limit(limit)
        for name, value in equal.items():
            statement = statement.where(table.c[name] == value)
        async with self.engine.connect() as connection:
            return [holders.load(row) for row in (await connection.execute(statement)).mappings().all()]

    async def page(self, page: int, size: int, team_id: str | None = None) -> tuple[list[KeyRecord], int]:
        counted = select(func.count()).select_from(keys)
        statement = select(keys).order_by(keys.c.created_at, keys.c.token).offset((page - 1) * size).limit(size)
        if team_id is not None:
            counted, statement = counted.where(keys.c.team_id == team_id), statement.where(keys.c.team_id == team_id)
        async with self.engine.connect() as connection:
            total = (await connection.execute(counted)).scalar_one()
            rows = (await connection.execute(statement)).mappings().all()
        return [KeyRecord.from_row(row) for row in rows], total

    async def reset_budget(self, subject: str, period_end: datetime, next_period_end: datetime) -> bool:
        """Start a new budget period of a subject (`key:<token>`…): its spend and reservations start again (requests
        in flight are charged to the period they were admitted in); a no-op (False) if another replica already did."""
        kind, _, identifier = subject.partition(":")
        holders = SUBJECT_HOLDERS[kind]
        table = holders.table
        async with self.engine.begin() as connection:
            statement = (
                update(table)
                .where(table.c[holders.id_column] == identifier, table.c.budget_reset_at == period_end)
                .values(spend=0.0, budget_reset_at=next_period_end, updated_at=datetime.now(UTC))
            )
            if not (await connection.execute(statement)).rowcount:
                return False
            await connection.execute(delete(reservations).where(reservations.c.subject == subject))
            return True

    async def ping(self) -> None:
        """Raise unless the database answers and its spend log table is there."""
        async with self.engine.connect() as connection:
            await connection.execute(select(spend_logs.c.id).limit(0))

    async def record_spend(
        self, rows: list[dict[str, Any]], spend: Mapping[SpendKey, float], settled: Iterable[str] = ()
    ) -> dict[SpendKey, float]:
        """Insert spend log rows, add spend to their subjects (keys, teams, end users) and release the `settled`
        reservations, in one transaction (a reservation stops counting as its cost starts to); returns the spend
        added.

        Spend of a budget period that has ended is added only while the subject is still in that period:
        once a new one started, the old period's late rows no longer count against its budget.
        """
        now = datetime.now(UTC)
        added: dict[SpendKey, float] = {}
        released = list(settled)
        async with self.engine.begin() as connection:
            if rows:
                await connection.execute(insert(spend_logs), rows)
            # Rows locked in the order every transaction locks them (`ledger.locking_order`): no deadlock.
            for (subject, period), amount in sorted(spend.items(), key=lambda item: item[0][0]):
                kind, _, identifier = subject.partition(":")
                holders = SUBJECT_HOLDERS[kind]
                table = holders.table
                statement = (
                    update(table).where(table.c[holders.id_column] == identifier).values(spend=table.c.spend + amount)
                )
                if period_over(period, now):
                    statement = statement.where(table.c.budget_reset_at == period)
                if (await connection.execute(statement)).rowcount:
                    added[subject, period] = amount
            if released:
                await connection.execute(delete(reservations).where(reservations.c.reservation_id.in_(released)))
        return added

    async def spend_logs(
        self,
        token: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
        *,
        team_id: str | None = None,
        end_user: str | None = None,
    ) -> list[dict[str, Any]]:
        query = SpendQuery(token=token, team_id=team_id, end_user=end_user, start=start, end=end)
        statement = query.newest_first().limit(limit)
        async with self.engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(statement)).mappings().all()]

    async def global_spend(self) -> float:
        async with self.engine.connect() as connection:
            total = (await connection.execute(select(func.coalesce(func.sum(spend_logs.c.cost), 0.0)))).scalar_one()
        return float(total)
