"""Spend log rows written in batches off the response path, and flushed on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from .store import KeyStore

logger = logging.getLogger("imagegen.proxy")

MAX_PENDING_ROWS = 100_000  # while the database is down, keep this many rows, then drop the oldest


class SpendWriter:
    """Queues spend rows in memory and writes them every `interval` seconds (or at `batch_size` rows).

    `on_flushed(spend_by_token)` runs after each batch reached the database.
    """

    def __init__(
        self,
        store: KeyStore,
        on_flushed: Callable[[dict[str, float]], None],
        interval: float = 0.5,
        batch_size: int = 500,
    ) -> None:
        self._store = store
        self._on_flushed = on_flushed
        self._interval = interval
        self._batch_size = batch_size
        self._rows: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="imagegen-spend-writer")

    def add(self, row: dict[str, Any]) -> None:
        """Queue one row (no I/O: safe on the response path)."""
        self._rows.append(row)
        if len(self._rows) > MAX_PENDING_ROWS:
            del self._rows[: len(self._rows) - MAX_PENDING_ROWS]
            logger.error("spend log backlog over %d rows: dropping the oldest", MAX_PENDING_ROWS)
        if len(self._rows) >= self._batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._rows)

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception as exc:  # the database is away: keep the rows, try again next round
                logger.warning("could not write %d spend log row(s), will retry: %s", len(self._rows), exc)

    async def flush(self) -> None:
        """Write every queued row now; on failure the rows stay queued."""
        async with self._flushing:
            if not self._rows:
                return
            rows, self._rows = self._rows, []
            spend: dict[str, float] = {}
            for row in rows:
                if row["token"] is not None and row["cost"]:
                    spend[row["token"]] = spend.get(row["token"], 0.0) + row["cost"]
            try:
                await self._store.record_spend(rows, spend)
            except BaseException:
                self._rows[:0] = rows
                raise
            self._on_flushed(spend)

    async def close(self) -> None:
        """Stop the background writer and write what is left."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task  # lets a batch being written finish rather than cancelling it
            self._task = None
        await self.flush()
