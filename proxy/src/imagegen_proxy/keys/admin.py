"""The admin API, LiteLLM-compatible and for the master key only (a virtual key may read its own `/key/info`).

Keys: `POST /key/generate`, `GET /key/info`, `POST /key/update`, `POST /key/delete`, `GET /key/list`.
Teams: `POST /team/new`, `POST /team/update`, `GET /team/info`, `GET /team/list`, `POST /team/delete`,
`POST /team/member_add`. End users: `POST /customer/new`, `GET /customer/info`, `POST /customer/update`,
`POST /customer/delete`, `GET /customer/list` (each also as `/end_user/…`). Spend: `GET /spend/logs`,
`GET /global/spend`. Bodies and query strings are checked by the models in `api_models`, which also
describe every route in the OpenAPI document.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from ..access import ALL_MODELS, AllowedModels, presented_key
from ..errors import ProxyError
from ..openapi import ApiRoute, Operation, parse_body, parse_query
from . import api_models as m
from .durations import parse_duration
from .store import END_USERS, KEYS, TEAMS, EndUserRecord, Holders, KeyRecord, TeamRecord
from .tokens import hash_key, key_name, new_key, token_of

if TYPE_CHECKING:
    from ..access import Caller
    from .control import KeyAccess

MAX_PAGE_SIZE = 1000
SELF_SERVICE = frozenset({"/key/info"})
"""Admin routes a virtual key may call too, about itself only (their handlers also take the caller)."""
SELF_SERVICE = frozenset({"/key/info"})
"""Admin routes a virtual key may call too, about itself only."""

Handler = Callable[..., Awaitable[BaseModel]]  # (access, the parsed body or query[, the caller])


_TAGS = {"key": "keys", "team": "teams", "customer": "end users", "end_user": "end users"}


def admin_routes(access: KeyAccess) -> list[BaseRoute]:
    def route(
        method: str,
        path: str,
        handler: Handler,
        request: type[BaseModel] | None,
        response: type[BaseModel],
        *errors: int,
    ) -> ApiRoute:
        """The route, described by `handler`'s docstring and its models; `errors` beyond 400 and 503."""
        summary = (handler.__doc__ or "").strip().splitlines()[0]
        tag = _TAGS.get(path.split("/")[1], "spend")
        operation = Operation(summary, tag, request=request, response=response, errors=(400, *errors, 503))

        async def endpoint(request: Request) -> Response:
            try:
                caller = await access.authenticate(presented_key(request))
                if not caller.is_admin and path not in SELF_SERVICE:
                    raise ProxyError(403, f"{path} is for the master key only", code="admin_only")
                model = operation.request
                given: BaseModel | None = None
                if model is not None and method == "GET":
                    given = parse_query(model, request.query_params)
                elif model is not None:
                    given = parse_body(model, await request.body())
                answer = await (handler(access, given, caller) if path in SELF_SERVICE else handler(access, given))
            except ProxyError as error:
                return error.response()
            return JSONResponse(answer.model_dump(mode="json"))

        return ApiRoute(path, endpoint, method, operation)

    customers = []
    for prefix in ("/customer", "/end_user"):  # LiteLLM answers both
        customers += [
            route("POST", f"{prefix}/new", new_customer, m.NewCustomer, m.CustomerInfo),
            route("GET", f"{prefix}/info", customer_info, m.CustomerQuery, m.CustomerInfo, 404),
            route("POST", f"{prefix}/update", update_customer, m.UpdateCustomer, m.CustomerInfo, 404),
            route("POST", f"{prefix}/delete", delete_customers, m.DeleteCustomers, m.DeletedCustomers, 404),
            route("GET", f"{prefix}/list", list_customers, None, m.CustomerList),
        ]
    return [
        route("POST", "/key/generate", generate_key, m.GenerateKey, m.GeneratedKey),
        route("GET", "/key/info", key_info, m.KeyInfoQuery, m.KeyInfoAnswer, 404),
        route("POST", "/key/update", update_key, m.UpdateKey, m.UpdatedKey, 404),
        route("POST", "/key/delete", delete_keys, m.DeleteKeys, m.DeletedKeys, 404),
        route("GET", "/key/list", list_keys, m.KeyListQuery, m.KeyList),
        route("POST", "/team/new", new_team, m.NewTeam, m.TeamInfo),
        route("POST", "/team/update", update_team, m.UpdateTeam, m.TeamInfo, 404),
        route("GET", "/team/info", team_info, m.TeamIdQuery, m.TeamInfoAnswer, 404),
        route("GET", "/team/list", list_teams, None, m.TeamList),
        route("POST", "/team/delete", delete_teams, m.DeleteTeams, m.DeletedTeams, 404),
        route("POST", "/team/member_add", add_team_members, m.MemberAdd, m.TeamInfo, 404),
        *customers,
        route("GET", "/spend/logs", spend_logs, m.SpendLogsQuery, m.SpendLogs),
        route("GET", "/global/spend", global_spend, None, m.GlobalSpend),
    ]


