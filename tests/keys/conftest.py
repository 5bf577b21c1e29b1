"""Databases and Redis for the keys tests.

SQLite always runs. PostgreSQL (127.0.0.1:5432, database `test`) and Redis (127.0.0.1:6379) run
when they answer; otherwise their tests skip saying why, except under CI=true, where they fail.
Each PostgreSQL test gets its own schema (dropped afterwards), so reruns and parallel runs never meet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagegen_proxy.config import ProxyConfig, parse_config
from tests.proxy.conftest import ProxyLauncher
from tests.services import (  # noqa: F401 (fixtures, and helpers the keys tests import from here)
    POSTGRES_DB,
    POSTGRES_HOST,
    POSTGRES_PORT,
    REDIS_URL,
    postgres_sql,
    postgres_url,
    redis_url,
    require_service,
)

MASTER_KEY = "sk-master-keys-test-0123456789"


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
