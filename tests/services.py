"""The services some tests need: PostgreSQL (127.0.0.1:5432, database `test`) and Redis (127.0.0.1:6379).

They run when they answer; otherwise their tests skip saying why, except under CI=true, where they fail.
Each PostgreSQL test gets its own schema (dropped afterwards), so reruns and parallel runs never meet.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator

import pytest

POSTGRES_HOST, POSTGRES_PORT, POSTGRES_DB = "127.0.0.1", 5432, "test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def require_service(name: str, port: int) -> None:
    if _answers(port):
        return
    message = f"{name} is not running on 127.0.0.1:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and CI=true requires it")
    pytest.skip(f"{message} (start it to run this test; under CI=true its absence fails)")


def postgres_sql(sql: str | None = None) -> str:
    """Run `sql` as the first of postgres/root that may log in (trust auth); returns that user."""
    import asyncpg

    async def run() -> str:
        for user in ("postgres", "root"):
            try:
                connection = await asyncpg.connect(
                    host=POSTGRES_HOST, port=POSTGRES_PORT, user=user, database=POSTGRES_DB
                )
            except (asyncpg.PostgresError, OSError):
                continue
            try:
                if sql:
                    await connection.execute(sql)
            finally:
                await connection.close()
            return user
        pytest.fail(f"PostgreSQL answers on {POSTGRES_HOST}:{POSTGRES_PORT} but neither postgres nor root may log in")

    return asyncio.run(run())


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a schema of their own, dropped after the test."""
    require_service("PostgreSQL", POSTGRES_PORT)
    schema = f"imagegen_test_{uuid.uuid4().hex[:12]}"
    user = postgres_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"postgresql://{user}@{POSTGRES_HOST}:{POSTGRES_PORT}/{POSTGRES_DB}?schema={schema}"
    finally:
        postgres_sql(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", 6379)
    return REDIS_URL
