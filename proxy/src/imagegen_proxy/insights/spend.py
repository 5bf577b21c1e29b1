"""Spend for dashboards: totals and breakdowns over a date range, the spend log page by page, and as CSV.

`GET /spend/summary`, `GET /spend/logs/ui` (LiteLLM's paged spend log) and `GET /spend/logs/export`.
Dates are UTC days (`YYYY-MM-DD`, the end day included). The master key sees every key's spend
(`api_key` narrows it to one); a virtual key sees only its own.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute

from ..errors import ProxyError
from ..keys.admin import spend_log_row
from ..keys.reports import STATUS_CLASSES, SpendQuery, spend_log_page, spend_report, stream_spend_logs
from ..keys.tokens import token_of
from ..openapi import ApiRoute, Operation
from .viewer import viewer_of

if TYPE_CHECKING:
    from ..app import Proxy
    from ..keys import KeyAccess

SUMMARY_DAYS = 30
"""The range of /spend/summary when no dates are given: the last 30 days, today included."""
MAX_PAGE_SIZE = 500
MAX_EXPORT_ROWS = 100_000
CSV_COLUMNS = (
    "request_id", "startTime", "api_key", "model_group", "model", "provider", "images", "size", "quality", "spend",
    "latency_ms", "status",
)  # fmt: skip
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Query:
    """The query string of a spend request, read with errors that name the parameter and its form."""

    def __init__(self, request: Request) -> None:
        self.params = request.query_params

    def day(self, name: str) -> date | None:
        raw = self.params.get(name)
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise ProxyError(400, f"`{name}` must be a date like 2026-01-31", param=name) from None

    def positive_int(self, name: str, default: int, most: int) -> int:
        raw = self.params.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or int(raw) < 1:
            raise ProxyError(400, f"`{name}` must be a positive integer", param=name)
        return min(int(raw), most)

    def status(self) -> str | int | None:
        raw = self.params.get("status")
        if not raw:
            return None
        if raw in STATUS_CLASSES:
            return raw
        if raw.isdigit():
            return int(raw)
        raise ProxyError(400, "`status` must be success, error or an HTTP status such as 429", param="status")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


class SpendInsights:
    """The spend routes over the keys database of a proxy with virtual keys."""

    def __init__(self, proxy: Proxy, access: KeyAccess) -> None:
        self.proxy = proxy
        self.access = access

    def routes(self) -> list[BaseRoute]:
        return [
            ApiRoute(
                "/spend/summary",
                self.summary,
                "GET",
                Operation("Spend totals, per day, key, model group and provider", "console", errors=(400, 401, 403)),
            ),
            ApiRoute(
                "/spend/logs/ui",
                self.log_page,
                "GET",
                Operation("A page of the spend log, with filters", "console", errors=(400, 401, 403)),
            ),
            ApiRoute(
                "/spend/logs/export",
                self.export,
                "GET",
                Operation("The spend log as CSV", "console", errors=(400, 401, 403), media_type="text/csv"),
            ),
        ]

    async def _query(self, request: Request, *, default_days: int | None = None) -> SpendQuery:
        """The rows a request may see and asks for: a virtual key's own only (403 for another key's)."""
        viewer = await viewer_of(self.proxy, request)
        query = _Query(request)
        asked = request.query_params.get("api_key") or None
        token = token_of(asked) if asked else None
        if not viewer.operator:
            if token is not None and token != viewer.caller.key_hash:
                raise ProxyError(403, "a key may read only its own spend: leave out `api_key`", code="admin_only")
            token = viewer.caller.key_hash
        start, end = query.day("start_date"), query.day("end_date")
        if default_days is not None:
            end = end or datetime.now(UTC).date()
            start = start or end - timedelta(days=default_days - 1)
        if start is not None and end is not None and start > end:
            raise ProxyError(400, "`start_date` is after `end_date`", param="start_date")
        return SpendQuery(
            token=token,
            model_group=request.query_params.get("model") or None,
            status=query.status(),
            start=_midnight(start) if start else None,
            end=_midnight(end + timedelta(days=1)) if end else None,
        )

    async def summary(self, request: Request) -> Response:
        """Totals and breakdowns per day, key, model group and provider (the last 30 days by default)."""
        query = await self._query(request, default_days=SUMMARY_DAYS)
        report = await self.access.read(spend_report(self.access.store, query))
        assert query.start is not None
        assert query.end is not None
        return JSONResponse(
            {
                "start_date": query.start.date().isoformat(),
                "end_date": (query.end - timedelta(days=1)).date().isoformat(),
                **report,
            }
        )

    async def log_page(self, request: Request) -> Response:
        """One page of the spend log, newest first: `{"data", "total", "page", "page_size", "total_pages"}`."""
        query = await self._query(request)
        reader = _Query(request)
        page = reader.positive_int("page", 1, 1_000_000)
        size = reader.positive_int("page_size", 50, MAX_PAGE_SIZE)
        rows, total = await self.access.read(spend_log_page(self.access.store, query, (page - 1) * size, size))
        return JSONResponse(
            {
                "data": [spend_log_row(row).model_dump(mode="json") for row in rows],
                "total": total,
                "page": page,
                "page_size": size,
                "total_pages": max(1, math.ceil(total / size)),
            }
        )

    async def export(self, request: Request) -> Response:
        """The spend log rows the filters select, newest first, as CSV (at most `MAX_EXPORT_ROWS`)."""
        query = await self._query(request)
        columns = (*CSV_COLUMNS, "prompt") if self.proxy.config.store_prompts else CSV_COLUMNS
        rows = stream_spend_logs(self.access.store, query, MAX_EXPORT_ROWS)
        return StreamingResponse(
            _csv(rows, columns),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="imagegen-spend.csv"', "cache-control": "no-store"},
        )


async def _csv(rows: AsyncIterator[Mapping[str, Any]], columns: tuple[str, ...]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    async for row in rows:
        entry = spend_log_row(row).model_dump(mode="json")
        writer.writerow([csv_cell(entry.get(column)) for column in columns])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell; text a spreadsheet would run as a formula (`=HYPERLINK(…)`) is quoted with `'`."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
