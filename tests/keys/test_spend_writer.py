"""Spend log rows survive what clients send and what the database does: cleaned, isolated, retried, bounded."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from imagegen_proxy.access import RequestRecord
from imagegen_proxy.keys.counters import SpendKey
from imagegen_proxy.keys.spend import MAX_STORED_PROMPT_CHARS, SpendWriter
from imagegen_proxy.keys.store import SQLITE_ROWS_PER_INSERT, KeyStore
from imagegen_proxy.keys.tokens import hash_key

from .test_key_access import Admin, running

pytestmark = pytest.mark.anyio

SPEND_LOGS = "imagegen_spend_logs"
# A row the database itself refuses, however clean: a constraint the test adds to the real table.
REFUSE_POISON = {
    "sqlite": f"CREATE TRIGGER refuse_poison BEFORE INSERT ON {SPEND_LOGS} WHEN NEW.model_group = 'poison' "
    "BEGIN SELECT RAISE(ABORT, 'poison refused'); END",
    "postgresql": f"ALTER TABLE {SPEND_LOGS} ADD CONSTRAINT refuse_poison CHECK (model_group <> 'poison')",
}


async def request(
    admin: Admin, key: str, cost: float | None, *, group: str = "dall-e-3", size: str | None = "1024x1024",
    quality: str | None = "hd", status: int = 200, prompt: str | None = None,
) -> None:  # fmt: skip
    caller = await admin.access.admit(await admin.access.authenticate(key), group)
    admin.access.record(
        RequestRecord(caller, group, "openai/dall-e-3", "openai", 1, size, quality, cost, 5.0, status, prompt)
    )


async def spend_logs(admin: Admin) -> list[dict[str, Any]]:
    response = await admin.call("GET", "/spend/logs")
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def key_spend(admin: Admin, key: str) -> float:
    spend: float = (await admin.call("GET", "/key/info", params={"key": key})).json()["info"]["spend"]
    return spend


async def execute(store: KeyStore, sql: str) -> None:
    async with store.engine.begin() as connection:
        await connection.exec_driver_sql(sql)


@asynccontextmanager
async def spend_table_gone(store: KeyStore) -> AsyncIterator[None]:
    """The database stops taking spend rows (as in an outage), then takes them again."""
    await execute(store, f"ALTER TABLE {SPEND_LOGS} RENAME TO {SPEND_LOGS}_away")
    try:
        yield
    finally:
        await execute(store, f"ALTER TABLE {SPEND_LOGS}_away RENAME TO {SPEND_LOGS}")


def log_row(**values: Any) -> dict[str, Any]:
    return {
        "request_id": uuid.uuid4().hex, "start_time": datetime.now(UTC), "token": None, "model_group": "dall-e-3",
        "deployment": None, "provider": "openai", "images": 1, "size": None, "quality": None, "cost": None,
        "latency_ms": 1.0, "status": 200, "prompt": None, **values,
    }  # fmt: skip


def writer(store: KeyStore, **options: Any) -> SpendWriter:
    def flushed(_added: Mapping[SpendKey, float], _settled: list[str]) -> None:
        pass

    return SpendWriter(store, flushed, interval=0.01, **options)


async def test_client_values_too_long_for_their_columns_are_cut_or_left_out(database_url: str) -> None:
    async with running(database_url) as admin:
        key = await admin.generate()
        await request(admin, key, None, group="m" * 300, size="x" * 40, quality="q" * 1_000_000, status=400)
        await request(admin, key, 0.04)
        assert await admin.access.spend_writer.flush()
        rejected, normal = sorted(await spend_logs(admin), key=lambda row: row["status"], reverse=True)
        spend = await key_spend(admin, key)
    assert admin.access.spend_writer.pending == 0
    assert (rejected["status"], rejected["size"], rejected["quality"]) == (400, None, None)
    assert rejected["model_group"] == "m" * 254 + "…"
    assert (normal["size"], normal["quality"]) == ("1024x1024", "hd")
    assert spend == pytest.approx(0.04)


async def test_stored_prompt_is_capped_and_stripped_of_what_postgres_refuses(database_url: str) -> None:
    async with running(database_url, store_prompts=True) as admin:
        key = await admin.generate()
        await request(admin, key, 0.04, prompt="an \x00otter \ud800" + "p" * 40_000)
        assert await admin.access.spend_writer.flush()
        (row,) = await spend_logs(admin)
    assert row["prompt"].startswith("an otter ?ppp")
    assert len(row["prompt"]) == MAX_STORED_PROMPT_CHARS - 1  # the cap, less the NUL taken out


async def test_a_row_the_database_refuses_is_dropped_alone_and_the_others_are_written(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(database_url, store_prompts=True) as admin:
        await execute(admin.access.store, REFUSE_POISON[admin.access.store.dialect])
        key = await admin.generate()
        await request(admin, key, 0.04)
        await request(admin, key, 0.02, group="poison", prompt="a secret otter")
        await request(admin, key, 0.08)
        with caplog.at_level(logging.WARNING, logger="imagegen.proxy"):
            assert await admin.access.spend_writer.flush()
        await request(admin, key, 0.01)
        assert await admin.access.spend_writer.flush()  # and later batches go through as before
        logs = await spend_logs(admin)
        spend = await key_spend(admin, key)
    assert sorted(row["spend"] for row in logs) == pytest.approx([0.01, 0.04, 0.08])
    assert spend == pytest.approx(0.15)  # the refused row's cost still counts against the key
    assert admin.access.spend_writer.pending == 0
    assert "refused 1 of 3 row(s)" in caplog.text


async def test_spend_write_failures_log_no_sql_and_no_row_values(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(sqlite_url, store_prompts=True) as admin:
        await execute(admin.access.store, REFUSE_POISON["sqlite"])
        key = await admin.generate()
        await request(admin, key, 0.02, group="poison", prompt="a secret otter")
        with caplog.at_level(logging.DEBUG, logger="imagegen.proxy"):
            assert await admin.access.spend_writer.flush()
            async with spend_table_gone(admin.access.store):
                await request(admin, key, 0.02, prompt="another secret otter")
                assert not await admin.access.spend_writer.flush()
    assert "refused" in caplog.text
    assert "unreachable" in caplog.text
    for leak in ("secret otter", "INSERT", hash_key(key), "poison"):
        assert leak not in caplog.text


async def test_spend_rows_wait_while_the_database_is_unreachable_then_are_written(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(database_url) as admin:
        key = await admin.generate()
        async with spend_table_gone(admin.access.store):
            await request(admin, key, 0.04)
            await request(admin, key, 0.08)
            with caplog.at_level(logging.WARNING, logger="imagegen.proxy"):
                assert not await admin.access.spend_writer.flush()
            assert admin.access.spend_writer.pending == 2
        assert await admin.access.spend_writer.flush()
        logs = await spend_logs(admin)
        spend = await key_spend(admin, key)
    assert sorted(row["spend"] for row in logs) == pytest.approx([0.04, 0.08])
    assert spend == pytest.approx(0.12)
    assert "the database is unreachable (" in caplog.text
    assert "2 row(s) wait for the next try" in caplog.text


async def test_spend_rows_are_dropped_once_their_write_attempts_run_out(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(sqlite_url) as admin:
        spend_writer = writer(admin.access.store, max_attempts=2)
        async with spend_table_gone(admin.access.store):
            spend_writer.add(log_row())
            assert not await spend_writer.flush()
            assert spend_writer.pending == 1
            with caplog.at_level(logging.WARNING, logger="imagegen.proxy"):
                assert not await spend_writer.flush()
        assert spend_writer.pending == 0
    assert "1 dropped after 2 failed attempts" in caplog.text


async def test_shutdown_with_the_database_unreachable_reports_the_lost_rows_instead_of_raising(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(sqlite_url) as admin:
        spend_writer = writer(admin.access.store)
        spend_writer.start()
        async with spend_table_gone(admin.access.store):
            spend_writer.add(log_row())
            with caplog.at_level(logging.ERROR, logger="imagegen.proxy"):
                await spend_writer.close()
    assert spend_writer.pending == 0
    assert "1 row(s) could not be written before shutdown" in caplog.text


async def test_spend_backlog_is_bounded_and_says_what_it_dropped(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(sqlite_url) as admin:
        spend_writer = writer(admin.access.store, max_pending=3)
        for number in range(5):
            spend_writer.add(log_row(request_id=f"row-{number}"))
        assert spend_writer.pending == 3
        with caplog.at_level(logging.ERROR, logger="imagegen.proxy"):
            assert await spend_writer.flush()
        stored = await admin.access.store.spend_logs()
    assert sorted(row["request_id"] for row in stored) == ["row-2", "row-3", "row-4"]
    assert "dropped the 2 oldest row(s)" in caplog.text


async def written_in_inserts(admin: Admin, rows: int) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
    """Writes `rows` spend rows in one batch; returns each INSERT into the spend log (SQL, parameters) and the rows."""
    inserts: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.startswith(f"INSERT INTO {SPEND_LOGS}"):
            inserts.append((statement, parameters))

    event.listen(admin.access.store.engine.sync_engine, "before_cursor_execute", seen)
    spend_writer = writer(admin.access.store)
    for number in range(rows):
        spend_writer.add(log_row(request_id=f"row-{number}"))
    assert await spend_writer.flush()
    return inserts, await admin.access.store.spend_logs(limit=rows + 1)


async def test_a_spend_batch_reaches_sqlite_as_one_multi_row_insert_not_a_statement_per_row(sqlite_url: str) -> None:
    # sqlite3 hands the GIL to its thread and back around every statement step: one per row would stall
    # the event loop's thread for thousands of GIL handoffs per batch under load.
    async with running(sqlite_url) as admin:
        inserts, stored = await written_in_inserts(admin, 3)
    assert len(inserts) == 1
    assert len(inserts[0][1]) == 3 * len(log_row())  # every row's values bound in the one statement
    assert sorted(row["request_id"] for row in stored) == ["row-0", "row-1", "row-2"]


async def test_a_large_spend_batch_reaches_sqlite_in_inserts_of_a_fixed_size(sqlite_url: str) -> None:
    # sqlite3 keeps its last 128 statements prepared: an INSERT text per batch size would hold up to 128
    # statements of up to 1,000 rows each (the worker grew by ~1 MB a second under load).
    async with running(sqlite_url) as admin:
        inserts, stored = await written_in_inserts(admin, 2 * SQLITE_ROWS_PER_INSERT + 7)
    assert [len(parameters) // len(log_row()) for _, parameters in inserts] == [SQLITE_ROWS_PER_INSERT] * 2 + [7]
    assert len({statement for statement, _ in inserts}) == 2
    assert len(stored) == 2 * SQLITE_ROWS_PER_INSERT + 7
