"""Choosing a deployment for each request: load balancing, rpm/tpm limits, retries, cooldowns and fallbacks.

A requested name becomes a model group (`model_names`: a group, an alias, a wildcard's match); its
deployments that can be called now (configured, not cooling down, under their `rpm` this minute, and
under usage-based routing their `tpm`) go to the routing strategy (`strategies`). The router is the only
retry loop (the core is called with the deployment's own `num_retries`, 0 by default), so a retry can move
to another deployment. A deployment failing more than `allowed_fails` times in a minute is left out for
`cooldown_time` seconds. When a group gives up, its `fallbacks` (or, for a content policy refusal, its
`content_policy_fallbacks`) are tried in order; when every deployment is at its limit, the group answers
429 with the seconds to the next minute.

Cooldowns, requests in flight and latencies are per process; rpm and tpm counts are shared through Redis
when one is configured (`deployment_usage`), and Redis is asked only about deployments with an `rpm`, or
about every deployment under usage-based routing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagegen import transport
from imagegen.exceptions import ContentPolicyViolationError, ImageGenError, RateLimitError, ServiceUnavailableError
from imagegen.provider import Operation

from .config import Deployment, ProxyConfig, RouterSettings
from .deployment_usage import RequestCounts, current_minute
from .metrics import ProxyMetrics
from .model_names import ModelNames
from .operations import can, known_to
from .relay import GENERATE, Answer, CallInputs, answer
from .strategies import strategy_for
from .streams import EventStream

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("imagegen.proxy")

FAIL_WINDOW = 60.0
"""Seconds over which a deployment's failures are counted against `allowed_fails` (LiteLLM: a minute)."""
_FAILOVER_STATUSES = frozenset({401, 403, 404})
REDIS_TIMEOUT_SECONDS = 2.0  # a request never waits longer on Redis for a routing decision


def worth_retrying(error: ImageGenError) -> bool:
    """A failure that may pass on a second try at the same deployment (rate limit, outage, no answer)."""
    status = error.status_code
    return status is None or status in transport.RETRY_STATUSES or status >= 500  # what the core retries


def retry_delay(attempt: int, settings: RouterSettings, error: ImageGenError | None) -> float:
    """Seconds to wait before trying a deployment again after `error`: the provider's `Retry-After` (with
    `retry_after` from the config as a floor, as in LiteLLM), else the config's `retry_after`, else backoff."""
    if error is not None and error.retry_after is not None:
        return max(error.retry_after, settings.retry_after or 0.0)
    if settings.retry_after is not None:
        return settings.retry_after
    return transport.retry_delay(attempt - 1, None)


def deployment_failed(error: ImageGenError) -> bool:
    """A failure of the deployment rather than of the request: worth another deployment or a fallback."""
    return worth_retrying(error) or error.status_code in _FAILOVER_STATUSES


@dataclass
class _Health:
    fails: int = 0
    window_start: float = 0.0
    cooldown_until: float = 0.0


@dataclass(frozen=True)
class DeploymentState:
    """A deployment as the router sees it: requests in flight, failures in the current `FAIL_WINDOW`
    (counted against `allowed_fails`), and the seconds of cooldown left (0: it is picked again)."""

    in_flight: int
    recent_failures: int
    cooldown_remaining: float


