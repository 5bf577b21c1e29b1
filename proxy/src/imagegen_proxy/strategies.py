"""How the router picks one of a group's available deployments: LiteLLM's `routing_strategy`.

- `simple-shuffle`: at random, weighted by `weight` (else `rpm`, else `tpm`).
- `least-busy`: the fewest requests in flight (in this worker).
- `latency-based-routing`: the lowest mean latency of its latest answers (`max_latency_list_size` of them,
  younger than `ttl` s; in this worker), one not tried lately first; any within `lowest_latency_buffer`
  of the lowest (0.5: up to 50 % slower), at random.
- `usage-based-routing`, `-v2`: the fewest requests this minute (shared through Redis), an image's tokens
  being known only once it is made; deployments whose answers used their `tpm` this minute are skipped
  before any strategy sees them (the router's).
- `cost-based-routing`: the lowest price of one image at the request's size and quality (the price a call
  to it is charged: `charges.deployment_price`; unpriced ones last).

Ties are broken at random. Deployments at their `rpm` limit or cooling down never reach a strategy.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from imagegen import pricing
from imagegen.exceptions import ImageGenError, Timeout

from .charges import deployment_price, most

if TYPE_CHECKING:
    from .config import Deployment, RouterSettings

TIMEOUT_PENALTY_SECONDS = 1000.0
"""The latency a timed-out call counts as (LiteLLM's), so that latency-based routing avoids its deployment."""
_REMEMBERED_PRICES = 4096


class Strategy:
    """Chooses among deployments that may all be called now. `in_flight` is the router's count per deployment id."""

    needs_usage = False
    """Chooses by this minute's request counts (`usage`, read from Redis when shared)."""

    def __init__(self, in_flight: Mapping[str, int]) -> None:
        self.in_flight = in_flight

    def choose(self, pool: Sequence[Deployment], params: Mapping[str, Any], usage: Sequence[int] | None) -> Deployment:
        return random.choices(pool, weights=[d.weight for d in pool])[0]

    def answered(self, deployment: Deployment, seconds: float) -> None:
        """The deployment answered (or began to) after `seconds`."""

    def failed(self, deployment: Deployment, error: ImageGenError) -> None:
        """A call to the deployment failed."""


class LeastBusy(Strategy):
    def choose(self, pool: Sequence[Deployment], params: Mapping[str, Any], usage: Sequence[int] | None) -> Deployment:
        return _lowest(pool, [self.in_flight.get(d.id, 0) for d in pool])


class LowestUsage(Strategy):
    needs_usage = True

    def choose(self, pool: Sequence[Deployment], params: Mapping[str, Any], usage: Sequence[int] | None) -> Deployment:
        assert usage is not None
        return _lowest(pool, usage)


class LowestLatency(Strategy):
    def __init__(self, in_flight: Mapping[str, int], ttl: float, buffer: float, samples: int) -> None:
        super().__init__(in_flight)
        self.ttl = ttl
        self.buffer = buffer
        self.samples = samples
        self._latencies: dict[str, deque[tuple[float, float]]] = {}  # deployment id → (when, seconds)

    def choose(self, pool: Sequence[Deployment], params: Mapping[str, Any], usage: Sequence[int] | None) -> Deployment:
        now = time.monotonic()
        means = [self._mean(d.id, now) for d in pool]
        fastest = min(means)
        return random.choice([d for d, mean in zip(pool, means, strict=True) if mean <= fastest * (1 + self.buffer)])

    def answered(self, deployment: Deployment, seconds: float) -> None:
        self._record(deployment.id, seconds)

    def failed(self, deployment: Deployment, error: ImageGenError) -> None:
        if isinstance(error, Timeout):
            self._record(deployment.id, TIMEOUT_PENALTY_SECONDS)

    def _record(self, deployment_id: str, seconds: float) -> None:
        samples = self._latencies.get(deployment_id)
        if samples is None:
            samples = self._latencies[deployment_id] = deque(maxlen=self.samples)
        samples.append((time.monotonic(), seconds))

    def _mean(self, deployment_id: str, now: float) -> float:
        recent = [seconds for when, seconds in self._latencies.get(deployment_id, ()) if now - when <= self.ttl]
        return sum(recent) / len(recent) if recent else 0.0  # not tried lately: tried first, as in LiteLLM


class LowestCost(Strategy):
    def __init__(self, in_flight: Mapping[str, int]) -> None:
        super().__init__(in_flight)
        self._prices: dict[tuple[str, str], pricing.ModelPrice | None] = {}

    def choose(self, pool: Sequence[Deployment], params: Mapping[str, Any], usage: Sequence[int] | None) -> Deployment:
        return _lowest(pool, [self._image_price(d, params) for d in pool])

    def _image_price(self, deployment: Deployment, params: Mapping[str, Any]) -> float:
        """One image's price at the request's parameters over the deployment's defaults, at most (see
        `charges.most`: without a quality that decides it, its highest); unpriced: infinite."""
        cost = most(self._price(deployment), {**deployment.params, **params}, 1)
        return float("inf") if cost is None else cost

    def _price(self, deployment: Deployment) -> pricing.ModelPrice | None:
        key = (deployment.id, deployment.model)
        if key not in self._prices:
            if len(self._prices) >= _REMEMBERED_PRICES:
                self._prices.clear()
            self._prices[key] = deployment_price(deployment)
        return self._prices[key]


def _lowest(pool: Sequence[Deployment], scores: Sequence[float]) -> Deployment:
    lowest = min(scores)
    return random.choice([d for d, score in zip(pool, scores, strict=True) if score == lowest])


def strategy_for(settings: RouterSettings, in_flight: Mapping[str, int]) -> Strategy:
    """The strategy `settings.routing_strategy` names."""
    name = settings.routing_strategy
    if name == "least-busy":
        return LeastBusy(in_flight)
    if name.startswith("usage-based-routing"):
        return LowestUsage(in_flight)
    if name == "latency-based-routing":
        args = settings.strategy_args
        return LowestLatency(in_flight, args.ttl, args.lowest_latency_buffer, args.max_latency_list_size)
    if name == "cost-based-routing":
        return LowestCost(in_flight)
    return Strategy(in_flight)
