"""Spend reports are added up by the database, per UTC day, key, model group and provider: on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert

from imagegen_proxy.insights.spend import csv_cell
from imagegen_proxy.keys.reports import SpendQuery, spend_log_page, spend_report, stream_spend_logs
from imagegen_proxy.keys.schema import spend_logs
from imagegen_proxy.keys.store import KeyRecord, KeyStore

pytestmark = pytest.mark.anyio

ALICE, BOB = "a" * 64, "b" * 64


def row(
    when: str, token: str | None, group: str, cost: float | None, status: int = 200, images: int = 1
) -> dict[str, Any]:
    return {
        "request_id": f"{when}-{status}", "start_time": datetime.fromisoformat(when).replace(tzinfo=UTC),
        "token": token, "model_group": group, "deployment": f"{group}#1", "provider": "openai" if status < 500 else None,
        "images": images if status < 400 else 0, "size": "1024x1024", "quality": None, "cost": cost,
        "latency_ms": 10.0, "status": status, "prompt": None,
    }  # fmt: skip


ROWS = [
    row("2026-01-30T23:59:59", ALICE, "dall-e-3", 0.04),
    row("2026-01-31T00:00:00", ALICE, "dall-e-3", 0.08, images=2),
    row("2026-01-31T12:00:00", BOB, "gpt-image-1", 0.02),
    row("2026-01-31T13:00:00", None, "gpt-image-1", None, status=503),
    row("2026-02-01T08:00:00", BOB, "gpt-image-1", 0.01),
]


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[KeyStore]:
    store = KeyStore(database_url)
    await store.start()
    await store.create(KeyRecord(token=ALICE, key_name="sk-...lice", key_alias="alice"))
    async with store.engine.begin() as connection:
        await connection.execute(insert(spend_logs), ROWS)
    yield store
    await store.close()


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def test_totals_count_spend_requests_images_and_failures(store: KeyStore) -> None:
    report = await spend_report(store, SpendQuery())

    assert report["total"] == {"spend": pytest.approx(0.15), "requests": 5, "images": 5, "errors": 1}


async def test_spend_is_added_up_per_utc_day(store: KeyStore) -> None:
    report = await spend_report(store, SpendQuery())

    assert [(d["date"], round(d["spend"], 4), d["requests"]) for d in report["by_day"]] == [
        ("2026-01-30", 0.04, 1), ("2026-01-31", 0.10, 3), ("2026-02-01", 0.01, 1),
    ]  # fmt: skip


async def test_spend_per_key_names_the_key_biggest_first(store: KeyStore) -> None:
    report = await spend_report(store, SpendQuery())

    by_key = [(k["api_key"], k["key_alias"], round(k["spend"], 4)) for k in report["by_key"]]
    assert by_key == [(ALICE, "alice", 0.12), (BOB, None, 0.03), (None, None, 0.0)]  # BOB's key is deleted


async def test_spend_per_model_group_and_per_provider(store: KeyStore) -> None:
    report = await spend_report(store, SpendQuery())

    assert [(g["model_group"], g["requests"]) for g in report["by_model_group"]] == [
        ("dall-e-3", 2),
        ("gpt-image-1", 3),
    ]
    assert [(p["provider"], p["errors"]) for p in report["by_provider"]] == [("openai", 0), (None, 1)]


async def test_a_report_covers_only_its_range_and_key(store: KeyStore) -> None:
    query = SpendQuery(token=BOB, start=day("2026-01-31"), end=day("2026-02-01"))

    report = await spend_report(store, query)

    assert report["total"]["requests"] == 1
    assert [k["api_key"] for k in report["by_key"]] == [BOB]


async def test_a_page_of_the_log_is_newest_first_with_the_total(store: KeyStore) -> None:
    rows, total = await spend_log_page(store, SpendQuery(model_group="gpt-image-1"), offset=1, limit=1)

    assert total == 3
    assert [r["start_time"] for r in rows] == [day("2026-01-31T13:00:00")]


@pytest.mark.parametrize(("status", "expected"), [("success", 4), ("error", 1), (503, 1), (429, 0)])
async def test_the_log_filters_by_status(store: KeyStore, status: str | int, expected: int) -> None:
    _, total = await spend_log_page(store, SpendQuery(status=status), offset=0, limit=10)

    assert total == expected


async def test_an_export_streams_the_rows_up_to_its_limit(store: KeyStore) -> None:
    streamed = [r["request_id"] async for r in stream_spend_logs(store, SpendQuery(), limit=2)]

    assert streamed == [ROWS[4]["request_id"], ROWS[3]["request_id"]]


@pytest.mark.parametrize("text", ['=HYPERLINK("x")', "+1", "-1", "@SUM(A1)"])
def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_quoted(text: str) -> None:
    assert csv_cell(text) == "'" + text


def test_numbers_and_plain_text_stay_as_they_are_in_a_csv() -> None:
    assert [csv_cell(v) for v in (0.04, 200, "dall-e-3", None)] == [0.04, 200, "dall-e-3", ""]
