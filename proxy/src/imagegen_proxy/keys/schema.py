"""The keys database: its tables, and the versioned migrations that create and upgrade them.

One schema for SQLite and PostgreSQL, written with SQLAlchemy Core (every query parameterised).
Migrations are a small runner rather than alembic: the proxy migrates its own database at start,
with no alembic.ini or script folder to ship, and the steps are plain functions on a connection.
A fresh database gets the current tables and is stamped at `SCHEMA_VERSION`; an older one runs
the steps after its version. A lock (PostgreSQL's advisory lock, SQLite's write lock) makes
replicas starting together migrate one at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
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
    Column("operation", String(16), nullable=False, server_default="generation"),  # or edit, variation
    Index("ix_imagegen_spend_logs_token_time", "token", "start_time"),
    Index("ix_imagegen_spend_logs_time", "start_time"),
)

SCHEMA_VERSION = 2


def _add_operation(connection: Connection) -> None:
    """Version 2: each spend log row says its operation (every row before was a generation)."""
    connection.execute(
        text("ALTER TABLE imagegen_spend_logs ADD COLUMN operation VARCHAR(16) NOT NULL DEFAULT 'generation'")
    )


# version → the step that upgrades a database from version-1 to it. Version 1 is the first schema.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _add_operation}

_MIGRATION_LOCK_ID = 0x1A6E6E  # any constant shared by every replica


class SchemaTooNewError(RuntimeError):
    """The database was migrated by a newer imagegen-proxy than this one."""


def _migrate(connection: Connection) -> int:
    schema_version.create(connection, checkfirst=True)
    current = connection.execute(select(func.max(schema_version.c.version))).scalar()
    if current is None:
        metadata.create_all(connection, tables=[keys, spend_logs], checkfirst=True)
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
