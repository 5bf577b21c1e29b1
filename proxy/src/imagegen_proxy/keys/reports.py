"""Reading the spend log for dashboards: totals per day, key, model group and provider, pages, exports.

Everything is aggregated by the database (GROUP BY), on SQLite and PostgreSQL alike, so a report
over millions of rows moves a few hundred numbers, never the rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, String, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from .api_models import shown_spend
from .schema import keys, spend_logs

if TYPE_CHECKING:
    from .store import KeyStore

ERROR_STATUS = 400
"""A spend log row with this status or above is a failed request."""
STATUS_CLASSES = ("success", "error")


@dataclass(frozen=True)
class SpendQuery:
    """Which spend log rows: a key's (by its token), a team's, an end user's, a model group's, a status's,
    within [start, end)."""

    token: str | None = None
    team_id: str | None = None
    end_user: str | None = None
    model_group: str | None = None
    status: str | int | None = None  # "success" (< 400), "error" (≥ 400) or one HTTP status
    start: datetime | None = None
    end: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        column = spend_logs.c
        conditions: list[ColumnElement[bool]] = []
        for name, value in (("token", self.token), ("team_id", self.team_id), ("end_user", self.end_user)):
            if value is not None:
                conditions.append(column[name] == value)
        if self.model_group is not None:
            conditions.append(column.model_group == self.model_group)
        if self.status == "success":
            conditions.append(column.status < ERROR_STATUS)
        elif self.status == "error":
            conditions.append(column.status >= ERROR_STATUS)
        elif isinstance(self.status, int):
            conditions.append(column.status == self.status)
        if self.start is not None:
            conditions.append(column.start_time >= self.start)
        if self.end is not None:
            conditions.append(column.start_time < self.end)
        return conditions

    def newest_first(self) -> Select[Any]:
        """The rows, newest first."""
        column = spend_logs.c
        return select(spend_logs).where(*self.conditions()).order_by(column.start_time.desc(), column.id.desc())


def _measures() -> list[Any]:
    column = spend_logs.c
    return [
        func.coalesce(func.sum(column.cost), 0.0).label("spend"),
        func.count().label("requests"),
        func.coalesce(func.sum(column.images), 0).label("images"),
        func.coalesce(func.sum(case((column.status >= ERROR_STATUS, 1), else_=0)), 0).label("errors"),
    ]


def _day(dialect: str) -> ColumnElement[str]:
    """A row's UTC day as `YYYY-MM-DD`: SQLite stores UTC text, PostgreSQL a timestamptz."""
    column = spend_logs.c.start_time
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD", type_=String)
    return func.substr(column, 1, 10, type_=String)


def _totals(row: Any) -> dict[str, Any]:
    return {
        "spend": shown_spend(float(row.spend)),
        "requests": int(row.requests),
        "images": int(row.images),
        "errors": int(row.errors),
    }


async def spend_report(store: KeyStore, query: SpendQuery) -> dict[str, Any]:
    """The spend, requests, images and failed requests of the rows `query` selects, in total and per UTC day,
    key (with its alias and name; None is the master key), model group and provider, biggest spend first."""
    where = query.conditions()
    day = _day(store.dialect).label("day")
    grouped = {
        "by_model_group": spend_logs.c.model_group,
        "by_provider": spend_logs.c.provider,
    }
    async with store.engine.connect() as connection:
        total = (await connection.execute(select(*_measures()).where(*where))).one()
        days = await connection.execute(select(day, *_measures()).where(*where).group_by(day).order_by(day))
        report: dict[str, Any] = {
            "total": _totals(total),
            "by_day": [{"date": row.day, **_totals(row)} for row in days],
        }
        by_key = select(spend_logs.c.token, *_measures()).where(*where).group_by(spend_logs.c.token).subquery()
        key_rows = await connection.execute(
            select(by_key, keys.c.key_alias, keys.c.key_name)
            .select_from(by_key.outerjoin(keys, keys.c.token == by_key.c.token))
            .order_by(by_key.c.spend.desc(), by_key.c.requests.desc())
        )
        report["by_key"] = [
            {"api_key": row.token, "key_alias": row.key_alias, "key_name": row.key_name, **_totals(row)}
            for row in key_rows
        ]
        for name, column in grouped.items():
            measures = select(column.label("name"), *_measures()).where(*where).group_by(column).subquery()
            rows = await connection.execute(select(measures).order_by(measures.c.spend.desc(), measures.c.name))
            field = name.removeprefix("by_")
            report[name] = [{field: row.name, **_totals(row)} for row in rows]
    return report


async def spend_log_page(
    store: KeyStore, query: SpendQuery, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of the rows `query` selects (newest first) and how many it selects in all."""
    async with store.engine.connect() as connection:
        total = (
            await connection.execute(select(func.count()).select_from(spend_logs).where(*query.conditions()))
        ).scalar_one()
        rows = await connection.execute(query.newest_first().offset(offset).limit(limit))
        return [dict(row) for row in rows.mappings()], int(total)


async def stream_spend_logs(store: KeyStore, query: SpendQuery, limit: int) -> AsyncIterator[dict[str, Any]]:
    """The rows `query` selects, newest first, at most `limit`, read from the database as they are sent."""
    async with store.engine.connect() as connection:
        result = await connection.stream(query.newest_first().limit(limit).execution_options(yield_per=500))
        async for row in result.mappings():
            yield dict(row)
