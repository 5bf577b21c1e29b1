"""The keys database: its tables, and the versioned migrations that create and upgrade them.

One schema for SQLite and PostgreSQL, written with SQLAlchemy Core (every query parameterised).
Tables and nullable columns added since a database was made are added at every start (`_add_missing`),
so a new column (a spend row's `operation`, say) is one line in its table here.
Migrations are a small runner rather than alembic: the proxy migrates its own database at start,
with no alembic.ini or script folder to ship, and the steps are plain functions on a connection.
A fresh database gets the current tables and is stamped at `SCHEMA_VERSION`; an older one runs
the steps after its version. A lock (PostgreSQL's advisory lock, SQLite's write lock) makes
replicas starting together migrate one at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    DefaultClause,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite's driver drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite autoincrements only an INTEGER primary key; PostgreSQL gets a 64-bit one.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

schema_version = Table(
    "imagegen_schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", UTCDateTime, nullable=False),
)

keys = Table(
    "imagegen_keys",
    metadata,
    Column("token", String(64), primary_key=True),  # sha256 of the key; the key itself is never stored
    Column("key_name", String(16), nullable=False),
    Column("key_alias", String(255), nullable=True, unique=True),
    Column("models", JSON, nullable=False),
    Column("max_budget", Float, nullable=True),
    Column("budget_duration", String(16), nullable=True),
    Column("budget_reset_at", UTCDateTime, nullable=True),
    Column("spend", Float, nullable=False, default=0.0),
    Column("rpm_limit", Integer, nullable=True),
    Column("expires", UTCDateTime, nullable=True),
    Column("key_metadata", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("max_parallel_requests", Integer, nullable=True),
    Column("team_id", String(255), nullable=True, index=True),
)


def _budget_columns() -> list[Column[Any]]:
    """What a team and an end user both have: limits and spend (as a key has), `blocked`, and when they changed."""
    return [
        Column("max_budget", Float, nullable=True),
        Column("budget_duration", String(16), nullable=True),
        Column("budget_reset_at", UTCDateTime, nullable=True),
        Column("spend", Float, nullable=False, default=0.0),
        Column("rpm_limit", Integer, nullable=True),
        Column("max_parallel_requests", Integer, nullable=True),
        Column("blocked", Boolean, nullable=False, default=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
    ]


teams = Table(
    "imagegen_teams",
    metadata,
    Column("team_id", String(255), primary_key=True),
    Column("team_alias", String(255), nullable=True),
    Column("models", JSON, nullable=False),
    Column("members_with_roles", JSON, nullable=False),
    Column("team_metadata", JSON, nullable=False),
    *_budget_columns(),
)

end_users = Table(  # LiteLLM's "customers": who a request's `user` field names
    "imagegen_end_users",
    metadata,
    Column("user_id", String(255), primary_key=True),
    Column("alias", String(255), nullable=True),
    Column("end_user_metadata", JSON, nullable=False),
    *_budget_columns(),
)

reservations = Table(  # a request's worst-case price and its place, held against a budget until it is priced
    "imagegen_reservations",
    metadata,
    Column("reservation_id", String(64), primary_key=True),
    Column("subject", String(300), primary_key=True),  # "key:<token>", "team:<id>" or "user:<id>"
    Column("amount", Float, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("cost", Float, nullable=True),  # once its answer was priced: what it counts for until written as spend
    Index("ix_imagegen_reservations_subject", "subject", "expires_at"),
)

spend_logs = Table(
    "imagegen_spend_logs",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False),
    Column("start_time", UTCDateTime, nullable=False),
    Column("token", String(64), nullable=True),  # None: the master key
    Column("model_group", String(255), nullable=False),
    Column("deployment", String(255), nullable=True),
    Column("provider", String(64), nullable=True),
    Column("images", Integer, nullable=False, default=0),
    Column("size", String(32), nullable=True),
    Column("quality", String(32), nullable=True),
    Column("cost", Float, nullable=True),
    Column("latency_ms", Float, nullable=False),
    Column("status", Integer, nullable=False),
    Column("prompt", Text, nullable=True),  # only with `store_prompts: true`
    Column("team_id", String(255), nullable=True),
    Column("end_user", String(255), nullable=True),
    Column("operation", String(16), nullable=False, server_default="generation"),  # or edit, variation
    Column("request_metadata", JSON, nullable=True),  # the request body's `metadata`
    Index("ix_imagegen_spend_logs_token_time", "token", "start_time"),
    Index("ix_imagegen_spend_logs_time", "start_time"),
)

SCHEMA_VERSION = 4


def _add_missing(connection: Connection) -> None:
    """Create the tables and add the columns this schema has and the database lacks (nullable, or with a
    server default that fills the rows already there)."""
    metadata.create_all(connection, checkfirst=True)
    found = inspect(connection)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in found.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                kind = column.type.compile(dialect=connection.dialect)
                default = column.server_default
                filled = f" NOT NULL DEFAULT '{default.arg}'" if isinstance(default, DefaultClause) else ""
                connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}{filled}'))
        for index in table.indexes:
            index.create(connection, checkfirst=True)


# version → the step that upgrades a database from version-1 to it. Version 1 is the first schema; version 2
# (teams, end users, reservations, key limits, each spend row's operation), version 3 (each spend row's
# request metadata) and version 4 (a settled reservation's cost) only added tables and columns.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _add_missing, 3: _add_missing, 4: _add_missing}

_MIGRATION_LOCK_ID = 0x1A6E6E  # any constant shared by every replica


class SchemaTooNewError(RuntimeError):
    """The database was migrated by a newer imagegen-proxy than this one."""


def _migrate(connection: Connection) -> int:
    schema_version.create(connection, checkfirst=True)
    current = connection.execute(select(func.max(schema_version.c.version))).scalar()
    if current is None:
        metadata.create_all(connection, checkfirst=True)
        _stamp(connection, SCHEMA_VERSION)
        return SCHEMA_VERSION
    if current > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"the keys database is at schema version {current}, newer than this imagegen-proxy knows "
            f"({SCHEMA_VERSION}); upgrade imagegen-proxy"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[version](connection)
        _stamp(connection, version)
    _add_missing(connection)
    return SCHEMA_VERSION


def _stamp(connection: Connection, version: int) -> None:
    connection.execute(insert(schema_version).values(version=version, applied_at=datetime.now(UTC)))


async def migrate(engine: AsyncEngine) -> int:
    """Create or upgrade the tables; returns the schema version the database is now at."""
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        else:  # SQLite: take the write lock now, so that workers starting together migrate one at a time
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
        version: int = await connection.run_sync(_migrate)
        return version
