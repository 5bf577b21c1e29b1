"""Virtual keys as the proxy sees them: authenticate, admit, record; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from starlette.applications import Starlette

from imagegen_proxy.access import Caller, RequestRecord
from imagegen_proxy.config import ProxyConfig, parse_config
from imagegen_proxy.errors import ProxyError
from imagegen_proxy.keys import KeyAccess
from imagegen_proxy.keys.ledger import DatabaseLedger, Hold
from imagegen_proxy.keys.schema import SCHEMA_VERSION, SchemaTooNewError, reservations, schema_version
from imagegen_proxy.keys.store import KeyStore
from imagegen_proxy.keys.tokens import hash_key

from .conftest import MASTER_KEY, postgres_sql, proxy_config

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def running(
    database_url: str,
    redis_url: str = "",
    key_cache_ttl: float = 3.0,
    config: ProxyConfig | None = None,
    **general: Any,
) -> AsyncIterator[Admin]:
    access = KeyAccess(
        config or proxy_config(**general), database_url=database_url, redis_url=redis_url,
        key_cache_ttl=key_cache_ttl,
    )  # fmt: skip
    await access.startup()
    transport = httpx.ASGITransport(app=Starlette(routes=access.routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        try:
            yield Admin(access, client)
        finally:
            await access.shutdown()


class Admin:
    """A started KeyAccess and an HTTP client on its admin routes."""

    def __init__(self, access: KeyAccess, client: httpx.AsyncClient) -> None:
        self.access = access
        self.client = client

    async def call(self, method: str, path: str, key: str = MASTER_KEY, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, path, headers={"authorization": f"Bearer {key}"}, **kwargs)

    async def generate(self, **fields: Any) -> str:
        response = await self.call("POST", "/key/generate", json=fields)
        assert response.status_code == 200, response.text
        key: str = response.json()["key"]
        return key

    async def caller(self, key: str) -> Caller:
        return await self.access.authenticate(key)

    async def spend(self, key: str, cost: float, model_group: str = "dall-e-3", prompt: str | None = None) -> None:
        """A request of `key` admitted (its worst-case price reserved), then answered at `cost`."""
        caller = await self.access.admit(await self.access.authenticate(key), model_group)
        self.access.record(
            RequestRecord(
                caller, model_group, "openai/dall-e-3", "openai", 1, "1024x1024", "hd", cost, 12.5, 200, prompt
            )
        )


async def refused(awaitable: Any) -> ProxyError:
    with pytest.raises(ProxyError) as caught:
        await awaitable
    return caught.value


# --- keys and authentication -------------------------------------------------------------------------


async def test_master_key_is_the_admin(database_url: str) -> None:
    async with running(database_url) as admin:
        assert (await admin.caller(MASTER_KEY)).is_admin


async def test_generated_key_calls_as_itself_with_its_models(database_url: str) -> None:
    async with running(database_url) as admin:
        key = await admin.generate(models=["dall-e-3"], metadata={"team": "search"})
        caller = await admin.caller(key)
    assert key.startswith("sk-")
    assert not caller.is_admin
    assert caller.key_hash == hash_key(key)
    assert caller.models == {"dall-e-3"}
    assert caller.metadata == {"team": "search"}


async def test_missing_or_unknown_key_is_refused_with_401(database_url: str) -> None:
    async with running(database_url) as admin:
        assert (await refused(admin.caller(None))).status == 401  # type: ignore[arg-type]
        assert (await refused(admin.caller("sk-not-a-key"))).status == 401


async def test_expired_key_is_refused_with_401(database_url: str) -> None:
    async with running(database_url) as admin:
        key = await admin.generate(duration="1h")
        await admin.access.store.update(hash_key(key), {"expires": datetime.now(UTC) - timedelta(seconds=1)})
        await admin.access.forget(hash_key(key))
        error = await refused(admin.caller(key))
    assert error.status == 401
    assert "expired" in error.message


async def test_key_is_stored_only_as_its_hash(sqlite_url: str, tmp_path: Path) -> None:
    async with running(sqlite_url) as admin:
        key = await admin.generate()
        info = (await admin.call("GET", "/key/info", params={"key": key})).json()["info"]
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("imagegen.db*"))
    assert key.encode() not in stored
    assert key[3:].encode() not in stored
    assert info["token"] == hash_key(key)
    assert info["key_name"] == f"sk-...{key[-4:]}"


async def test_key_lookups_are_cached_so_auth_adds_no_database_round_trip(sqlite_url: str) -> None:
    async with running(sqlite_url) as admin:
        key = await admin.generate(models=["dall-e-3"], rpm_limit=1000, max_budget=10)  # one process: in memory
        caller = await admin.caller(key)
        statements: list[str] = []
        event.listen(admin.access.store.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        for _ in range(50):
            await admin.access.admit(await admin.caller(key), "dall-e-3")
        await admin.access.admit(caller, "dall-e-3")
    assert statements == []


# --- limits --------------------------------------------------------------------------------------------


async def test_key_may_use_only_its_models(database_url: str) -> None:
    async with running(database_url) as admin:
        caller = await admin.caller(await admin.generate(models=["dall-e-3"]))
        await admin.access.admit(caller, "dall-e-3")
        error = await refused(admin.access.admit(caller, "gpt-image-1"))
    assert error.status == 403
    assert "'gpt-image-1'" in error.message
    assert "dall-e-3" in error.message


async def test_key_past_its_rpm_limit_gets_429_with_retry_after(database_url: str) -> None:
    async with running(database_url) as admin:
        caller = await admin.caller(await admin.generate(rpm_limit=2))
        await admin.access.admit(caller, "dall-e-3")
        await admin.access.admit(caller, "dall-e-3")
        error = await refused(admin.access.admit(caller, "dall-e-3"))
    assert error.status == 429
    assert 1 <= int(error.headers["retry-after"]) <= 60


async def test_key_whose_spend_reaches_its_budget_is_refused(database_url: str) -> None:
    async with running(database_url) as admin:
        key = await admin.generate(max_budget=0.1)
        caller = await admin.caller(key)
        await admin.spend(key, 0.06)
        await admin.spend(key, 0.06)  # admitted: 0.04 reserved while the first was held at 0.04
        await admin.access.spend_writer.flush()
        error = await refused(admin.access.admit(caller, "dall-e-3"))
    assert error.status == 400
    assert error.type == "budget_exceeded"
    assert "budget exceeded" in error.message
    assert "$0.12 of its $0.1 budget" in error.message


async def test_key_is_refused_when_its_reservations_in_flight_would_pass_its_budget(database_url: str) -> None:
    async with running(database_url) as admin:
        key = await admin.generate(max_budget=0.1)
        caller = await admin.caller(key)
        await admin.access.admit(caller, "dall-e-3")  # 0.04 held while it is in flight
        await admin.access.admit(caller, "dall-e-3")
        error = await refused(admin.access.admit(caller, "dall-e-3"))
    assert error.type == "budget_exceeded"
    assert "$0.08 is held by requests in flight" in error.message
    assert "may cost up to $0.04" in error.message


async def test_a_wildcard_or_aliased_name_reserves_the_price_of_the_deployment_it_is_routed_to(
    database_url: str,
) -> None:
    config = parse_config(
        {
            "model_list": [{"model_name": "openai/*", "litellm_params": {"model": "openai/*", "api_key": "sk-up"}}],
            "router_settings": {"model_group_alias": {"cheap": "openai/dall-e-2"}},
            "general_settings": {"master_key": MASTER_KEY},
        }
    )
    async with running(database_url, config=config) as admin:
        caller = await admin.caller(await admin.generate(max_budget=0.09))
        await admin.access.admit(caller, "openai/dall-e-3", {"quality": "standard", "size": "1024x1024"})
        await admin.access.admit(caller, "cheap", {"size": "1024x1024"})  # dall-e-2: 0.02
        wildcard = await refused(
            admin.access.admit(caller, "openai/dall-e-3", {"quality": "standard", "size": "1024x1024"})
        )
    assert wildcard.type == "budget_exceeded"
    assert "$0.06 is held by requests in flight" in wildcard.message
    assert "may cost up to $0.04" in wildcard.message


async def test_a_settled_reservation_frees_its_place_in_flight_before_its_spend_is_written(postgres_url: str) -> None:
    async with running(postgres_url) as admin:
        ledger = admin.access.ledger
        assert isinstance(ledger, DatabaseLedger)
        one_at_a_time = [Hold("key:parallel", "this key", 0.0, max_parallel=1)]
        assert await ledger.reserve("first", one_at_a_time, 0.04) is None
        while_in_flight = await ledger.reserve("second", one_at_a_time, 0.04)
        await ledger.settle("first", one_at_a_time, 0.01)  # answered; its spend row is not written yet
        once_answered = await ledger.reserve("second", one_at_a_time, 0.04)
    assert while_in_flight is not None
    assert not while_in_flight.budget
    assert once_answered is None


async def test_a_settled_reservation_counts_its_cost_rather_than_its_worst_case(postgres_url: str) -> None:
    async with running(postgres_url) as admin:
        ledger = admin.access.ledger
        assert isinstance(ledger, DatabaseLedger)
        budget = [Hold("key:budget", "this key", 0.0, max_budget=0.05)]
        assert await ledger.reserve("first", budget, 0.04) is None
        while_in_flight = await ledger.reserve("second", budget, 0.04)
        await ledger.settle("first", budget, 0.01)
        once_answered = await ledger.reserve("second", budget, 0.04)
    assert while_in_flight is not None
    assert while_in_flight.budget
    assert once_answered is None  # 0.01 + 0.04 fits 0.05


async def test_recording_a_request_settles_its_reservation_off_the_response_path(postgres_url: str) -> None:
    async with running(postgres_url) as admin:
        key = await admin.generate(max_budget=1.0)
        await admin.spend(key, 0.01)
        async with admin.access.store.engine.connect() as connection:
            for _ in range(100):
                costs = (await connection.execute(select(reservations.c.cost))).scalars().all()
                if costs != [None]:
                    break
                await asyncio.sleep(0.01)
    assert costs in ([0.01], [])  # settled, or already deleted by the spend writer


async def test_budget_counts_spend_written_to_the_database(database_url: str) -> None:
    async with running(database_url) as admin:
        key = await admin.generate(max_budget=0.1)
        caller = await admin.caller(key)
        await admin.spend(key, 0.12)
        await admin.access.spend_writer.flush()
        error = await refused(admin.access.admit(caller, "dall-e-3"))
    assert error.type == "budget_exceeded"


async def test_budget_starts_again_after_its_budget_duration(database_url: str) -> None:
    async with running(database_url) as admin:
        key = await admin.generate(max_budget=0.1, budget_duration="30d")
        caller = await admin.caller(key)
        await admin.spend(key, 0.2)
        await admin.access.spend_writer.flush()
        assert (await refused(admin.access.admit(caller, "dall-e-3"))).type == "budget_exceeded"
        # The period ends (as if 30 days had passed).
        token = hash_key(key)
        await admin.access.store.update(token, {"budget_reset_at": datetime.now(UTC) - timedelta(seconds=1)})
        await admin.access.forget(token)
        await admin.access.admit(caller, "dall-e-3")
        info = (await admin.call("GET", "/key/info", params={"key": key})).json()["info"]
    assert info["spend"] == 0
    assert datetime.fromisoformat(info["budget_reset_at"]) > datetime.now(UTC) + timedelta(days=29)


async def test_master_key_has_no_limits(database_url: str) -> None:
    async with running(database_url) as admin:
        for _ in range(3):
            await admin.access.admit(await admin.caller(MASTER_KEY), "gpt-image-1")


# --- spend logs ----------------------------------------------------------------------------------------


async def test_spend_is_written_on_shutdown_and_survives_a_restart(database_url: str) -> None:
    async with running(database_url) as admin:
        key = await admin.generate()
        await admin.spend(key, 0.08)
        await admin.spend(key, 0.04)
    async with running(database_url) as admin:
        info = (await admin.call("GET", "/key/info", params={"key": key})).json()["info"]
        logs = (await admin.call("GET", "/spend/logs", params={"api_key": key})).json()
        total = (await admin.call("GET", "/global/spend")).json()
    assert info["spend"] == pytest.approx(0.12)
    assert [row["spend"] for row in logs] == pytest.approx([0.04, 0.08])
    row = logs[0]
    assert row["api_key"] == hash_key(key)
    assert (row["model_group"], row["model"], row["provider"]) == ("dall-e-3", "openai/dall-e-3", "openai")
    assert (row["images"], row["size"], row["quality"], row["status"]) == (1, "1024x1024", "hd", 200)
    assert row["latency_ms"] == 12.5
    assert total["spend"] == pytest.approx(0.12)


async def test_disable_spend_logs_writes_no_rows_but_keys_still_count_spend(database_url: str) -> None:
    async with running(database_url, disable_spend_logs=True) as admin:
        key = await admin.generate(max_budget=0.1)
        caller = await admin.caller(key)
        await admin.spend(key, 0.06)
        await admin.spend(key, 0.06)
        await admin.access.spend_writer.flush()
        error = await refused(admin.access.admit(caller, "dall-e-3"))
    async with running(database_url, disable_spend_logs=True) as admin:  # and the spend reached the database
        info = (await admin.call("GET", "/key/info", params={"key": key})).json()["info"]
        logs = (await admin.call("GET", "/spend/logs")).json()
    assert error.type == "budget_exceeded"
    assert info["spend"] == pytest.approx(0.12)
    assert logs == []


async def test_prompts_are_not_stored_by_default(sqlite_url: str) -> None:
    async with running(sqlite_url) as admin:
        key = await admin.generate()
        await admin.spend(key, 0.04, prompt="a secret otter")
        await admin.access.spend_writer.flush()
        logs = (await admin.call("GET", "/spend/logs")).json()
    assert logs[0]["prompt"] is None


async def test_prompts_are_stored_with_store_prompts(sqlite_url: str) -> None:
    async with running(sqlite_url, store_prompts=True) as admin:
        key = await admin.generate()
        await admin.spend(key, 0.04, prompt="an otter")
        await admin.access.spend_writer.flush()
        logs = (await admin.call("GET", "/spend/logs")).json()
    assert logs[0]["prompt"] == "an otter"


async def test_spend_logs_filter_by_key_and_date(sqlite_url: str) -> None:
    async with running(sqlite_url) as admin:
        first, second = await admin.generate(), await admin.generate()
        await admin.spend(first, 0.04)
        await admin.spend(second, 0.08)
        await admin.access.spend_writer.flush()
        today = datetime.now(UTC).date().isoformat()
        mine = (await admin.call("GET", "/spend/logs", params={"api_key": hash_key(second)})).json()
        dated = (await admin.call("GET", "/spend/logs", params={"start_date": today, "end_date": today})).json()
        before = (await admin.call("GET", "/spend/logs", params={"end_date": "2000-01-01"})).json()
    assert [row["spend"] for row in mine] == [0.08]
    assert len(dated) == 2
    assert before == []


# --- the admin API -------------------------------------------------------------------------------------


async def test_generate_returns_the_key_and_its_settings(database_url: str) -> None:
    async with running(database_url) as admin:
        body = {"models": ["dall-e-3"], "max_budget": 5, "budget_duration": "30d", "rpm_limit": 10,
                "duration": "7d", "metadata": {"team": "a"}, "key_alias": "team-a"}  # fmt: skip
        generated = (await admin.call("POST", "/key/generate", json=body)).json()
        info = (await admin.call("GET", "/key/info", params={"key": generated["key"]})).json()
    assert generated["key"].startswith("sk-")
    assert info["key"] == generated["key"]
    details = info["info"]
    assert (details["models"], details["max_budget"], details["rpm_limit"]) == (["dall-e-3"], 5.0, 10)
    assert (details["budget_duration"], details["key_alias"], details["metadata"]) == ("30d", "team-a", {"team": "a"})
    assert details["spend"] == 0
    assert datetime.fromisoformat(details["expires"]) > datetime.now(UTC) + timedelta(days=6)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tpm_limit": 5}, "tpm_limit"),
        ({"models": ["no-such-model"]}, "models"),
        ({"max_budget": -1}, "max_budget"),
        ({"budget_duration": "soon"}, "budget_duration"),
        ({"duration": "5 years"}, "duration"),
        ({"rpm_limit": "many"}, "rpm_limit"),
        ({"key": "sk-mine"}, "key"),
    ],
)
async def test_generate_rejects_bad_fields_naming_them(sqlite_url: str, body: dict[str, Any], param: str) -> None:
    async with running(sqlite_url) as admin:
        response = await admin.call("POST", "/key/generate", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


async def test_key_alias_is_unique(sqlite_url: str) -> None:
    async with running(sqlite_url) as admin:
        await admin.generate(key_alias="team-a")
        response = await admin.call("POST", "/key/generate", json={"key_alias": "team-a"})
    assert response.status_code == 400
    assert "team-a" in response.json()["error"]["message"]


async def test_generated_key_may_not_use_admin_routes(database_url: str) -> None:
    async with running(database_url) as admin:
        key = await admin.generate()
        for method, path in [("POST", "/key/generate"), ("GET", "/key/list"), ("GET", "/spend/logs"),
                             ("GET", "/global/spend"), ("POST", "/key/delete")]:  # fmt: skip
            response = await admin.call(method, path, key=key, json={})
            assert response.status_code == 403, path


async def test_admin_routes_need_a_valid_key(sqlite_url: str) -> None:
    async with running(sqlite_url) as admin:
        assert (await admin.client.get("/key/list")).status_code == 401
        assert (await admin.call("GET", "/key/list", key="sk-wrong")).status_code == 401


async def test_update_applies_at_once(database_url: str) -> None:
    async with running(database_url) as admin:
        key = await admin.generate(models=["dall-e-3"])
        caller = await admin.caller(key)
        await admin.access.admit(caller, "dall-e-3")
        response = await admin.call(
            "POST", "/key/update", json={"key": key, "models": ["gpt-image-1"], "max_budget": 1}
        )
        assert response.status_code == 200
        assert response.json()["models"] == ["gpt-image-1"]
        error = await refused(admin.access.admit(await admin.caller(key), "dall-e-3"))
    assert error.status == 403


async def test_update_can_reset_spend(database_url: str) -> None:
    async with running(database_url) as admin:
        key = await admin.generate(max_budget=0.1)
        await admin.spend(key, 0.2)
        await admin.access.spend_writer.flush()
        await admin.call("POST", "/key/update", json={"key": key, "spend": 0})
        await admin.access.admit(await admin.caller(key), "dall-e-3")


async def test_deleted_key_stops_working_at_once(database_url: str) -> None:
    async with running(database_url) as admin:
        key = await admin.generate()
        await admin.caller(key)
        response = await admin.call("POST", "/key/delete", json={"keys": [key]})
        assert response.json() == {"deleted_keys": [key]}
        assert (await refused(admin.caller(key))).status == 401
        assert (await admin.call("GET", "/key/info", params={"key": key})).status_code == 404


async def test_deleting_an_unknown_key_is_404_and_deletes_nothing(sqlite_url: str) -> None:
    async with running(sqlite_url) as admin:
        key = await admin.generate()
        response = await admin.call("POST", "/key/delete", json={"keys": [key, "sk-unknown-key"]})
        assert response.status_code == 404
        assert "sk-unknown-key" not in response.text  # unknown keys are shown masked
        await admin.caller(key)


async def test_key_list_pages_through_key_hashes(database_url: str) -> None:
    async with running(database_url) as admin:
        keys = [await admin.generate() for _ in range(3)]
        first = (await admin.call("GET", "/key/list", params={"size": 2})).json()
        second = (await admin.call("GET", "/key/list", params={"size": 2, "page": 2})).json()
        full = (await admin.call("GET", "/key/list", params={"return_full_object": "true"})).json()
    assert (first["total_count"], first["total_pages"], first["current_page"]) == (3, 2, 1)
    assert sorted(first["keys"] + second["keys"]) == sorted(hash_key(k) for k in keys)
    assert all(key not in str(full) for key in keys)
    assert {entry["token"] for entry in full["keys"]} == {hash_key(k) for k in keys}


async def test_a_user_field_no_end_user_could_have_is_no_end_users_and_never_reaches_the_database(
    database_url: str,
) -> None:
    async with running(database_url) as admin:
        caller = await admin.caller(await admin.generate())
        for user in ("a\x00b", "\ud800", "u" * 256, ""):
            admitted = await admin.access.admit(caller, "dall-e-3", {"user": user})
            assert admitted.end_user is None


# --- the database ----------------------------------------------------------------------------------------


async def test_new_database_is_created_at_the_current_schema_version(database_url: str) -> None:
    store = KeyStore(database_url)
    await store.start()
    await store.start()  # a second start (another replica, a restart) changes nothing
    async with store.engine.connect() as connection:
        versions = (await connection.execute(select(schema_version.c.version))).scalars().all()
    await store.close()
    assert versions == [SCHEMA_VERSION]


# The first release's tables, as it created them (schema version 1).
FIRST_RELEASE_SCHEMA = [
    "CREATE TABLE imagegen_schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)",
    "CREATE TABLE imagegen_keys (token VARCHAR(64) PRIMARY KEY, key_name VARCHAR(16) NOT NULL, "
    "key_alias VARCHAR(255) UNIQUE, models JSON NOT NULL, max_budget FLOAT, budget_duration VARCHAR(16), "
    "budget_reset_at TIMESTAMP, spend FLOAT NOT NULL, rpm_limit INTEGER, expires TIMESTAMP, "
    "key_metadata JSON NOT NULL, created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL)",
    "CREATE TABLE imagegen_spend_logs (id {row_id} PRIMARY KEY, request_id VARCHAR(64) NOT NULL, "
    "start_time TIMESTAMP NOT NULL, token VARCHAR(64), model_group VARCHAR(255) NOT NULL, deployment VARCHAR(255), "
    "provider VARCHAR(64), images INTEGER NOT NULL, size VARCHAR(32), quality VARCHAR(32), cost FLOAT, "
    "latency_ms FLOAT NOT NULL, status INTEGER NOT NULL, prompt TEXT)",
    "INSERT INTO imagegen_schema_version VALUES (1, '2026-01-01 00:00:00')",
    "INSERT INTO imagegen_keys VALUES ('" + hash_key("sk-from-the-first-release") + "', 'sk-...ease', NULL, "  # noqa: S608
    "'[\"dall-e-3\"]', 1.0, NULL, NULL, 0.25, NULL, NULL, '{}', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
]


async def test_a_first_release_database_is_upgraded_at_start_and_its_keys_keep_working(database_url: str) -> None:
    store = KeyStore(database_url)
    async with store.engine.begin() as connection:
        for statement in FIRST_RELEASE_SCHEMA:
            row_id = "BIGSERIAL" if store.dialect == "postgresql" else "INTEGER"
            await connection.exec_driver_sql(statement.replace("{row_id}", row_id))
    await store.close()
    async with running(database_url) as admin:
        caller = await admin.caller("sk-from-the-first-release")
        admitted = await admin.access.admit(caller, "dall-e-3", {"user": "u-1"})
        await admin.spend("sk-from-the-first-release", 0.04)
        await admin.access.spend_writer.flush()
        info = (await admin.call("GET", "/key/info", params={"key": "sk-from-the-first-release"})).json()["info"]
        logs = (await admin.call("GET", "/spend/logs")).json()
        team = await admin.call("POST", "/team/new", json={"team_id": "t", "max_budget": 1})
        async with admin.access.store.engine.connect() as connection:
            versions = (await connection.execute(select(schema_version.c.version))).scalars().all()
    assert admitted.end_user == "u-1"
    assert (info["spend"], info["max_budget"], info["team_id"]) == (pytest.approx(0.29), 1.0, None)
    assert [row["spend"] for row in logs] == [0.04]
    assert team.status_code == 200
    assert sorted(versions) == list(range(1, SCHEMA_VERSION + 1))


async def test_database_from_a_newer_proxy_is_refused(sqlite_url: str) -> None:
    store = KeyStore(sqlite_url)
    await store.start()
    async with store.engine.begin() as connection:
        await connection.execute(
            schema_version.insert().values(version=SCHEMA_VERSION + 1, applied_at=datetime.now(UTC))
        )
    with pytest.raises(SchemaTooNewError, match="upgrade imagegen-proxy"):
        await store.start()
    await store.close()


def test_unsupported_database_url_names_the_supported_ones() -> None:
    with pytest.raises(ValueError, match=r"sqlite:///.*postgresql://"):
        KeyStore("mysql://localhost/db")


async def test_unreachable_redis_at_start_is_a_clear_error(sqlite_url: str) -> None:
    access = KeyAccess(proxy_config(), database_url=sqlite_url, redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(RuntimeError, match="cannot reach Redis at REDIS_URL"):
        await access.startup()


async def test_keys_database_failing_at_run_time_answers_503(postgres_url: str) -> None:
    async with running(postgres_url) as admin:
        schema = postgres_url.rpartition("schema=")[2]
        await asyncio.to_thread(postgres_sql, f"DROP TABLE {schema}.imagegen_keys")
        error = await refused(admin.caller("sk-some-key"))
    assert error.status == 503
    assert "unreachable" in error.message


async def test_a_version_1_database_is_migrated_and_its_rows_read_as_generations(database_url: str) -> None:
    store = KeyStore(database_url)
    await store.start()
    async with store.engine.begin() as connection:  # back to version 1: no `operation` column
        await connection.exec_driver_sql("ALTER TABLE imagegen_spend_logs DROP COLUMN operation")
        await connection.execute(schema_version.delete())
        await connection.execute(schema_version.insert().values(version=1, applied_at=datetime.now(UTC)))
        await connection.exec_driver_sql(
            "INSERT INTO imagegen_spend_logs (request_id, start_time, model_group, images, latency_ms, status) "
            "VALUES ('old', CURRENT_TIMESTAMP, 'dall-e-3', 1, 5.0, 200)"
        )

    await store.start()
    rows = await store.spend_logs()
    await store.close()

    assert [(row["request_id"], row["operation"]) for row in rows] == [("old", "generation")]
