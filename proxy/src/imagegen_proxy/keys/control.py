"""`KeyAccess`: the master key plus virtual keys, their teams and end users, with limits, budgets and expiry.

The proxy's `AccessControl` when a master key is configured. Keys, teams and end users live in the keys
database (SQLite beside the config by default, or PostgreSQL); lookups are cached (see `cache`), request
rates counted in `counters`, budgets and places in flight held in the `ledger` (shared through Redis when
`REDIS_URL` is set), spend rows batched (`spend`).

A request is bounded by its key, the key's team and its end user (the body's `user`): each one's
`models`, `rpm_limit`, `max_budget` (per `budget_duration`) and `max_parallel_requests`. Its spend is
charged to all three.

When the database cannot be reached, keys that cannot be checked get a 503, unless
`general_settings.allow_requests_on_db_unavailable` is true: then keys (teams, end users) read before
keep working, and budgets count from the spend last read plus what this process charged since. When
Redis cannot be reached, limits are counted by this process alone (a warning and the
`imagegen_proxy_degraded_decisions` metric), unless `general_settings.redis_required` is true (503);
once Redis answers again, the spend it missed is re-read from the database.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..access import MASTER, Caller, RequestRecord, allowed_models
from ..charges import worst_case_cost
from ..errors import ProxyError
from ..metrics import ProxyMetrics
from ..model_names import ModelNames
from ..workers import several_workers
from .cache import KeyCache
from .counters import Counters, LocalCounters, RedisCounters, SpendKey, minute_now, period_over
from .durations import parse_duration
from .ledger import DatabaseLedger, Hold, Ledger, MemoryLedger, RedisLedger
from .spend import SpendWriter
from .store import END_USERS, KEYS, SUBJECT_HOLDERS, TEAMS, EndUserRecord, Holders, KeyRecord, KeyStore, TeamRecord
from .tokens import hash_key

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from starlette.routing import BaseRoute

    from ..config import Deployment, ProxyConfig

logger = logging.getLogger("imagegen.proxy")

DEFAULT_DATABASE_FILE = "imagegen.db"
KEY_CACHE_TTL_SECONDS = 3.0
_MAX_REMEMBERED_PRICES = 4096
_MAX_ID_CHARS = 255
T = TypeVar("T")
Budgeted = KeyRecord | TeamRecord | EndUserRecord
_KINDS = {KEYS: "key", TEAMS: "team", END_USERS: "user"}


def database_url_for(config: ProxyConfig) -> str:
    """`DATABASE_URL`, else `general_settings.database_url` (`ProxyConfig.database_url`), else `imagegen.db`
    beside the config file."""
    if config.database_url:
        return config.database_url
    folder = config.path.parent if config.path is not None else Path.cwd()
    return f"sqlite:///{(folder / DEFAULT_DATABASE_FILE).resolve()}"


@dataclass(frozen=True)
class Admission:
    """What a request was admitted with, for `record`: whom its cost is charged to, and what it holds."""

    charges: tuple[SpendKey, ...]
    holds: tuple[Hold, ...] = ()
    reservation: str | None = None
    ledger: Ledger | None = None


class KeyAccess:
    """The master key (the admin) and the virtual keys it creates."""

    def __init__(
        self,
        config: ProxyConfig,
        *,
        database_url: str | None = None,
        redis_url: str | None = None,
        key_cache_ttl: float = KEY_CACHE_TTL_SECONDS,
        metrics: ProxyMetrics | None = None,
        model_names: ModelNames | None = None,
    ) -> None:
        """`model_names`: the router's, so that a request is priced at the deployments it is routed to (a
        wildcard's match, an alias's target)."""
        if not config.master_key:
            raise ValueError("virtual keys need general_settings.master_key: the master key is their admin")
        self.config = config
        self.metrics = metrics or ProxyMetrics()
        self._master_key = config.master_key.encode()
        self.database_url = database_url or database_url_for(config)
        self.redis_url = redis_url if redis_url is not None else config.redis_url
        general = config.general_settings
        self.allow_without_database = general.get("allow_requests_on_db_unavailable") is True
        self.redis_required = general.get("redis_required") is True
        self._key_cache_ttl = key_cache_ttl
        self.store = KeyStore(self.database_url)
        self._redis: Redis | None = None
        self.counters: Counters = LocalCounters()
        self._local_counters = LocalCounters()
        self._local_ledger = MemoryLedger()  # this process's; what the others fall back to
        # One process on SQLite alone holds every reservation: in memory they are exact and cost no write.
        alone = self.store.dialect == "sqlite" and not several_workers()
        self.ledger: Ledger = self._local_ledger if alone else DatabaseLedger(self.store)
        self._unsynced: set[str] = set()  # subjects whose spend Redis missed while unreachable
        self.cache = KeyCache(key_cache_ttl)
        self.teams = KeyCache(key_cache_ttl, holders=TEAMS)
        self.end_users = KeyCache(key_cache_ttl, holders=END_USERS)
        self.spend_writer = SpendWriter(
            self.store, self._spend_flushed, write_rows=config.spend_logs,
            reservations_in_database=isinstance(self.ledger, DatabaseLedger),
        )  # fmt: skip
        self._background: set[asyncio.Task[None]] = set()
        self.names = model_names or ModelNames(config.deployments, config.router.aliases)
        self._worst_cases: dict[tuple[str, str], float] = {}

    # --- AccessControl ------------------------------------------------------------------------------

    async def startup(self) -> None:
        await self.store.start()
        if self.redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(self.redis_url)
            try:
                await self._redis.ping()
            except Exception as exc:
                await self.store.close()
                raise RuntimeError(f"cannot reach Redis at REDIS_URL ({type(exc).__name__}: {exc})") from None
            self.counters = RedisCounters(self._redis)
            self.ledger = RedisLedger(self._redis)
            self.spend_writer.reservations_in_database = False
            self.cache = KeyCache(self._key_cache_ttl, self._redis)
            self.teams = KeyCache(self._key_cache_ttl, self._redis, holders=TEAMS)
            self.end_users = KeyCache(self._key_cache_ttl, self._redis, holders=END_USERS)
        elif several_workers():
            logger.warning(
                "several workers and no REDIS_URL: rpm limits are counted per worker, and a changed key reaches the "
                "other workers within %ss (budgets and max_parallel_requests hold, through the database); set "
                "REDIS_URL to share them",
                self._key_cache_ttl,
            )
        for cache in (self.cache, self.teams, self.end_users):
            await cache.start()
        self.spend_writer.start()
        logger.info(
            "virtual keys: database %s%s",
            self.store.describe(),
            ", limits shared through Redis" if self._redis is not None else "",
        )

    async def shutdown(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.spend_writer.close()
        for cache in (self.cache, self.teams, self.end_users):
            await cache.close()
        if self._redis is not None:
            await self._redis.aclose()
        await self.store.close()

    async def authenticate(self, token: str | None) -> Caller:
        if not token:
            raise ProxyError(
                401, "no API key: send `Authorization: Bearer <key>` (or an `api-key` header)", code="missing_api_key"
            )
        if hmac.compare_digest(token.encode(), self._master_key):
            return MASTER
        record: KeyRecord | None = await self._lookup(self.cache, hash_key(token), self.store.get, "key")
        if record is None:
            raise ProxyError(401, "invalid API key", code="invalid_api_key")
        if record.expires is not None and record.expires <= datetime.now(UTC):
            raise ProxyError(
                401, f"this key expired at {record.expires.isoformat()}; ask for a new one", code="expired_key"
            )
        return Caller(
            is_admin=False,
            key_hash=record.token,
            models=allowed_models(record.models),
            metadata=record.metadata,
            key_alias=record.key_alias,
            team_id=record.team_id,
        )

    async def admit(self, caller: Caller, model_group: str, params: Mapping[str, Any] | None = None) -> Caller:
        params = params or {}
        user = params.get("user")
        end_user = user if isinstance(user, str) and _storable_id(user) else None
        if caller.is_admin or caller.key_hash is None:
            return await self._admit_subjects(caller, model_group, params, [], end_user, caller.models, None)
        key = await self._lookup(self.cache, caller.key_hash, self.store.get, "key")
        if key is None:
            raise ProxyError(401, "invalid API key", code="invalid_api_key")
        team = await self._team(key.team_id) if key.team_id else None
        models = allowed_models(key.models)
        for allowed, whose in ((models, "this key"), (allowed_models(team.models) if team else None, "its team")):
            if allowed is not None and model_group not in allowed:
                raise ProxyError(
                    403,
                    f"{whose} may not use the model {model_group!r}; it may use: {', '.join(sorted(allowed))}",
                    code="model_not_allowed",
                    param="model",
                )
        if team is not None:
            models = allowed_models(key.models, team.models)
        subjects: list[Budgeted] = [key, *([team] if team else [])]  # then the end user
        return await self._admit_subjects(caller, model_group, params, subjects, end_user, models, key.team_id)

    async def _admit_subjects(
        self,
        caller: Caller,
        group: str,
        params: Mapping[str, Any],
        subjects: list[Budgeted],
        end_user: str | None,
        models: Collection[str] | None,
        team_id: str | None,
    ) -> Caller:
        """Admit the caller under its key's and team's limits (`subjects`) and its end user's; the caller as
        admitted, with the `models` it may use."""
        if end_user is not None:
            found = await self._lookup(self.end_users, end_user, lambda u: self.store.find(END_USERS, u), "end user")
            if found is not None:
                if found.blocked:
                    raise ProxyError(
                        403, f"the end user {end_user!r} is blocked", code="end_user_blocked", param="user"
                    )
                subjects.append(found)
        subjects = [await self._in_current_period(record) for record in subjects]
        await self._count_requests(subjects)
        holds = [hold for record in subjects if (hold := _hold(record)).limited]
        charges = tuple((_subject(record), record.budget_reset_at) for record in subjects)
        admission = Admission(charges)
        if holds:
            amount = self._worst_case_cost(group, params)
            reservation = os.urandom(16).hex()
            ledger = await self._reserve(reservation, holds, amount)
            admission = Admission(charges, tuple(holds), reservation, ledger)
        return replace(caller, models=models, team_id=team_id, end_user=end_user, admission=admission)

    def record(self, record: RequestRecord) -> None:
        now = datetime.now(UTC)
        caller = record.caller
        admission = caller.admission if isinstance(caller.admission, Admission) else Admission(())
        charges = admission.charges
        reservation = admission.reservation
        if isinstance(admission.ledger, MemoryLedger):
            admission.ledger.settle_here(reservation, record.cost or 0.0)
        elif isinstance(admission.ledger, RedisLedger):
            self._in_background(self._settle(admission, record.cost or 0.0))
            reservation = None  # settled there: nothing for the spend writer to let go
        elif isinstance(admission.ledger, DatabaseLedger):
            # Off the response path; the spend writer deletes the reservation as it writes the cost.
            self._in_background(self._settle(admission, record.cost or 0.0))
        elif record.cost and self._redis is not None:
            # Once its period ended, the subject's next request starts a new one: this cost no longer counts there.
            current = [(subject, period) for subject, period in charges if not period_over(period, now)]
            self._in_background(self._charge_shared(current, record.cost))
        row = {
            "request_id": record.request_id or os.urandom(16).hex(),  # as unique as a uuid4, without its ~4 µs
            "start_time": now - timedelta(milliseconds=record.latency_ms),
            "token": caller.key_hash,
            "team_id": caller.team_id,
            "end_user": caller.end_user,
            "model_group": record.model_group,
            "deployment": record.deployment,
            "provider": record.provider,
            "images": record.image_count,
            "size": record.size,
            "quality": record.quality,
            "cost": record.cost,
            "latency_ms": record.latency_ms,
            "status": record.status,
            "operation": record.operation,
            "request_metadata": dict(record.metadata) if record.metadata else None,
            "prompt": record.prompt if self.config.store_prompts else None,
        }
        if self.config.spend_logs or charges or reservation is not None:
            # `disable_spend_logs`: no row is written, only the spend its subjects' budgets need
            self.spend_writer.add(row if self.config.spend_logs else {"cost": record.cost}, charges, reservation)
        self.metrics.spend_rows_pending.set(self.spend_writer.pending)

    def routes(self) -> list[BaseRoute]:
        from .admin import admin_routes

        return admin_routes(self)

    # --- for the admin routes -----------------------------------------------------------------------

    async def key(self, token: str) -> KeyRecord | None:
        """The stored key with this hash (cached)."""
        record: KeyRecord | None = await self.cache.lookup(token, self.store.get)
        return record

    async def forget(self, token: str) -> None:
        """A key changed or was deleted: drop it from every cache (every replica, with Redis)."""
        await self.cache.invalidate(token)

    async def read(self, operation: Awaitable[T]) -> T:
        """`operation`'s result (a read of the keys database); a 503 naming the cause when it cannot answer."""
        try:
            return await operation
        except ProxyError:
            raise
        except Exception as exc:
            logger.error("keys database read failed: %s", type(exc).__name__)
            raise ProxyError(
                503, "the keys database is unreachable; try again shortly", code="key_store_unavailable"
            ) from None

    async def forget_subject(self, holders: Holders, identifier: str) -> None:
        """A key, team or end user changed or was deleted: drop it from every cache and its shared spend."""
        await self._cache_of(holders).invalidate(identifier)
        subject = f"{_KINDS[holders]}:{identifier}"
        await self._on_shared(subject, lambda ledger: ledger.forget(subject))

    # --- internals ----------------------------------------------------------------------------------

    async def _lookup(self, cache: KeyCache, identifier: str, load: Callable[[str], Awaitable[Any]], what: str) -> Any:
        """A record through `cache`; while the database (or Redis) is unreachable, a 503 naming the cause, or
        with `allow_requests_on_db_unavailable` the record as last read."""
        try:
            return await cache.lookup(identifier, load)
        except Exception as exc:
            known = cache.last_known(identifier)
            if self.allow_without_database and known is not None:
                self._degraded("database", f"the keys database is unreachable ({type(exc).__name__}); the {what} "
                               "as last read is used (allow_requests_on_db_unavailable)")  # fmt: skip
                return known
            logger.error("%s lookup failed: %s", what, type(exc).__name__)
            raise ProxyError(
                503,
                f"the keys database or Redis is unreachable, so this {what} cannot be checked; try again shortly "
                "(an operator may set general_settings.allow_requests_on_db_unavailable to keep serving keys "
                "already checked)",
                code="key_store_unavailable",
            ) from None

    async def _team(self, team_id: str) -> TeamRecord:
        team: TeamRecord | None = await self._lookup(self.teams, team_id, lambda t: self.store.find(TEAMS, t), "team")
        if team is None:
            raise ProxyError(403, f"this key's team {team_id!r} no longer exists", code="team_not_found")
        if team.blocked:
            raise ProxyError(403, f"this key's team {team_id!r} is blocked", code="team_blocked")
        return team

    async def _count_requests(self, subjects: Iterable[Budgeted]) -> None:
        minute, remaining = minute_now()
        for record in subjects:
            if record.rpm_limit is None:
                continue
            subject = _subject(record)
            try:
                count = await self.counters.count_request(subject, minute)
            except Exception as exc:
                self._fall_back("rpm limits", exc)
                count = await self._local_counters.count_request(subject, minute)
            if count > record.rpm_limit:
                raise ProxyError(
                    429,
                    f"rate limit exceeded: {_label(record)} may make {record.rpm_limit} request(s) per minute",
                    code="rate_limit_exceeded",
                    headers={"retry-after": str(remaining)},
                )

    async def _reserve(self, reservation: str, holds: list[Hold], amount: float) -> Ledger:
        """Reserve in the shared ledger (the database's, or Redis'), or in this process' while that is unreachable
        and allowed; raise the refusal's error when it does not fit."""
        ledger: Ledger = self.ledger
        try:
            await self._resync()
            refused = await ledger.reserve(reservation, holds, amount)
        except Exception as exc:
            self._fall_back("budgets and max_parallel_requests", exc)
            self._unsynced.update(hold.subject for hold in holds)
            ledger = self._local_ledger
            refused = await ledger.reserve(reservation, holds, amount)
        if refused is not None:
            raise refused.error(amount)
        return ledger

    def _fall_back(self, what: str, exc: Exception) -> None:
        """The shared store failed: go on counting `what` in this process (a warning and a metric), or raise the 503
        when that is not allowed (`redis_required`; without Redis, unless `allow_requests_on_db_unavailable`)."""
        store = "Redis" if self._redis is not None else "the keys database"
        allowed = not self.redis_required if self._redis is not None else self.allow_without_database
        if not allowed:
            logger.error("%s unreachable: %s", store, type(exc).__name__)
            raise ProxyError(
                503,
                f"{store} is unreachable, so this request's limits cannot be checked; try again shortly",
                code="key_store_unavailable",
            ) from None
        self._degraded(
            "redis" if self._redis is not None else "database",
            f"{store} is unreachable ({type(exc).__name__}): {what} are counted by this replica alone",
        )

    async def _settle(self, admission: Admission, cost: float) -> None:
        ledger, reservation = admission.ledger, admission.reservation
        assert ledger is not None
        assert reservation is not None
        try:
            await ledger.settle(reservation, admission.holds, cost)
        except Exception as exc:
            if isinstance(ledger, DatabaseLedger):
                return  # it keeps counting its worst-case price until the spend writer deletes it: never less
            # In Redis it expires; the spend row still reaches the database.
            self._degraded("redis", f"could not settle a reservation in Redis ({type(exc).__name__})")
            self._unsynced.update(hold.subject for hold in admission.holds)

    async def _charge_shared(self, charges: list[SpendKey], cost: float) -> None:
        """Spend of subjects without limits, added to the Redis counters that exist (limits set later count it)."""
        assert isinstance(self.ledger, RedisLedger)
        holds = [Hold(subject, subject, 0.0) for subject, _ in charges]
        try:
            await self.ledger.settle("-", holds, cost)
        except Exception:
            self._unsynced.update(hold.subject for hold in holds)

    async def _resync(self) -> None:
        """Redis answers again: the shared spend of the subjects it missed charges of is read from the database
        (which has every charge once this replica's spend rows are written)."""
        if not self._unsynced or not isinstance(self.ledger, RedisLedger):
            return
        await self.spend_writer.flush()
        for subject in list(self._unsynced):
            kind, _, identifier = subject.partition(":")
            record = await self.store.find(SUBJECT_HOLDERS[kind], identifier)
            await self.ledger.reseed(subject, record.spend if record is not None else 0.0)
            self._unsynced.discard(subject)
        logger.warning("Redis answers again: the shared spend of the subjects it missed was read from the database")

    async def _on_shared(self, subject: str, change: Callable[[Ledger], Awaitable[None]]) -> None:
        """Change a subject's shared spend; while Redis is unreachable, note it for when it answers again."""
        try:
            await change(self.ledger)
        except Exception as exc:
            self._degraded("redis", f"could not change shared spend in Redis ({type(exc).__name__})")
            self._unsynced.add(subject)

    def _degraded(self, store: str, message: str) -> None:
        self.metrics.degraded_decisions.labels(store).inc()
        logger.warning(message)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _worst_case_cost(self, group: str, params: Mapping[str, Any]) -> float:
        """What a request may cost at most (see `charges.worst_case_cost`), remembered per group and parameters: it
        prepares a call for each deployment (~0.3 ms)."""
        try:
            asked = json.dumps({k: v for k, v in params.items() if k != "user"}, sort_keys=True)
        except (TypeError, ValueError):
            return worst_case_cost(self._serving(group), params) or 0.0
        cost = self._worst_cases.get((group, asked))
        if cost is None:
            cost = self._worst_cases[group, asked] = worst_case_cost(self._serving(group), params) or 0.0
            if len(self._worst_cases) > _MAX_REMEMBERED_PRICES:
                self._worst_cases.pop(next(iter(self._worst_cases)))
        return cost

    def _serving(self, group: str) -> list[Deployment]:
        """The deployments a request to `group` may end at: the group's and its fallbacks'."""
        settings = self.config.router
        names = [group, *settings.fallbacks.get(group, ()), *settings.content_policy_fallbacks.get(group, ())]
        return [deployment for name in dict.fromkeys(names) for deployment in self.names.serving(name)]

    def _cache_of(self, holders: Holders) -> KeyCache:
        return {KEYS: self.cache, TEAMS: self.teams, END_USERS: self.end_users}[holders]

    def _spend_flushed(self, added: Mapping[SpendKey, float], settled: list[str]) -> None:
        # Cached records hold the database's spend: re-read them now that it includes these amounts.
        for subject, _period in added:
            kind, _, identifier = subject.partition(":")
            self._cache_of(SUBJECT_HOLDERS[kind]).drop_local(identifier)
        self._local_ledger.release(settled)
        self.metrics.spend_rows_pending.set(self.spend_writer.pending)

    async def _in_current_period(self, record: Budgeted) -> Budgeted:
        """The record, in a new budget period if its last one ended."""
        if record.budget_reset_at is None or record.budget_reset_at > datetime.now(UTC):
            return record
        assert record.budget_duration is not None
        subject = _subject(record)
        next_reset = datetime.now(UTC) + parse_duration(record.budget_duration, "budget_duration")
        if await self.store.reset_budget(subject, record.budget_reset_at, next_reset):
            await self._on_shared(subject, lambda ledger: ledger.set_spend(subject, 0.0))
            await self._local_ledger.set_spend(subject, 0.0)
        kind, _, identifier = subject.partition(":")
        holders = SUBJECT_HOLDERS[kind]
        await self.forget_subject(holders, identifier)
        fresh = await self._lookup(self._cache_of(holders), identifier, lambda i: self.store.find(holders, i), kind)
        if fresh is None:
            raise ProxyError(401, "invalid API key", code="invalid_api_key")
        return fresh  # type: ignore[no-any-return]


def _storable_id(text: str) -> bool:
    """Whether `text` can be an end user's id (what `/customer/new` takes); any other `user` is no end user's."""
    return (
        0 < len(text) <= _MAX_ID_CHARS
        and "\x00" not in text
        and text.encode("utf-8", "surrogatepass") == (text.encode("utf-8", "replace"))
    )


def _subject(record: Budgeted) -> str:
    if isinstance(record, KeyRecord):
        return f"key:{record.token}"
    if isinstance(record, TeamRecord):
        return f"team:{record.team_id}"
    return f"user:{record.user_id}"


def _label(record: Budgeted) -> str:
    if isinstance(record, KeyRecord):
        return "this key"
    if isinstance(record, TeamRecord):
        return f"the team {record.team_id!r}"
    return f"the end user {record.user_id!r}"


def _hold(record: Budgeted) -> Hold:
    return Hold(
        _subject(record),
        _label(record),
        record.spend,
        record.max_budget,
        record.max_parallel_requests,
        record.budget_reset_at,
    )