class RouteFailed(Exception):
    """A request no deployment could serve: the error to answer with and the deployment that gave it, if any."""

    def __init__(self, error: ImageGenError, deployment: Deployment | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.deployment = deployment


@dataclass
class Outcome:
    """A served request: the answer and the deployment (of the asked group or a fallback) that made it."""

    answer: Answer | EventStream
    deployment: Deployment


class Router:
    def __init__(self, config: ProxyConfig, metrics: ProxyMetrics) -> None:
        self.settings = config.router
        self.names = ModelNames(config.deployments, config.router.aliases)
        self.metrics = metrics
        self.redis_url = config.redis_url
        # Per deployment id: the copies a wildcard deployment makes for the names it serves share its state.
        self._health = {d.id: _Health() for d in config.deployments}
        self._in_flight = dict.fromkeys(self._health, 0)
        self.strategy = strategy_for(config.router, self._in_flight)
        self.counts = RequestCounts()
        self._counted = self.strategy.needs_usage or any(d.rpm is not None for d in config.deployments)
        self._redis: Redis | None = None
        self._able_deployments: dict[tuple[str, Operation], list[Deployment]] = {}

    async def start(self) -> None:
        """Share rpm counts through Redis, when one is configured and a limit or the strategy counts requests."""
        if not self._counted or not self.redis_url:
            return
        from redis.asyncio import Redis

        self._redis = Redis.from_url(
            self.redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        self.counts = RequestCounts(self._redis)
        logger.info("deployment request counts (rpm limits, usage-based routing) are shared through Redis")

    async def close(self) -> None:
        await self.counts.flush()
        if self._redis is not None:
            await self._redis.aclose()

    def model_group(self, requested: str) -> str | None:
        """The model group serving a requested name (a group, an alias's target, a wildcard's match), or None."""
        return requested if requested in self.names.groups else self.names.resolve(requested)

    async def generate(
        self,
        group: str,
        prompt: str,
        params: Mapping[str, Any],
        allowed: Collection[str] | None = None,
        inputs: CallInputs = GENERATE,
    ) -> Outcome:
        """Serve `group` (a name `model_group` returned), then its fallbacks; raises RouteFailed with the
        asked group's error if all fail.

        `allowed`: the groups the caller may use (None: all); a fallback outside them is never tried, nor
        one with no deployment known to do the operation (`inputs.operation`: an edit, a variation).
        """
        try:
            return await self._serve_group(group, prompt, params, inputs)
        except RouteFailed as failed:
            fallbacks = [
                f for f in self._fallbacks(group, failed.error)
                if (allowed is None or f in allowed) and known_to(self.names.serving(f), inputs.operation)
            ]  # fmt: skip
            if not fallbacks:
                raise
            original = failed
        for fallback in fallbacks:
            try:
                outcome = await self._serve_group(self.names.resolve(fallback) or fallback, prompt, params, inputs)
            except RouteFailed as failed:
                logger.info("fallback %r for %r failed: %s", fallback, group, type(failed.error).__name__)
                continue
            self.metrics.fallbacks.labels(group, fallback).inc()
            return outcome
        raise original

    def _fallbacks(self, group: str, error: ImageGenError) -> tuple[str, ...]:
        if isinstance(error, ContentPolicyViolationError):
            return tuple(self.settings.content_policy_fallbacks.get(group, ()))
        if deployment_failed(error):
            return tuple(self.settings.fallbacks.get(group, ()))
        return ()

    async def _serve_group(self, group: str, prompt: str, params: Mapping[str, Any], inputs: CallInputs) -> Outcome:
        deployments = self._able(group, inputs.operation)
        tried: list[Deployment] = []
        not_again: set[str] = set()  # deployments whose failure a second try would not fix
        last: RouteFailed | None = None
        errors: dict[str, ImageGenError] = {}  # each deployment's latest failure in this request
        for attempt in range(1 + self.settings.num_retries):
            pool = self._callable(deployments, tried, not_again)
            # One deployment with nothing to count: no strategy, no await (the common case).
            only = pool[0] if len(pool) == 1 and pool[0].rpm is None and not self.strategy.needs_usage else None
            deployment = only or await self._choose(pool, params)
            if deployment is None:
                break
            if deployment in tried:
                await asyncio.sleep(retry_delay(attempt, self.settings, errors.get(deployment.id)))
            tried.append(deployment)
            try:
                return Outcome(await self._call(deployment, prompt, params, inputs), deployment)
            except ImageGenError as error:
                if not deployment_failed(error):
                    raise RouteFailed(error, deployment) from None
                self._failed(deployment, error)
                if not worth_retrying(error):
                    not_again.add(deployment.id)
                errors[deployment.id] = error
                last = RouteFailed(error, deployment)
        raise last or RouteFailed(self._unavailable(group, deployments), None)

    def _able(self, group: str, operation: Operation) -> list[Deployment]:
        """The deployments of `group` that may be sent `operation` (worked out once per group and operation)."""
        able = self._able_deployments.get((group, operation))
        if able is None:
            able = [d for d in self.names.serving(group) if can(d, operation)]
            if group in self.names.groups:  # a wildcard's matches come and go: only configured groups are kept
                self._able_deployments[group, operation] = able
        return able

    def _callable(
        self, deployments: list[Deployment], tried: list[Deployment], not_again: set[str]
    ) -> list[Deployment]:
        """The deployments that may be called now (configured, not cooling down, under their rpm), those not
        tried in this request first."""
        now = time.monotonic()
        ready = [
            d for d in deployments
            if d.unavailable is None and self._health[d.id].cooldown_until <= now
            and (d.rpm is None or not self.counts.full(d))
            and not (self.strategy.needs_usage and self.counts.out_of_tokens(d))
        ]  # fmt: skip
        return [d for d in ready if d not in tried] or [d for d in ready if d.id not in not_again]

    async def _choose(self, pool: list[Deployment], params: Mapping[str, Any]) -> Deployment | None:
        """The strategy's choice in `pool`, its request counted; None if every one is at its rpm."""
        while pool:
            if len(pool) == 1:
                chosen = pool[0]
            else:
                usage = await self.counts.counts(pool) if self.strategy.needs_usage else None
                chosen = self.strategy.choose(pool, params, usage)
            needs_usage = self.strategy.needs_usage
            if (chosen.rpm is None and not needs_usage) or await self.counts.take(chosen, tpm=needs_usage):
                return chosen
            pool.remove(chosen)  # it reached its rpm (or tpm) since: another worker or replica used the last of it
        return None

    def used_tokens(self, deployment: Deployment, tokens: int) -> None:
        """An answer of `deployment` used `tokens`: counted against its `tpm` under usage-based routing (LiteLLM's)."""
        if tokens and deployment.tpm is not None and self.strategy.needs_usage:
            self.counts.add_tokens(deployment, tokens)

    async def _call(
        self, deployment: Deployment, prompt: str, params: Mapping[str, Any], inputs: CallInputs
    ) -> Answer | EventStream:
        self._in_flight[deployment.id] += 1
        started = time.perf_counter()
        try:
            result = await answer(deployment, prompt, params, inputs)
        finally:
            self._in_flight[deployment.id] -= 1
            elapsed = time.perf_counter() - started
            self.metrics.upstream_latency.labels(deployment.provider, deployment.id).observe(elapsed)
        self.strategy.answered(deployment, elapsed)
        return result

    def _failed(self, deployment: Deployment, error: ImageGenError) -> None:
        status = str(error.status_code or "none")
        self.metrics.upstream_errors.labels(deployment.provider, deployment.id, status).inc()
        self.strategy.failed(deployment, error)
        health = self._health[deployment.id]
        now = time.monotonic()
        if now - health.window_start > FAIL_WINDOW:
            health.window_start, health.fails = now, 0
        health.fails += 1
        if health.fails > self.settings.allowed_fails:
            health.cooldown_until, health.fails = now + self.settings.cooldown_time, 0
            self.metrics.cooldowns.labels(deployment.id).inc()
            logger.warning(
                "deployment %r of %r cooled down for %gs after failures (last: HTTP %s)",
                deployment.id, deployment.model_group, self.settings.cooldown_time, status,
            )  # fmt: skip

    def state(self, deployment: Deployment) -> DeploymentState:
        """What this process's router knows of a deployment now (for dashboards; never blocks)."""
        health = self._health[deployment.id]
        now = time.monotonic()
        return DeploymentState(
            in_flight=self._in_flight[deployment.id],
            recent_failures=health.fails if now - health.window_start <= FAIL_WINDOW else 0,
            cooldown_remaining=max(0.0, health.cooldown_until - now),
        )

    def _unavailable(self, group: str, deployments: list[Deployment]) -> ImageGenError:
        unconfigured = [d.unavailable for d in deployments if d.unavailable is not None]
        if len(unconfigured) == len(deployments):
            return ServiceUnavailableError(
                unconfigured[0] if unconfigured else f"no deployment serves {group!r}", code="model_not_configured"
            )
        now = time.monotonic()
        cooling = [self._health[d.id].cooldown_until for d in deployments if d.unavailable is None]
        if min(cooling) <= now:  # not cooling down: every one that may be called is at its rpm limit
            next_minute = current_minute()[1]
            limits = "rpm or tpm" if self.strategy.needs_usage and any(d.tpm for d in deployments) else "rpm"
            limited = RateLimitError(
                f"every deployment of {group!r} has reached its {limits} limit for this minute; "
                f"retry in {next_minute} s",
                code="deployment_rpm_limit",
            )
            limited.retry_after = next_minute
            return limited
        wait = max(0.0, min(cooling) - now)
        error = ServiceUnavailableError(
            f"every deployment of {group!r} is cooling down after failures; retry in {wait:.0f} s",
            code="no_deployment_available",
        )
        error.retry_after = wait  # passed on to the client as `Retry-After`
        return error
