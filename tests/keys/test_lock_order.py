"""On PostgreSQL, every transaction that locks several budget rows (keys, teams, end users) locks them in one
sorted order, so concurrent requests and spend writers wait for each other and never deadlock."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from imagegen_proxy.keys.counters import SpendKey
from imagegen_proxy.keys.ledger import DatabaseLedger, Hold
from imagegen_proxy.keys.store import END_USERS, TEAMS, EndUserRecord, KeyRecord, KeyStore, TeamRecord

pytestmark = pytest.mark.anyio

SUBJECTS = ["user:u-1", "team:t-1", "key:k-2", "key:k-1", "team:t-2", "user:u-2"]  # deliberately not sorted
_ROW_TABLES = ("imagegen_keys", "imagegen_teams", "imagegen_end_users")


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[KeyStore]:
    store = KeyStore(postgres_url)
    await store.start()
    for subject in SUBJECTS:
        kind, _, identifier = subject.partition(":")
        if kind == "key":
            await store.create(KeyRecord(token=identifier, key_name=identifier, max_budget=1000.0))
        elif kind == "team":
            await store.add(TEAMS, TeamRecord(team_id=identifier, max_budget=1000.0))
        else:
            await store.add(END_USERS, EndUserRecord(user_id=identifier, max_budget=1000.0))
    yield store
    await store.close()


def row_locks(store: KeyStore) -> list[str]:
    """The budget rows locked from now on (`FOR UPDATE`, `UPDATE`), as subjects, in the order they are locked."""
    locked: list[str] = []
    kinds = {"imagegen_keys": "key", "imagegen_teams": "team", "imagegen_end_users": "user"}

    def before(_conn: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        text = " ".join(statement.split())
        table = next((t for t in _ROW_TABLES if f"FROM {t}" in text or f"UPDATE {t}" in text), None)
        if table is None or not ("FOR UPDATE" in text or text.startswith("UPDATE")):
            return
        values = parameters.values() if isinstance(parameters, dict) else parameters  # type: ignore[union-attr]
        identifier = next(v for v in values if isinstance(v, str) and any(v == s.partition(":")[2] for s in SUBJECTS))
        locked.append(f"{kinds[table]}:{identifier}")

    event.listen(store.engine.sync_engine, "before_cursor_execute", before)
    return locked


async def test_a_reservation_locks_its_subjects_rows_sorted_by_subject(store: KeyStore) -> None:
    locked = row_locks(store)
    holds = [Hold(subject, subject, 0.0, max_budget=1000.0) for subject in ("user:u-1", "team:t-1", "key:k-1")]

    assert await DatabaseLedger(store).reserve("r-1", holds, 0.04) is None

    assert locked == ["key:k-1", "team:t-1", "user:u-1"]


async def test_the_spend_writer_updates_budget_rows_sorted_by_subject(store: KeyStore) -> None:
    locked = row_locks(store)
    spend: dict[SpendKey, float] = {(subject, None): 0.04 for subject in SUBJECTS}

    await store.record_spend([], spend)

    assert locked == sorted(SUBJECTS)


async def test_concurrent_reservations_and_spend_writes_in_any_order_never_deadlock(store: KeyStore) -> None:
    ledger = DatabaseLedger(store)
    shuffled = random.Random(7)

    async def writer(round_: int) -> None:
        subjects = shuffled.sample(SUBJECTS, len(SUBJECTS))
        settled = [f"r-{round_}-{i}" for i in range(3)]
        await store.record_spend([], {(subject, None): 0.01 for subject in subjects}, settled)

    async def reservation(round_: int, index: int) -> None:
        subjects = shuffled.sample(SUBJECTS, 3)
        holds = [Hold(subject, subject, 0.0, max_budget=1000.0, budget_reset_at=None) for subject in subjects]
        assert await ledger.reserve(f"r-{round_}-{index}", holds, 0.01) is None
        await ledger.settle(f"r-{round_}-{index}", holds, 0.01)

    started = datetime.now(UTC)
    for round_ in range(15):
        work = [writer(round_) for _ in range(4)] + [reservation(round_, i) for i in range(3)]
        await asyncio.gather(*work)  # a deadlock raises DeadlockDetectedError here

    assert (datetime.now(UTC) - started).total_seconds() < 60
