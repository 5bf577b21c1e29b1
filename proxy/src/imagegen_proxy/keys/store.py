"""The keys database: virtual keys and spend log rows, on SQLite (default) or PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, event, func, insert, select, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from .counters import SpendKey, period_over
from .reports import SpendQuery
from .schema import keys, migrate, spend_logs


@dataclass
class KeyRecord:
    """One virtual key as stored: its hash (`token`), limits, budget and spend so far."""

    token: str
    key_name: str
    models: list[str] = field(default_factory=list)
    key_alias: str | None = None
    max_budget: float | None = None
    budget_duration: str | None = None
    budget_reset_at: datetime | None = None
    spend: float = 0.0
    rpm_limit: int | None = None
    expires: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def info(self) -> dict[str, Any]:
        """The key as the admin API shows it (LiteLLM's field names; datetimes in ISO 8601)."""
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}

    def to_json(self) -> str:
        return json.dumps(self.info())

    @classmethod
    def from_json(cls, text: str | bytes) -> KeyRecord:
        data = json.loads(text)
        for name in ("budget_reset_at", "expires", "created_at", "updated_at"):
            if data.get(name):
                data[name] = datetime.fromisoformat(data[name])
        return cls(**data)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> KeyRecord:
        values = {f.name: row[f.name] for f in fields(cls) if f.name != "metadata"}
        return cls(**values, metadata=row["key_metadata"] or {})

    def row(self) -> dict[str, Any]:
        values = asdict(self)
        values["key_metadata"] = values.pop("metadata")
        return values


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
    # WAL lets several workers read while one writes; busy_timeout waits for a lock instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
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
        async with self.engine.begin() as connection:
            await connection.execute(insert(keys).values(**record.row()))

    async def get(self, token: str) -> KeyRecord | None:
        async with self.engine.connect() as connection:
            row = (await connection.execute(select(keys).where(keys.c.token == token))).mappings().first()
        return KeyRecord.from_row(row) if row is not None else None

    async def find_alias(self, alias: str) -> KeyRecord | None:
        async with self.engine.connect() as connection:
            row = (await connection.execute(select(keys).where(keys.c.key_alias == alias))).mappings().first()
        return KeyRecord.from_row(row) if row is not None else None

    async def update(self, token: str, values: Mapping[str, Any]) -> KeyRecord | None:
        """Change some columns of a key (`metadata` is the `key_metadata` column); None if there is no such key."""
        columns = {("key_metadata" if k == "metadata" else k): v for k, v in values.items()}
        async with self.engine.begin() as connection:
            statement = update(keys).where(keys.c.token == token).values(**columns, updated_at=datetime.now(UTC))
            if (await connection.execute(statement)).rowcount == 0:
                return None
            row = (await connection.execute(select(keys).where(keys.c.token == token))).mappings().one()
        return KeyRecord.from_row(row)

    async def delete(self, tokens: Iterable[str]) -> list[str]:
        """Delete keys; returns the tokens that existed."""
        wanted = list(tokens)
        async with self.engine.begin() as connection:
            found = (await connection.execute(select(keys.c.token).where(keys.c.token.in_(wanted)))).scalars().all()
            await connection.execute(delete(keys).where(keys.c.token.in_(found)))
        return list(found)

    async def page(self, page: int, size: int) -> tuple[list[KeyRecord], int]:
        async with self.engine.connect() as connection:
            total = (await connection.execute(select(func.count()).select_from(keys))).scalar_one()
            statement = select(keys).order_by(keys.c.created_at, keys.c.token).offset((page - 1) * size).limit(size)
            rows = (await connection.execute(statement)).mappings().all()
        return [KeyRecord.from_row(row) for row in rows], total

    async def reset_budget(self, token: str, period_end: datetime, next_period_end: datetime) -> bool:
        """Start a new budget period; a no-op (False) if another replica already did."""
        async with self.engine.begin() as connection:
            statement = (
                update(keys)
                .where(keys.c.token == token, keys.c.budget_reset_at == period_end)
                .values(spend=0.0, budget_reset_at=next_period_end, updated_at=datetime.now(UTC))
            )
            return bool((await connection.execute(statement)).rowcount)

    async def ping(self) -> None:
        """Raise unless the database answers and its spend log table is there."""
        async with self.engine.connect() as connection:
            await connection.execute(select(spend_logs.c.id).limit(0))

    async def record_spend(self, rows: list[dict[str, Any]], spend: Mapping[SpendKey, float]) -> dict[SpendKey, float]:
        """Insert spend log rows and add spend to their keys, in one transaction; returns the spend added.

        Spend of a budget period that has ended is added only while the key is still in that period:
        once a new one started, the old period's late rows no longer count against the key's budget.
        """
        now = datetime.now(UTC)
        added: dict[SpendKey, float] = {}
        async with self.engine.begin() as connection:
            if rows:
                await connection.execute(insert(spend_logs), rows)
            for (token, period), amount in spend.items():
                statement = update(keys).where(keys.c.token == token).values(spend=keys.c.spend + amount)
                if period_over(period, now):
                    statement = statement.where(keys.c.budget_reset_at == period)
                if (await connection.execute(statement)).rowcount:
                    added[token, period] = amount
        return added

    async def spend_logs(
        self,
        token: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        statement = SpendQuery(token=token, start=start, end=end).newest_first().limit(limit)
        async with self.engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(statement)).mappings().all()]

    async def global_spend(self) -> float:
        async with self.engine.connect() as connection:
            total = (await connection.execute(select(func.coalesce(func.sum(spend_logs.c.cost), 0.0)))).scalar_one()
        return float(total)
