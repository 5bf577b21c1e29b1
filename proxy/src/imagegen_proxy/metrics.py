"""Prometheus metrics of the proxy, served at `GET /metrics`.

With several workers (`--workers N`) each process writes to `PROMETHEUS_MULTIPROC_DIR`, which
`imagegen serve` sets before the workers start, and /metrics aggregates them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

disable_created_metrics()  # type: ignore[no-untyped-call]  # the `_created` series double the output and nobody graphs them

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Image generation takes seconds to a minute: buckets for that, plus the fast failures.
_LATENCY_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 300)


class ProxyMetrics:
    """The proxy's counters and histograms, on a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "imagegen_proxy_requests", "Image generation requests answered, by model group and HTTP status.",
            ["model_group", "status"], registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "imagegen_proxy_request_duration_seconds", "Time to answer a generation request, by model group.",
            ["model_group"], buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.time_to_first_event = Histogram(
            "imagegen_proxy_time_to_first_event_seconds",
            "Time to the first event of a streamed answer (`stream: true`), by model group.",
            ["model_group"], buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.upstream_latency = Histogram(
            "imagegen_proxy_upstream_duration_seconds", "Time of each upstream attempt, by provider and deployment.",
            ["provider", "deployment"], buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.upstream_errors = Counter(
            "imagegen_proxy_upstream_errors", "Failed upstream attempts, by provider, deployment and status.",
            ["provider", "deployment", "status"], registry=registry,
        )  # fmt: skip
        self.images = Counter(
            "imagegen_proxy_images_generated", "Images returned to clients, by model group and provider.",
            ["model_group", "provider"], registry=registry,
        )  # fmt: skip
        self.cooldowns = Counter(
            "imagegen_proxy_deployment_cooldowns", "Times a deployment was cooled down after failures.",
            ["deployment"], registry=registry,
        )  # fmt: skip
        self.fallbacks = Counter(
            "imagegen_proxy_fallbacks", "Requests served by a fallback model group.",
            ["model_group", "fallback"], registry=registry,
        )  # fmt: skip
        self.callback_failures = Counter(
            "imagegen_proxy_callback_failures", "Callback calls that raised (the call went on), by callback and hook.",
            ["callback", "hook"], registry=registry,
        )  # fmt: skip
        self.in_flight = Gauge(
            "imagegen_proxy_requests_in_flight", "Generation requests being served.",
            registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.refused = Counter(
            "imagegen_proxy_requests_refused", "Generation requests refused with 503 before any work, by reason "
            "(at_capacity: the worker's file descriptors are near their limit; shutting_down).",
            ["reason"], registry=registry,
        )  # fmt: skip
        self.open_fds = Gauge(
            "imagegen_proxy_open_file_descriptors", "File descriptors the worker has open (client and upstream "
            "connections, files), by worker process.", registry=registry, multiprocess_mode="liveall",
        )  # fmt: skip
        self.fd_limit = Gauge(
            "imagegen_proxy_file_descriptor_limit", "The worker's limit of open file descriptors (its soft "
            "RLIMIT_NOFILE); new generations get 503 within 5 % of it.", registry=registry, multiprocess_mode="liveall",
        )  # fmt: skip

        self.degraded_decisions = Counter(
            "imagegen_proxy_degraded_decisions",
            "Limit checks made by one replica alone, or from keys as last read, because Redis or the keys database "
            "was unreachable; by store.",
            ["store"], registry=registry,
        )  # fmt: skip
        self.spend_rows_pending = Gauge(
            "imagegen_proxy_spend_rows_pending", "Spend log rows waiting to be written to the keys database.",
            registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip

    def exposition(self) -> bytes:
        """The text format of every metric (of every worker process, in multiprocess mode)."""
        return generate_latest(self._all_workers())

    def collect(self) -> Iterable[Metric]:
        """Every metric with its samples, as /metrics shows them (every worker's, in multiprocess mode)."""
        return self._all_workers().collect()

    def _all_workers(self) -> CollectorRegistry:
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return registry
        return self.registry