# -- shared --------------------------------------------------------------------------------------------


def _given(body: BaseModel, *leave_out: str) -> dict[str, Any]:
    """The fields the client sent, as columns (`None` metadata is `{}`; `models: null` is `[]`; `spend: null` and
    `blocked: null` are left as they are, as LiteLLM's update routes do)."""
    values = {name: getattr(body, name) for name in body.model_fields_set if name not in leave_out}
    for name in ("spend", "blocked"):
        if name in values and values[name] is None:
            del values[name]
    if "metadata" in values:
        values["metadata"] = values["metadata"] or {}
    if "models" in values:
        values["models"] = list(dict.fromkeys(values["models"] or []))
    if "members_with_roles" in values:
        values["members_with_roles"] = [member.model_dump() for member in values["members_with_roles"] or []]
    if "budget_duration" in values:
        duration = values["budget_duration"]
        values["budget_reset_at"] = _after(duration, "budget_duration")
    return values


def _after(duration: str | None, name: str) -> datetime | None:
    return datetime.now(UTC) + parse_duration(duration, name) if duration is not None else None


def _check_models(access: KeyAccess, models: list[str] | None) -> None:
    """Every name in a `models` list is a model group, `all-proxy-models`, or a pattern matching some group."""
    groups = access.config.groups()
    unknown = [
        name for name in models or []
        if name != ALL_MODELS and name not in groups and not any(g in AllowedModels([name]) for g in groups)
    ]  # fmt: skip
    if unknown:
        raise ProxyError(
            400,
            f"unknown model(s) {', '.join(unknown)} in `models`; configured models: {', '.join(sorted(groups))} "
            "(or a pattern such as `openai/*`, or `all-proxy-models`)",
            param="models",
        )


async def _existing(access: KeyAccess, holders: Holders, identifier: str, param: str, what: str) -> Any:
    record = await access.store.find(holders, identifier)
    if record is None:
        raise ProxyError(
            404, f"no such {what}: {identifier!r}", code=f"{what.replace(' ', '_')}_not_found", param=param
        )
    return record


async def _changed(access: KeyAccess, holders: Holders, identifier: str, values: Mapping[str, Any]) -> Any:
    """Store the changed fields of a key, team or end user, and make every replica see them at once."""
    record = await access.store.change(holders, identifier, values) if values else None
    if values and record is None:  # deleted meanwhile
        raise ProxyError(404, "it was deleted meanwhile", code="not_found")
    await access.forget_subject(holders, identifier)
    return record


# -- keys ----------------------------------------------------------------------------------------------


async def _alias_is_free(access: KeyAccess, alias: str | None, token: str | None = None) -> None:
    if alias is not None:
        holder = await access.store.find_alias(alias)
        if holder is not None and holder.token != token:
            raise ProxyError(400, f"the key_alias {alias!r} is already used by another key", param="key_alias")


async def _team_exists(access: KeyAccess, team_id: str | None) -> None:
    if team_id is not None and await access.store.find(TEAMS, team_id) is None:
        raise ProxyError(400, f"no team {team_id!r}: create it with POST /team/new first", param="team_id")


def _key_columns(body: m.KeyFields) -> dict[str, Any]:
    values = _given(body, "key", "duration")
    if "duration" in body.model_fields_set:
        values["expires"] = _after(body.duration, "duration")
    return values


def _key_info(record: KeyRecord) -> m.KeyInfo:
    return m.KeyInfo.model_validate(record.info())


async def _key(access: KeyAccess, key: str) -> KeyRecord:
    record: KeyRecord | None = await access.store.get(token_of(key))
    if record is None:  # the key is not repeated: it may be a secret
        raise ProxyError(404, "no such key", code="key_not_found", param="key")
    return record


async def generate_key(access: KeyAccess, body: m.GenerateKey) -> m.GeneratedKey:
    """Create a virtual key (shown once: only its hash is stored)."""
    _check_models(access, body.models)
    await _alias_is_free(access, body.key_alias)
    await _team_exists(access, body.team_id)
    key = new_key()
    record = KeyRecord(token=hash_key(key), key_name=key_name(key), **_key_columns(body))
    try:
        await access.store.create(record)
    except IntegrityError:  # the same alias, given to two replicas at once
        raise ProxyError(400, f"the key_alias {record.key_alias!r} is already used", param="key_alias") from None
    await access.forget(record.token)  # in case a lookup of it was cached as "not found"
    return m.GeneratedKey(key=key, **record.info())


