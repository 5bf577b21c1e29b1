"""Each deployment's recent error rate and latency percentiles, read from the proxy's own metrics.

The upstream latency histogram and error counter count since the process started. A recent figure is
the difference from a snapshot taken a little while ago: snapshots are taken when someone asks (every
`SNAPSHOT_EVERY` seconds at most, kept for `WINDOW` seconds), so nothing runs on the request path and no
task runs in the background. Until a snapshot is old enough, the figures are since the start.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric

UPSTREAM_LATENCY = "imagegen_proxy_upstream_duration_seconds"
UPSTREAM_ERRORS = "imagegen_proxy_upstream_errors"
WINDOW = 300.0
"""Seconds a snapshot is kept: recent figures cover at most about this long."""
MIN_SPAN = 60.0
"""The shortest stretch a recent figure covers; until a snapshot is this old, figures are since the start."""
SNAPSHOT_EVERY = 30.0
QUANTILES = (0.5, 0.9, 0.99)


@dataclass(frozen=True)
class Totals:
    """One deployment's counts since the start: attempts per latency bucket (cumulative), attempts, errors."""

    buckets: tuple[tuple[float, float], ...]  # (upper bound in seconds, attempts that took at most that)
    attempts: float
    errors: float

    def minus(self, earlier: Totals | None) -> Totals:
        if earlier is None:
            return self
        before = dict(earlier.buckets)
        return Totals(
            buckets=tuple((bound, count - before.get(bound, 0.0)) for bound, count in self.buckets),
            attempts=self.attempts - earlier.attempts,
            errors=self.errors - earlier.errors,
        )


def deployment_totals(metrics: Iterable[Metric]) -> dict[str, Totals]:
    """Each deployment's `Totals`, from the metric families (`ProxyMetrics.collect()`)."""
    buckets: dict[str, dict[float, float]] = {}
    attempts: dict[str, float] = {}
    errors: dict[str, float] = {}
    for metric in metrics:
        if metric.name == UPSTREAM_LATENCY:
            for sample in metric.samples:
                deployment = sample.labels.get("deployment", "")
                if sample.name.endswith("_bucket"):
                    bound = float(sample.labels["le"])
                    per_bound = buckets.setdefault(deployment, {})
                    per_bound[bound] = per_bound.get(bound, 0.0) + sample.value
                elif sample.name.endswith("_count"):
                    attempts[deployment] = attempts.get(deployment, 0.0) + sample.value
        elif metric.name == UPSTREAM_ERRORS:
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    deployment = sample.labels.get("deployment", "")
                    errors[deployment] = errors.get(deployment, 0.0) + sample.value
    return {
        deployment: Totals(
            buckets=tuple(sorted(buckets.get(deployment, {}).items())),
            attempts=attempts.get(deployment, 0.0),
            errors=errors.get(deployment, 0.0),
        )
        for deployment in attempts.keys() | errors.keys()
    }


def quantile(q: float, buckets: tuple[tuple[float, float], ...]) -> float | None:
    """The `q` quantile of a histogram's cumulative buckets, interpolated within its bucket (as Prometheus's
    `histogram_quantile`); None without observations. One past the last finite bound is that bound."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


@dataclass(frozen=True)
class Recent:
    """Counts over the stretch since `since` (a Unix time)."""

    since: float
    totals: Mapping[str, Totals]

    def figures(self, deployment: str) -> dict[str, object]:
        """The deployment's attempts, errors, error rate and latency percentiles (ms) over this stretch."""
        totals = self.totals.get(deployment)
        attempts = int(totals.attempts) if totals else 0
        errors = int(totals.errors) if totals else 0
        latencies = {f"p{round(q * 100)}": quantile(q, totals.buckets) if totals else None for q in QUANTILES}
        return {
            "attempts": attempts,
            "errors": errors,
            "error_rate": errors / attempts if attempts else None,
            "latency_ms": {name: round(value * 1000, 1) for name, value in latencies.items() if value is not None}
            or None,
        }


class HealthWindow:
    """Recent counts per deployment, from snapshots of the since-start totals taken as they are asked for."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.started = clock()
        self._snapshots: deque[tuple[float, dict[str, Totals]]] = deque()

    def recent(self, current: dict[str, Totals]) -> Recent:
        """The counts since the oldest snapshot at least `MIN_SPAN` old (else since the start); keeps `current`."""
        now = self._clock()
        while self._snapshots and now - self._snapshots[0][0] > WINDOW:
            self._snapshots.popleft()
        baseline = self._snapshots[0] if self._snapshots and now - self._snapshots[0][0] >= MIN_SPAN else None
        if not self._snapshots or now - self._snapshots[-1][0] >= SNAPSHOT_EVERY:
            self._snapshots.append((now, current))
        if baseline is None:
            return Recent(self.started, current)
        since, earlier = baseline
        return Recent(since, {name: totals.minus(earlier.get(name)) for name, totals in current.items()})
