"""The admin API, LiteLLM-compatible and for the master key only.

`POST /key/generate`, `GET /key/info`, `POST /key/update`, `POST /key/delete`, `GET /key/list`,
`GET /spend/logs`, `GET /global/spend`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..access import presented_key
from ..errors import ProxyError
from .control import ALL_MODELS
from .durations import parse_duration
from .store import KeyRecord
from .tokens import hash_key, key_name, new_key, token_of

if TYPE_CHECKING:
    from .control import KeyAccess

KEY_FIELDS = ("models", "max_budget", "budget_duration", "rpm_limit", "duration", "metadata", "key_alias")
UPDATE_FIELDS = (*KEY_FIELDS, "spend")
MAX_PAGE_SIZE = 1000

Handler = Callable[["KeyAccess", Request], Awaitable[Any]]


def admin_routes(access: KeyAccess) -> list[BaseRoute]:
    def route(path: str, handler: Handler, method: str) -> Route:
        async def endpoint(request: Request) -> Response:
            try:
                caller = await access.authenticate(presented_key(request))
                if not caller.is_admin:
                    raise ProxyError(403, f"{path} is for the master key only", code="admin_only")
                return JSONResponse(await handler(access, request))
            except ProxyError as error:
                return error.response()

        return Route(path, endpoint, methods=[method])

    return [
        route("/key/generate", generate_key, "POST"),
        route("/key/info", key_info, "GET"),
        route("/key/update", update_key, "POST"),
        route("/key/delete", delete_keys, "POST"),
        route("/key/list", list_keys, "GET"),
        route("/spend/logs", spend_logs, "GET"),
        route("/global/spend", global_spend, "GET"),
    ]


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ProxyError(400, "the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ProxyError(400, "the request body must be a JSON object")
    return body


def _key_values(access: KeyAccess, body: Mapping[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """The `imagegen_keys` columns set by a generate/update body; 400 naming the first bad field."""
    unknown = sorted(set(body) - set(allowed) - {"key"})
    if unknown:
        raise ProxyError(
            400, f"unsupported field(s) {', '.join(unknown)}; supported: {', '.join(allowed)}", param=unknown[0]
        )
    now = datetime.now(UTC)
    values: dict[str, Any] = {}
    for name in allowed:
        if name not in body:
            continue
        value = body[name]
        if name == "models":
            values["models"] = _models(access, value)
        elif name in ("max_budget", "spend"):
            values[name] = _amount(name, value)
        elif name == "rpm_limit":
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ProxyError(400, "`rpm_limit` must be a non-negative integer or null", param=name)
            values[name] = value
        elif name == "duration":
            values["expires"] = now + _duration(name, value) if value is not None else None
        elif name == "budget_duration":
            values["budget_duration"] = value
            values["budget_reset_at"] = now + _duration(name, value) if value is not None else None
        elif name == "metadata":
            if value is not None and not isinstance(value, dict):
                raise ProxyError(400, "`metadata` must be a JSON object", param=name)
            values["metadata"] = value or {}
        elif name == "key_alias":
            if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 255):
                raise ProxyError(400, "`key_alias` must be a non-empty string of at most 255 characters", param=name)
            values["key_alias"] = value
    return values


def _models(access: KeyAccess, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
        raise ProxyError(400, "`models` must be a list of model names", param="models")
    groups = access.config.groups()
    unknown = [m for m in value if m not in groups and m != ALL_MODELS]
    if unknown:
        raise ProxyError(
            400,
            f"unknown model(s) {', '.join(unknown)} in `models`; configured models: {', '.join(sorted(groups))}",
            param="models",
        )
    return list(dict.fromkeys(value))


def _amount(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ProxyError(400, f"`{name}` must be a non-negative number of USD or null", param=name)
    return float(value)


def _duration(name: str, value: Any) -> timedelta:
    try:
        return parse_duration(value, name)
    except ValueError as exc:
        raise ProxyError(400, str(exc), param=name) from None


async def _alias_is_free(access: KeyAccess, alias: str | None, token: str | None = None) -> None:
    if alias is not None:
        holder = await access.store.find_alias(alias)
        if holder is not None and holder.token != token:
            raise ProxyError(400, f"the key_alias {alias!r} is already used by another key", param="key_alias")


async def _existing(access: KeyAccess, key: Any) -> KeyRecord:
    if not isinstance(key, str) or not key:
        raise ProxyError(400, "give the key (`sk-…`) or its token (hash)", param="key")
    record = await access.store.get(token_of(key))
    if record is None:
        raise ProxyError(404, "no such key", code="key_not_found", param="key")
    return record


async def generate_key(access: KeyAccess, request: Request) -> dict[str, Any]:
    body = await _body(request)
    if "key" in body:
        raise ProxyError(400, "keys are always generated by the proxy; remove `key`", param="key")
    values = _key_values(access, body, KEY_FIELDS)
    values.pop("spend", None)
    await _alias_is_free(access, values.get("key_alias"))
    key = new_key()
    record = KeyRecord(token=hash_key(key), key_name=key_name(key), **values)
    try:
        await access.store.create(record)
    except IntegrityError:  # the same alias, given to two replicas at once
        raise ProxyError(400, f"the key_alias {record.key_alias!r} is already used", param="key_alias") from None
    await access.forget(record.token)  # in case a lookup of it was cached as "not found"
    return {"key": key, **record.info()}


async def key_info(access: KeyAccess, request: Request) -> dict[str, Any]:
    key = request.query_params.get("key")
    record = await _existing(access, key)
    return {"key": key, "info": record.info()}


async def update_key(access: KeyAccess, request: Request) -> dict[str, Any]:
    body = await _body(request)
    record = await _existing(access, body.get("key"))
    values = _key_values(access, body, UPDATE_FIELDS)
    await _alias_is_free(access, values.get("key_alias"), record.token)
    updated = await access.store.update(record.token, values) if values else record
    if updated is None:
        raise ProxyError(404, "no such key", code="key_not_found", param="key")
    if "spend" in values:
        await access.counters.set_spend(updated.token, updated.spend)
    await access.forget(updated.token)
    return {"key": body["key"], **updated.info()}


async def delete_keys(access: KeyAccess, request: Request) -> dict[str, Any]:
    body = await _body(request)
    given = body.get("keys")
    if not isinstance(given, list) or not given or not all(isinstance(k, str) and k for k in given):
        raise ProxyError(400, '`keys` must be a non-empty list of keys, e.g. {"keys": ["sk-…"]}', param="keys")
    tokens = {token_of(k): k for k in given}
    missing = [k for token, k in tokens.items() if await access.store.get(token) is None]
    if missing:
        raise ProxyError(404, f"no such key(s): {', '.join(_shown(k) for k in missing)}; nothing was deleted")
    await access.store.delete(tokens)
    for token in tokens:
        await access.forget(token)
        await access.counters.forget(token)
    return {"deleted_keys": given}


def _shown(key: str) -> str:
    return key_name(key) if key.startswith("sk-") else key


async def list_keys(access: KeyAccess, request: Request) -> dict[str, Any]:
    page = _positive_int(request, "page", 1)
    size = min(_positive_int(request, "size", 100), MAX_PAGE_SIZE)
    full = request.query_params.get("return_full_object", "false").lower() == "true"
    records, total = await access.store.page(page, size)
    return {
        "keys": [record.info() if full else record.token for record in records],
        "total_count": total,
        "current_page": page,
        "total_pages": max(1, math.ceil(total / size)),
    }


def _positive_int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ProxyError(400, f"`{name}` must be a positive integer", param=name)
    return int(raw)


def _date(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(raw), time(), UTC)
    except ValueError:
        raise ProxyError(400, f"`{name}` must be a date like 2026-01-31", param=name) from None


async def spend_logs(access: KeyAccess, request: Request) -> list[dict[str, Any]]:
    key = request.query_params.get("api_key")
    start, end = _date(request, "start_date"), _date(request, "end_date")
    limit = min(_positive_int(request, "limit", 1000), 10_000)
    rows = await access.store.spend_logs(
        token_of(key) if key else None, start, end + timedelta(days=1) if end else None, limit
    )
    return [
        {
            "request_id": row["request_id"],
            "api_key": row["token"],
            "startTime": row["start_time"].isoformat(),
            "model_group": row["model_group"],
            "operation": row["operation"],
            "model": row["deployment"],
            "provider": row["provider"],
            "images": row["images"],
            "size": row["size"],
            "quality": row["quality"],
            "spend": row["cost"],
            "latency_ms": row["latency_ms"],
            "status": row["status"],
            **({"prompt": row["prompt"]} if row["prompt"] is not None else {}),
        }
        for row in rows
    ]


async def global_spend(access: KeyAccess, request: Request) -> dict[str, Any]:
    return {"spend": await access.store.global_spend(), "max_budget": None}