async def key_info(access: KeyAccess, query: m.KeyInfoQuery, caller: Caller) -> m.KeyInfoAnswer:
    """A key's limits and spend; without `key`, the calling key's own (a virtual key may read only its own)."""
    key = query.key or caller.key_hash  # LiteLLM: no `key` is the caller's own
    if key is None:
        raise ProxyError(400, "give the key (`sk-…`) or its token (hash)", param="key")
    if not caller.is_admin and token_of(key) != caller.key_hash:
        raise ProxyError(403, "a key may read only its own info: call /key/info without `key`", code="admin_only")
    return m.KeyInfoAnswer(key=key, info=_key_info(await _key(access, key)))


async def update_key(access: KeyAccess, body: m.UpdateKey) -> m.UpdatedKey:
    """Change a key's limits (fields left out stay as they are)."""
    record = await _key(access, body.key)
    _check_models(access, body.models)
    await _alias_is_free(access, body.key_alias, record.token)
    await _team_exists(access, body.team_id)
    updated = await _changed(access, KEYS, record.token, _key_columns(body)) or record
    return m.UpdatedKey(key=body.key, **updated.info())


async def delete_keys(access: KeyAccess, body: m.DeleteKeys) -> m.DeletedKeys:
    """Delete keys."""
    tokens = {token_of(k): k for k in body.keys}
    missing = [k for token, k in tokens.items() if await access.store.get(token) is None]
    if missing:
        raise ProxyError(
            404, f"no such key(s): {', '.join(_shown(k) for k in missing)}; nothing was deleted", param="keys"
        )
    await access.store.delete(tokens)
    for token in tokens:
        await access.forget_subject(KEYS, token)
    return m.DeletedKeys(deleted_keys=body.keys)


def _shown(key: str) -> str:
    return key_name(key) if key.startswith("sk-") else key


async def list_keys(access: KeyAccess, query: m.KeyListQuery) -> m.KeyList:
    """Keys, a page at a time (their tokens, or with `return_full_object=true` everything)."""
    records, total = await access.store.page(query.page, query.size, team_id=query.team_id)
    return m.KeyList(
        keys=[_key_info(record) if query.return_full_object else record.token for record in records],
        total_count=total,
        current_page=query.page,
        total_pages=max(1, math.ceil(total / query.size)),
    )


# -- teams ---------------------------------------------------------------------------------------------


def _team_info(record: TeamRecord) -> m.TeamInfo:
    return m.TeamInfo.model_validate(record.info())


async def new_team(access: KeyAccess, body: m.NewTeam) -> m.TeamInfo:
    """Create a team: its limits bound each of its keys too, and its keys' spend adds to its own."""
    _check_models(access, body.models)
    team_id = body.team_id or str(uuid.uuid4())
    if await access.store.find(TEAMS, team_id) is not None:
        raise ProxyError(400, f"the team {team_id!r} already exists; change it with POST /team/update", param="team_id")
    record = TeamRecord(team_id=team_id, **_given(body, "team_id"))
    try:
        await access.store.add(TEAMS, record)
    except IntegrityError:
        raise ProxyError(400, f"the team {team_id!r} already exists", param="team_id") from None
    await access.forget_subject(TEAMS, team_id)
    return _team_info(record)


async def update_team(access: KeyAccess, body: m.UpdateTeam) -> m.TeamInfo:
    """Change a team (fields left out stay as they are)."""
    record = await _existing(access, TEAMS, body.team_id, "team_id", "team")
    _check_models(access, body.models)
    values = _given(body, "team_id")
    return _team_info(await _changed(access, TEAMS, body.team_id, values) or record)


async def team_info(access: KeyAccess, query: m.TeamIdQuery) -> m.TeamInfoAnswer:
    """A team, its spend, and its keys."""
    record = await _existing(access, TEAMS, query.team_id, "team_id", "team")
    keys = await access.store.every(KEYS, team_id=query.team_id)
    return m.TeamInfoAnswer(team_id=record.team_id, team_info=_team_info(record), keys=[_key_info(k) for k in keys])


async def list_teams(access: KeyAccess, _query: None) -> m.TeamList:
    """Every team."""
    return m.TeamList([_team_info(record) for record in await access.store.every(TEAMS)])


async def delete_teams(access: KeyAccess, body: m.DeleteTeams) -> m.DeletedTeams:
    """Delete teams and their keys (as LiteLLM does)."""
    deleted = await _delete(access, TEAMS, body.team_ids, "team_ids", "team(s)")
    for team_id in deleted:
        keys = await access.store.every(KEYS, team_id=team_id)
        await access.store.delete(key.token for key in keys)
        for key in keys:
            await access.forget_subject(KEYS, key.token)
    return m.DeletedTeams(deleted_teams=deleted)


