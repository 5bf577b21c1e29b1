"""Spend log rows written in batches off the response path, and flushed on shutdown.

A row holds what the client sent (size, quality, model, prompt), so each is made fit for every
database before it is queued: text longer than its column is cut, ending in "…" (names, so the row
still says which model was asked for), or left out (size and quality: a cut-off value would read as
another, real one, and nothing that long is a valid size or quality); a stored prompt is capped at
MAX_STORED_PROMPT_CHARS; NUL characters and unpaired surrogates, which PostgreSQL refuses, go.

Should the database still refuse a batch, its rows are written one at a time and only the rows it
refuses are dropped (counted in a warning; their cost still counts against their keys). While the
database cannot be reached, rows wait and are retried after growing pauses, each row at most
`max_attempts` times; the backlog is bounded, and dropping from it says so. Log lines name the
exception's type and row counts, never a row's values (they may hold prompts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String

from .counters import SpendKey
from .schema import spend_logs
from .store import KeyStore

logger = logging.getLogger("imagegen.proxy")

MAX_STORED_PROMPT_CHARS = 32_000  # the longest prompt any supported model takes (gpt-image-1)
MAX_PENDING_ROWS = 50_000  # while the database is away, keep this many rows, then drop the oldest
MAX_PENDING_PROMPT_CHARS = 50_000_000  # and at most this much stored-prompt text (about 50 MB)
MAX_WRITE_ATTEMPTS = 20  # with the pauses below, a row outlasts about 7 minutes of database outage
MAX_RETRY_PAUSE_SECONDS = 30.0
SHUTDOWN_WRITE_ATTEMPTS = 3

_TEXT_LIMITS = {
    column.name: column.type.length
    for column in spend_logs.columns
    if isinstance(column.type, String) and column.type.length is not None
}
_LEFT_OUT_WHEN_TOO_LONG = frozenset({"size", "quality"})


def clean_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """`row` as every database takes it (see the module's docstring)."""
    cleaned = dict(row)
    for name, limit in _TEXT_LIMITS.items():
        value = cleaned.get(name)
        if value is None:
            continue
        text: str | None = _storable(str(value))
        if text is not None and len(text) > limit:
            text = None if name in _LEFT_OUT_WHEN_TOO_LONG else text[: limit - 1] + "…"
        cleaned[name] = text
    if (prompt := cleaned.get("prompt")) is not None:
        cleaned["prompt"] = _storable(str(prompt)[:MAX_STORED_PROMPT_CHARS])
    return cleaned


def _storable(text: str) -> str:
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")  # an unpaired surrogate becomes "?"
    return text.replace("\x00", "")


@dataclass(slots=True)
class _Pending:
    """A queued row, whom its cost is charged to (each subject in its budget period), the reservation it settles,
    and how many writes of it failed."""

    values: dict[str, Any]
    charges: tuple[SpendKey, ...]
    reservation: str | None
    attempts: int = 0

    @property
    def prompt_chars(self) -> int:
        return len(self.values.get("prompt") or "")


def _spend_of(rows: Iterable[_Pending]) -> dict[SpendKey, float]:
    spend: dict[SpendKey, float] = {}
    for row in rows:
        if cost := row.values.get("cost"):
            for charge in row.charges:
                spend[charge] = spend.get(charge, 0.0) + cost
    return spend


def _settled(rows: Iterable[_Pending]) -> list[str]:
    return [row.reservation for row in rows if row.reservation is not None]


def _merge(total: dict[SpendKey, float], amounts: Mapping[SpendKey, float]) -> None:
    for key, amount in amounts.items():
        total[key] = total.get(key, 0.0) + amount


class SpendWriter:
    """Queues spend rows in memory and writes them every `interval` seconds (or at `batch_size` rows).

    `on_flushed(spend, settled)` runs after spend reached the database, with the amounts added to each subject
    and the reservations settled. Without `write_rows` (`disable_spend_logs`) a queued row only carries its
    `cost`: its spend is charged and no log row is written. With `reservations_in_database` the settled
    reservations are deleted in the same transaction (see `ledger.DatabaseLedger`).
    """

    def __init__(
        self,
        store: KeyStore,
        on_flushed: Callable[[Mapping[SpendKey, float], list[str]], None],
        interval: float = 0.5,
        batch_size: int = 2000,  # an early write; batches of 500 cost a busy worker ~3 % of its throughput
        max_pending: int = MAX_PENDING_ROWS,
        max_attempts: int = MAX_WRITE_ATTEMPTS,
        write_rows: bool = True,
        reservations_in_database: bool = True,
    ) -> None:
        self._store = store
        self._write_rows = write_rows
        self.reservations_in_database = reservations_in_database
        self._on_flushed = on_flushed
        self._interval = interval
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._max_attempts = max_attempts
        self._rows: deque[_Pending] = deque()
        self._prompt_chars = 0
        self._dropped_from_backlog = 0
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="imagegen-spend-writer")

    def add(self, row: Mapping[str, Any], charges: Iterable[SpendKey] = (), reservation: str | None = None) -> None:
        """Queue one row whose cost is charged to `charges` (subjects, each in its budget period) and settles
        `reservation` (no I/O: safe on the response path)."""
        pending = _Pending(clean_row(row) if self._write_rows else dict(row), tuple(charges), reservation)
        self._rows.append(pending)
        self._prompt_chars += pending.prompt_chars
        self._bound_backlog()
        if len(self._rows) >= self._batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._rows)

    async def _run(self) -> None:
        pause = 0.0  # after a failed write: wait longer each time, ignoring the batch-size wake-ups
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                if pause:
                    await asyncio.wait_for(self._stop.wait(), pause)
                else:
                    await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            if self._stop.is_set():
                break  # close() writes what is left
            try:
                reached = await self.flush()
            except Exception as exc:  # a bug rather than the database: keep writing later rows
                logger.error("spend log writer failed (%s)", type(exc).__name__)
                reached = False
            pause = 0.0 if reached else min(max(pause, self._interval) * 2, MAX_RETRY_PAUSE_SECONDS)

    async def flush(self) -> bool:
        """Write the queued rows now; False if the database could not be reached (the rows wait)."""
        async with self._flushing:
            self._report_backlog_drops()
            if not self._rows:
                return True
            batch = list(self._rows)
            self._rows.clear()
            self._prompt_chars = 0
            try:
                added = await self._store.record_spend(self._rows_of(batch), _spend_of(batch), self._released_of(batch))
            except Exception:
                return await self._write_one_by_one(batch)
            self._on_flushed(added, _settled(batch))
            return True

    def _rows_of(self, batch: list[_Pending]) -> list[dict[str, Any]]:
        return [row.values for row in batch] if self._write_rows else []

    def _released_of(self, batch: list[_Pending]) -> list[str]:
        return _settled(batch) if self.reservations_in_database else []

    async def _write_one_by_one(self, batch: list[_Pending]) -> bool:
        """After a failed batch: write its rows one at a time, so that a row the database refuses costs only itself."""
        added: dict[SpendKey, float] = {}
        settled: list[str] = []
        refused: set[str] = set()
        refused_rows = 0
        reached = True
        for index, row in enumerate(batch):
            try:
                written = await self._store.record_spend(
                    self._rows_of([row]), _spend_of([row]), self._released_of([row])
                )
                _merge(added, written)
                settled += _settled([row])
                continue
            except Exception as exc:
                if not await self._answers():
                    self._retry_later(batch[index:], exc)
                    reached = False
                    break
            try:  # the database answers: try once more, in case that was a passing failure
                _merge(added, await self._store.record_spend(self._rows_of([row]), _spend_of([row])))
            except Exception as exc:
                refused.add(type(exc).__name__)
                refused_rows += 1
                with contextlib.suppress(Exception):  # the row is lost; its cost still counts
                    _merge(added, await self._store.record_spend([], _spend_of([row]), self._released_of([row])))
                    settled += _settled([row])
        if added or settled:
            self._on_flushed(added, settled)
        if refused_rows:
            logger.warning(
                "spend log: the database refused %d of %d row(s) (%s); dropped them, their cost still counts",
                refused_rows, len(batch), ", ".join(sorted(refused)),
            )  # fmt: skip
        return reached

    async def _answers(self) -> bool:
        try:
            await self._store.ping()
        except Exception:
            return False
        return True

    def _retry_later(self, rows: list[_Pending], error: Exception) -> None:
        kept = []
        for row in rows:
            row.attempts += 1
            if row.attempts < self._max_attempts:
                kept.append(row)
        self._rows.extendleft(reversed(kept))
        self._prompt_chars += sum(row.prompt_chars for row in kept)
        self._bound_backlog()
        given_up = len(rows) - len(kept)
        logger.warning(
            "spend log: the database is unreachable (%s); %d row(s) wait for the next try%s",
            type(error).__name__, len(self._rows),
            f", {given_up} dropped after {self._max_attempts} failed attempts" if given_up else "",
        )  # fmt: skip

    def _bound_backlog(self) -> None:
        while len(self._rows) > self._max_pending or self._prompt_chars > MAX_PENDING_PROMPT_CHARS:
            self._prompt_chars -= self._rows.popleft().prompt_chars
            self._dropped_from_backlog += 1

    def _report_backlog_drops(self) -> None:
        if self._dropped_from_backlog:
            logger.error(
                "spend log backlog full (at most %d rows, %d prompt characters): dropped the %d oldest row(s)",
                self._max_pending, MAX_PENDING_PROMPT_CHARS, self._dropped_from_backlog,
            )  # fmt: skip
            self._dropped_from_backlog = 0

    async def close(self) -> None:
        """Stop the background writer and write what is left. Rows the database cannot take within a few
        attempts are reported lost in an error log (never raised: shutdown goes on)."""
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task  # lets a batch being written finish rather than cancelling it
            self._task = None
        failures = 0
        while self._rows and failures < SHUTDOWN_WRITE_ATTEMPTS:
            if not await self.flush():
                failures += 1
                if failures < SHUTDOWN_WRITE_ATTEMPTS:
                    await asyncio.sleep(self._interval * failures)
        if self._rows:
            logger.error(
                "spend log: %d row(s) could not be written before shutdown (the database is unreachable); "
                "they are lost",
                len(self._rows),
            )
            self._rows.clear()
            self._prompt_chars = 0
        self._report_backlog_drops()
