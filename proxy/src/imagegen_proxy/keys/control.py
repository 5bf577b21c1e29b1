"""`KeyAccess`: the master key plus virtual keys with model lists, rpm limits, budgets and expiry.

The proxy's `AccessControl` when a master key is configured. Keys live in the keys database
(SQLite beside the config by default, or PostgreSQL); lookups are cached (see `cache`), limits are
counted in `counters` (shared through Redis when `REDIS_URL` is set), spend rows are batched (`spend`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from collections import OrderedDict
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..access import MASTER, Caller, RequestRecord
from ..errors import ProxyError
from .cache import KeyCache
from .counters import Counters, LocalCounters, RedisCounters, SpendKey, period_over
from .durations import parse_duration
from .spend import SpendWriter
from .store import KeyRecord, KeyStore
from .tokens import hash_key

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from starlette.routing import BaseRoute

    from ..config import ProxyConfig

logger = logging.getLogger("imagegen.proxy")

DEFAULT_DATABASE_FILE = "imagegen.db"
KEY_CACHE_TTL_SECONDS = 3.0
_MAX_REMEMBERED_PERIODS = 10_000  # keys whose admitted budget period is kept (the latest used)
ALL_MODELS = "all-proxy-models"  # LiteLLM's name for "every model group" in a key's `models`
_ENV_PREFIX = "os.environ/"
T = TypeVar("T")


def database_url_for(config: ProxyConfig) -> str:
    """`general_settings.database_url`, else `DATABASE_URL`, else `imagegen.db` beside the config file."""
    configured = config.general_settings.get("database_url")
    if isinstance(configured, str) and configured.startswith(_ENV_PREFIX):
        configured = os.environ.get(configured.removeprefix(_ENV_PREFIX))
    if configured:
        return str(configured)
    if from_env := os.environ.get("DATABASE_URL"):
        return from_env
    folder = config.path.parent if config.path is not None else Path.cwd()
    return f"sqlite:///{(folder / DEFAULT_DATABASE_FILE).resolve()}"


def several_workers() -> bool:
    """Whether this process is one of several workers (`imagegen serve --workers N` names the config in
    `IMAGEGEN_PROXY_CONFIG` for its workers; uvicorn's own `--workers` reads `WEB_CONCURRENCY`)."""
    from ..app import CONFIG_ENV

    concurrency = os.environ.get("WEB_CONCURRENCY", "1")
    return CONFIG_ENV in os.environ or (concurrency.isdigit() and int(concurrency) > 1)


class KeyAccess:
    """The master key (the admin) and the virtual keys it creates."""

    def __init__(
        self,
        config: ProxyConfig,
        *,
        database_url: str | None = None,
        redis_url: str | None = None,
        key_cache_ttl: float = KEY_CACHE_TTL_SECONDS,
    ) -> None:
        if not config.master_key:
            raise ValueError("virtual keys need general_settings.master_key: the master key is their admin")
        self.config = config
        self._master_key = config.master_key.encode()
        self.database_url = database_url or database_url_for(config)
        self.redis_url = redis_url if redis_url is not None else os.environ.get("REDIS_URL") or None
        self._key_cache_ttl = key_cache_ttl
        self.store = KeyStore(self.database_url)
        self._redis: Redis | None = None
        self.counters: Counters = LocalCounters()
        self.cache = KeyCache(key_cache_ttl)
        self.spend_writer = SpendWriter(self.store, self._spend_flushed, write_rows=config.spend_logs)
        self._background: set[asyncio.Task[None]] = set()
        # key hash → the budget period (its end) its latest request was admitted in: that request's cost counts there
        self._admitted_periods: OrderedDict[str, datetime | None] = OrderedDict()

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
            self.cache = KeyCache(self._key_cache_ttl, self._redis)
        elif several_workers():
            logger.warning(
                "several workers and no REDIS_URL: rpm limits and budgets are counted per worker, and a changed "
                "key reaches the other workers within %ss; set REDIS_URL to share them",
                self._key_cache_ttl,
            )
        await self.cache.start()
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
        await self.cache.close()
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
        record = await self._reachable(self.key(hash_key(token)))
        if record is None:
            raise ProxyError(401, "invalid API key", code="invalid_api_key")
        if record.expires is not None and record.expires <= datetime.now(UTC):
            raise ProxyError(
                401, f"this key expired at {record.expires.isoformat()}; ask for a new one", code="expired_key"
            )
        return Caller(
            is_admin=False,
            key_hash=record.token,
            models=frozenset(record.models) if record.models and ALL_MODELS not in record.models else None,
            metadata=record.metadata,
        )

    async def admit(self, caller: Caller, model_group: str) -> None:
        if caller.is_admin or caller.key_hash is None:
            return
        record = await self._reachable(self.key(caller.key_hash))
        if record is None:
            raise ProxyError(401, "invalid API key", code="invalid_api_key")
        if caller.models is not None and model_group not in caller.models:
            raise ProxyError(
                403,
                f"this key may not use the model {model_group!r}; it may use: {', '.join(sorted(caller.models))}",
                code="model_not_allowed",
                param="model",
            )
        if record.budget_reset_at is not None and record.budget_reset_at <= datetime.now(UTC):
            record = await self._reachable(self._start_budget_period(record))
        self._admitted_in(record.token, record.budget_reset_at)
        usage = await self._reachable(self.counters.count_request(record))
        if record.max_budget is not None and usage.spend >= record.max_budget:
            resets = f"; it resets at {record.budget_reset_at.isoformat()}" if record.budget_reset_at else ""
            raise ProxyError(
                400,
                f"budget exceeded: this key has spent ${usage.spend:.6g} of its ${record.max_budget:.6g} budget"
                f"{resets}",
                type="budget_exceeded",
                code="budget_exceeded",
            )
        if record.rpm_limit is not None and usage.requests_this_minute > record.rpm_limit:
            raise ProxyError(
                429,
                f"rate limit exceeded: this key may make {record.rpm_limit} request(s) per minute",
                code="rate_limit_exceeded",
                headers={"retry-after": str(usage.seconds_to_next_minute)},
            )

    def record(self, record: RequestRecord) -> None:
        now = datetime.now(UTC)
        token = record.caller.key_hash
        period = self._admitted_periods.get(token) if token is not None else None
        if self.config.spend_logs:
            self.spend_writer.add(
                {
                    "request_id": os.urandom(16).hex(),  # as unique as a uuid4, without building one (~4 µs)
                    "start_time": now - timedelta(milliseconds=record.latency_ms),
                    "token": token,
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
                    "prompt": record.prompt if self.config.store_prompts else None,
                },
                period,
            )
        elif token is not None and record.cost:  # `disable_spend_logs`: no row, only the spend its key's budget needs
            self.spend_writer.add({"token": token, "cost": record.cost}, period)
        # Once its period ended, the key's next request starts a new one: this cost no longer counts.
        if token is not None and record.cost and not period_over(period, now):
            task = asyncio.get_running_loop().create_task(self._add_spend(token, record.cost, period))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def routes(self) -> list[BaseRoute]:
        from .admin import admin_routes

        return admin_routes(self)

    # --- for the admin routes -----------------------------------------------------------------------

    async def key(self, token: str) -> KeyRecord | None:
        """The stored key with this hash (cached)."""
        return await self.cache.lookup(token, self.store.get)

    async def forget(self, token: str) -> None:
        """A key changed or was deleted: drop it from every cache (every replica, with Redis)."""
        await self.cache.invalidate(token)

    # --- internals ----------------------------------------------------------------------------------

    async def _reachable(self, operation: Awaitable[T]) -> T:
        """`operation`'s result; a 503 naming the cause when the database or Redis cannot answer."""
        try:
            return await operation
        except ProxyError:
            raise
        except Exception as exc:
            logger.error("key lookup failed: %s", type(exc).__name__)
            raise ProxyError(
                503, "the keys database or Redis is unreachable; try again shortly", code="key_store_unavailable"
            ) from None

    def _admitted_in(self, token: str, period: datetime | None) -> None:
        self._admitted_periods[token] = period
        self._admitted_periods.move_to_end(token)
        if len(self._admitted_periods) > _MAX_REMEMBERED_PERIODS:
            self._admitted_periods.popitem(last=False)

    async def _add_spend(self, token: str, amount: float, period: datetime | None) -> None:
        try:
            await self.counters.add_spend(token, amount, period)
        except Exception as exc:  # the spend row still reaches the database
            logger.warning("could not count spend in Redis (%s)", type(exc).__name__)

    def _spend_flushed(self, added: Mapping[SpendKey, float]) -> None:
        # Cached records hold the database's spend: re-read them now that it includes these amounts.
        for token, _period in added:
            self.cache.drop_local(token)
        self.counters.spend_flushed(added)

    async def _start_budget_period(self, record: KeyRecord) -> KeyRecord:
        assert record.budget_reset_at is not None
        assert record.budget_duration is not None
        next_reset = datetime.now(UTC) + parse_duration(record.budget_duration, "budget_duration")
        if await self.store.reset_budget(record.token, record.budget_reset_at, next_reset):
            await self.counters.set_spend(record.token, 0.0)
        await self.forget(record.token)
        fresh = await self.key(record.token)
        if fresh is None:
            raise ProxyError(401, "invalid API key", code="invalid_api_key")
        return fresh