async def add_team_members(access: KeyAccess, body: m.MemberAdd) -> m.TeamInfo:
    """Add members to a team."""
    record: TeamRecord = await _existing(access, TEAMS, body.team_id, "team_id", "team")
    added = [member.model_dump() for member in (body.member if isinstance(body.member, list) else [body.member])]
    if any(member["user_id"] is None and member["user_email"] is None for member in added):
        raise ProxyError(400, "each member needs a `user_id` or a `user_email`", param="member")
    known = {(member.get("user_id"), member.get("user_email")) for member in record.members_with_roles}
    members = record.members_with_roles + [m for m in added if (m["user_id"], m["user_email"]) not in known]
    return _team_info(await _changed(access, TEAMS, body.team_id, {"members_with_roles": members}))


async def _delete(access: KeyAccess, holders: Holders, identifiers: list[str], param: str, what: str) -> list[str]:
    missing = [i for i in identifiers if await access.store.find(holders, i) is None]
    if missing:
        raise ProxyError(404, f"no such {what}: {', '.join(missing)}; nothing was deleted", param=param)
    deleted = await access.store.remove(holders, identifiers)
    for identifier in deleted:
        await access.forget_subject(holders, identifier)
    return deleted


# -- end users -----------------------------------------------------------------------------------------


def _customer_info(record: EndUserRecord) -> m.CustomerInfo:
    return m.CustomerInfo.model_validate(record.info())


async def new_customer(access: KeyAccess, body: m.NewCustomer) -> m.CustomerInfo:
    """Create an end user: the requests whose `user` names it are bounded by its limits."""
    if await access.store.find(END_USERS, body.user_id) is not None:
        raise ProxyError(
            400, f"the end user {body.user_id!r} already exists; change it with POST /customer/update", param="user_id"
        )
    record = EndUserRecord(user_id=body.user_id, **_given(body, "user_id"))
    try:
        await access.store.add(END_USERS, record)
    except IntegrityError:
        raise ProxyError(400, f"the end user {body.user_id!r} already exists", param="user_id") from None
    await access.forget_subject(END_USERS, body.user_id)
    return _customer_info(record)


async def customer_info(access: KeyAccess, query: m.CustomerQuery) -> m.CustomerInfo:
    """An end user, its limits and spend."""
    return _customer_info(await _existing(access, END_USERS, query.end_user_id, "end_user_id", "end user"))


async def update_customer(access: KeyAccess, body: m.UpdateCustomer) -> m.CustomerInfo:
    """Change an end user (fields left out stay as they are)."""
    record = await _existing(access, END_USERS, body.user_id, "user_id", "end user")
    values = _given(body, "user_id")
    return _customer_info(await _changed(access, END_USERS, body.user_id, values) or record)


async def delete_customers(access: KeyAccess, body: m.DeleteCustomers) -> m.DeletedCustomers:
    """Delete end users."""
    deleted = await _delete(access, END_USERS, body.user_ids, "user_ids", "end user(s)")
    return m.DeletedCustomers(deleted_customers=deleted)


async def list_customers(access: KeyAccess, _query: None) -> m.CustomerList:
    """Every end user."""
    return m.CustomerList([_customer_info(record) for record in await access.store.every(END_USERS)])


# -- spend ---------------------------------------------------------------------------------------------


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


async def spend_logs(access: KeyAccess, query: m.SpendLogsQuery) -> m.SpendLogs:
    """Spend log rows, newest first (by key, team, end user or date)."""
    end = _utc(query.end_date + timedelta(days=1) if query.end_date else None)
    rows = await access.store.spend_logs(
        token_of(query.api_key) if query.api_key else None, _utc(query.start_date), end, query.limit,
        team_id=query.team_id, end_user=query.end_user,
    )  # fmt: skip
    return m.SpendLogs([spend_log_row(row) for row in rows])


def spend_log_row(row: Mapping[str, Any]) -> m.SpendLogRow:
    """A spend log row as the API shows it (LiteLLM's field names)."""
    return m.SpendLogRow(
        request_id=row["request_id"],
        api_key=row["token"],
        team_id=row["team_id"],
        end_user=row["end_user"],
        startTime=row["start_time"],
        model_group=row["model_group"],
        operation=row["operation"],
        metadata=row["request_metadata"],
        model=row["deployment"],
        provider=row["provider"],
        images=row["images"],
        size=row["size"],
        quality=row["quality"],
        spend=row["cost"],
        latency_ms=row["latency_ms"],
        status=row["status"],
        prompt=row["prompt"],
    )


async def global_spend(access: KeyAccess, _query: None) -> m.GlobalSpend:
    """The spend of every request."""
    return m.GlobalSpend(spend=await access.store.global_spend())
