"""Databases and Redis for the keys tests.

SQLite always runs. PostgreSQL (127.0.0.1:5432, database `test`) and Redis (127.0.0.1:6379) run
when they answer; otherwise their tests skip saying why, except under CI=true, where they fail.
Each PostgreSQL test gets its own schema (dropped afterwards), so reruns and parallel runs never meet.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagegen_proxy.config import ProxyConfig, parse_config
from tests.proxy.conftest import ProxyLauncher

MASTER_KEY = "sk-master-keys-test-0123456789"
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


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[ProxyLauncher]:
    """Starts real proxy processes (`imagegen serve`), stopped after the test."""
    launcher = ProxyLauncher(tmp_path)
    yield launcher
    launcher.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'imagegen.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs on SQLite and on PostgreSQL."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def proxy_config(models: tuple[str, ...] = ("dall-e-3", "gpt-image-1"), **general: Any) -> ProxyConfig:
    """A checked config with these model groups (served by OpenAI; nothing is called in these tests)."""
    return parse_config(
        {
            "model_list": [
                {"model_name": name, "litellm_params": {"model": f"openai/{name}", "api_key": "sk-upstream"}}
                for name in models
            ],
            "general_settings": {"master_key": MASTER_KEY, **general},
        }
    )


@pytest.fixture(autouse=True)
def _no_database_or_redis_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests choose their database and Redis; the developer's DATABASE_URL / REDIS_URL must not leak in.
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
