"""Choosing a deployment for each request: load balancing, retries, cooldowns and fallbacks.

The router is the only retry loop (the core is called with the deployment's own `num_retries`,
0 by default), so a retry can move to another deployment. A deployment failing more than
`allowed_fails` times in a minute is left out for `cooldown_time` seconds. When a group gives up,
its `fallbacks` (or, for a content policy refusal, its `content_policy_fallbacks`) are tried in order.
State is per process.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from imagegen import transport
from imagegen.exceptions import ContentPolicyViolationError, ImageGenError, ServiceUnavailableError
from imagegen.provider import Operation

from .config import Deployment, RouterSettings
from .metrics import ProxyMetrics
from .operations import can, known_to
from .relay import GENERATE, Answer, CallInputs, answer
from .streams import EventStream

logger = logging.getLogger("imagegen.proxy")

FAIL_WINDOW = 60.0
"""Seconds over which a deployment's failures are counted against `allowed_fails` (LiteLLM: a minute)."""
_FAILOVER_STATUSES = frozenset({401, 403, 404})


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
    in_flight: int = 0
    fails: int = 0
    window_start: float = 0.0
    cooldown_until: float = 0.0


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
    def __init__(self, groups: Mapping[str, list[Deployment]], settings: RouterSettings, metrics: ProxyMetrics) -> None:
        self.groups = groups
        self.settings = settings
        self.metrics = metrics
        self._health = {id(d): _Health() for deployments in groups.values() for d in deployments}
        self._able_deployments: dict[tuple[str, Operation], list[Deployment]] = {}

    async def generate(
        self,
        group: str,
        prompt: str,
        params: Mapping[str, Any],
        allowed: Collection[str] | None = None,
        inputs: CallInputs = GENERATE,
    ) -> Outcome:
        """Serve `group`, then its fallbacks; raises RouteFailed with the asked group's error if all fail.

        `allowed`: the groups the caller may use (None: all); a fallback outside them is never tried, nor
        one with no deployment known to do the operation (`inputs.operation`: an edit, a variation).
        """
        try:
            return await self._serve_group(group, prompt, params, inputs)
        except RouteFailed as failed:
            fallbacks = [
                f for f in self._fallbacks(group, failed.error)
                if (allowed is None or f in allowed) and known_to(self.groups[f], inputs.operation)
            ]  # fmt: skip
            if not fallbacks:
                raise
            original = failed
        for fallback in fallbacks:
            try:
                outcome = await self._serve_group(fallback, prompt, params, inputs)
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
        not_again: set[int] = set()  # deployments whose failure a second try would not fix
        last: RouteFailed | None = None
        errors: dict[int, ImageGenError] = {}  # each deployment's latest failure in this request
        for attempt in range(1 + self.settings.num_retries):
            deployment = self._pick(deployments, tried, not_again)
            if deployment is None:
                break
            if deployment in tried:
                await asyncio.sleep(retry_delay(attempt, self.settings, errors.get(id(deployment))))
            tried.append(deployment)
            try:
                return Outcome(await self._call(deployment, prompt, params, inputs), deployment)
            except ImageGenError as error:
                if not deployment_failed(error):
                    raise RouteFailed(error, deployment) from None
                self._failed(deployment, error)
                if not worth_retrying(error):
                    not_again.add(id(deployment))
                errors[id(deployment)] = error
                last = RouteFailed(error, deployment)
        raise last or RouteFailed(self._unavailable(group, deployments), None)

    def _able(self, group: str, operation: Operation) -> list[Deployment]:
        """The deployments of `group` that may be sent `operation` (worked out once per group and operation)."""
        able = self._able_deployments.get((group, operation))
        if able is None:
            able = self._able_deployments[group, operation] = [d for d in self.groups[group] if can(d, operation)]
        return able

    def _pick(self, deployments: list[Deployment], tried: list[Deployment], not_again: set[int]) -> Deployment | None:
        now = time.monotonic()
        ready = [d for d in deployments if d.unavailable is None and self._health[id(d)].cooldown_until <= now]
        pool = [d for d in ready if d not in tried] or [d for d in ready if id(d) not in not_again]
        if not pool:
            return None
        if len(pool) == 1:
            return pool[0]
        if self.settings.routing_strategy == "least-busy":
            least = min(self._health[id(d)].in_flight for d in pool)
            return random.choice([d for d in pool if self._health[id(d)].in_flight == least])
        return random.choices(pool, weights=[d.weight for d in pool])[0]

    async def _call(
        self, deployment: Deployment, prompt: str, params: Mapping[str, Any], inputs: CallInputs
    ) -> Answer | EventStream:
        health = self._health[id(deployment)]
        health.in_flight += 1
        started = time.perf_counter()
        try:
            return await answer(deployment, prompt, params, inputs)
        finally:
            health.in_flight -= 1
            self.metrics.upstream_latency.labels(deployment.provider, deployment.id).observe(
                time.perf_counter() - started
            )

    def _failed(self, deployment: Deployment, error: ImageGenError) -> None:
        status = str(error.status_code or "none")
        self.metrics.upstream_errors.labels(deployment.provider, deployment.id, status).inc()
        health = self._health[id(deployment)]
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

    def _unavailable(self, group: str, deployments: list[Deployment]) -> ServiceUnavailableError:
        unconfigured = [d.unavailable for d in deployments if d.unavailable is not None]
        if len(unconfigured) == len(deployments):
            return ServiceUnavailableError(unconfigured[0], code="model_not_configured")
        cooling = [self._health[id(d)].cooldown_until for d in deployments if d.unavailable is None]
        wait = max(0.0, min(cooling) - time.monotonic())
        return ServiceUnavailableError(
            f"every deployment of {group!r} is cooling down after failures; retry in {wait:.0f} s",
            code="no_deployment_available",
        )
